//! `ciliumon setup`: preflight → configuration (flags, file, or the wizard) → the same plan as
//! `ciliumon plan` → values diff → confirm → backup → run → check.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{GlobalArgs, SetupArgs};
use crate::cluster::{self, Kube, Preflight};
use crate::config::Config;
use crate::config::StackMode;
use crate::diff::{self, Diff};
use crate::exit::{Code, Failure};
use crate::next_steps::{self, NextSteps};
use crate::plan::gitops;
use crate::plan::{self, Layout, Plan, StepKind};
use crate::render;
use crate::run::files::{self, Existing};
use crate::run::{self, Limits, PrivateDir, Progress, RunReport, ToolRunner};
use crate::ui::{Paint, Printer};
use crate::wizard::{self, Prompter, Terminal};

/// The one JSON document of `--output json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    /// done, unchanged, failed, interrupted, declined, check-failed
    status: &'a str,
    /// The exit code ciliumon ends with.
    exit_code: u8,
    /// What stopped the run, for a run that did not finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    context: &'a str,
    cilium: CiliumDoc<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollback: Option<String>,
    changes: &'a Diff,
    steps: &'a [run::StepReport],
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'a CheckOutcome>,
    /// What to look at next, after a successful run.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<NextSteps>,
    /// The values files of a failed run, kept (0600) so its commands can be re-run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kept_files: Vec<String>,
    /// The configuration saved (`--save-config`, or accepted when offered).
    #[serde(skip_serializing_if = "Option::is_none")]
    saved_config: Option<String>,
}

