//! Private files: the only place ciliumon writes a file that may hold a value or a secret.
//! Directories are 0700 and files 0600, set before the first byte is written. The values and
//! secret files of `setup` live in a private temporary directory removed whatever happens;
//! `plan --values-dir` writes the same values files where it is told; the backup is a new file
//! that never replaces another.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::Failure;
use crate::plan::{FileSource, Plan};

/// A private directory (0700) for the values and secret files; removed with its contents on
/// drop, whatever happened. A `tempfile::TempDir` in `$TMPDIR`.
#[derive(Debug)]
pub struct PrivateDir(tempfile::TempDir);

impl PrivateDir {
    /// In `$TMPDIR`, 0700; removed on drop, and by Ctrl-C when it ends ciliumon at once.
    pub fn create() -> Result<PrivateDir> {
        tempfile::Builder::new()
            .prefix("ciliumon-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .map(|d| {
                super::interrupt::remove_on_exit(d.path());
                PrivateDir(d)
            })
            .with_context(|| {
                format!(
                    "cannot create a private directory in {}",
                    std::env::temp_dir().display()
                )
            })
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // The TempDir removes the directory right after this.
        super::interrupt::forget_private_dir(self.0.path());
    }
}

/// How [`write_private`] treats a file that is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace its contents (and make it 0600 if it was not).
    Replace,
    /// Leave it alone: `ErrorKind::AlreadyExists`.
    Keep,
}

/// Write `contents` to `path`, mode 0600 before any byte is written.
pub fn write_private(path: &Path, contents: &[u8], existing: Existing) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).mode(0o600);
    match existing {
        Existing::Replace => options.create(true).truncate(true),
        Existing::Keep => options.create_new(true),
    };
    let mut f = options.open(path)?;
    if existing == Existing::Replace {
        // An existing file keeps its mode on open: make sure.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(contents)
}

/// Create `dir` and its missing parents, 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The plan's files, written; removed on drop. Holds the secret values to mask in output.
#[derive(Debug, Default)]
pub struct WrittenFiles {
    paths: Vec<PathBuf>,
    pub secrets: Vec<String>,
}

impl Drop for WrittenFiles {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = fs::remove_file(p);
        }
    }
}

/// A values file as the chart reads it.
fn values_text(values: &serde_json::Value, path: &Path) -> Result<String> {
    let what = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("values");
    crate::render::values_file(values, what)
}

/// Write every file the plan's steps read, mode 0600, before any step runs. Relative paths are
/// taken inside `dir`. A secret whose environment variable is unset is bad input (nothing ran).
pub fn write_plan_files(plan: &Plan, dir: &Path) -> Result<WrittenFiles> {
    let mut written = WrittenFiles::default();
    for file in &plan.files {
        let path = if file.path.is_absolute() {
            file.path.clone()
        } else {
            dir.join(&file.path)
        };
        let contents = match &file.source {
            FileSource::Values { values } => values_text(values, &path)?,
            FileSource::Env { variable } => match std::env::var(variable) {
                Ok(v) if !v.is_empty() => {
                    written.secrets.push(v.clone());
                    v
                }
                _ => {
                    return Err(Failure::bad_input(format!("the environment variable {variable} is not set"))
                        .hint(format!("export {variable}=... (the Grafana admin password) before running setup, or drop the option that names it"))
                        .into());
                }
            },
        };
        if let Some(parent) = path.parent() {
            create_private_dir(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        // Removed on drop even when the write fails half-way.
        written.paths.push(path.clone());
        write_private(&path, contents.as_bytes(), Existing::Replace)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(written)
}

/// Write the values files the plan's steps read into `dir` (`plan --values-dir`), 0600, in a
/// 0700 directory; they stay. Secrets from the environment are not written: the script writes
/// them when it runs. An unusable `dir` is bad input.
pub fn write_values(dir: &Path, plan: &Plan) -> Result<()> {
    create_values_dir(dir)?;
    for file in &plan.files {
        if let FileSource::Values { values } = &file.source {
            let text = values_text(values, &file.path)?;
            write_private(&file.path, text.as_bytes(), Existing::Replace)
                .with_context(|| format!("writing {}", file.path.display()))?;
        }
    }
    Ok(())
}

/// `--values-dir`, created 0700 with its parents; bad input when it cannot be.
pub fn create_values_dir(dir: &Path) -> Result<()> {
    create_private_dir(dir).map_err(|e| {
        Failure::bad_input(format!("cannot create directory {}: {e}", dir.display())).into()
    })
}

/// Replace every secret in `text` by `***`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Version;

    fn plan() -> Plan {
        Plan {
            cilium_version: Version::new(1, 18, 4),
            cilium_release: "cilium".into(),
            cilium_namespace: "kube-system".into(),
            steps: vec![],
            files: vec![],
            notes: vec![],
            cilium_values: serde_json::json!({}),
            stack_values: None,
            dashboards: vec![],
            estimate: None,
            estimate_source: String::new(),
            restart_required: None,
        }
    }

    #[test]
    fn masks_secrets() {
        assert_eq!(
            mask("password s3cret! ok", &["s3cret!".into()]),
            "password *** ok"
        );
        assert_eq!(mask("nothing", &[String::new()]), "nothing");
    }

    #[test]
    fn plan_files_are_private_and_removed() {
        let dir = PrivateDir::create().unwrap();
        let root = dir.path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let mut p = plan();
        p.files.push(crate::plan::PlanFile {
            path: root.join("cilium-values.yaml"),
            source: FileSource::Values {
                values: serde_json::json!({"hubble": {"metrics": {"enabled": ["dns", "on"]}}}),
            },
        });
        let files = write_plan_files(&p, &root).unwrap();
        let path = root.join("cilium-values.yaml");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let text = fs::read_to_string(&path).unwrap();
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back["hubble"]["metrics"]["enabled"][1], "on");
        drop(files);
        assert!(!path.exists());
        drop(dir);
        assert!(!root.exists());
    }

    #[test]
    fn missing_secret_variable_is_bad_input() {
        let dir = PrivateDir::create().unwrap();
        let mut p = plan();
        p.files.push(crate::plan::PlanFile {
            path: "grafana-admin-password".into(),
            source: FileSource::Env {
                variable: "CILIUMON_TEST_SURELY_UNSET_VAR".into(),
            },
        });
        let err = write_plan_files(&p, dir.path()).unwrap_err();
        assert_eq!(crate::exit::classify(&err).0, crate::exit::Code::BadInput);
        assert!(err.to_string().contains("CILIUMON_TEST_SURELY_UNSET_VAR"));
    }
}
