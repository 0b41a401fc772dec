//! `ciliumon setup`: preflight → configuration (flags, file, or the wizard) → the same plan as
//! `ciliumon plan` → values diff → confirm → backup → run → check.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{GlobalArgs, ReportOutput, SetupArgs, StackMode};
use crate::cluster::{self, Kube, Preflight};
use crate::config::Config;
use crate::diff::{self, Diff};
use crate::exit::{Code, Failure};
use crate::plan::{self, Layout, StepKind};
use crate::render;
use crate::run::{self, Limits, PrivateDir, Progress, RunReport, ToolRunner};
use crate::ui::Ui;

/// The one JSON document of `--output json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    /// done, unchanged, failed, interrupted, declined, check-failed
    status: &'a str,
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
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CiliumDoc<'a> {
    release: &'a str,
    namespace: &'a str,
    chart_version: String,
    revision_before: u64,
}

pub fn run(global: &GlobalArgs, args: &SetupArgs, ui: Ui) -> Result<Code> {
    // Refuse before anything is contacted: no questions can be asked here, and a closed stdin
    // is not an answer.
    let ask = !args.yes && !args.dry_run;
    if ask && !ui.interactive {
        return Err(Failure::bad_input(
            "setup needs a terminal to ask its questions, and stdin or stderr is not one",
        )
        .hint("pass --yes (or set CILIUMON_YES=1) to run with the configuration from flags and --config without asking; --dry-run shows the plan")
        .into());
    }
    run::install_interrupt_handler();

    let global = absolute_paths(global)?;
    let config = Config::resolve(&global, &args.config)?;
    crate::spec::parse_list_any_version(&config.hubble.metrics)?;
    let json = args.output == ReportOutput::Json;

    let pf = cluster::preflight_here(&global, &config)?;
    let kube = Kube::from_global(&global);
    let say = |s: &str| eprintln!("{s}");
    say(&format!(
        "Cluster: context '{}'{} — Cilium release '{}' in '{}', chart {}, revision {} ({})",
        pf.context,
        pf.server_version
            .as_deref()
            .map(|v| format!(" (Kubernetes {v})"))
            .unwrap_or_default(),
        pf.cilium.name,
        pf.cilium.namespace,
        pf.cilium.chart_version,
        pf.cilium.revision,
        pf.cilium.status,
    ));
    say(&format!(
        "Tools: helm {} ({}), kubectl {} ({})",
        pf.tools.helm_version,
        pf.tools.helm.display(),
        pf.tools.kubectl_version,
        pf.tools.kubectl.display()
    ));
    if let Some(s) = &pf.stack {
        say(&format!(
            "kube-prometheus-stack: release '{}' in '{}' ({})",
            s.name, s.namespace, s.chart
        ));
    }

    // The configuration: from flags/file, or from the questions.
    let config = if ask {
        match crate::wizard::ask(config, &pf, args.save_config.as_deref())? {
            Some(c) => c,
            None => return Ok(aborted()),
        }
    } else {
        config
    };

    let target = pf.target();
    if args.dry_run {
        // The same layout as `ciliumon plan`, so the output is a script that runs as is.
        let layout = Layout {
            kube_context: global.kube_context.clone(),
            kubeconfig: global.kubeconfig.clone(),
            timeout: args.timeout,
            ..Layout::default()
        };
        let plan = plan::build(&config, &target, &layout)?;
        let diff = Diff::between(
            &pf.cilium.values,
            &diff::merge(&pf.cilium.values, &plan.cilium_values),
        );
        eprint!("{}", diff_text(&diff));
        let text = if json {
            render::json(&plan)?
        } else {
            render::shell(&plan, &crate::commands::plan::header(&plan, &pf.describe()))
        };
        print_stdout(&text)?;
        return Ok(Code::Ok);
    }

    // Values and secret files live in a private directory, removed whatever happens.
    let private = PrivateDir::create()?;
    let layout = Layout {
        values_dir: Some(private.path().to_path_buf()),
        secrets_dir: private.path().to_path_buf(),
        kube_context: global.kube_context.clone(),
        kubeconfig: global.kubeconfig.clone(),
        timeout: args.timeout,
    };
    let plan = plan::build(&config, &target, &layout)?;
    let new_values = diff::merge(&pf.cilium.values, &plan.cilium_values);
    let changes = Diff::between(&pf.cilium.values, &new_values);
    let stack_ok = match config.prometheus_stack.mode {
        StackMode::Install => pf.stack.is_some(),
        StackMode::Reuse | StackMode::None => true,
    };
    let unchanged = diff::is_subset(&plan.cilium_values, &pf.cilium.values) && stack_ok;

    let mut doc = Document {
        status: "unchanged",
        context: &pf.context,
        cilium: CiliumDoc {
            release: &pf.cilium.name,
            namespace: &pf.cilium.namespace,
            chart_version: pf.cilium.chart_version.to_string(),
            revision_before: pf.cilium.revision,
        },
        backup: None,
        rollback: None,
        changes: &changes,
        steps: &[],
        hint: None,
        check: None,
    };

    if unchanged {
        say(&format!(
            "Nothing to change: release '{}' already has these values{}. No upgrade, no restart.",
            pf.cilium.name,
            if config.prometheus_stack.mode == StackMode::Install {
                " and kube-prometheus-stack is installed"
            } else {
                ""
            }
        ));
        let check = (!args.no_check)
            .then(|| verify(&global, &config, &plan.cilium_version, args.check_wait, ui));
        return finish(json, &mut doc, check.as_ref(), Code::Ok);
    }

    say(&format!(
        "\nPlan ({} steps) for context '{}':",
        plan.steps.len(),
        pf.context
    ));
    for (i, s) in plan.steps.iter().enumerate() {
        say(&format!(
            "  {}. {}\n     $ {}",
            i + 1,
            s.purpose,
            render::command_line(&s.argv())
        ));
    }
    for n in &plan.notes {
        say(&format!("  note: {n}"));
    }
    eprint!("{}", diff_text(&changes));

    if ask && !confirm(&pf.context)? {
        say("Nothing was changed.");
        doc.status = "declined";
        return finish(json, &mut doc, None, Code::Ok);
    }

    // The answers, replayable in CI.
    if ask {
        if crate::wizard::offer_save(
            &mut crate::wizard::Terminal::new(),
            &config,
            args.save_config.as_deref(),
        )?
        .is_none()
        {
            return Ok(aborted());
        }
    } else if let Some(path) = &args.save_config {
        crate::wizard::save_config(&config, path)?;
        say(&format!("Saved {}", path.display()));
    }

    // Backup, then the steps.
    let backup = write_backup(&pf, &kube, args.backup_dir.as_deref())?;
    let rollback = pf.cilium.rollback_command(&kube);
    say(&format!(
        "Saved the current values of '{}' (revision {}) to {}",
        pf.cilium.name,
        pf.cilium.revision,
        backup.display()
    ));
    say(&format!("To go back: {rollback}"));
    doc.backup = Some(backup.display().to_string());
    doc.rollback = Some(rollback.clone());

    let files = run::write_plan_files(&plan, private.path())?;
    let mut runner = ToolRunner {
        programs: vec![
            ("helm".into(), pf.tools.helm.clone()),
            ("kubectl".into(), pf.tools.kubectl.clone()),
        ],
        limits: Limits::outside(args.timeout),
    };
    let mut progress = Progress::new(ui, args.verbose);
    let report = run::execute(
        &plan,
        &mut runner,
        &mut progress,
        private.path(),
        &files.secrets,
    );
    drop(files);
    drop(private);
    let report_steps = report.steps.clone();
    doc.steps = &report_steps;

    if !report.succeeded() {
        return failed(json, &mut doc, &report, &pf);
    }
    say(&format!("Done: {} steps.", report.steps.len()));
    let check = (!args.no_check)
        .then(|| verify(&global, &config, &plan.cilium_version, args.check_wait, ui));
    doc.status = "done";
    finish(json, &mut doc, check.as_ref(), Code::Ok)
}

