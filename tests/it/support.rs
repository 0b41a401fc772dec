//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The ciliumon binary under test.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ciliumon"));
    cmd.env("NO_COLOR", "1").env_remove("CILIUMON_YES");
    cmd
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub use crate::harness::fixtures::fixtures_dir;

/// The real helm binaries that scripts/install-tools.sh puts in .tools/. Tests that need them
/// fail (not skip) when they are missing: CI installs them first.
pub fn helm_binaries() -> Vec<(&'static str, PathBuf)> {
    let root = repo_root().join(".tools");
    let list = vec![
        ("helm3", root.join("helm3/helm")),
        ("helm4", root.join("helm4/helm")),
    ];
    for (name, path) in &list {
        assert!(
            path.exists(),
            "{name} is missing at {}: run scripts/install-tools.sh first",
            path.display()
        );
    }
    list
}

pub fn kubectl_binary() -> PathBuf {
    let path = repo_root().join(".tools/helm4/kubectl");
    assert!(
        path.exists(),
        "kubectl is missing at {}: run scripts/install-tools.sh first",
        path.display()
    );
    path
}

pub fn write(path: &Path, contents: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, contents).unwrap();
}
