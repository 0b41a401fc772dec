//! `ciliumon plan`: compute the plan and render it. Touches nothing; with `--dry-run` it
//! contacts nothing either.

use anyhow::{Context, Result};

use crate::cli::{GlobalArgs, PlanArgs, PlanOutput};
use crate::config::Config;
use crate::exit::Code;
use crate::plan::gitops::{self, Owner};
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
    let kube = crate::kube::Kube::from_global(global);
    let mut owner = None;
    let mut cluster = None;
    let (mut target, source) = if args.dry_run {
        (Target::default(), "dry run: nothing contacted".to_string())
    } else if !kube.has_kubeconfig(
        std::env::var_os("KUBECONFIG").as_deref(),
        std::env::var_os("HOME")
            .as_deref()
            .map(std::path::Path::new),
    ) {
        printer.say(
            "note: no kubeconfig (no --kubeconfig, KUBECONFIG or ~/.kube/config); planning offline as with --dry-run",
        );
        (
            Target::default(),
            "no kubeconfig: planned offline".to_string(),
        )
    } else {
        // A kubeconfig is there: a context that does not exist, or a cluster that cannot be
        // read, is an error (exit 3), not an offline plan for a cluster that was not looked at.
        let pf = crate::cluster::preflight_here(global, &config)?;
        owner = pf.owner.clone();
        let described = (pf.target(), pf.describe());
        cluster = Some(pf);
        described
    };
    if let Some(f) = plan::missing_crd(&config, &target) {
        return Err(f.into());
    }
    if let Some(sizes) = flag_sizes {
        target.sizes = sizes;
    }
    let mut plan = plan::build(&config, &target, &layout)?;
    let gitops_output = matches!(
        args.output,
        PlanOutput::Values | PlanOutput::Flux | PlanOutput::Argocd
    );
    if let Some(o) = &owner
        && !gitops_output
    {
        if !args.force_helm {
            return Err(
                gitops::refusal(o, &plan.cilium_release, &plan.cilium_namespace, None).into(),
            );
        }
        printer.say(&gitops::force_warning(o));
    }
    if let Some(pf) = &cluster {
        let private = crate::run::PrivateDir::create()?;
        let observed = crate::cluster::observe(pf, &config, &plan, &layout.kube, private.path());
        plan::rollout::settle(&mut plan, &observed);
    } else if !gitops_output {
        plan::rollout::settle(&mut plan, &plan::rollout::Observed::default());
    }
    if let Some(dir) = &args.values_dir {
        write_values(dir, &plan)?;
    }
    let text = match args.output {
        PlanOutput::Shell => render::shell(&plan, &header(&plan, &source)),
        PlanOutput::Json => render::json(&plan)?,
        PlanOutput::Yaml => render::yaml(&plan)?,
        PlanOutput::Values => gitops::values_file(&plan)?,
        PlanOutput::Flux => match &owner {
            Some(o @ Owner::Flux { .. }) => gitops::snippet(&plan, o)?,
            _ => gitops::flux_snippet(&plan, &plan.cilium_release, "flux-system")?,
        },
        PlanOutput::Argocd => match &owner {
            Some(o @ Owner::ArgoCd { .. }) => gitops::snippet(&plan, o)?,
            _ => gitops::argo_snippet(&plan, &plan.cilium_release)?,
        },
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