impl<'a> Document<'a> {
    /// Nothing run yet: "unchanged" until a phase says otherwise.
    fn new(pf: &'a Preflight, changes: &'a Diff) -> Self {
        Document {
            status: "unchanged",
            exit_code: Code::Ok as u8,
            error: None,
            context: &pf.context,
            cilium: CiliumDoc {
                release: &pf.cilium.name,
                namespace: &pf.cilium.namespace,
                chart_version: pf.cilium.chart_version.to_string(),
                revision_before: pf.cilium.revision,
            },
            backup: None,
            rollback: None,
            changes,
            steps: &[],
            hint: None,
            check: None,
            next: None,
            kept_files: vec![],
            saved_config: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CiliumDoc<'a> {
    release: &'a str,
    namespace: &'a str,
    chart_version: String,
    revision_before: u64,
}

/// What a setup that stops with an error had done: said in its `-o json` document.
#[derive(Debug, Default)]
struct SoFar {
    context: Option<String>,
    backup: Option<String>,
    rollback: Option<String>,
}

impl SoFar {
    fn fields(self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("context", self.context),
            ("backup", self.backup),
            ("rollback", self.rollback),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        }
        // An error reaches here only before the first step: none ran.
        m.insert("steps".into(), serde_json::json!([]));
        m
    }
}

pub fn run(global: &GlobalArgs, args: &SetupArgs, printer: Printer) -> Result<Code> {
    let mut so_far = SoFar::default();
    match phases(global, args, printer, &mut so_far) {
        Ok(code) => Ok(code),
        // `--dry-run -o json | head`: as `plan`.
        Err(e) if crate::exit::is_broken_pipe(&e) => Err(e),
        Err(e) => Ok(crate::commands::fail(printer, &e, so_far.fields())),
    }
}

fn phases(
    global: &GlobalArgs,
    args: &SetupArgs,
    printer: Printer,
    so_far: &mut SoFar,
) -> Result<Code> {
    if args.dry_run {
        return dry_run(global, args, printer);
    }
    let ask = !args.yes;
    let (global, config, pf) = preflight(global, args, ask, printer)?;
    let kube = Kube::from_global(&global);
    so_far.context = Some(pf.context.clone());
    // A release Flux or Argo CD owns is not upgraded behind its controller's back.
    if let Some(owner) = &pf.owner {
        if !args.force_helm {
            let layout = Layout {
                kube: Kube::from_global(&global),
                ..Layout::default()
            };
            let plan = plan::build(&config, &pf.target(), &layout)?;
            printer.say(&format!(
                "The values for {}, to commit instead:\n",
                owner.describe()
            ));
            printer.say_text(&gitops::snippet(&plan, owner)?);
            return Err(gitops::refusal(owner, &pf.cilium.name, &pf.cilium.namespace, None).into());
        }
        printer.say(&gitops::force_warning(owner));
    }
    // Every question (the wizard's and the confirmation) goes through this one prompter.
    let mut prompter = ask.then(|| Terminal::new(printer));
    let allowed = match version_change(&config, &pf)? {
        None => true,
        Some(change) if args.dry_run => {
            printer.say(&format!("note: {change}"));
            true
        }
        Some(change) => allow_version_change(
            prompter.as_mut().map(|p| p as &mut dyn Prompter),
            &change,
            args.allow_version_change,
            printer,
        )?,
    };
    if !allowed {
        printer.say("Nothing was changed.");
        let no_change = Diff::default();
        let mut doc = Document::new(&pf, &no_change);
        doc.status = "declined";
        return report(printer, &mut doc, None, Code::Ok);
    }

    let config = match prompter.as_mut() {
        Some(p) => {
            // For "reuse a Prometheus installed outside Helm": the labels it selects by.
            let prometheuses = if pf.stack.is_none() {
                cluster::prometheuses(&pf.tools, &kube)
            } else {
                vec![]
            };
            match wizard::ask(p, config, &pf, &prometheuses)? {
                Some(c) => c,
                None => return Ok(aborted(printer)),
            }
        }
        None => config,
    };
    if let Some(f) = plan::missing_crd(&config, &pf.target()) {
        return Err(f.into());
    }

    // Values and secret files live in a private directory, removed whatever happens.
    let private = PrivateDir::create()?;
    let planned = plan_changes(&global, args, &config, &pf, private.path())?;
    let mut doc = Document::new(&pf, &planned.changes);
    if planned.unchanged {
        printer.say(&format!(
            "Nothing to change: release '{}' already has these values{} and every agent started after cilium-config last changed. No upgrade, no restart.",
            pf.cilium.name,
            if config.prometheus_stack.mode == StackMode::Install {
                " and kube-prometheus-stack is installed"
            } else {
                ""
            }
        ));
        let check = check_after(&global, args, &config, &planned.plan, printer);
        return report(printer, &mut doc, check.as_ref(), Code::Ok);
    }
    show_plan(printer, &planned, &pf.context);

    if let Some(p) = prompter.as_mut() {
        match p.confirm(
            &format!("Apply this plan to context '{}'?", pf.context),
            false,
        )? {
            // Esc is an abort (exit 130), not a no.
            None => return Ok(aborted(printer)),
            Some(true) => {}
            Some(false) => {
                // A reviewed configuration is worth keeping even when it is not applied.
                let Some(saved) = wizard::offer_save(p, &config, args.save_config.as_deref())?
                else {
                    return Ok(aborted(printer));
                };
                doc.saved_config = saved.map(|p| p.display().to_string());
                printer.say("Nothing was changed.");
                doc.status = "declined";
                return report(printer, &mut doc, None, Code::Ok);
            }
        }
    }
    match save_answers(prompter.as_mut(), &config, args, printer)? {
        Some(saved) => doc.saved_config = saved.map(|p| p.display().to_string()),
        None => return Ok(aborted(printer)),
    }

    let (backup, rollback) = backup(&pf, &global, args, printer)?;
    doc.backup = Some(backup.display().to_string());
    doc.rollback = Some(rollback);
    so_far.backup.clone_from(&doc.backup);
    so_far.rollback.clone_from(&doc.rollback);

    let keep_in = backup
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let (mut run_report, kept) = execute(&planned.plan, &pf, args, private, &keep_in, printer)?;
    if !run_report.succeeded() {
        files_kept(&mut run_report, &kept);
        doc.kept_files = kept
            .iter()
            .map(|(_, to)| to.display().to_string())
            .collect();
        let run_report = run_report;
        doc.steps = &run_report.steps;
        return failed(printer, &mut doc, &run_report, &pf, &config, &kube);
    }
    doc.steps = &run_report.steps;
    printer.say(&printer.paint(
        Paint::Ok,
        &format!("✓ Done: {} steps.", run_report.steps.len()),
    ));
    let node = (config.hubble.ui.enabled
        && config.hubble.ui.service_type == crate::config::ServiceType::NodePort)
        .then(|| cluster::node_address(&pf.tools, &kube))
        .flatten();
    let next = NextSteps::from(&next_steps::Facts {
        config: &config,
        plan: &planned.plan,
        kubectl_flags: kube.kubectl_flags(),
        node_address: node.as_deref(),
        backup: doc.backup.as_deref(),
        rollback: doc.rollback.as_deref(),
    });
    let next_text = next.to_text();
    doc.next = Some(next);
    doc.status = "done";
    interrupted_after_the_steps(printer, &mut doc);
    let check = check_after(&global, args, &config, &planned.plan, printer);
    printer.say_text(&next_text);
    report(printer, &mut doc, check.as_ref(), Code::Ok)
}

/// Refuse what cannot work before anything is contacted, resolve the configuration, then find
/// the tools, the cluster and its Cilium release, and say what will be changed.
fn preflight(
    global: &GlobalArgs,
    args: &SetupArgs,
    ask: bool,
    printer: Printer,
) -> Result<(GlobalArgs, Config, Preflight)> {
    // No questions can be asked here, and a closed stdin is not an answer.
    if ask && !printer.interactive() {
        return Err(Failure::bad_input(
            "setup needs a terminal to ask its questions, and stdin or stderr is not one",
        )
        .hint("pass --yes (or set CILIUMON_YES=1) to run with the configuration from flags and --config without asking; --dry-run shows the plan")
        .into());
    }
    run::install_interrupt_handler();

    let global = absolute_paths(global)?;
    let config = Config::resolve(&global, &args.config)?;
    let flag_sizes = crate::commands::sizes_from_flags(&args.config)?;
    crate::spec::parse_list_any_version(&config.hubble.metrics)?;
    crate::secret::check_sources(&config, true)?;

    let mut pf = cluster::preflight_here(&global, &config)?;
    if let Some(sizes) = flag_sizes {
        pf.sizes = sizes;
    }
    for line in header(&pf) {
        printer.say(&line);
    }
    if let Some(s) = &pf.stack {
        printer.say(&format!(
            "kube-prometheus-stack: release '{}' in '{}' ({})",
            s.name, s.namespace, s.chart
        ));
    }
    Ok((global, config, pf))
}

/// What `--cilium-version` (or `cilium.version`) does to the release, when it is not the
/// chart version the release runs: it changes the Cilium version itself, not only its metrics.
fn version_change(config: &Config, pf: &Preflight) -> Result<Option<String>> {
    let Some(given) = config.cilium.version.as_deref() else {
        return Ok(None);
    };
    let to =
        crate::catalogue::resolve_version(Some(given), None, crate::catalogue::VersionUse::Pin)?
            .version;
    let from = &pf.cilium.chart_version;
    if to == *from && to.pre == from.pre {
        return Ok(None);
    }
    let way = if to > *from { "upgrades" } else { "downgrades" };
    Ok(Some(format!(
        "--cilium-version {to} changes the Cilium version: release '{}' runs chart {from}, and this {way} Cilium itself to {to} (every agent and the operator run the new version)",
        pf.cilium.name
    )))
}

/// Go on with a Cilium version change? Asked on a terminal (through the one prompter); off a
/// terminal (or with `--yes`) only with `--allow-version-change`. `false`: declined.
fn allow_version_change(
    prompter: Option<&mut dyn Prompter>,
    change: &str,
    allowed: bool,
    printer: Printer,
) -> Result<bool> {
    if allowed {
        printer.say(&format!("note: {change} (--allow-version-change)"));
        return Ok(true);
    }
    let Some(p) = prompter else {
        return Err(Failure::bad_input(change.to_string())
            .hint("pass --allow-version-change to change it, or drop --cilium-version to keep the release's version (setup pins the chart the release runs)")
            .into());
    };
    p.note(&format!("warning: {change}"));
    match p.confirm("Change the Cilium version?", false)? {
        Some(yes) => Ok(yes),
        None => Err(Failure::new(
            Code::Interrupted,
            "aborted at the version question: nothing was changed",
        )
        .into()),
    }
}

/// What will be changed, in lines that fit 120 columns: the cluster (its name in the
/// kubeconfig and API server, not only the context), the Cilium release, the tools.
fn header(pf: &Preflight) -> Vec<String> {
    let mut cluster = match &pf.cluster {
        Some(c) => format!("Cluster: '{c}' (context '{}'", pf.context),
        None => format!("Cluster: (context '{}'", pf.context),
    };
    if let Some(v) = &pf.server_version {
        cluster.push_str(&format!(", Kubernetes {v}"));
    }
    cluster.push(')');
    let mut lines = vec![cluster];
    if let Some(s) = &pf.server {
        lines.push(format!("  API server: {s}"));
    }
    lines.extend([
        format!(
            "Cilium: release '{}' in '{}', chart {}, revision {} ({})",
            pf.cilium.name,
            pf.cilium.namespace,
            pf.cilium.chart_version,
            pf.cilium.revision,
            pf.cilium.status,
        ),
        match (pf.tools.helm.parent(), pf.tools.kubectl.parent()) {
            (Some(a), Some(b)) if a == b => format!(
                "Tools: helm {}, kubectl {} (in {})",
                pf.tools.helm_version,
                pf.tools.kubectl_version,
                a.display()
            ),
            _ => format!(
                "Tools: helm {} ({}), kubectl {} ({})",
                pf.tools.helm_version,
                pf.tools.helm.display(),
                pf.tools.kubectl_version,
                pf.tools.kubectl.display()
            ),
        },
    ]);
    lines
}

/// `--dry-run`: the plan on stdout, with the same layout as `ciliumon plan --dry-run`, so the
/// output is a script that runs as is. Offline like it: no helm, no kubectl, no kubeconfig.
fn dry_run(global: &GlobalArgs, args: &SetupArgs, printer: Printer) -> Result<Code> {
    let config = Config::resolve(global, &args.config)?;
    let v = plan::target_version(&config, &plan::Target::default())?.facts;
    crate::spec::parse_list(&config.hubble.metrics, &v)?;
    crate::secret::check_sources(&config, false)?;
    let layout = Layout {
        kube: crate::kube::Kube::from_global(global),
        timeout: args.timeout,
        ..Layout::default()
    };
    let mut plan = plan::build(&config, &plan::Target::default(), &layout)?;
    plan::rollout::settle(&mut plan, &plan::rollout::Observed::default());
    printer.say("Dry run: nothing contacted (no helm, no kubectl); planned for the version asked for, or the newest known. `ciliumon setup` reads the release's values, and the diff, from the cluster.");
    if let Some(path) = &args.save_config {
        wizard::save_config(&config, path)?;
        printer.say(&format!(
            "Saved the configuration to {}: apply it with `ciliumon setup --yes --config {}`",
            path.display(),
            path.display()
        ));
    }
    let text = if printer.machine() {
        render::json(&plan)?
    } else {
        render::shell(
            &plan,
            &crate::commands::plan::header(&plan, "dry run: nothing contacted"),
        )
    };
    printer.out(&text).context("writing to stdout")?;
    Ok(Code::Ok)
}

/// The plan, its files in `private`, and what it changes in the release's values.
struct Planned {
    plan: Plan,
    changes: Diff,
    /// The release already has these values (and the stack is there): nothing to run.
    unchanged: bool,
}

fn plan_changes(
    global: &GlobalArgs,
    args: &SetupArgs,
    config: &Config,
    pf: &Preflight,
    private: &Path,
) -> Result<Planned> {
    let layout = Layout {
        values_dir: Some(private.to_path_buf()),
        secrets_dir: private.to_path_buf(),
        kube: crate::kube::Kube::from_global(global),
        timeout: args.timeout,
    };
    // The steps run in `private`: a relative password file is this directory's.
    let mut config = config.clone();
    if let Some(crate::config::SecretSource::File(f)) =
        &mut config.prometheus_stack.grafana_admin_password
        && f.is_relative()
    {
        *f = std::env::current_dir()
            .context("cannot read the current directory")?
            .join(&*f);
    }
    let mut plan = plan::build(&config, &pf.target(), &layout)?;
    let new_values = diff::merge(&pf.cilium.values, &plan.cilium_values);
    let changes = Diff::between(&pf.cilium.values, &new_values);
    let observed = cluster::observe(pf, &config, &plan, &layout.kube, private);
    let unchanged = plan::rollout::settle(&mut plan, &observed) == plan::rollout::Restart::Nothing;
    Ok(Planned {
        plan,
        changes,
        unchanged,
    })
}

/// The steps as they will run, the notes, the values diff of the Cilium release and the
/// values of a kube-prometheus-stack to install, on stderr.
fn show_plan(printer: Printer, planned: &Planned, context: &str) {
    let plan = &planned.plan;
    printer.say(&printer.paint(
        Paint::Strong,
        &format!(
            "\nPlan ({} steps) for context '{context}':",
            plan.steps.len()
        ),
    ));
    for (i, s) in plan.steps.iter().enumerate() {
        printer.say(&format!(
            "  {}. {}\n     $ {}",
            i + 1,
            s.purpose,
            render::command_line(&s.argv())
        ));
    }
    // On a terminal, wrapped to its width (continuation lines under the text); in a log, a line
    // each, for grep.
    for n in &plan.notes {
        if !printer.live() {
            printer.say(&format!("  note: {n}"));
            continue;
        }
        for (i, line) in crate::ui::wrap(n, printer.columns(), 8, 8)
            .iter()
            .enumerate()
        {
            let lead = if i == 0 { "  note: " } else { "        " };
            printer.say(&format!("{lead}{line}"));
        }
    }
    printer.say_text(&diff_text(&planned.changes, printer));
    if let Some(values) = &plan.stack_values {
        let text = crate::yaml::to_string(values).unwrap_or_default();
        printer.say("Values of kube-prometheus-stack (a new install, the chart's defaults plus):");
        for line in text.lines() {
            printer.say(&printer.paint(Paint::Added, &format!("  {line}")));
        }
    }
}

/// The answers, replayable in CI: offered after the confirmation, written without asking
/// with `--save-config`. The file saved, if any; `None` on Esc.
fn save_answers(
    prompter: Option<&mut Terminal>,
    config: &Config,
    args: &SetupArgs,
    printer: Printer,
) -> Result<Option<Option<PathBuf>>> {
    match prompter {
        Some(p) => wizard::offer_save(p, config, args.save_config.as_deref()),
        None => {
            if let Some(path) = &args.save_config {
                wizard::save_config(config, path)?;
                printer.say(&format!("Saved the configuration to {}", path.display()));
            }
            Ok(Some(args.save_config.clone()))
        }
    }
}

/// Save the release's current values before the upgrade; the backup's path and the command
/// that goes back to this revision.
fn backup(
    pf: &Preflight,
    global: &GlobalArgs,
    args: &SetupArgs,
    printer: Printer,
) -> Result<(PathBuf, String)> {
    let kube = Kube::from_global(global);
    let backup = write_backup(pf, &kube, args.backup_dir.as_deref())?;
    let rollback = pf.cilium.rollback_command(&kube);
    printer.say(&format!(
        "Saved the current values of '{}' (revision {}) to {}",
        pf.cilium.name,
        pf.cilium.revision,
        backup.display()
    ));
    printer.say(&format!("To go back: {rollback}"));
    Ok((backup, rollback))
}

/// Write the plan's files into `private`, run the steps with the tools found in preflight,
/// and remove the files and the directory, whatever happened. When a step did not finish, the
/// values files are first copied (0600) into `keep_in` (the backup directory), so that the
/// commands of the report can be re-run: (the path the steps used, the kept copy).
fn execute(
    plan: &Plan,
    pf: &Preflight,
    args: &SetupArgs,
    private: PrivateDir,
    keep_in: &Path,
    printer: Printer,
) -> Result<(RunReport, Vec<(PathBuf, PathBuf)>)> {
    let files = run::write_plan_files(plan, private.path())?;
    let mut runner = ToolRunner {
        programs: vec![
            ("helm".into(), pf.tools.helm.clone()),
            ("kubectl".into(), pf.tools.kubectl.clone()),
        ],
        limits: Limits::outside(args.timeout),
    };
    let mut progress = Progress::new(printer, args.verbose);
    let report = run::execute(
        plan,
        &mut runner,
        &mut progress,
        private.path(),
        &files.secrets,
    );
    let kept = if report.succeeded() {
        vec![]
    } else {
        keep_values_files(plan, &pf.cilium.name, keep_in)
    };
    drop(files);
    drop(private);
    Ok((report, kept))
}

/// Copy the plan's values files (never a secret) next to the backup, 0600:
/// `ciliumon-failed-<release>-<time>-<file>`.
fn keep_values_files(plan: &Plan, release: &str, dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let stamp = utc_stamp(jiff::Timestamp::now());
    plan.files
        .iter()
        .filter(|f| matches!(f.source, crate::plan::FileSource::Values { .. }))
        .filter_map(|f| {
            let text = std::fs::read(&f.path).ok()?;
            let name = f.path.file_name()?.to_string_lossy().into_owned();
            let to = dir.join(format!("ciliumon-failed-{release}-{stamp}-{name}"));
            files::write_private(&to, &text, Existing::Keep).ok()?;
            Some((f.path.clone(), to))
        })
        .collect()
}

/// The report's commands name the kept copies instead of the removed private files.
fn files_kept(report: &mut RunReport, kept: &[(PathBuf, PathBuf)]) {
    for step in &mut report.steps {
        for (from, to) in kept {
            step.command = step
                .command
                .replace(&from.display().to_string(), &to.display().to_string());
        }
    }
}

/// The metrics check after the steps, unless `--no-check`.
fn check_after(
    global: &GlobalArgs,
    args: &SetupArgs,
    config: &Config,
    plan: &Plan,
    printer: Printer,
) -> Option<CheckOutcome> {
    (!args.no_check).then(|| {
        verify(
            global,
            config,
            &plan.cilium_version,
            args.check_wait,
            printer,
        )
    })
}

/// A plan that stopped: the report, what is now in the cluster and how to go back, and the
/// exit code.
fn failed<'a>(
    printer: Printer,
    doc: &mut Document<'a>,
    run_report: &'a RunReport,
    pf: &Preflight,
    config: &Config,
    kube: &Kube,
) -> Result<Code> {
    let interrupted = run_report
        .steps
        .iter()
        .any(|s| s.status == run::StepStatus::Interrupted);
    doc.status = if interrupted { "interrupted" } else { "failed" };
    doc.hint = run_report.hint.as_deref();
    doc.error = run_report.failed().map(|s| {
        let what = match s.status {
            run::StepStatus::TimedOut => "timed out",
            run::StepStatus::Interrupted => "was interrupted",
            _ => "failed",
        };
        format!("step {what}: {}", s.purpose)
    });
    let mut text = Vec::new();
    run_report.write_text(&mut text)?;
    for line in String::from_utf8_lossy(&text).lines() {
        let paint = if line.starts_with("Step ") {
            Some(Paint::Fail)
        } else if line.starts_with("hint:") {
            Some(Paint::Warn)
        } else {
            None
        };
        match paint {
            Some(p) => printer.say(&printer.paint(p, line)),
            None => printer.say(line),
        }
    }
    let kept: Vec<&str> = doc.kept_files.iter().map(String::as_str).collect();
    for line in stopped_state(
        run_report,
        pf,
        config,
        kube,
        doc.rollback.as_deref().unwrap_or_default(),
        &kept,
    ) {
        printer.say(&line);
    }
    report(
        printer,
        doc,
        None,
        if interrupted {
            Code::Interrupted
        } else {
            Code::Failed
        },
    )
}

