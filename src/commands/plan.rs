//! `ciliumon plan`: compute the plan and render it. Touches nothing; with `--dry-run` it
//! contacts nothing either.

use anyhow::{Context, Result};

use crate::cli::{GlobalArgs, PlanArgs, PlanOutput};
use crate::config::Config;
use crate::exit::Code;
use crate::plan::{self, Layout, Plan, Target};
use crate::render;
use crate::ui::Printer;

pub fn run(global: &GlobalArgs, args: &PlanArgs, printer: Printer) -> Result<Code> {
    let config = Config::resolve(global, &args.config)?;
    let flag_sizes = super::sizes_from_flags(&args.config)?;
    // Bad specs are bad input before anything is contacted: against the version asked for, or
    // (not known yet) any catalogued one; the exact check follows once the target is known.
    let early = match config.cilium.version.as_deref() {
        Some(v) => {
            let v = crate::catalogue::resolve_version(
                Some(v),
                None,
                crate::catalogue::VersionUse::Pin,
            )?
            .facts;
            crate::spec::parse_list(&config.metric_list(&v), &v).map(drop)
        }
        // A preset's list is valid for every version it is resolved for.
        None if config.hubble.metrics_preset.is_some() => Ok(()),
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
        crate::run::files::create_values_dir(dir)?;
    }
    let (mut target, source) = if args.dry_run {
        (Target::default(), "dry run: nothing contacted".to_string())
    } else {
        match crate::cluster::read_target(global, &config) {
            Ok((t, desc)) => (t, desc),
            // The cluster answered and refused (403/401): planning "offline" there would target
            // the newest Cilium, not the installed one. Exit 3 with the missing permission.
            Err(e) if crate::cluster::is_denied(&e) => return Err(e),
            Err(e) => {
                printer.say(&format!(
                    "note: could not read the cluster ({e:#}); planning offline as with --dry-run"
                ));
                (
                    Target::default(),
                    "cluster not reachable: planned offline".to_string(),
                )
            }
        }
    };
    if let Some(sizes) = flag_sizes {
        target.sizes = sizes;
    }
    let plan = plan::build(&config, &target, &layout)?;
    if let Some(dir) = &args.values_dir {
        write_values(dir, &plan)?;
    }
    let text = match args.output {
        PlanOutput::Shell => render::shell(&plan, &header(&plan, &source)),
        PlanOutput::Json => render::json(&plan)?,
        PlanOutput::Yaml => render::yaml(&plan)?,
    };
    printer.out(&text).context("writing the plan to stdout")?;
    Ok(Code::Ok)
}

pub fn header(plan: &Plan, source: &str) -> String {
    format!(
        "ciliumon plan for Cilium {} ({source}).\nRun it with `bash`, or let `ciliumon setup` run it and check the result.",
        plan.cilium_version
    )
}

/// `plan --values-dir` writes its values files through the one writer of private files.
pub use crate::run::files::write_values;
