//! Steps that fail for real: a value the chart's schema rejects, a release locked by a pending
//! operation, the ServiceMonitor CRD missing. The report, the exit code, the backup, and the
//! printed `helm rollback` command restoring the revision it names.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster;
use crate::env::{Env, text};
use crate::nodes::Node;
use crate::support::{serial, tools};

const USER_VALUES: &str = "cluster:\n  name: \"on\"\nextraConfig:\n  user-flag: \"on\"\n";

fn setup_args(e: &Env, extra: &str) -> Vec<String> {
    let cfg = e.config(extra);
    vec![
        "setup".into(),
        "--yes".into(),
        "--config".into(),
        cfg.display().to_string(),
        "--backup-dir".into(),
        e.path("backups").display().to_string(),
        "--timeout".into(),
        "2m".into(),
        "--check-wait".into(),
        "20s".into(),
    ]
}

fn run(e: &Env, args: &[String]) -> (Option<i32>, String) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = e.ciliumon(&a);
    (o.status.code(), text(&o))
}

/// The one backup file: its text and its parsed document.
fn backup(e: &Env) -> (String, Value) {
    let dir = e.path("backups");
    // The backup; not the values files a failed run keeps beside it (`ciliumon-failed-*`).
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .flatten()
        .map(|f| f.path())
        // The values files of a failed run are kept beside the backup; they are not it.
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ciliumon-backup-"))
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&files[0]).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{}", files[0].display());
    let t = std::fs::read_to_string(&files[0]).unwrap();
    let v: Value = serde_saphyr::from_str(&t).unwrap_or_else(|err| panic!("{err}: {t}"));
    (t, v)
}

