//! Secrets in the configuration: the Grafana admin password is named (`file:` or `env:`), never
//! written inline, and an error never shows it.
//!
//! - `grafanaAdminPassword` of any other shape (the password itself, `{plain: ...}`) is an error
//!   that names the field and the forms it takes, and elides the value.
//! - A config file's error shows its source lines, as a YAML parser would, but rendered here:
//!   every line that looks like it holds a secret (a key with `password`, `secret`, `token`, or
//!   `plain`, and the block under it) is elided, and so is any of their values that the message
//!   itself quotes. So a mistake near the password line does not print the password either.
//! - Before `setup` contacts the cluster, the password file must be readable (and the variable
//!   set): a bad one is bad input (exit 2), not a failed step after the upgrade.

use std::path::Path;

use anyhow::Result;
use serde::de::{Deserialize, Deserializer, Error as _};

use crate::config::{Config, SecretSource};
use crate::escape::escape;
use crate::exit::Failure;

/// What the field takes, said when it is given anything else.
pub const FORMS: &str = "prometheusStack.grafanaAdminPassword takes `{file: PATH}` (a file holding the password) or `{env: VARIABLE}` (an environment variable holding it), never the password itself; the value given is not shown";

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Whatever the inner error says may quote the value: replace it.
        let v = serde_json::Value::deserialize(d).map_err(|_| D::Error::custom(FORMS))?;
        let serde_json::Value::Object(map) = v else {
            return Err(D::Error::custom(FORMS));
        };
        let mut entries = map.into_iter();
        match (entries.next(), entries.next()) {
            (Some((k, serde_json::Value::String(p))), None) if k == "file" && !p.is_empty() => {
                Ok(SecretSource::File(p.into()))
            }
            (Some((k, serde_json::Value::String(v))), None) if k == "env" => {
                Ok(SecretSource::Env(v))
            }
            _ => Err(D::Error::custom(FORMS)),
        }
    }
}

/// Whether a line's text opens a secret: a key that names one.
fn secret_key_at(lower: &str) -> Option<usize> {
    ["password", "passwd", "secret", "token", "plain"]
        .iter()
        .filter_map(|w| lower.find(w))
        .min()
}

/// The source with every secret-looking value elided (same line count), and the elided texts.
pub fn mask(text: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let mut hidden = Vec::new();
    let mut block_indent: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(bi) = block_indent {
            if line.trim().is_empty() || indent > bi {
                if !line.trim().is_empty() {
                    hidden.push(line.trim().to_string());
                    lines.push(format!("{}<elided>", &line[..indent]));
                } else {
                    lines.push(line.to_string());
                }
                continue;
            }
            block_indent = None;
        }
        let lower = line.to_lowercase();
        // Lower-casing keeps byte offsets for ASCII; a line where it does not is elided whole.
        let colon = secret_key_at(&lower).and_then(|at| lower[at..].find(':').map(|c| at + c));
        match colon {
            Some(c) if lower.len() == line.len() && line.is_char_boundary(c + 1) => {
                let rest = &line[c + 1..];
                if !rest.trim().is_empty() {
                    hidden.push(rest.trim().to_string());
                }
                lines.push(format!("{} <elided>", &line[..=c]));
                block_indent = Some(indent);
            }
            Some(_) => {
                hidden.push(line.trim().to_string());
                lines.push("<elided>".into());
                block_indent = Some(indent);
            }
            None => lines.push(line.to_string()),
        }
    }
    (lines, hidden)
}

/// The pieces of elided text a message might quote: each value and its inner words.
fn tokens(hidden: &[String]) -> Vec<String> {
    let trim = |s: &str| {
        s.trim_matches(|c: char| c.is_whitespace() || "{}[]\"',".contains(c))
            .to_string()
    };
    let mut out = Vec::new();
    for h in hidden {
        out.push(trim(h));
        for piece in h.split([':', ',', '{', '}', '[', ']']) {
            out.push(trim(piece));
        }
    }
    out.retain(|t| t.len() >= 2);
    out.sort_by_key(|t| std::cmp::Reverse(t.len()));
    out.dedup();
    out
}

