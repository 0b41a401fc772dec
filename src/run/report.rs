//! The run's report: each step's status, the failure with the tool's message, what did not run,
//! and a hint for the failures whose message we recognise.

use std::io::{self, Write};

use serde::Serialize;

use crate::catalogue::{chart, objects};
use crate::plan::StepKind;
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
pub fn hint_for(kind: StepKind, output: &str, namespace: &str) -> Option<String> {
    let has = |s: &str| output.contains(s);
    if chart::SERVICE_MONITOR_CRD_MISSING.iter().any(|m| has(m)) {
        return Some(format!(
            "the ServiceMonitor CRD ({}) is not installed: install kube-prometheus-stack first (--stack install), or run with --no-service-monitors",
            objects::MONITORING_GROUP_VERSION
        ));
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
        return Some(format!(
            "the rollout did not finish in time: look at the pods (`kubectl -n {namespace} get pods -l {}`, then `kubectl describe`), or give it longer with --timeout",
            objects::AGENT_SELECTOR
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_match_the_tools_messages() {
        let crd = "Error: UPGRADE FAILED: unable to build kubernetes objects from release manifest: resource mapping not found for name: \"hubble\" namespace: \"kube-system\" from \"\": no matches for kind \"ServiceMonitor\" in version \"monitoring.coreos.com/v1\"";
        assert!(
            hint_for(StepKind::CiliumUpgrade, crd, objects::NAMESPACE)
                .unwrap()
                .contains("ServiceMonitor CRD")
        );
        let chart = "Error: UPGRADE FAILED: execution error at (cilium/templates/validate.yaml:62:7): Service Monitor requires monitoring.coreos.com/v1 CRDs.";
        assert!(
            hint_for(StepKind::CiliumUpgrade, chart, objects::NAMESPACE)
                .unwrap()
                .contains("--no-service-monitors")
        );
        let schema = "Error: values don't meet the specifications of the schema(s) in the following chart(s):\ncilium:\n- hubble.metrics.port: Invalid type";
        assert!(
            hint_for(StepKind::CiliumUpgrade, schema, objects::NAMESPACE)
                .unwrap()
                .contains("rejected a value")
        );
        let rollout = "error: timed out waiting for the condition";
        assert!(
            hint_for(StepKind::WaitAgents, rollout, objects::NAMESPACE)
                .unwrap()
                .contains("--timeout")
        );
        let deadline = "error: deployment \"cilium-operator\" exceeded its progress deadline";
        assert!(hint_for(StepKind::WaitOperator, deadline, objects::NAMESPACE).is_some());
        assert!(
            hint_for(
                StepKind::CiliumUpgrade,
                "Error: something else",
                objects::NAMESPACE
            )
            .is_none()
        );
    }
}