/// A plan that stopped: the report, how to go back, and the exit code.
fn failed<'a>(
    json: bool,
    doc: &mut Document<'a>,
    report: &'a RunReport,
    pf: &Preflight,
) -> Result<Code> {
    let interrupted = report
        .steps
        .iter()
        .any(|s| s.status == run::StepStatus::Interrupted);
    doc.status = if interrupted { "interrupted" } else { "failed" };
    doc.hint = report.hint.as_deref();
    let mut err = std::io::stderr().lock();
    report.write_text(&mut err)?;
    if report.started(StepKind::CiliumUpgrade) {
        writeln!(
            err,
            "The Cilium upgrade was started. To go back to revision {}: {}",
            pf.cilium.revision,
            doc.rollback.as_deref().unwrap_or_default()
        )?;
    } else {
        writeln!(
            err,
            "The Cilium release was not changed (still revision {}).",
            pf.cilium.revision
        )?;
    }
    drop(err);
    finish(
        json,
        doc,
        None,
        if interrupted {
            Code::Interrupted
        } else {
            Code::Failed
        },
    )
}

fn finish<'a>(
    json: bool,
    doc: &mut Document<'a>,
    check: Option<&'a CheckOutcome>,
    code: Code,
) -> Result<Code> {
    let mut code = code;
    if let Some(c) = check {
        doc.check = Some(c);
        if !c.passed {
            doc.status = "check-failed";
            eprintln!(
                "hint: the steps finished but the metrics check did not pass; `ciliumon check --wait 2m` retries it"
            );
            code = Code::Failed;
        }
    }
    if json {
        print_stdout(&(serde_json::to_string_pretty(doc)? + "\n"))?;
    }
    Ok(code)
}

