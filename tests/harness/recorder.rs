//! A recording stand-in for helm and kubectl: logs each call's argv (NUL-separated, one call a
//! line) and succeeds with no output. Enough for "nothing ran" and "these argv ran" assertions.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Recorder {
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Recorder {
    pub fn new() -> Recorder {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.path().join("calls.log");
        std::fs::write(&log, "").unwrap();
        for tool in ["helm", "kubectl"] {
            let script = format!(
                "#!/bin/bash\n{{ printf '%s\\0' {tool} \"$@\"; printf '\\n'; }} >> '{}'\nexit 0\n",
                log.display()
            );
            let path = bin.join(tool);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Recorder { dir, log }
    }

    /// PATH with the stand-ins first (and only the system dirs after, so no real helm is found).
    pub fn path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display())
    }

    /// Every recorded call, as argv.
    pub fn calls(&self) -> Vec<Vec<String>> {
        read_calls(&self.log)
    }
}

pub fn read_calls(log: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(log).unwrap();
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let line = line.strip_suffix(&[0]).expect("each call ends with NUL");
            line.split(|b| *b == 0)
                .map(|w| String::from_utf8(w.to_vec()).unwrap())
                .collect()
        })
        .collect()
}
