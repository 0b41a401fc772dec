//! End to end: `ciliumon setup` and `ciliumon check` against a real control plane (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler, kwok; see cluster.rs), real Helm 3
//! and Helm 4 and a chart repository served on loopback. One control plane per run of this
//! binary; the tests take turns on it (`support::serial`).
//!
//! Needs `scripts/install-tools.sh` (helm, kubectl and the control plane in .tools/) and root (the
//! fake nodes' network namespace). Without the control plane the tests fail and say how to
//! build it; CILIUMON_E2E_SKIP=1 skips them instead.

mod charts;
mod check;
mod cluster;
mod dynamic;
mod env;
mod failures;
mod net;
mod nodes;
mod rbac;
mod setup;
mod support;
