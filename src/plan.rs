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
    pub cilium_release: String,
    pub cilium_namespace: String,
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

use std::time::Duration;

use anyhow::Result;

use crate::cli::StackMode;
use crate::config::{Config, SecretSource};
use crate::exit::Failure;
use crate::values::{self, ValuesInput};

/// What is known about the cluster when the plan is made. `Target::offline` knows nothing: the
/// plan then uses flags that work on Helm 3 and Helm 4 alike and assumes the chart version stays.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The Cilium chart version installed, if known.
    pub installed: Option<Version>,
    /// Helm's version (major, minor), if known.
    pub helm: Option<(u32, u32)>,
    /// A kube-prometheus-stack release already in the cluster: (release, namespace).
    pub existing_stack: Option<(String, String)>,
    /// The Cilium release's current user values (`helm get values`), if known.
    pub current_values: Option<serde_json::Value>,
}

/// The private directory of a printed plan: the script creates it (`mktemp -d`, 0700) and
/// removes it when it exits; a program that runs the JSON plan's argv puts its own private
/// directory in place of this word.
pub const SCRIPT_SECRETS_DIR: &str = "$CILIUMON_SECRETS";

/// How the plan is laid out: where files go, which flags ride on every step.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Values go in files in this directory (`-f FILE`) rather than on `--set` flags.
    pub values_dir: Option<PathBuf>,
    /// Where secrets read from the environment (and values that go in a file when there is no
    /// `values_dir`) are written at run time (0600): `setup`'s private directory, or, for a
    /// printed plan, [`SCRIPT_SECRETS_DIR`].
    pub secrets_dir: PathBuf,
    pub kube_context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    /// Helm's `--timeout` and `kubectl rollout status --timeout`.
    pub timeout: Duration,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            values_dir: None,
            secrets_dir: PathBuf::from(SCRIPT_SECRETS_DIR),
            kube_context: None,
            kubeconfig: None,
            timeout: Duration::from_secs(600),
        }
    }
}

impl Layout {
    fn helm_common(&self, args: &mut Vec<String>) {
        if let Some(c) = &self.kube_context {
            args.extend(["--kube-context".into(), c.clone()]);
        }
        if let Some(k) = &self.kubeconfig {
            args.extend(["--kubeconfig".into(), k.display().to_string()]);
        }
    }
    fn kubectl_common(&self, args: &mut Vec<String>) {
        if let Some(c) = &self.kube_context {
            args.extend(["--context".into(), c.clone()]);
        }
        if let Some(k) = &self.kubeconfig {
            args.extend(["--kubeconfig".into(), k.display().to_string()]);
        }
    }
}

/// The Cilium version the plan targets: the configured chart version, else the installed one,
/// else (offline) the newest catalogued release.
pub fn target_version(config: &Config, target: &Target) -> Result<Version> {
    let v = match (&config.cilium.version, &target.installed) {
        (Some(v), _) => v
            .parse::<Version>()
            .map_err(|e| Failure::bad_input(e.to_string()))?,
        (None, Some(installed)) => installed.clone(),
        (None, None) => crate::catalogue::newest(),
    };
    if !crate::catalogue::supported(&v) {
        return Err(crate::config::unsupported(&v).into());
    }
    Ok(v)
}

