//! Ctrl-C. While a plan runs, Ctrl-C is recorded so the executor can stop the running step and
//! report; anywhere else (a question, preflight) it stops the tools still running, restores the
//! cursor and exits 130.

use std::io::Write;
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
                // dialoguer hides the cursor while a question is up; give it back.
                crate::ui::restore_cursor();
                // Not eprintln!: a closed stderr must not stop this thread before the exit.
                let _ = writeln!(std::io::stderr(), "\ninterrupted: nothing was changed");
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
