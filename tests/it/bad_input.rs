//! Bad input through the binary: a table of flags, metric specs and config files, each with
//! the token its message must name. Every one exits 2, runs nothing (the recording helm and
//! kubectl on PATH see no call), writes nothing (the working directory stays empty), shows
//! what it echoes escaped, and never shows a password.

use std::path::Path;
use std::process::Stdio;

use crate::recorder::Recorder;
use crate::support::{bin, write};

const PASSWORD: &str = "Hunter2-s3cr3t!";

struct Case {
    args: Vec<String>,
    /// A config file's contents, passed as `--config FILE` after `args`.
    config: Option<String>,
    /// What stderr must contain.
    token: String,
}

fn flags(args: &[&str], token: &str) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        config: None,
        token: token.into(),
    }
}

fn file(args: &[&str], config: &str, token: &str) -> Case {
    Case {
        config: Some(config.into()),
        ..flags(args, token)
    }
}

fn cases() -> Vec<Case> {
    let ns64 = "n".repeat(64);
    let rel54 = "r".repeat(54);
    vec![
        // Durations: no panic, and each flag's range.
        flags(
            &["setup", "--yes", "--timeout", "99999999999999999999s"],
            "too large",
        ),
        flags(
            &["setup", "--yes", "--timeout", "999999999h"],
            "2562047h47m16.854775807s",
        ),
        flags(&["setup", "--yes", "--timeout", "0s"], "wait forever"),
        flags(
            &["setup", "--yes", "--timeout", "0"],
            "give 1s to 2562047h0m0s",
        ),
        flags(&["setup", "--yes", "--timeout", "1.5x"], "unknown unit 'x'"),
        flags(
            &["setup", "--yes", "--check-wait", "99999999999999999999h"],
            "too large",
        ),
        flags(&["check", "--wait", "99999999999999999999m"], "too large"),
        flags(
            &["check", "--timeout", "99999999999999999999s"],
            "too large",
        ),
        flags(&["check", "--timeout", "0s"], "more than zero"),
        flags(
            &["check", "--node", "127.0.0.1", "--timeout", "2562048h"],
            "too large",
        ),
        // Versions.
        flags(
            &["plan", "--dry-run", "--cilium-version", "1.18.12-$(id)"],
            "'$'",
        ),
        flags(
            &["setup", "--yes", "--cilium-version", "1.18.12-$(id)"],
            "pre-release",
        ),
        flags(
            &["check", "--cilium-version", "1.19.0-rc..1"],
            "empty identifier",
        ),
        flags(
            &["metrics", "--cilium-version", "1.18.4+build"],
            "build metadata",
        ),
        flags(
            &["plan", "--dry-run", "--cilium-version", "01.18.4"],
            "leading zero",
        ),
        flags(
            &["plan", "--dry-run", "--stack-version", "^80.0.0"],
            "chart version",
        ),
        flags(
            &["setup", "--yes", "--stack-version", "latest"],
            "chart version",
        ),
        // Names, each by its own rule.
        flags(
            &["plan", "--dry-run", "--kube-context", ""],
            "cannot be empty",
        ),
        flags(&["setup", "--yes", "--kube-context", ""], "current context"),
        flags(
            &["setup", "--yes", "--kube-context", "prod\nrm -rf"],
            "prod\\nrm -rf",
        ),
        flags(&["check", "--kube-context", "a\u{1b}[2Jb"], "a\\u{1b}[2Jb"),
        flags(
            &["plan", "--dry-run", "-n", ""],
            "namespace cannot be empty",
        ),
        flags(&["setup", "--yes", "-n", &ns64], "at most 63"),
        flags(
            &["plan", "--dry-run", "-n", "Kube"],
            "'Kube' is not a valid name for a namespace",
        ),
        flags(
            &["plan", "--dry-run", "--release", ""],
            "release name cannot be empty",
        ),
        flags(&["plan", "--dry-run", "--release", &rel54], "at most 53"),
        flags(&["setup", "--yes", "--stack-release", "a..b"], "'a..b'"),
        flags(
            &["plan", "--dry-run", "--stack-namespace", "mon.itoring"],
            "mon.itoring",
        ),
        // `plan` without --dry-run would read the cluster: not with bad input.
        flags(&["plan", "-n", "Kube"], "'Kube'"),
        flags(&["plan", "--stack-version", "80.4.1+"], "empty identifier"),
        // Metric specs: the message shows control characters escaped.
        flags(&["plan", "--dry-run", "-m", "dns\r"], "dns\\r"),
        flags(&["setup", "--yes", "-m", "dns\u{1b}[31m"], "dns\\u{1b}[31m"),
        flags(&["check", "-m", "dnss"], "did you mean 'dns'"),
        flags(
            &["check", "--node", "10.0.0.1\n\u{1b}[2J"],
            "10.0.0.1\\n\\u{1b}[2J",
        ),
        // The password file is checked before the cluster is contacted.
        flags(
            &[
                "setup",
                "--yes",
                "--grafana-password-file",
                "/nonexistent/pw",
            ],
            "/nonexistent/pw",
        ),
        flags(
            &["setup", "--yes", "--grafana-password-file", "/"],
            "is a directory",
        ),
        // Config files.
        file(
            &["plan", "--dry-run"],
            &format!("prometheusStack:\n  grafanaAdminPassword: {PASSWORD}\n"),
            "grafanaAdminPassword takes `{file: PATH}`",
        ),
        file(
            &["setup", "--yes"],
            &format!("prometheusStack:\n  grafanaAdminPassword: {{plain: {PASSWORD}}}\n"),
            "{env: VARIABLE}",
        ),
        file(
            &["setup", "--yes"],
            &format!("prometheusStack:\n  grafanaAdminPassword:\n    plain: \"{PASSWORD}\"\n"),
            "grafanaAdminPassword",
        ),
        file(
            &["plan", "--dry-run"],
            &format!(
                "hubble:\n  relays: true\nprometheusStack:\n  grafanaAdminPassword: {PASSWORD}\n"
            ),
            "relays",
        ),
        file(
            &["plan", "--dry-run"],
            &format!("prometheusStack:\n  adminPassword: {PASSWORD}\n"),
            "adminPassword",
        ),
        file(
            &["plan", "--dry-run"],
            "cilium:\n  version: \"1.18.12-$(id)\"\n",
            "'$'",
        ),
        file(
            &["setup", "--yes"],
            "cilium:\n  namespace: \"\"\n",
            "namespace cannot be empty",
        ),
        file(
            &["plan", "--dry-run"],
            "cilium:\n  release: a..b\n",
            "cilium.release",
        ),
        file(
            &["plan", "--dry-run"],
            &format!("prometheusStack:\n  namespace: {ns64}\n"),
            "prometheusStack.namespace",
        ),
        file(
            &["plan", "--dry-run"],
            "hubble:\n  metrics: [\"dns\\u001b[31m\"]\n",
            "dns\\u{1b}[31m",
        ),
        file(
            &["plan", "--dry-run"],
            "hubble:\n  relays: \"x\u{1b}[2J\"\n",
            "\\u{1b}[2J",
        ),
        file(
            &["plan", "--dry-run"],
            "prometheusStack:\n  version: latest\n",
            "not a chart version",
        ),
    ]
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn bad_input_exits_2_names_the_token_and_runs_nothing() {
    let table = cases();
    assert!(table.len() >= 40);
    for case in table {
        let rec = Recorder::new();
        let work = tempfile::tempdir().unwrap();
        let mut args = case.args.clone();
        if let Some(text) = &case.config {
            let path = rec.dir.path().join("ciliumon.yaml");
            write(&path, text);
            args.extend(["--config".to_string(), path.display().to_string()]);
        }
        let out = bin()
            .args(&args)
            .current_dir(work.path())
            .env("PATH", rec.path())
            .env("HOME", rec.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} should exit 2; stderr: {stderr}"
        );
        assert!(
            stderr.contains(&case.token),
            "{args:?}: expected {:?} in: {stderr}",
            case.token
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            !out.stderr.iter().any(|b| matches!(b, 0 | b'\r' | 0x1b)),
            "{args:?}: raw control characters in: {stderr:?}"
        );
        assert!(
            !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
            "{args:?}: the password is shown: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?} printed: {stdout}");
        assert!(rec.calls().is_empty(), "{args:?} ran {:?}", rec.calls());
        assert!(
            is_empty_dir(work.path()),
            "{args:?} wrote into the working directory"
        );
    }
}

