//! The executor: runs the plan's steps in order as argv (never through a shell), each in its own
//! process group with a time limit, and reports what ran, what failed and what did not run.
//!
//! - A step that outlives `--timeout` gets SIGTERM on its whole process group, a grace period,
//!   then SIGKILL (duct's `kill()` would not reach grandchildren).
//! - Ctrl-C while a step runs stops that step the same way and is reported like a failure
//!   (exit 130). Ctrl-C anywhere else (a question, preflight) restores the cursor and exits 130.
//! - Files the steps read are written 0600 (in a 0700 directory) before the first step and
//!   removed afterwards; secrets come from the environment and are masked in every output.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::exit::Failure;
use crate::plan::{FileSource, Plan, Step, StepKind};
use crate::ui::Ui;

// ---------------------------------------------------------------------------------------------
// Ctrl-C

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// 0: Ctrl-C exits at once (questions, preflight); 1: a plan is running, record and let the
/// executor stop the step and report.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Child processes (pid, and whether it leads its own process group) to stop when Ctrl-C ends
/// ciliumon at once: a tool in its own group does not get the terminal's SIGINT.
static DOOMED: std::sync::Mutex<Vec<(i32, bool)>> = std::sync::Mutex::new(Vec::new());

/// While alive, the process (or its whole group) is sent SIGTERM if Ctrl-C ends ciliumon.
pub struct KillOnInterrupt(i32);

pub fn kill_on_interrupt(pid: i32, group: bool) -> KillOnInterrupt {
    if let Ok(mut d) = DOOMED.lock() {
        d.push((pid, group));
    }
    KillOnInterrupt(pid)
}

impl Drop for KillOnInterrupt {
    fn drop(&mut self) {
        if let Ok(mut d) = DOOMED.lock() {
            d.retain(|(pid, _)| *pid != self.0);
        }
    }
}

fn stop_doomed() {
    if let Ok(d) = DOOMED.lock() {
        for &(pid, group) in d.iter().filter(|(pid, _)| *pid > 0) {
            // SAFETY: kill(2) with a pid (or negated process group id) of our own child.
            unsafe {
                libc::kill(if group { -pid } else { pid }, libc::SIGTERM);
            }
        }
    }
}

/// Install the Ctrl-C handler (once per process; later calls do nothing).
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            if MODE.load(Ordering::SeqCst) == 0 {
                stop_doomed();
                // dialoguer hides the cursor while a question is up; give it back.
                let _ = console::Term::stderr().show_cursor();
                eprintln!("\ninterrupted: nothing was changed");
                std::process::exit(crate::exit::Code::Interrupted as i32);
            }
        });
    });
}

/// Whether Ctrl-C was pressed while a plan was running.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// While alive, Ctrl-C is recorded instead of exiting, so the running step can be stopped and
/// the report printed.
struct ExecutingGuard;

impl ExecutingGuard {
    fn new() -> Self {
        MODE.store(1, Ordering::SeqCst);
        ExecutingGuard
    }
}

impl Drop for ExecutingGuard {
    fn drop(&mut self) {
        MODE.store(0, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// One process

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    Interrupted,
}

/// A finished process: how it ended, what it printed, how long it took.
#[derive(Debug, Clone)]
pub struct Finished {
    pub ended: Ended,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.ended == Ended::Exited(0)
    }

    /// The tool's own message, for an error: stderr, else stdout, trimmed to its last lines.
    pub fn message(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        tail(text, 20)
    }
}

/// Time limits for one process.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
}

impl Limits {
    pub fn new(timeout: Duration) -> Self {
        Limits {
            timeout,
            grace: Duration::from_secs(5),
        }
    }