/// What a run that stopped left in the cluster, exactly: whether the Cilium upgrade
/// completed, did not finish, or did not start (and how to go back); whether
/// kube-prometheus-stack stays installed (and how to remove it); which values files were kept.
fn stopped_state(
    r: &RunReport,
    pf: &Preflight,
    config: &Config,
    kube: &Kube,
    rollback: &str,
    kept: &[&str],
) -> Vec<String> {
    use run::StepStatus as S;
    let status = |kind| r.steps.iter().find(|s| s.kind == kind).map(|s| s.status);
    let how = |st: S| match st {
        S::TimedOut => "timed out",
        S::Interrupted => "was interrupted",
        _ => "failed",
    };
    let c = &pf.cilium;
    let mut out = vec![];
    match status(StepKind::CiliumUpgrade) {
        Some(S::Done) => out.push(format!(
            "The Cilium upgrade completed: release '{}' has the new values (a new revision after {}); what stopped came after it. To go back to revision {}: {rollback}",
            c.name, c.revision, c.revision
        )),
        Some(st @ (S::Failed | S::TimedOut | S::Interrupted)) => out.push(format!(
            "The Cilium upgrade {} while it ran: Helm may have changed the release (see `helm history {} -n {}`). To go back to revision {}: {rollback}",
            how(st),
            c.name,
            c.namespace,
            c.revision
        )),
        _ => out.push(format!(
            "The Cilium release was not changed (still revision {}).",
            c.revision
        )),
    }
    // The new configuration reached cilium-config (the upgrade ran, or there was none), but the
    // restart or the wait for it did not finish.
    let configured = status(StepKind::CiliumUpgrade).is_none_or(|s| s == S::Done);
    if configured
        && [StepKind::RestartAgents, StepKind::WaitAgents]
            .into_iter()
            .any(|k| status(k).is_some_and(|s| s != S::Done))
    {
        out.push(format!(
            "The agents still need a restart to run the new configuration: `kubectl rollout restart {} -n {}` (the next `ciliumon setup` finds the agents older than cilium-config and restarts them).",
            crate::catalogue::objects::agent_daemonset_ref(),
            c.namespace
        ));
    }
    let stack = &config.prometheus_stack;
    let mut uninstall = vec![
        "helm".to_string(),
        "uninstall".into(),
        stack.release.clone(),
        "-n".into(),
        stack.namespace.clone(),
    ];
    uninstall.extend(kube.helm_flags());
    let uninstall = shlex::try_join(uninstall.iter().map(String::as_str))
        .unwrap_or_else(|_| uninstall.join(" "));
    match status(StepKind::StackInstall) {
        Some(S::Done) => out.push(format!(
            "kube-prometheus-stack stays installed as release '{}' in '{}' (ciliumon does not remove it). To remove it: {uninstall}",
            stack.release, stack.namespace
        )),
        Some(st @ (S::Failed | S::TimedOut | S::Interrupted)) => out.push(format!(
            "The kube-prometheus-stack install {}: what it created may be in '{}' (see `helm status {} -n {}`). To remove it: {uninstall}",
            how(st),
            stack.namespace,
            stack.release,
            stack.namespace
        )),
        _ => {}
    }
    if !kept.is_empty() {
        out.push(format!(
            "The values files of this run are kept (0600) so the commands above can be re-run: {}",
            kept.join(", ")
        ));
    }
    out
}