#[test]
fn setup_checks_the_password_file_from_the_config_file_too() {
    let rec = Recorder::new();
    let work = tempfile::tempdir().unwrap();
    let path = rec.dir.path().join("c.yaml");
    write(
        &path,
        "prometheusStack:\n  grafanaAdminPassword: {file: /nonexistent/pw}\n",
    );
    let out = bin()
        .args(["setup", "--yes", "--config"])
        .arg(&path)
        .current_dir(work.path())
        .env("PATH", rec.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/pw"), "{stderr}");
    assert!(rec.calls().is_empty(), "ran {:?}", rec.calls());
    // A printed plan may run on another machine: `plan` does not look for the file.
    let out = bin()
        .args(["plan", "--dry-run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn names_at_their_limits_are_accepted() {
    let ns63 = "n".repeat(63);
    let rel53 = format!("{}.x", "r".repeat(51));
    for args in [
        vec!["plan", "--dry-run", "-n", &ns63],
        vec!["plan", "--dry-run", "--release", &rel53],
        vec!["plan", "--dry-run", "--stack-namespace", &ns63],
        vec!["plan", "--dry-run", "--cilium-version", "1.19.0-rc.1"],
        vec!["plan", "--dry-run", "--stack-version", "80.4.1"],
        vec![
            "plan",
            "--dry-run",
            "--kube-context",
            "arn:aws:eks:eu-west-1:1:cluster/prod",
        ],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(args[3]), "{args:?} is not in the plan");
    }
}