    /// For a step that carries `tool_timeout` itself (helm `--timeout`, kubectl rollout status
    /// `--timeout`): a little longer, so the tool reports its own timeout and cleans up (an
    /// interrupted `helm upgrade` leaves the release locked in pending-upgrade) before ciliumon
    /// has to stop it.
    pub fn outside(tool_timeout: Duration) -> Self {
        let margin = (tool_timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(30));
        Limits::new(tool_timeout + margin)
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

type LineSink<'a> = &'a (dyn Fn(Stream, &str) + Sync);

/// Run `program args` in its own process group, stdin closed, stdout and stderr captured (and
/// handed line by line to `on_line`), within `limits`. Never an error for a non-zero exit:
/// only when the program cannot be started.
pub fn exec(
    program: &Path,
    args: &[String],
    dir: Option<&Path>,
    limits: Limits,
    on_line: Option<LineSink<'_>>,
) -> io::Result<Finished> {
    exec_argv(program, args, dir, limits, on_line)
}

/// `exec` for any argv (a path that is not UTF-8 stays as it is).
fn exec_argv<A: AsRef<OsStr>>(
    program: &Path,
    args: &[A],
    dir: Option<&Path>,
    limits: Limits,
    on_line: Option<LineSink<'_>>,
) -> io::Result<Finished> {
    let (out_r, out_w) = io::pipe()?;
    let (err_r, err_w) = io::pipe()?;
    let mut expr = duct::cmd(program, args.iter().map(AsRef::as_ref))
        .stdin_null()
        .stdout_file(out_w)
        .stderr_file(err_w)
        .unchecked()
        .before_spawn(|c| {
            // Its own process group: a timeout or Ctrl-C can signal the tool and everything it
            // started, and the terminal's SIGINT does not reach it behind our back.
            c.process_group(0);
            Ok(())
        });
    if let Some(d) = dir {
        expr = expr.dir(d);
    }
    let started = Instant::now();
    let handle = expr.start();
    // The expression holds our copies of the pipes' write ends: drop them so the readers see
    // EOF when the process group is gone.
    drop(expr);
    let handle = handle?;
    let pgid = handle.pids().first().copied().unwrap_or(0) as i32;
    let _doomed = kill_on_interrupt(pgid, true);

    let read = |r: io::PipeReader, stream: Stream| {
        let mut all = String::new();
        let mut reader = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    if let Some(f) = on_line {
                        f(stream, line.trim_end_matches(['\n', '\r']));
                    }
                    all.push_str(&line);
                }
            }
        }
        all
    };

    std::thread::scope(|s| {
        let out = s.spawn(|| read(out_r, Stream::Stdout));
        let err = s.spawn(|| read(err_r, Stream::Stderr));
        let deadline = started + limits.timeout;
        let ended = loop {
            if let Some(output) = handle.try_wait()? {
                break ended_of(output.status);
            }
            let stop = if interrupted() {
                Some(Ended::Interrupted)
            } else if Instant::now() >= deadline {
                Some(Ended::TimedOut)
            } else {
                None
            };
            if let Some(why) = stop {
                stop_group(&handle, pgid, limits.grace);
                break why;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let duration = started.elapsed();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        Ok(Finished {
            ended,
            stdout,
            stderr,
            duration,
        })
    })
}

fn ended_of(status: std::process::ExitStatus) -> Ended {
    match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(sig)) => Ended::Signalled(sig),
        (None, None) => Ended::Exited(-1),
    }
}

/// SIGTERM the group, wait `grace`, then SIGKILL whatever is left of it.
fn stop_group(handle: &duct::Handle, pgid: i32, grace: Duration) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
    }
    let exited = matches!(handle.wait_timeout(grace), Ok(Some(_)));
    if pgid > 0 {
        // Grandchildren that ignored SIGTERM would hold our pipes open: no survivors.
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    if !exited {
        let _ = handle.kill();
        let _ = handle.wait();
    }
}

