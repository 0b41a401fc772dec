//! Read-only RBAC (tests/e2e/rbac.yaml): `ciliumon check` with the permissions of the
//! `ciliumon-check` ClusterRole only.

use std::time::Duration;

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
    e.kubeconfig = c.admin_kubeconfig.clone();
    let _ = Duration::ZERO;
}
