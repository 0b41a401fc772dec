//! What ciliumon echoes back of its input is escaped: a value with a carriage return, NUL, an
//! escape sequence or a bidirectional override cannot rewrite the terminal or the CI log that
//! shows the error.
//!
//! The same escapes as the metric spec's explanation (`char::escape_debug`: `\r`, `\0`,
//! `\u{1b}`), for every control character and the invisible format characters that reorder or
//! hide text. Printable text, non-ASCII letters included, is left as it is, so escaping twice
//! changes nothing.

use std::borrow::Cow;

/// Characters that must not reach a terminal as they are: C0 and C1 controls (newline and tab
/// included: a value never spans lines in a message), and the format characters that reorder
/// or hide text (bidi embeddings, overrides and isolates, zero-width joiners, line separators,
/// byte-order mark).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}')
}

/// One user-supplied value, ready to be put in a message.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_debug());
            // escape_debug leaves some format characters as they are: never here.
            if out.ends_with(c) {
                out.pop();
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A whole message, as printed: line breaks stay (messages and hints span lines), everything
/// else that `escape` escapes is escaped. The last guard before stderr, for values that reached
/// a message without `escape`.
pub fn message(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<str>> = s.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// Print a clap error (bad flag, bad value) as plain text with what it echoes escaped; help and
/// version go out as clap prints them.
pub fn print_clap_error(e: &clap::Error) {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
        }
        _ => {
            let text = e.render().to_string();
            // Not eprint!, which panics when stderr is closed.
            use std::io::Write;
            let _ = std::io::stderr().write_all(message(&text).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_keeps_text() {
        assert_eq!(escape("dns\r"), "dns\\r");
        assert_eq!(escape("a\0b"), "a\\0b");
        assert_eq!(escape("dns\u{1b}[31m"), "dns\\u{1b}[31m");
        assert_eq!(escape("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escape("\u{202e}txt"), "\\u{202e}txt");
        assert_eq!(escape("\u{85}"), "\\u{85}");
        assert_eq!(escape("größe 'x' \\r"), "größe 'x' \\r");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn idempotent_and_messages_keep_lines() {
        let once = escape("x\u{1b}\r\n").into_owned();
        assert_eq!(escape(&once), once);
        assert_eq!(message("a\u{1b}\nb\r"), "a\\u{1b}\nb\\r");
    }
}