/// The end: a failed check turns the exit code to 1; with `-o json`, the one document.
fn report<'a>(
    printer: Printer,
    doc: &mut Document<'a>,
    check: Option<&'a CheckOutcome>,
    code: Code,
) -> Result<Code> {
    let mut code = code;
    if let Some(c) = check {
        doc.check = Some(c);
        if !c.passed {
            doc.status = "check-failed";
            doc.error = Some("the steps finished but the metrics check did not pass".into());
            printer.say(&printer.paint(
                Paint::Warn,
                "hint: the steps finished but the metrics check did not pass; `ciliumon check --wait 2m` retries it",
            ));
            code = Code::Failed;
        }
    }
    doc.exit_code = code as u8;
    if printer.machine() {
        // The run is over: a closed stdout does not change its exit code.
        printer.report(&(serde_json::to_string_pretty(doc)? + "\n"));
    }
    Ok(code)
}

/// Esc at any question, the confirmation included: one message, exit 130 (as Ctrl-C).
fn aborted(printer: Printer) -> Code {
    printer.say(crate::ui::ABORTED);
    if printer.machine() {
        printer.report(&crate::commands::error_document(
            Code::Interrupted,
            crate::ui::ABORTED,
            None,
            SoFar::default().fields(),
        ));
    }
    Code::Interrupted
}

