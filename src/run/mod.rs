//! The executor: runs the plan's steps in order as argv (never through a shell), each in its own
//! process group with a time limit, and reports what ran, what failed and what did not run.
//!
//! - [`process`]: one process, its streams, its time limit; a step that outlives `--timeout`
//!   gets SIGTERM on its whole process group, a grace period, then SIGKILL.
//! - [`interrupt`]: Ctrl-C while a step runs stops that step the same way and is reported like
//!   a failure (exit 130); Ctrl-C anywhere else (a question, preflight) restores the cursor and
//!   exits 130.
//! - [`files`]: files the steps read are written 0600 (in a 0700 directory) before the first
//!   step and removed afterwards; secrets come from the environment and are masked in every
//!   output.
//! - [`report`]: the step report and the failure report.
//! - [`progress`]: a spinner or plain lines per step.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::plan::{Plan, Step};

pub mod files;
pub mod interrupt;
pub mod process;
pub mod progress;
pub mod report;

pub use files::{PrivateDir, WrittenFiles, mask, write_plan_files};
pub use interrupt::{KillOnInterrupt, install_interrupt_handler, interrupted, kill_on_interrupt};
pub use process::{CaptureError, Ended, Finished, Limits, LineSink, Stream, capture, exec, tail};
pub use progress::{Progress, timestamp};
pub use report::{RunReport, StepReport, StepStatus, hint_for};

use interrupt::ExecutingGuard;

/// Runs one step. The real one starts the tool; tests can record instead.
pub trait Runner {
    /// Run `step` to its end (or its time limit) with `dir` as the working directory.
    fn run(
        &mut self,
        step: &Step,
        dir: &Path,
        on_line: Option<LineSink<'_>>,
    ) -> io::Result<Finished>;
}

/// Starts the tools found in preflight (absolute paths), argv only.
pub struct ToolRunner {
    /// `helm` → `/usr/local/bin/helm`, ... A program not listed is started by name.
    pub programs: Vec<(String, PathBuf)>,
    pub limits: Limits,
}

impl ToolRunner {
    fn resolve(&self, program: &str) -> PathBuf {
        self.programs
            .iter()
            .find(|(name, _)| name == program)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| PathBuf::from(program))
    }
}

