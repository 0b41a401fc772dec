//! Read-only RBAC (tests/e2e/rbac.yaml): `ciliumon check` with the permissions of the
//! `ciliumon-check` ClusterRole only.

use crate::check::metrics_on_release;
use crate::cluster;
use crate::env::{Env, text};
use crate::nodes::Node;
use crate::support::serial;

#[test]
fn check_as_read_only_user() {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let mut e = Env::new(c, "rbac", 4, &[Node::ok(), Node::ok()]);
    metrics_on_release(&e);
    e.rollout_done();
    // The reader may not write.
    e.kubeconfig = c.reader_kubeconfig.clone();
    let denied = std::process::Command::new(crate::support::kubectl())
        .arg("--kubeconfig")
        .arg(&e.kubeconfig)
        .args([
            "delete",
            "configmap",
            "cilium-config",
            "-n",
            &e.ns,
            "--dry-run=server",
        ])
        .output()
        .unwrap();
    assert!(!denied.status.success(), "{}", text(&denied));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("forbidden"));
    let out = e.ciliumon(&["check", "-n", &e.ns, "--wait", "30s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // `plan` reads the release through helm, which keeps it in Secrets: the check role alone
    // is not enough, and ciliumon says what was forbidden (see plan_forbidden_is_not_offline).
    let cfg = e.config("");
    let cfg = cfg.to_str().unwrap();
    let out = e.ciliumon(&["plan", "--config", cfg]);
    let all = text(&out);
    assert!(
        all.contains("secrets is forbidden: User \"e2e-reader\""),
        "{all}"
    );
    // With ciliumon-plan (get/list Secrets) bound too, plan works read-only.
    let binding = "ciliumon-plan-e2e-reader";
    e.kubeconfig = c.admin_kubeconfig.clone();
    e.k(&[
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=ciliumon-plan",
        "--user=e2e-reader",
    ]);
    e.kubeconfig = c.reader_kubeconfig.clone();
    let out = e.ciliumon(&["plan", "--config", cfg]);
    e.kubeconfig = c.admin_kubeconfig.clone();
    e.k(&["delete", "clusterrolebinding", binding]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("helm upgrade cilium e2e-cilium/cilium"),
        "{all}"
    );
    assert!(all.contains("--version 1.18.12"), "{all}");
    // Read-only: the release did not move.
    assert_eq!(e.revision(), 1);
}

/// A reachable cluster that forbids reading the release is not an unreachable one: planning
/// "offline" there targets the newest Cilium (1.20.0) instead of the installed 1.18.12, so the
/// plan would change the user's Cilium version. It is a preflight failure (exit 3) whose hint
/// names the missing permission.
#[test]
fn plan_forbidden_is_not_offline() {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let mut e = Env::new(c, "rbac-plan", 4, &[Node::ok()]);
    metrics_on_release(&e);
    e.kubeconfig = c.reader_kubeconfig.clone();
    let cfg = e.config("");
    let out = e.ciliumon(&["plan", "--config", cfg.to_str().unwrap()]);
    e.kubeconfig = c.admin_kubeconfig.clone();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(!all.contains("--version 1.20.0"), "{all}");
    assert!(!all.contains("planning offline"), "{all}");
    assert!(
        all.contains(&format!("get and list on secrets in namespace '{}'", e.ns)),
        "{all}"
    );
    assert!(all.contains("Helm keeps its releases in Secrets"), "{all}");
}