/// From here on, Ctrl-C (during the check) says that the steps ran, and its document is the
/// run's.
fn interrupted_after_the_steps(printer: Printer, doc: &mut Document<'_>) {
    let message = "interrupted during the metrics check: the steps had finished (the cluster was changed); `ciliumon check` checks again";
    let document = printer.machine().then(|| {
        let (status, code, error) = (doc.status, doc.exit_code, doc.error.take());
        doc.status = "interrupted";
        doc.exit_code = Code::Interrupted as u8;
        doc.error = Some(message.to_string());
        let text = serde_json::to_string_pretty(doc).unwrap_or_default() + "\n";
        (doc.status, doc.exit_code, doc.error) = (status, code, error);
        text
    });
    crate::run::interrupt::on_exit(message, document);
}

fn diff_text(d: &Diff, printer: Printer) -> String {
    if d.is_empty() {
        "Values: no change to the release's values.\n".to_string()
    } else {
        format!(
            "Values of the Cilium release (current → new):\n{}",
            d.to_text_painted(&|p, t| printer.paint(p, t))
        )
    }
}

/// Relative paths on the command line stay meaningful although steps run in a private dir.
fn absolute_paths(global: &GlobalArgs) -> Result<GlobalArgs> {
    let mut g = global.clone();
    if let Some(k) = &g.kubeconfig
        && k.is_relative()
    {
        g.kubeconfig = Some(
            std::env::current_dir()
                .context("cannot read the current directory")?
                .join(k),
        );
    }
    Ok(g)
}

