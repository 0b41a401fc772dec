//! The copies in `tests/fixtures/` of what the tests, the benchmark and the examples read from the
//! project's shared fixtures (`../shared/fixtures/`, which only this project's CI has beside the
//! checkout). Metrics payloads and chart schemas are copied byte for byte; chart values are kept as
//! data only (keys and defaults, re-serialised as JSON, which is also YAML), without the upstream
//! comments.
//!
//! When `../shared/fixtures` is present, `copies_match_shared_fixtures` fails on any drift;
//! `scripts/regen-fixtures.sh` (which sets `CILIUMON_REGEN_FIXTURES=1`) rewrites the copies.
//! Without it, the test prints a note and checks nothing.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::repo_root;

/// The Cilium chart versions whose values and schema are kept: the catalogue's releases.
fn chart_versions() -> Vec<String> {
    ciliumon::catalogue::RELEASES
        .iter()
        .map(|r| r.to_string())
        .collect()
}

const METRICS: &[&str] = &[
    "agent-datadog.txt",
    "operator-datadog.txt",
    "hubble-busy.txt",
    "hubble-fresh.txt",
    "hubble-openmetrics.txt",
];

/// One copy: its path under `tests/fixtures/` and how to make it from the shared file.
struct Copy {
    from: PathBuf,
    to: PathBuf,
    data_only: bool,
}

fn copies(shared: &Path, ours: &Path) -> Vec<Copy> {
    let mut list = Vec::new();
    let mut add = |from: PathBuf, to: PathBuf, data_only| {
        list.push(Copy {
            from,
            to,
            data_only,
        })
    };
    for m in METRICS {
        add(
            shared.join("metrics").join(m),
            ours.join("metrics").join(m),
            false,
        );
    }
    for v in chart_versions() {
        let (from, to) = (
            shared.join("cilium-chart").join(&v),
            ours.join("cilium-chart").join(&v),
        );
        add(from.join("values.yaml"), to.join("values.json"), true);
        if from.join("values.schema.json").exists() {
            add(
                from.join("values.schema.json"),
                to.join("values.schema.json"),
                false,
            );
        }
    }
    let kps = "kube-prometheus-stack";
    add(
        shared.join(kps).join("values.yaml"),
        ours.join(kps).join("values.json"),
        true,
    );
    list
}

/// What the copy of `from` holds.
fn expected(copy: &Copy) -> Vec<u8> {
    let bytes =
        std::fs::read(&copy.from).unwrap_or_else(|e| panic!("{}: {e}", copy.from.display()));
    if !copy.data_only {
        return bytes;
    }
    let text = String::from_utf8(bytes).unwrap();
    let value: Value =
        ciliumon::yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", copy.from.display()));
    let mut out = serde_json::to_string_pretty(&value).unwrap();
    out.push('\n');
    out.into_bytes()
}

#[test]
fn copies_match_shared_fixtures() {
    let shared = repo_root().join("../shared/fixtures");
    if !shared.is_dir() {
        eprintln!(
            "note: {} is absent; the copies in tests/fixtures are not compared with it",
            shared.display()
        );
        return;
    }
    let ours = repo_root().join("tests/fixtures");
    let regen = std::env::var_os("CILIUMON_REGEN_FIXTURES").is_some_and(|v| v == "1");
    let mut drifted = Vec::new();
    let list = copies(&shared, &ours);
    for copy in &list {
        let want = expected(copy);
        if regen {
            std::fs::create_dir_all(copy.to.parent().unwrap()).unwrap();
            std::fs::write(&copy.to, &want).unwrap();
            eprintln!("wrote {}", copy.to.display());
        } else if std::fs::read(&copy.to).ok().as_deref() != Some(&want[..]) {
            drifted.push(copy.to.display().to_string());
        }
    }
    assert!(
        drifted.is_empty(),
        "these copies differ from ../shared/fixtures (run scripts/regen-fixtures.sh): {drifted:#?}"
    );
    assert!(
        list.len() > METRICS.len() + chart_versions().len(),
        "{} copies",
        list.len()
    );
}

/// Without `../shared`, every copy the tests read is there.
#[test]
fn every_copy_is_in_the_repository() {
    let ours = repo_root().join("tests/fixtures");
    for copy in copies(Path::new("/nonexistent"), &ours) {
        assert!(copy.to.is_file(), "{} is missing", copy.to.display());
    }
}