/// Build the plan. Pure: no I/O, no clock, no environment.
pub fn build(config: &Config, target: &Target, layout: &Layout) -> Result<Plan> {
    let version = target_version(config, target)?;
    let specs = config.metric_specs(&version)?;
    let (open_metrics, om_note) = config.open_metrics(&specs)?;
    let mut notes: Vec<String> = Vec::new();
    if config.cilium.version.is_none() && target.installed.is_none() {
        notes.push(format!(
            "Cilium {version} was assumed (the newest ciliumon knows): the upgrade pins --version {version}. If your cluster runs another version, plan again with --cilium-version (see `helm list -n {}`), or this script changes your Cilium version.",
            config.cilium.namespace
        ));
    }
    notes.extend(om_note);

    let stack = &config.prometheus_stack;
    // Reuse an existing stack rather than install a second one.
    let (install_stack, stack_release, stack_namespace) = match (stack.mode, &target.existing_stack)
    {
        (StackMode::Install, Some((r, ns))) => {
            // Upgrading someone's stack would reset its values and move its chart version:
            // use it as it is.
            notes.push(format!(
                "kube-prometheus-stack is already installed as release '{r}' in '{ns}': it is reused as it is (not installed twice, not upgraded); Cilium's ServiceMonitors carry release={r} so its Prometheus selects them."
            ));
            (false, Some(r.clone()), ns.clone())
        }
        (StackMode::Install, None) => (true, Some(stack.release.clone()), stack.namespace.clone()),
        (StackMode::Reuse, Some((r, ns))) => (false, Some(r.clone()), ns.clone()),
        (StackMode::Reuse, None) => (false, Some(stack.release.clone()), stack.namespace.clone()),
        (StackMode::None, _) => (false, None, stack.namespace.clone()),
    };
    let reused = !install_stack && stack_release.is_some();
    if reused && specs.iter().any(|s| s.exemplars()) {
        notes.push("Exemplars: the reused Prometheus needs `enableFeatures: [exemplar-storage]`; ciliumon does not change a stack it does not install.".into());
    }

    let built = values::cilium(&ValuesInput {
        config,
        specs: &specs,
        version: &version,
        open_metrics,
        stack_release: stack_release.as_deref(),
        stack_namespace: &stack_namespace,
    });
    notes.extend(built.notes);
    let cilium_values = built.values;
    let stack_values = if install_stack {
        let b = values::stack(&specs);
        notes.extend(b.notes);
        Some(b.values)
    } else {
        None
    };

    let mut steps = Vec::new();
    let mut files = Vec::new();
    let timeout = crate::duration::to_go(layout.timeout);
    let helm = |kind, mut args: Vec<String>, purpose: String| {
        if !matches!(kind, StepKind::StackInstall | StepKind::CiliumUpgrade) {
            layout.helm_common(&mut args);
        }
        Step {
            kind,
            program: "helm".into(),
            args,
            purpose,
        }
    };

    // Repositories.
    let mut repos = vec![&config.cilium.repo];
    if install_stack {
        repos.insert(0, &stack.repo);
    }
    for repo in &repos {
        steps.push(helm(
            StepKind::RepoAdd,
            vec![
                "repo".into(),
                "add".into(),
                repo.name.clone(),
                repo.url.clone(),
                "--force-update".into(),
            ],
            format!(
                "Register the '{}' chart repository (idempotent: --force-update)",
                repo.name
            ),
        ));
    }
    let mut update = vec!["repo".into(), "update".into()];
    update.extend(repos.iter().map(|r| r.name.clone()));
    steps.push(helm(
        StepKind::RepoUpdate,
        update,
        "Fetch the current chart indexes of those repositories".into(),
    ));

    // kube-prometheus-stack first: its CRDs must exist before Cilium's ServiceMonitors.
    if let (true, Some(release), Some(sv)) = (install_stack, &stack_release, &stack_values) {
        let mut args = vec![
            "upgrade".into(),
            "--install".into(),
            release.clone(),
            format!("{}/{}", stack.repo.name, stack.chart),
            "--namespace".into(),
            stack_namespace.clone(),
            "--create-namespace".into(),
        ];
        if let Some(v) = &stack.version {
            args.extend(["--version".into(), v.clone()]);
        }
        values_args(&mut args, layout, "stack-values.yaml", sv, &mut files);
        match &stack.grafana_admin_password {
            Some(SecretSource::File(path)) => {
                args.extend(["--set-file".into(), format!("grafana.adminPassword={}", path.display())]);
            }
            Some(SecretSource::Env(var)) => {
                let path = layout.secrets_dir.join("grafana-admin-password");
                args.extend(["--set-file".into(), format!("grafana.adminPassword={}", path.display())]);
                files.push(PlanFile { path, source: FileSource::Env { variable: var.clone() } });
            }
            None => notes.push(format!(
                "Grafana admin password: none given, so the chart generates one. Read it with: kubectl get secret -n {stack_namespace} -l app.kubernetes.io/component=admin-secret -o jsonpath='{{.items[0].data.admin-password}}' | base64 -d"
            )),
        }
        args.extend(["--wait".into(), "--timeout".into(), timeout.clone()]);
        layout.helm_common(&mut args);
        steps.push(helm(
            StepKind::StackInstall,
            args,
            "Install kube-prometheus-stack first: its ServiceMonitor CRD must exist before Cilium's ServiceMonitors".into(),
        ));
    }

    // The Cilium upgrade, keeping the user's values.
    let mut args = vec![
        "upgrade".into(),
        config.cilium.release.clone(),
        format!("{}/{}", config.cilium.repo.name, config.cilium.chart),
        "--namespace".into(),
        config.cilium.namespace.clone(),
        "--version".into(),
        version.to_string(),
    ];
    let same_chart = target.installed.as_ref().is_none_or(|i| *i == version);
    let helm_314 = target.helm.is_none_or(|hv| hv >= (3, 14));
    if same_chart {
        args.push("--reuse-values".into());
        notes.push(format!(
            "--reuse-values: the chart stays at {version}, so the release's current values are kept and these are merged over them."
        ));
    } else if helm_314 {
        args.push("--reset-then-reuse-values".into());
        notes.push(format!(
            "--reset-then-reuse-values: the chart moves from {} to {version}; --reuse-values would drop the new chart's defaults (Helm 3.14+).",
            target.installed.as_ref().map(|v| v.to_string()).unwrap_or_default()
        ));
    } else {
        let current = target
            .current_values
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        let dir = layout.values_dir.as_ref().unwrap_or(&layout.secrets_dir);
        let path = dir.join("cilium-current-values.yaml");
        args.extend([
            "--reset-values".into(),
            "-f".into(),
            path.display().to_string(),
        ]);
        files.push(PlanFile {
            path,
            source: FileSource::Values { values: current },
        });
        notes.push("Helm older than 3.14 has no --reset-then-reuse-values: the release's current values are saved and passed with -f over the new chart's defaults.".into());
    }
    values_args(
        &mut args,
        layout,
        "cilium-values.yaml",
        &cilium_values,
        &mut files,
    );
    // Helm waits for the chart's hooks (Helm 4 by default) up to its own --timeout (5m when
    // not given): keep it inside ciliumon's limit for the step, so helm stops and reports
    // before ciliumon has to stop it (which would leave the release pending-upgrade).
    args.extend(["--timeout".into(), timeout.clone()]);
    layout.helm_common(&mut args);
    steps.push(helm(
        StepKind::CiliumUpgrade,
        args,
        format!(
            "Upgrade Cilium {version} in place with Hubble, the metrics endpoints{}",
            if stack_release.is_some() && config.service_monitors {
                " and ServiceMonitors"
            } else {
                ""
            }
        ),
    ));

    // The agents read the metric list only at start-up.
    let ns = &config.cilium.namespace;
    let kubectl = |kind, mut args: Vec<String>, purpose: &str| {
        layout.kubectl_common(&mut args);
        Step {
            kind,
            program: "kubectl".into(),
            args,
            purpose: purpose.into(),
        }
    };
    steps.push(kubectl(
        StepKind::RestartAgents,
        vec![
            "rollout".into(),
            "restart".into(),
            "daemonset/cilium".into(),
            "--namespace".into(),
            ns.clone(),
        ],
        "Restart the agents: they read the Hubble metric list only at start-up",
    ));
    steps.push(kubectl(
        StepKind::WaitAgents,
        vec![
            "rollout".into(),
            "status".into(),
            "daemonset/cilium".into(),
            "--namespace".into(),
            ns.clone(),
            format!("--timeout={timeout}"),
        ],
        "Wait until every agent runs the new configuration",
    ));
    if config.metrics.operator {
        steps.push(kubectl(
            StepKind::WaitOperator,
            vec![
                "rollout".into(),
                "status".into(),
                "deployment/cilium-operator".into(),
                "--namespace".into(),
                ns.clone(),
                format!("--timeout={timeout}"),
            ],
            "Wait until the operator serves its metrics",
        ));
    }
    notes.push(format!(
        "Hubble metrics the agents will run: {}",
        crate::spec::join(&specs)
    ));

    Ok(Plan {
        cilium_version: version,
        cilium_release: config.cilium.release.clone(),
        cilium_namespace: config.cilium.namespace.clone(),
        steps,
        files,
        notes,
        cilium_values,
        stack_values,
    })
}

