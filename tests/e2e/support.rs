//! Paths, tools and small process helpers of the e2e tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn tools() -> PathBuf {
    repo_root().join(".tools")
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/e2e/fixtures").join(rel)
}

pub fn kubectl() -> PathBuf {
    tools().join("helm4/kubectl")
}

/// Helm 3 and Helm 4, as installed by scripts/install-tools.sh.
pub fn helm(major: u8) -> PathBuf {
    let p = tools().join(format!("helm{major}/helm"));
    assert!(
        p.is_file(),
        "{} missing: run scripts/install-tools.sh",
        p.display()
    );
    p
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// kubectl with a kubeconfig; panics on failure; stdout.
pub fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> String {
    let out = run_ok(
        Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args),
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The tests share one cluster and cluster-scoped objects (CRDs): one runs at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