impl Runner for ToolRunner {
    fn run(
        &mut self,
        step: &Step,
        dir: &Path,
        on_line: Option<LineSink<'_>>,
    ) -> io::Result<Finished> {
        exec(
            &self.resolve(&step.program),
            &step.args,
            Some(dir),
            self.limits,
            on_line,
        )
    }
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------

/// Run the plan's steps in order, fail fast, and report. `dir` is the working directory of
/// each step (the private directory holding its files); `secrets` are masked in the report.
pub fn execute(
    plan: &Plan,
    runner: &mut dyn Runner,
    progress: &mut Progress,
    dir: &Path,
    secrets: &[String],
) -> RunReport {
    let _executing = ExecutingGuard::new();
    let total = plan.steps.len();
    let mut steps = Vec::with_capacity(total);
    let mut hint = None;
    let mut stopped = false;
    for (i, step) in plan.steps.iter().enumerate() {
        let command = mask(
            &shlex::try_join(step.argv()).unwrap_or_else(|_| step.argv().join(" ")),
            secrets,
        );
        let mut report = StepReport {
            kind: step.kind,
            purpose: step.purpose.clone(),
            command,
            status: StepStatus::NotRun,
            exit_code: None,
            duration_ms: None,
            output: None,
        };
        if stopped || interrupted() {
            stopped = true;
            steps.push(report);
            continue;
        }
        progress.start(i + 1, total, &step.purpose);
        let sink =
            |stream: Stream, line: &str| progress.line(stream, &step.program, &mask(line, secrets));
        let started = Instant::now();
        let result = runner.run(step, dir, Some(&sink));
        let (status, took) = match result {
            Ok(f) => {
                let status = match f.ended {
                    Ended::Exited(0) => StepStatus::Done,
                    Ended::TimedOut => StepStatus::TimedOut,
                    Ended::Interrupted => StepStatus::Interrupted,
                    Ended::Exited(code) => {
                        report.exit_code = Some(code);
                        StepStatus::Failed
                    }
                    Ended::Signalled(_) => StepStatus::Failed,
                };
                if status != StepStatus::Done {
                    let message = mask(&f.message(), secrets);
                    hint = hint_for(
                        step.kind,
                        &format!("{}\n{}", f.stderr, f.stdout),
                        &plan.cilium_namespace,
                    );
                    if status == StepStatus::TimedOut && hint.is_none() {
                        hint = Some(
                            "the step ran longer than --timeout and was stopped; if it was making progress, run again with a longer --timeout"
                                .to_string(),
                        );
                    }
                    report.output = Some(message);
                }
                (status, f.duration)
            }
            Err(e) => {
                report.output = Some(format!("could not start {}: {e}", step.program));
                (StepStatus::Failed, started.elapsed())
            }
        };
        progress.finish(i + 1, total, &step.purpose, status, took);
        report.status = status;
        report.duration_ms = Some(took.as_millis() as u64);
        stopped = status != StepStatus::Done;
        steps.push(report);
    }
    RunReport { steps, hint }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StepKind;
    use crate::version::Version;
    use std::time::Duration;

    fn step(kind: StepKind, program: &str, args: &[&str]) -> Step {
        Step {
            kind,
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            purpose: format!("{kind:?}"),
        }
    }

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            cilium_version: Version::new(1, 18, 4),
            cilium_release: "cilium".into(),
            cilium_namespace: "kube-system".into(),
            steps,
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

    /// In-process runner: records argv, fails at the step whose program+args contain `fail_at`.
    struct Recording {
        seen: Vec<Vec<String>>,
        fail_at: Option<&'static str>,
    }

    impl Runner for Recording {
        fn run(
            &mut self,
            step: &Step,
            _dir: &Path,
            _l: Option<LineSink<'_>>,
        ) -> io::Result<Finished> {
            let argv: Vec<String> = step.argv().iter().map(|s| s.to_string()).collect();
            let fail = self.fail_at.is_some_and(|f| argv.join(" ").contains(f));
            self.seen.push(argv);
            Ok(Finished {
                ended: if fail {
                    Ended::Exited(1)
                } else {
                    Ended::Exited(0)
                },
                stdout: String::new(),
                stderr: if fail {
                    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n".into()
                } else {
                    String::new()
                },
                duration: Duration::from_millis(5),
            })
        }
    }

    fn quiet() -> Progress {
        Progress::new(crate::ui::Printer::plain(), false)
    }

    #[test]
    fn fails_fast_and_reports_the_rest_as_not_run() {
        let p = plan(vec![
            step(
                StepKind::RepoAdd,
                "helm",
                &["repo", "add", "cilium", "https://helm.cilium.io"],
            ),
            step(StepKind::CiliumUpgrade, "helm", &["upgrade", "cilium"]),
            step(
                StepKind::RestartAgents,
                "kubectl",
                &["rollout", "restart", "ds/cilium"],
            ),
        ]);
        let mut r = Recording {
            seen: vec![],
            fail_at: Some("upgrade"),
        };
        let report = execute(&p, &mut r, &mut quiet(), Path::new("/"), &[]);
        assert_eq!(r.seen.len(), 2, "the step after the failure must not run");
        let st: Vec<_> = report.steps.iter().map(|s| s.status).collect();
        assert_eq!(
            st,
            [StepStatus::Done, StepStatus::Failed, StepStatus::NotRun]
        );
        assert_eq!(report.failed().unwrap().kind, StepKind::CiliumUpgrade);
        assert!(report.hint.as_deref().unwrap().contains("locked"));
        assert!(report.started(StepKind::CiliumUpgrade));
        assert!(!report.started(StepKind::RestartAgents));
        let mut text = Vec::new();
        report.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("Step failed: CiliumUpgrade"), "{text}");
        assert!(text.contains("Not run:\n  - RestartAgents"), "{text}");
        assert!(text.contains("another operation"), "{text}");
    }

    #[test]
    fn all_done_has_no_failure() {
        let p = plan(vec![step(
            StepKind::RepoUpdate,
            "helm",
            &["repo", "update"],
        )]);
        let mut r = Recording {
            seen: vec![],
            fail_at: None,
        };
        let report = execute(&p, &mut r, &mut quiet(), Path::new("/"), &[]);
        assert!(report.succeeded());
        assert!(report.failed().is_none());
    }
}
