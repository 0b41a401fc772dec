//! Every YAML read and write goes through here (serde-saphyr), so that a change of YAML crate
//! touches one file.
//!
//! Why serde-saphyr: Helm reads values with YAML 1.1 rules, where unquoted `on`, `yes`, `n` or
//! `1_000` are booleans and numbers. serde-saphyr quotes such strings when it writes them, so a
//! user's value keeps its type on its way through ciliumon (the serde_yaml family does not).

use anyhow::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Parse YAML into `T`. The error carries line, column and a snippet.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|e| {
        let text = e.to_string();
        text.strip_prefix("error: ")
            .map(str::to_string)
            .unwrap_or(text)
    })
}

/// Parse YAML into `T`. The error is the message alone, without a source snippet, and the
/// 1-based line and column where one is known: for callers that render the source themselves
/// (a config file's error must not show a secret on a nearby line).
pub fn from_str_located<T: DeserializeOwned>(
    text: &str,
) -> Result<T, (String, Option<(usize, usize)>)> {
    serde_saphyr::from_str(text).map_err(|e| {
        let inner = e.without_snippet();
        let at = inner
            .location()
            .or_else(|| e.location())
            .map(|l| (l.line() as usize, l.column() as usize));
        let text = inner.to_string();
        let text = text.strip_prefix("error: ").unwrap_or(&text);
        (text.to_string(), at)
    })
}

/// Write `value` as YAML. Long strings stay on one line (no folded `>-` blocks) so that a
/// metric spec reads in the file as it is typed.
pub fn to_string<T: Serialize>(value: &T) -> Result<String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    Ok(serde_saphyr::to_string_with_options(value, options)?)
}