/// Why a read-only command run with [`capture`] gave no answer.
#[derive(Debug)]
pub enum CaptureError {
    /// It could not be started.
    Start { program: PathBuf, source: io::Error },
    /// Ctrl-C while a plan was running.
    Interrupted,
    /// It did not end within its time limit and was stopped.
    TimedOut(Duration),
    /// It ended badly: its own message (stderr, else stdout), or how it ended when it said
    /// nothing.
    Failed(String),
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The io error is the source: `{:#}` prints both.
            CaptureError::Start { program, .. } => write!(f, "cannot start {}", program.display()),
            CaptureError::Interrupted => f.write_str("interrupted"),
            CaptureError::TimedOut(t) => write!(f, "no answer within {}s", t.as_secs()),
            CaptureError::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureError::Start { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Run a read-only command (a query, not a step) as `exec` does, within `limits`: its stdout
/// when it exits 0.
pub fn capture<A: AsRef<OsStr>>(
    program: &Path,
    args: &[A],
    limits: Limits,
) -> Result<String, CaptureError> {
    let f = exec_argv(program, args, None, limits, None).map_err(|source| CaptureError::Start {
        program: program.to_path_buf(),
        source,
    })?;
    if interrupted() || f.ended == Ended::Interrupted {
        return Err(CaptureError::Interrupted);
    }
    if f.ended == Ended::TimedOut {
        return Err(CaptureError::TimedOut(limits.timeout));
    }
    if !f.success() {
        let message = f.message();
        return Err(CaptureError::Failed(if message.trim().is_empty() {
            let name = program.file_name().unwrap_or(program.as_os_str());
            match f.ended {
                Ended::Signalled(sig) => format!("{} was killed by signal {sig}", name.display()),
                Ended::Exited(code) => format!("{} exited with code {code}", name.display()),
                _ => format!("{} failed", name.display()),
            }
        } else {
            message
        }));
    }
    Ok(f.stdout)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Runners

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
// Files

/// A private directory (0700) for the values and secret files; removed with its contents on
/// drop, whatever happened.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    pub fn create() -> Result<PrivateDir> {
        let base = std::env::temp_dir();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for attempt in 0..16u32 {
            let path = base.join(format!(
                "ciliumon-{}-{:08x}",
                std::process::id(),
                nanos.wrapping_add(attempt)
            ));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(PrivateDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot create a private directory in {}", base.display())
                    });
                }
            }
        }
        anyhow::bail!(
            "cannot create a private directory in {}: names taken",
            base.display()
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
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
            FileSource::Values { values } => {
                let what = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("values");
                crate::render::values_file(values, what)?
            }
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
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // An existing file keeps its mode on open: make sure.
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        written.paths.push(path.clone());
        f.write_all(contents.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(written)
}

/// Replace every secret in `text` by `***`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Report

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Done,
    Failed,
    TimedOut,
    Interrupted,
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub kind: StepKind,
    pub purpose: String,
    /// The command, quoted for a shell (for people; it ran as argv).
    pub command: String,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The end of the tool's stderr (stdout if stderr was empty), for a step that did not finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub steps: Vec<StepReport>,
    /// What the failure most likely means and what to do, when it is a known one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl RunReport {
    pub fn failed(&self) -> Option<&StepReport> {
        self.steps
            .iter()
            .find(|s| !matches!(s.status, StepStatus::Done | StepStatus::NotRun))
    }

    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.status == StepStatus::Done)
    }

    /// Whether a step of this kind started (so its effects may be in the cluster).
    pub fn started(&self, kind: StepKind) -> bool {
        self.steps
            .iter()
            .any(|s| s.kind == kind && s.status != StepStatus::NotRun)
    }

    /// For people: what ran, what failed (with the tool's message), what did not run.
    pub fn write_text(&self, w: &mut dyn Write) -> io::Result<()> {
        let Some(failed) = self.failed() else {
            return Ok(());
        };
        let what = match failed.status {
            StepStatus::TimedOut => "timed out",
            StepStatus::Interrupted => "was interrupted",
            _ => "failed",
        };
        writeln!(w, "\nStep {what}: {}", failed.purpose)?;
        writeln!(w, "  $ {}", failed.command)?;
        if let Some(code) = failed.exit_code {
            writeln!(w, "  exit code {code}")?;
        }
        if let Some(out) = failed.output.as_deref().filter(|o| !o.is_empty()) {
            for line in out.lines() {
                writeln!(w, "  | {line}")?;
            }
        }
        let ran: Vec<_> = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Done)
            .collect();
        if !ran.is_empty() {
            writeln!(w, "Done before it:")?;
            for s in ran {
                writeln!(w, "  ✓ {} ({})", s.purpose, secs(s.duration_ms))?;
            }
        }
        let not_run: Vec<_> = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::NotRun)
            .collect();
        if !not_run.is_empty() {
            writeln!(w, "Not run:")?;
            for s in not_run {
                writeln!(w, "  - {}", s.purpose)?;
            }
        }
        if let Some(h) = &self.hint {
            writeln!(w, "hint: {h}")?;
        }
        Ok(())
    }
}

