//! The metrics payloads the fake nodes serve.

use std::path::PathBuf;

/// The fixtures the tests and the bench read: the repository's own copies (see
/// `tests/it/fixtures.rs` for how they are kept in step with `../shared/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A metrics fixture (`agent-datadog.txt`, `hubble-busy.txt`, ...).
pub fn fixture(name: &str) -> Vec<u8> {
    let p = fixtures_dir().join("metrics").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A Hubble payload of exactly `series` samples: the busy fixture's HELP/TYPE lines once, then
/// its sample lines again and again (the last time only as many as needed), each time with an
/// extra `rep` label so that every series is distinct.
pub fn hubble_payload(series: usize) -> Vec<u8> {
    let busy = String::from_utf8(fixture("hubble-busy.txt")).unwrap();
    let samples: Vec<&str> = busy
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let mut out = String::new();
    for l in busy.lines().filter(|l| l.starts_with('#')) {
        out.push_str(l);
        out.push('\n');
    }
    for (n, l) in samples.iter().cycle().take(series).enumerate() {
        let rep = n / samples.len();
        match l.split_once('{') {
            Some((name, rest)) => out.push_str(&format!("{name}{{rep=\"{rep}\",{rest}\n")),
            None => out.push_str(&format!("{l}\n")),
        }
    }
    out.into_bytes()
}