/// Values as `-f FILE` (values dir) or as `--set` flags.
fn values_args(
    args: &mut Vec<String>,
    layout: &Layout,
    name: &str,
    values: &serde_json::Value,
    files: &mut Vec<PlanFile>,
) {
    match &layout.values_dir {
        Some(dir) => {
            let path = dir.join(name);
            args.extend(["-f".into(), path.display().to_string()]);
            files.push(PlanFile {
                path,
                source: FileSource::Values {
                    values: values.clone(),
                },
            });
        }
        None => args.extend(crate::render::set_flags(values)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(p: &Plan) -> Vec<StepKind> {
        p.steps.iter().map(|s| s.kind).collect()
    }

    #[test]
    fn an_existing_stack_is_reused_not_upgraded() {
        let config = Config::default();
        let target = Target {
            installed: Some(Version::new(1, 18, 4)),
            existing_stack: Some(("kps".into(), "observability".into())),
            ..Target::default()
        };
        let p = build(&config, &target, &Layout::default()).unwrap();
        assert!(!kinds(&p).contains(&StepKind::StackInstall));
        assert!(p.stack_values.is_none());
        assert_eq!(
            p.cilium_values["prometheus"]["serviceMonitor"]["labels"]["release"],
            "kps"
        );
        assert_eq!(p.cilium_values["dashboards"]["namespace"], "observability");
        assert!(p.notes.iter().any(|n| n.contains("reused as it is")));
        assert!(p.notes.iter().any(|n| n.contains("exemplar-storage")));
        // No repository for a chart that is not installed.
        assert!(
            !p.steps
                .iter()
                .any(|s| s.args.contains(&"prometheus-community".to_string()))
        );
    }

    #[test]
    fn no_stack_means_no_service_monitors_even_when_asked() {
        let mut config = Config::default();
        config.prometheus_stack.mode = StackMode::None;
        let p = build(&config, &Target::default(), &Layout::default()).unwrap();
        let v = &p.cilium_values;
        assert!(v["prometheus"].get("serviceMonitor").is_none(), "{v}");
        assert!(v["operator"]["prometheus"].get("serviceMonitor").is_none());
        assert!(v["hubble"]["metrics"].get("serviceMonitor").is_none());
        assert!(v.get("dashboards").is_none());
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("ServiceMonitors skipped"))
        );
    }

    #[test]
    fn a_new_stack_comes_before_cilium() {
        let p = build(&Config::default(), &Target::default(), &Layout::default()).unwrap();
        let k = kinds(&p);
        let stack = k.iter().position(|k| *k == StepKind::StackInstall).unwrap();
        let cilium = k
            .iter()
            .position(|k| *k == StepKind::CiliumUpgrade)
            .unwrap();
        assert!(stack < cilium);
    }
}