/// Parse a config file's text. The error names the place, quotes no secret, shows the lines
/// around it with secrets elided and everything escaped; `origin` names the file.
pub fn config_from_str(text: &str, origin: &str) -> Result<Config, String> {
    let (message, at) = match crate::yaml::from_str_located::<Config>(text) {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    let (lines, hidden) = mask(text);
    let mut message = message;
    for t in tokens(&hidden) {
        // Key names the message must keep (`unknown field `relays``) are not secrets.
        if FORMS.contains(t.as_str()) || t.eq_ignore_ascii_case("grafanaAdminPassword") {
            continue;
        }
        message = message.replace(&t, "<elided>");
    }
    let mut out = escape(&message).into_owned();
    if let Some((line, col)) = at {
        out.push_str(&format!("\n --> {}:{line}:{col}\n  |", escape(origin)));
        let first = line.saturating_sub(2).max(1);
        let last = (line + 1).min(lines.len());
        let width = last.to_string().len();
        for n in first..=last {
            let Some(l) = lines.get(n - 1) else { break };
            out.push_str(&format!("\n{n:>width$} | {}", escape(l)));
            if n == line {
                out.push_str(&format!(
                    "\n{:>width$} | {}^",
                    "",
                    " ".repeat(col.saturating_sub(1).min(l.chars().count()))
                ));
            }
        }
    }
    Err(out)
}

/// The password's source must be usable before anything is contacted: the file readable, and
/// (when `env` is true: not for a printed plan that runs elsewhere) the variable set.
pub fn check_sources(config: &Config, env: bool) -> Result<()> {
    match &config.prometheus_stack.grafana_admin_password {
        Some(SecretSource::File(path)) => check_file(path),
        Some(SecretSource::Env(var)) if env => match std::env::var_os(var) {
            Some(v) if !v.is_empty() => Ok(()),
            _ => Err(Failure::bad_input(format!(
                "the environment variable {} (the Grafana admin password) is not set",
                escape(var)
            ))
            .hint(format!(
                "export {}=... before running setup, or drop the option that names it",
                escape(var)
            ))
            .into()),
        },
        _ => Ok(()),
    }
}

fn check_file(path: &Path) -> Result<()> {
    let shown = escape(&path.display().to_string()).into_owned();
    let bad = |why: String| -> anyhow::Error {
        Failure::bad_input(format!("cannot read the Grafana admin password file {shown}: {why}"))
            .hint("give a readable file that holds the password (--grafana-password-file), or an environment variable (--grafana-password-env)")
            .into()
    };
    match std::fs::metadata(path) {
        Err(e) => return Err(bad(e.to_string())),
        Ok(m) if m.is_dir() => return Err(bad("it is a directory".into())),
        Ok(_) => {}
    }
    // Opened, not read: the password stays where it is until helm reads it.
    std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "hunter2-Sup3r";

    fn err(text: &str) -> String {
        config_from_str(text, "c.yaml").unwrap_err()
    }

    #[test]
    fn inline_password_is_named_not_shown() {
        for text in [
            format!("prometheusStack:\n  grafanaAdminPassword: {PW}\n"),
            format!("prometheusStack:\n  grafanaAdminPassword: \"{PW}\"\n"),
            format!("prometheusStack:\n  grafanaAdminPassword: {{plain: {PW}}}\n"),
            format!("prometheusStack:\n  grafanaAdminPassword:\n    plain: {PW}\n  release: x\n"),
            format!("prometheusStack:\n  grafanaAdminPassword: [{PW}]\n"),
            format!("prometheusStack:\n  grafanaAdminPassword:\n    file: /f\n    env: {PW}\n"),
            format!("prometheusStack:\n  grafanaAdminPassword: |\n    {PW}\n"),
        ] {
            let e = err(&text);
            assert!(!e.contains(PW), "{text}: {e}");
            assert!(
                e.contains("grafanaAdminPassword") && e.contains("file:"),
                "{e}"
            );
            assert!(e.contains("c.yaml:2:") || e.contains("c.yaml:3:"), "{e}");
        }
    }

    #[test]
    fn errors_near_a_secret_do_not_show_it() {
        let e = err(&format!(
            "hubble:\n  relays: true\nprometheusStack:\n  grafanaAdminPassword: {PW}\n"
        ));
        assert!(e.contains("relays") && !e.contains(PW), "{e}");
        let e = err(&format!(
            "prometheusStack:\n  adminPassword: {PW}\n  grafanaAdminPassword: {PW}\n"
        ));
        assert!(e.contains("adminPassword") && !e.contains(PW), "{e}");
        let e = err(&format!(
            "prometheusStack:\n  grafanaAdminPassword: {PW}\n  foo: [\n"
        ));
        assert!(!e.contains(PW), "{e}");
    }

    #[test]
    fn valid_sources_parse() {
        let c = config_from_str(
            "prometheusStack:\n  grafanaAdminPassword: {file: /run/pw}\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            c.prometheus_stack.grafana_admin_password,
            Some(SecretSource::File("/run/pw".into()))
        );
        let c = config_from_str(
            "prometheusStack:\n  grafanaAdminPassword:\n    env: PW\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            c.prometheus_stack.grafana_admin_password,
            Some(SecretSource::Env("PW".into()))
        );
    }

    #[test]
    fn snippet_is_escaped() {
        let e = err("hubble:\n  relays: \"\u{1b}[2J\"\n");
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn password_file_must_be_readable() {
        let mut c = Config::default();
        c.prometheus_stack.grafana_admin_password =
            Some(SecretSource::File("/nonexistent/pw".into()));
        let e = check_sources(&c, true).unwrap_err();
        assert_eq!(crate::exit::classify(&e).0, crate::exit::Code::BadInput);
        assert!(e.to_string().contains("/nonexistent/pw"), "{e}");
        c.prometheus_stack.grafana_admin_password = Some(SecretSource::File("/".into()));
        assert!(check_sources(&c, true).is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "x").unwrap();
        c.prometheus_stack.grafana_admin_password = Some(SecretSource::File(f));
        check_sources(&c, true).unwrap();
        c.prometheus_stack.grafana_admin_password =
            Some(SecretSource::Env("CILIUMON_TEST_SURELY_UNSET".into()));
        assert!(check_sources(&c, true).is_err());
        check_sources(&c, false).unwrap();
    }
}
