//! `ciliumon plan`: compute the plan and render it. Touches nothing; with `--dry-run` it
//! contacts nothing either.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{GlobalArgs, PlanArgs, PlanOutput};
use crate::config::Config;
use crate::exit::{Code, Failure};
use crate::plan::{self, FileSource, Layout, Plan, Target};
use crate::render;

pub fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<Code> {
    let config = Config::resolve(global, &args.config)?;
    // Bad specs are bad input before anything is contacted: against the version asked for, or
    // (not known yet) any catalogued one; the exact check follows once the target is known.
    let early = match config.cilium.version.as_deref() {
        Some(v) => {
            let v = crate::catalogue::resolve_version(Some(v), None)?;
            crate::spec::parse_list(&config.hubble.metrics, &v).map(drop)
        }
        None => crate::spec::parse_list_any_version(&config.hubble.metrics),
    };
    early.map_err(|e| {
        let err = anyhow::Error::new(e);
        match (&args.config.config, args.config.metrics.is_empty()) {
            (Some(file), true) => err.context(format!("hubble.metrics in {}", file.display())),
            _ => err,
        }
    })?;
    let layout = Layout {
        values_dir: args.values_dir.clone(),
        kube: crate::kube::Kube::from_global(global),
        ..Layout::default()
    };
    // An unusable --values-dir is bad input, found before the cluster is contacted.
    if let Some(dir) = &args.values_dir {
        create_private_dir(dir)?;
    }
    let (target, source) = if args.dry_run {
        (Target::default(), "dry run: nothing contacted".to_string())
    } else {
        match crate::cluster::read_target(global, &config) {
            Ok((t, desc)) => (t, desc),
            Err(e) => {
                eprintln!(
                    "note: could not read the cluster ({e:#}); planning offline as with --dry-run"
                );
                (
                    Target::default(),
                    "cluster not reachable: planned offline".to_string(),
                )
            }
        }
    };
    let plan = plan::build(&config, &target, &layout)?;
    if let Some(dir) = &args.values_dir {
        write_values(dir, &plan)?;
    }
    let text = match args.output {
        PlanOutput::Shell => render::shell(&plan, &header(&plan, &source)),
        PlanOutput::Json => render::json(&plan)?,
        PlanOutput::Yaml => render::yaml(&plan)?,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing the plan to stdout")?;
    out.flush().context("writing the plan to stdout")?;
    Ok(Code::Ok)
}

pub fn header(plan: &Plan, source: &str) -> String {
    format!(
        "ciliumon plan for Cilium {} ({source}).\nRun it with `bash`, or let `ciliumon setup` run it and check the result.",
        plan.cilium_version
    )
}

/// Write the values files the plan's steps read (`--values-dir`), mode 0600. Secrets from the
/// environment are not written by `plan`: the script writes them when it runs.
pub fn write_values(dir: &Path, plan: &Plan) -> Result<()> {
    create_private_dir(dir)?;
    for f in &plan.files {
        if let FileSource::Values { values } = &f.source {
            let what = f
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("values");
            write_private(&f.path, &render::values_file(values, what)?)?;
        }
    }
    Ok(())
}

pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Failure::bad_input(format!("cannot create directory {}: {e}", dir.display()))
        })?;
    Ok(())
}

/// Create or replace a file with mode 0600 (set before any byte is written).
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