/// Save the release's current user values and revision, 0600, and return the path.
fn write_backup(pf: &Preflight, kube: &Kube, dir: Option<&Path>) -> Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let c = &pf.cilium;
    let stamp = utc_stamp(jiff::Timestamp::now());
    let doc = serde_json::json!({
        "release": c.name,
        "namespace": c.namespace,
        "revision": c.revision,
        "chartVersion": c.chart_version,
        "context": pf.context,
        "takenAt": stamp,
        "values": c.values,
    });
    let text = format!(
        "# The user values of Helm release '{}' (namespace '{}') at revision {}, saved by ciliumon before it upgraded the release.\n# To go back: {}\n{}",
        c.name,
        c.namespace,
        c.revision,
        c.rollback_command(kube),
        crate::yaml::to_string(&doc)?
    );
    for n in 0..100 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!(
            "ciliumon-backup-{}-rev{}-{}{suffix}.yaml",
            c.name, c.revision, stamp
        ));
        match files::write_private(&path, text.as_bytes(), Existing::Keep) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Failure::bad_input(format!(
                    "cannot write the backup {}: {e}",
                    path.display()
                ))
                .hint("choose a writable directory with --backup-dir")
                .into());
            }
        }
    }
    anyhow::bail!("cannot find a free backup file name in {}", dir.display())
}

