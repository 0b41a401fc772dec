//! The plan: an ordered list of steps, each an argv with its purpose, computed from the
//! configuration by a pure function. `plan` renders it; `setup` runs exactly it.

use std::path::PathBuf;

use serde::Serialize;

use crate::version::Version;

/// What a step is for; the executor uses it for backups and failure hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    RepoAdd,
    RepoUpdate,
    StackInstall,
    CiliumUpgrade,
    RestartAgents,
    WaitAgents,
    WaitOperator,
}

/// One command, as argv. Never a shell string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub program: String,
    pub args: Vec<String>,
    pub purpose: String,
}

impl Step {
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }
}

/// Where a file that a step reads comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum FileSource {
    /// Helm values ciliumon computed (written as YAML).
    Values { values: serde_json::Value },
    /// A secret read from an environment variable when the plan runs; never printed.
    Env { variable: String },
}

/// A file the steps read (`-f`, `--set-file`). Written with mode 0600 before the first step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanFile {
    pub path: PathBuf,
    #[serde(flatten)]
    pub source: FileSource,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The Cilium version the values and metric list were validated for.
    pub cilium_version: Version,
    pub steps: Vec<Step>,
    /// Files the steps read, to be written (0600) before the first step.
    pub files: Vec<PlanFile>,
    /// Decisions taken and why, for people.
    pub notes: Vec<String>,
    /// The values ciliumon sets on the Cilium release (merged over the user's by Helm).
    pub cilium_values: serde_json::Value,
    /// The values for kube-prometheus-stack, when it is installed.
    pub stack_values: Option<serde_json::Value>,
}
