//! Ctrl-C (and SIGTERM; SIGHUP is ignored). While a plan runs, Ctrl-C is recorded so the executor can stop the running step and
//! report; anywhere else (a question, preflight, the check after the steps) it stops the tools
//! still running, removes the private directories, restores the cursor, says what it stopped
//! (and with `-o json` prints the one document, see [`on_exit`]) and exits 130.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use rustix::process::{Pid, Signal};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// 0: Ctrl-C exits at once (questions, preflight); 1: a plan is running, record and let the
/// executor stop the step and report.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Child processes (pid, and whether it leads its own process group) to stop when Ctrl-C ends
/// ciliumon at once: a tool in its own group does not get the terminal's SIGINT.
static DOOMED: Mutex<Vec<(i32, bool)>> = Mutex::new(Vec::new());

/// What Ctrl-C outside a running plan says, until a command says otherwise.
pub const NOTHING_CHANGED: &str = crate::ui::ABORTED;

/// What Ctrl-C outside a running plan prints before it exits: a line on stderr and, with
/// `-o json`, the document on stdout.
static ON_EXIT: Mutex<Option<(String, Option<String>)>> = Mutex::new(None);

/// Private directories (values, secrets) to remove when Ctrl-C ends ciliumon at once, since
/// no destructor runs then.
static PRIVATE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Set what Ctrl-C outside a running plan prints from now on: `message` on stderr, and
/// `document` (when `-o json` asked for one) on stdout.
pub fn on_exit(message: &str, document: Option<String>) {
    if let Ok(mut m) = ON_EXIT.lock() {
        *m = Some((message.to_string(), document));
    }
}

/// Remove `dir` if Ctrl-C ends ciliumon at once; [`forget_private_dir`] when it is gone.
pub(crate) fn remove_on_exit(dir: &Path) {
    if let Ok(mut d) = PRIVATE.lock() {
        d.push(dir.to_path_buf());
    }
}

pub(crate) fn forget_private_dir(dir: &Path) {
    if let Ok(mut d) = PRIVATE.lock() {
        d.retain(|p| p != dir);
    }
}

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

/// Send `signal` to `pid`, or to the process group it leads. A pid that is not positive (a
/// process that never started) is skipped; a process already gone is not an error here.
pub(crate) fn signal(pid: i32, group: bool, signal: Signal) {
    let Some(pid) = Pid::from_raw(pid.max(0)) else {
        return;
    };
    let _ = if group {
        rustix::process::kill_process_group(pid, signal)
    } else {
        rustix::process::kill_process(pid, signal)
    };
}

fn stop_doomed() {
    if let Ok(d) = DOOMED.lock() {
        for &(pid, group) in d.iter() {
            signal(pid, group, Signal::TERM);
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
                if let Ok(dirs) = PRIVATE.lock() {
                    for d in dirs.iter() {
                        let _ = std::fs::remove_dir_all(d);
                    }
                }
                // dialoguer hides the cursor while a question is up; give it back.
                crate::ui::restore_cursor();
                let (message, document) = ON_EXIT
                    .lock()
                    .ok()
                    .and_then(|m| m.clone())
                    .unwrap_or_else(|| (NOTHING_CHANGED.to_string(), None));
                // Not eprintln!/print!: a closed stream must not stop this thread before the
                // exit.
                let _ = writeln!(std::io::stderr(), "\n{message}");
                if let Some(doc) = document {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(doc.as_bytes()).and_then(|_| out.flush());
                }
                std::process::exit(crate::exit::Code::Interrupted as i32);
            }
        });
        // A terminal that went away (SIGHUP) is closed output, which never stops a run between
        // steps: it is ignored, as under nohup (the handler above also took SIGHUP, with
        // SIGTERM, through ctrlc's `termination` feature). SIGTERM stops a run as Ctrl-C does.
        // SAFETY: setting a signal's disposition to SIG_IGN touches no memory of ours.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    });
}

/// Whether Ctrl-C was pressed while a plan was running.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// While alive, Ctrl-C is recorded instead of exiting, so the running step can be stopped and
/// the report printed.
pub(crate) struct ExecutingGuard;

impl ExecutingGuard {
    pub(crate) fn new() -> Self {
        MODE.store(1, Ordering::SeqCst);
        ExecutingGuard
    }
}

impl Drop for ExecutingGuard {
    fn drop(&mut self) {
        MODE.store(0, Ordering::SeqCst);
    }
}
