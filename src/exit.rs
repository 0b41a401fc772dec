//! Exit codes, decided in one place, and the typed failures that choose them.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | done: plan printed, setup applied, every check passed |
//! | 1    | a step failed, or a check failed |
//! | 2    | bad input: flags, metric specs, config file (nothing was run) |
//! | 3    | preflight failed: helm/kubectl missing, cluster unreachable, no Cilium release |
//! | 130  | interrupted (Ctrl-C, SIGTERM, Esc at a question) |

use std::fmt;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    Failed = 1,
    BadInput = 2,
    Preflight = 3,
    Interrupted = 130,
}

impl From<Code> for ExitCode {
    fn from(c: Code) -> ExitCode {
        ExitCode::from(c as u8)
    }
}

/// An error that knows its exit code and, where the cause is known, a hint for the fix.
/// Wrap it in `anyhow::Error`; `main` finds it with `downcast_ref` anywhere in the chain.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            hint: None,
        }
    }
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Code::BadInput, message)
    }
    pub fn preflight(message: impl Into<String>) -> Self {
        Self::new(Code::Preflight, message)
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code and hint for any error: the first `Failure` in the chain decides; a
/// `SpecError` is bad input; anything else is a failure (1).
pub fn classify(err: &anyhow::Error) -> (Code, Option<String>) {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return (f.code, f.hint.clone());
        }
        if let Some(s) = cause.downcast_ref::<crate::spec::SpecError>() {
            return (Code::BadInput, s.hint.clone());
        }
    }
    (Code::Failed, None)
}

/// Whether the error is a closed pipe on stdout (`ciliumon plan | head`): not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
