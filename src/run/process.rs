//! One process: started as argv in its own process group, stdin closed, both streams captured
//! (and handed on line by line), within a time limit; on timeout or Ctrl-C its whole group gets
//! SIGTERM, a grace period, then SIGKILL (duct's `kill()` would not reach grandchildren).

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::interrupt::{self, interrupted, kill_on_interrupt};

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

/// Where a running process's lines go, as they come.
pub type LineSink<'a> = &'a (dyn Fn(Stream, &str) + Sync);

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
    interrupt::signal(pgid, true, Signal::TERM);
    let exited = matches!(handle.wait_timeout(grace), Ok(Some(_)));
    // Grandchildren that ignored SIGTERM would hold our pipes open: no survivors.
    interrupt::signal(pgid, true, Signal::KILL);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