/// `20261126T114500Z`, UTC.
fn utc_stamp(t: jiff::Timestamp) -> String {
    // A Timestamp formats in UTC.
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

// ---------------------------------------------------------------------------------------------
// The interim check: until `ciliumon check` exists, a TCP connect to each metrics port.

/// The metrics check after the steps: cluster mode, through the API server's pod proxy, for the
/// families this setup asked for, retrying for `wait` while the agents come up.
fn verify(
    global: &GlobalArgs,
    config: &Config,
    version: &crate::version::Version,
    wait: Duration,
    printer: Printer,
) -> CheckOutcome {
    let settings = |wait: Duration| -> Result<crate::check::Settings> {
        let expected = if config.hubble.metrics.is_empty() {
            None
        } else {
            let specs = crate::spec::parse_list(&config.hubble.metrics, version)?;
            let list = specs
                .iter()
                .map(crate::check::Expected::from_spec)
                .collect();
            // The whole list setup configured: any other family served is a stale list.
            Some((list, "the list setup configured".to_string()))
        };
        Ok(crate::check::Settings {
            source: crate::check::Source::Cluster { direct: false },
            ports: crate::check::Ports::default(),
            expected,
            strict: false,
            wait: Some(wait),
            timeout: Duration::from_secs(2),
            concurrency: None,
            namespace: config.cilium.namespace.clone(),
            kube: Kube::from_global(global),
            from_prometheus: false,
        })
    };
    printer.say(&check_message(wait));
    let deadline = std::time::Instant::now() + wait;
    let result = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match settings(left).and_then(|s| crate::check::report(&s)) {
            // The DaemonSet may still be rolling its pods: ask again within --check-wait.
            Err(e) if no_agents_yet(&e) && left > AGENTS_RETRY => {
                std::thread::sleep(AGENTS_RETRY);
            }
            other => break other,
        }
    };
    match result {
        Ok(report) => {
            printer.say_text(&crate::check::render::text_at(
                &report,
                printer.color(),
                printer.stderr_width(),
            ));
            CheckOutcome {
                passed: report.passed,
                report: Some(report),
                error: None,
            }
        }
        Err(e) => {
            printer.say(&format!("The check could not run: {e:#}"));
            CheckOutcome {
                passed: false,
                report: None,
                error: Some(format!("{e:#}")),
            }
        }
    }
}