fn aborted() -> Code {
    eprintln!("Aborted: nothing was changed.");
    Code::Interrupted
}

fn diff_text(d: &Diff) -> String {
    if d.is_empty() {
        "Values: no change to the release's values.\n".to_string()
    } else {
        format!(
            "Values of the Cilium release (current → new):\n{}",
            d.to_text()
        )
    }
}

fn print_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

/// Ask before changing the cluster. Esc is `None`: abort.
fn confirm(context: &str) -> Result<bool> {
    let answer = dialoguer::Confirm::with_theme(&dialoguer::theme::ColorfulTheme::default())
        .with_prompt(format!("Apply this plan to context '{context}'?"))
        .default(false)
        .interact_opt()
        .context("cannot ask for confirmation")?;
    match answer {
        Some(yes) => Ok(yes),
        None => Err(Failure::new(
            Code::Interrupted,
            "aborted at the confirmation: nothing was changed",
        )
        .into()),
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
    let stamp = utc_stamp(SystemTime::now());
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
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(text.as_bytes())
                    .with_context(|| format!("cannot write the backup {}", path.display()))?;
                return Ok(path);
            }
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
fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
    ui: Ui,
) -> CheckOutcome {
    let settings = || -> Result<crate::check::Settings> {
        let expected = if config.hubble.metrics.is_empty() {
            None
        } else {
            let specs = crate::spec::parse_list(&config.hubble.metrics, version)?;
            let list = specs
                .iter()
                .map(crate::check::Expected::from_spec)
                .collect();
            Some((list, "--metric".to_string()))
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
        })
    };
    eprintln!(
        "Checking the metrics endpoints on every node (up to 1m while the agents come up)..."
    );
    match settings().and_then(|s| crate::check::report(&s)) {
        Ok(report) => {
            eprint!("{}", crate::check::render::text(&report, ui.color));
            CheckOutcome {
                passed: report.passed,
                report: Some(report),
                error: None,
            }
        }
        Err(e) => {
            eprintln!("The check could not run: {e:#}");
            CheckOutcome {
                passed: false,
                report: None,
                error: Some(format!("{e:#}")),
            }
        }
    }
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

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_764_157_500)),
            "20251126T114500Z"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
    }
}
