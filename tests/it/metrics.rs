//! `ciliumon metrics` and `ciliumon completions`.

use serde_json::Value;

use crate::support::bin;

fn families(version: &str) -> Vec<String> {
    let out = bin()
        .args(["metrics", "-o", "json", "--cilium-version", version])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn lists_the_families_of_each_version() {
    let f119 = families("1.19.6");
    let f120 = families("1.20.0");
    assert!(f119.contains(&"kafka".into()) && !f119.contains(&"sctp".into()));
    assert!(!f120.contains(&"kafka".into()) && f120.contains(&"sctp".into()));
    for name in [
        "dns",
        "drop",
        "tcp",
        "flow",
        "port-distribution",
        "icmp",
        "http",
        "httpV2",
        "policy",
        "flows-to-world",
    ] {
        assert!(
            f119.contains(&name.to_string()) && f120.contains(&name.to_string()),
            "{name}"
        );
    }
}

#[test]
fn text_shows_options_and_metric_names() {
    let out = bin()
        .args(["metrics", "--cilium-version", "1.20"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("hubble_dns_queries_total (counter)"));
    assert!(text.contains("hubble_http_request_duration_seconds (histogram)"));
    assert!(text.contains("exemplars=true|false"));
    assert!(text.contains("source_workload_kind"));
    assert!(!text.contains("\x1b["), "NO_COLOR is set: no escape codes");
    let old = bin()
        .args(["metrics", "--cilium-version", "1.14"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8(old.stdout)
            .unwrap()
            .contains("source_workload_kind")
    );
}

#[test]
fn unknown_version_is_bad_input() {
    let out = bin()
        .args(["metrics", "--cilium-version", "1.99"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1.99.0 is not a version ciliumon knows")
    );
}

#[test]
fn completions_for_bash() {
    let out = bin().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ciliumon") && text.contains("--kube-context"));
}

/// One version rule: plan, metrics and check refuse the same versions the same way.
#[test]
fn every_command_refuses_an_unknown_cilium_line() {
    let runs: [&[&str]; 3] = [
        &["plan", "--dry-run", "--cilium-version", "1.30"],
        &["metrics", "--cilium-version", "1.30"],
        &[
            "check",
            "--node",
            "127.0.0.1",
            "--metric",
            "dns",
            "--cilium-version",
            "1.30",
        ],
    ];
    for args in runs {
        let out = bin().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("1.30.0 is not a version ciliumon knows"),
            "{args:?}: {err}"
        );
    }
}