/// What setup says before its check, with the real `--check-wait`.
fn check_message(wait: Duration) -> String {
    format!(
        "Checking the metrics endpoints on every node (retrying for up to {} while the agents come up)...",
        crate::duration::to_go(wait)
    )
}

/// How long to wait before asking again for the agent pods.
const AGENTS_RETRY: Duration = Duration::from_secs(2);

/// The check found no agent pod: while the DaemonSet rolls, that is not an answer yet.
fn no_agents_yet(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("no Cilium agent pods")
}

#[derive(Debug, Serialize)]
struct CheckOutcome {
    passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<crate::check::Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prompter that answers every confirmation with `answer` and records what it was told.
    struct Answers {
        answer: Option<bool>,
        asked: Vec<String>,
    }

    impl Prompter for Answers {
        fn multi_select(&mut self, _: &str, _: &[(String, bool)]) -> Result<Option<Vec<usize>>> {
            unreachable!("not asked")
        }
        fn select(&mut self, _: &str, _: &[String], _: usize) -> Result<Option<usize>> {
            unreachable!("not asked")
        }
        fn confirm(&mut self, prompt: &str, default: bool) -> Result<Option<bool>> {
            assert!(!default, "a version change defaults to no");
            self.asked.push(prompt.to_string());
            Ok(self.answer)
        }
        fn input(&mut self, _: &str, _: &str) -> Result<Option<String>> {
            unreachable!("not asked")
        }
        fn note(&mut self, text: &str) {
            self.asked.push(text.to_string());
        }
    }

    #[test]
    fn a_version_change_is_asked_on_a_terminal_and_refused_off_one() {
        let change = "--cilium-version 1.19.6 changes the Cilium version";
        let printer = Printer::plain();
        for (answer, expect) in [(Some(true), true), (Some(false), false)] {
            let mut p = Answers {
                answer,
                asked: vec![],
            };
            assert_eq!(
                allow_version_change(Some(&mut p), change, false, printer).unwrap(),
                expect
            );
            assert!(p.asked[0].contains(change), "{:?}", p.asked);
            assert_eq!(p.asked[1], "Change the Cilium version?");
        }
        let mut p = Answers {
            answer: None,
            asked: vec![],
        };
        let e = allow_version_change(Some(&mut p), change, false, printer).unwrap_err();
        assert_eq!(crate::exit::classify(&e).0, Code::Interrupted);
        // Off a terminal: refused, unless allowed.
        let e = allow_version_change(None, change, false, printer).unwrap_err();
        assert_eq!(crate::exit::classify(&e).0, Code::BadInput);
        assert!(allow_version_change(None, change, true, printer).unwrap());
    }

    #[test]
    fn the_check_message_says_the_real_wait() {
        assert!(check_message(Duration::from_secs(5)).contains("up to 5s "));
        assert!(check_message(Duration::from_secs(90)).contains("up to 1m30s "));
    }

    #[test]
    fn no_agent_pods_is_retried_and_other_errors_are_not() {
        let e = anyhow::Error::new(Failure::preflight(
            "no Cilium agent pods (label k8s-app=cilium) in namespace kube-system",
        ));
        assert!(no_agents_yet(&e));
        assert!(!no_agents_yet(&anyhow::anyhow!("cannot reach the cluster")));
    }

    #[test]
    fn stamps() {
        let at = |secs| jiff::Timestamp::from_second(secs).unwrap();
        assert_eq!(utc_stamp(jiff::Timestamp::UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(utc_stamp(at(1_764_157_500)), "20251126T114500Z");
        assert_eq!(utc_stamp(at(951_782_400)), "20000229T000000Z");
    }
}