/// The `helm rollback ...` line the report printed (the last one), run as printed with the
/// helm under test first on PATH.
fn run_rollback(e: &Env, report: &str) -> String {
    let line = report
        .lines()
        .filter_map(|l| l.find("helm rollback ").map(|i| l[i..].trim().to_string()))
        .next_back()
        .unwrap_or_else(|| panic!("no helm rollback command in:\n{report}"));
    let path = format!(
        "{}:{}:{}",
        tools().join(format!("helm{}", e.major)).display(),
        tools().join("helm4").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let h = e.tmp.path().join("helm");
    let o = Command::new("bash")
        .args(["-c", &line])
        .env("PATH", path)
        .env("HELM_CONFIG_HOME", h.join("config"))
        .env("HELM_CACHE_HOME", h.join("cache"))
        .env("HELM_DATA_HOME", h.join("data"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{line}: {}", text(&o));
    line
}

fn schema_rejects(major: u8) {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let e = Env::new(
        c,
        &format!("schema-h{major}"),
        major,
        &[Node::ok(), Node::ok()],
    );
    // A value set while the schema was skipped (as with charts before 1.16, which had none):
    // envoy.prometheus.port is a string in Cilium's schema.
    let f = e.values_file("user-values.yaml", USER_VALUES);
    e.install_cilium(
        &[&f],
        &[
            "--skip-schema-validation",
            "--set",
            "envoy.prometheus.port=9964",
        ],
    );
    e.rollout_done();
    let n = e.revision();
    let before = e.values(Some(n));
    let (code, report) = run(&e, &setup_args(&e, ""));
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("Step failed: Upgrade Cilium"), "{report}");
    assert!(
        report.contains("values don't meet the specifications of the schema"),
        "{report}"
    );
    // Helm 3 names the value `envoy.prometheus.port`, Helm 4 `/envoy/prometheus/port`.
    let path = if major == 3 {
        "envoy.prometheus.port"
    } else {
        "/envoy/prometheus/port"
    };
    assert!(report.contains(path), "{report}");
    assert!(
        report.contains("hint: the Cilium chart rejected a value"),
        "{report}"
    );
    // The stack step ran before it.
    let stack = e.helm_json(&["history", "prometheus", "-n", &e.stack_ns]);
    assert_eq!(stack[0]["status"], "deployed", "{stack:#}");
    // Helm rejected the values before writing a revision.
    assert_eq!(e.revision(), n);
    let (btext, b) = backup(&e);
    assert_eq!(b["revision"], n, "{btext}");
    assert_eq!(b["values"], before, "{btext}");
    // Helm reads values files as YAML 1.1, where a bare `on` is true: the backup keeps it a string.
    assert!(!btext.contains(": on\n"), "{btext}");
    let line = run_rollback(&e, &report);
    assert!(
        line.contains(&format!("helm rollback cilium {n} ")),
        "{line}"
    );
    assert_eq!(e.revision(), n + 1);
    assert_eq!(e.values(None), before);
}

#[test]
fn schema_rejects_helm3() {
    schema_rejects(3);
}

#[test]
fn schema_rejects_helm4() {
    schema_rejects(4);
}

/// Leaves the release in pending-upgrade: an upgrade with --wait whose operator can never be
/// scheduled, killed (SIGKILL) once Helm has recorded the pending revision.
fn lock_release(e: &Env) -> i64 {
    let h = e.tmp.path().join("helm");
    let mut child = Command::new(crate::support::helm(e.major))
        .args([
            "upgrade",
            "cilium",
            "e2e-cilium/cilium",
            "--version",
            "1.18.12",
            "-n",
            &e.ns,
            "--reuse-values",
            "--set-string",
            "operator.nodeSelector.nowhere=true",
            "--wait",
            "--timeout",
            "5m",
        ])
        .env("HELM_CONFIG_HOME", h.join("config"))
        .env("HELM_CACHE_HOME", h.join("cache"))
        .env("HELM_DATA_HOME", h.join("data"))
        .env("KUBECONFIG", &e.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut pending = 0;
    while start.elapsed() < Duration::from_secs(60) {
        let hist = e.helm_json(&["history", "cilium", "-n", &e.ns]);
        if let Some(last) = hist.as_array().unwrap().last()
            && last["status"] == "pending-upgrade"
        {
            pending = last["revision"].as_i64().unwrap();
            // Let it reach --wait.
            std::thread::sleep(Duration::from_millis(500));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(pending > 0, "helm upgrade never went pending");
    pending
}

fn locked(major: u8) {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let e = Env::new(
        c,
        &format!("locked-h{major}"),
        major,
        &[Node::ok(), Node::ok()],
    );
    let f = e.values_file("user-values.yaml", USER_VALUES);
    e.install_cilium(&[&f], &[]);
    e.rollout_done();
    let n = e.revision();
    let good = e.values(Some(n));
    let pending = lock_release(&e);
    assert_eq!(pending, n + 1);
    // ciliumon sees the lock in its preflight: nothing runs, no backup, exit 3.
    let args = setup_args(&e, "");
    let (code, report) = run(&e, &args);
    assert_eq!(code, Some(3), "{report}");
    assert!(
        report.contains("the release 'cilium' is locked: its status is pending-upgrade"),
        "{report}"
    );
    // The exact rollback, to the last deployed revision (from `helm history -o json`).
    let hint = format!(
        "roll back to the last deployed revision {n}: helm rollback cilium {n} -n {}",
        e.ns
    );
    assert!(report.contains(&hint), "{report}");
    assert!(!e.path("backups").exists(), "a backup was written");
    assert_eq!(e.revision(), pending);
    // The hint's way out, for real: the last deployed revision from `helm history`, rolled
    // back to (Helm rolls back from a pending release), then setup goes through.
    let hist = e.helm_json(&["history", "cilium", "-n", &e.ns]);
    let last_deployed = hist
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["status"] == "deployed" || r["status"] == "superseded")
        .unwrap()["revision"]
        .as_i64()
        .unwrap();
    assert_eq!(last_deployed, n, "{hist:#}");
    e.helm_ok(&["rollback", "cilium", &n.to_string(), "-n", &e.ns]);
    assert_eq!(e.values(None), good);
    let (code, report) = run(&e, &args);
    assert_eq!(code, Some(0), "{report}");
    let (_, b) = backup(&e);
    assert_eq!(b["revision"], pending + 1);
}

#[test]
fn locked_release_helm3() {
    locked(3);
}

#[test]
fn locked_release_helm4() {
    locked(4);
}

fn crd_missing(major: u8) {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let e = Env::new(
        c,
        &format!("nocrd-h{major}"),
        major,
        &[Node::ok(), Node::ok()],
    );
    for crd in ["servicemonitors", "podmonitors", "prometheuses"] {
        e.k(&[
            "delete",
            "crd",
            &format!("{crd}.monitoring.coreos.com"),
            "--ignore-not-found",
        ]);
    }
    let f = e.values_file("user-values.yaml", USER_VALUES);
    e.install_cilium(&[&f], &[]);
    e.rollout_done();
    let n = e.revision();
    let before = e.values(Some(n));
    // Reuse a stack that is not there: ServiceMonitors on (the default), no CRD. Preflight
    // reads the CRD (read-only) and stops before the backup and the steps.
    let (code, report) = run(&e, &setup_args(&e, "  mode: reuse\n"));
    eprintln!("{report}");
    assert_eq!(code, Some(3), "{report}");
    assert!(
        report.contains("the CRD servicemonitors.monitoring.coreos.com does not exist"),
        "{report}"
    );
    assert!(report.contains("--stack install"), "{report}");
    assert!(!e.path("backups").exists(), "{report}");
    assert_eq!(e.revision(), n);
    assert_eq!(e.values(None), before);
}

#[test]
fn servicemonitor_crd_missing_helm3() {
    crd_missing(3);
}

#[test]
fn servicemonitor_crd_missing_helm4() {
    crd_missing(4);
}

/// With `prometheusStack.mode: reuse`, the plan sets `trustCRDsExist=true` ("the stack's CRDs
/// are in place") without looking: a read-only GET of the CRD in preflight would stop here with
/// exit 3, before the backup and the steps.
#[test]
fn reuse_without_crd_fails_at_preflight() {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    // Two nodes: the operator has two replicas on host ports.
    let e = Env::new(c, "nocrd-pre", 4, &[Node::ok(), Node::ok()]);
    for crd in ["servicemonitors", "podmonitors", "prometheuses"] {
        e.k(&[
            "delete",
            "crd",
            &format!("{crd}.monitoring.coreos.com"),
            "--ignore-not-found",
        ]);
    }
    let f = e.values_file("user-values.yaml", USER_VALUES);
    e.install_cilium(&[&f], &[]);
    e.rollout_done();
    let (code, report) = run(&e, &setup_args(&e, "  mode: reuse\n"));
    assert_eq!(code, Some(3), "{report}");
    assert!(!e.path("backups").exists(), "{report}");
}