fn secs(ms: Option<u64>) -> String {
    format!("{:.1}s", ms.unwrap_or(0) as f64 / 1000.0)
}

/// A hint for a failure whose tool message we recognise.
pub fn hint_for(kind: StepKind, output: &str) -> Option<String> {
    let has = |s: &str| output.contains(s);
    if has("no matches for kind \"ServiceMonitor\"")
        || has("Service Monitor requires monitoring.coreos.com/v1 CRDs")
    {
        return Some("the ServiceMonitor CRD (monitoring.coreos.com/v1) is not installed: install kube-prometheus-stack first (--stack install), or run with --no-service-monitors".into());
    }
    if has("values don't meet the specifications of the schema") {
        return Some("the Cilium chart rejected a value (see its message above): check the metric specs with `ciliumon metrics` and that --cilium-version matches the installed chart".into());
    }
    if has("another operation (install/upgrade/rollback) is in progress") {
        return Some("the release is locked by another Helm operation (or one that was interrupted): wait for it, or find it with `helm history <release> -n <namespace>` and roll back to the last deployed revision".into());
    }
    if has("timed out waiting for the condition")
        || has("exceeded its progress deadline")
        || has("context deadline exceeded")
    {
        return Some("the rollout did not finish in time: look at the pods (`kubectl -n kube-system get pods -l k8s-app=cilium`, then `kubectl describe`), or give it longer with --timeout".into());
    }
    if matches!(kind, StepKind::RepoAdd | StepKind::RepoUpdate)
        && (has("dial tcp") || has("no such host"))
    {
        return Some(
            "the chart repository could not be reached: check the network or proxy settings".into(),
        );
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Progress

/// Progress on stderr: a spinner per step on a terminal; plain timestamped lines elsewhere (CI
/// logs get no redraws); with `verbose`, plain lines plus the tools' own output.
pub struct Progress {
    live: bool,
    verbose: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(ui: Ui, verbose: bool) -> Self {
        Progress {
            live: ui.live && !verbose,
            verbose,
            bar: None,
        }
    }

    /// Say something without tearing a spinner.
    pub fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    fn start(&mut self, n: usize, total: usize, purpose: &str) {
        if self.live {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {prefix} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(format!("[{n}/{total}]"));
            bar.set_message(purpose.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            self.bar = Some(bar);
        } else {
            eprintln!("{} [{n}/{total}] start: {purpose}", timestamp());
        }
    }

    fn finish(
        &mut self,
        n: usize,
        total: usize,
        purpose: &str,
        status: StepStatus,
        took: Duration,
    ) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let secs = format!("{:.1}s", took.as_secs_f64());
        let (mark, word) = match status {
            StepStatus::Done => (console::style("✓").green(), "done"),
            StepStatus::TimedOut => (console::style("✗").red(), "timed out"),
            StepStatus::Interrupted => (console::style("✗").red(), "interrupted"),
            _ => (console::style("✗").red(), "failed"),
        };
        let mark = mark.for_stderr();
        if self.live {
            eprintln!("{mark} [{n}/{total}] {purpose} ({secs})");
        } else {
            eprintln!("{} [{n}/{total}] {word}: {purpose} ({secs})", timestamp());
        }
    }

    fn line(&self, stream: Stream, program: &str, text: &str) {
        if self.verbose {
            let tag = if stream == Stream::Stderr { "!" } else { "|" };
            eprintln!("    {program} {tag} {text}");
        }
    }
}

/// UTC wall-clock time, `HH:MM:SSZ` (no date crate for one format).
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!(
        "{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

// ---------------------------------------------------------------------------------------------
// The plan

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
                    hint = hint_for(step.kind, &format!("{}\n{}", f.stderr, f.stdout));
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
    use crate::version::Version;

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
        Progress {
            live: false,
            verbose: false,
            bar: None,
        }
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

    #[test]
    fn hints_match_the_tools_messages() {
        let crd = "Error: UPGRADE FAILED: unable to build kubernetes objects from release manifest: resource mapping not found for name: \"hubble\" namespace: \"kube-system\" from \"\": no matches for kind \"ServiceMonitor\" in version \"monitoring.coreos.com/v1\"";
        assert!(
            hint_for(StepKind::CiliumUpgrade, crd)
                .unwrap()
                .contains("ServiceMonitor CRD")
        );
        let chart = "Error: UPGRADE FAILED: execution error at (cilium/templates/validate.yaml:62:7): Service Monitor requires monitoring.coreos.com/v1 CRDs.";
        assert!(
            hint_for(StepKind::CiliumUpgrade, chart)
                .unwrap()
                .contains("--no-service-monitors")
        );
        let schema = "Error: values don't meet the specifications of the schema(s) in the following chart(s):\ncilium:\n- hubble.metrics.port: Invalid type";
        assert!(
            hint_for(StepKind::CiliumUpgrade, schema)
                .unwrap()
                .contains("rejected a value")
        );
        let rollout = "error: timed out waiting for the condition";
        assert!(
            hint_for(StepKind::WaitAgents, rollout)
                .unwrap()
                .contains("--timeout")
        );
        let deadline = "error: deployment \"cilium-operator\" exceeded its progress deadline";
        assert!(hint_for(StepKind::WaitOperator, deadline).is_some());
        assert!(hint_for(StepKind::CiliumUpgrade, "Error: something else").is_none());
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
    fn exec_captures_both_streams_and_the_exit_code() {
        let sh = Path::new("/bin/sh");
        let args = vec![
            "-c".to_string(),
            "echo out; echo err >&2; exit 3".to_string(),
        ];
        let f = exec(sh, &args, None, Limits::new(Duration::from_secs(10)), None).unwrap();
        assert_eq!(f.ended, Ended::Exited(3));
        assert_eq!(f.stdout, "out\n");
        assert_eq!(f.stderr, "err\n");
        assert_eq!(f.message(), "err");
    }

    #[test]
    fn exec_timeout_reaches_grandchildren() {
        // The shell starts a background sleep (a grandchild that holds our pipes) and waits.
        let sh = Path::new("/bin/sh");
        let args = vec!["-c".to_string(), "sleep 30 & sleep 30; wait".to_string()];
        let limits = Limits {
            timeout: Duration::from_millis(300),
            grace: Duration::from_millis(500),
        };
        let t = Instant::now();
        let f = exec(sh, &args, None, limits, None).unwrap();
        assert_eq!(f.ended, Ended::TimedOut);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn exec_missing_program_is_an_error() {
        let r = exec(
            Path::new("/nonexistent/helm"),
            &[],
            None,
            Limits::new(Duration::from_secs(1)),
            None,
        );
        assert!(r.is_err());
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
        let mut p = plan(vec![]);
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
        let mut p = plan(vec![]);
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
