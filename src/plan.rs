//! The plan: an ordered list of steps, each an argv with its purpose, computed from the
//! configuration by a pure function. `plan` renders it; `setup` runs exactly it.

use std::path::PathBuf;

use serde::Serialize;

use crate::version::Version;

pub mod gitops;
pub mod rollout;

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
    /// Every dashboard that will be installed, panel by panel: filled by the list, or why not.
    pub dashboards: Vec<DashboardFill>,
    /// The series the list will create, when the cluster's size is known.
    pub estimate: Option<Estimate>,
    /// Where the estimate's inputs came from, or why no estimate was made.
    pub estimate_source: String,
    /// Why the agents must restart whatever the upgrade does to their pod template and to
    /// cilium-config (dynamic metrics whose context options change: the agents load those only
    /// at start). `rollout::settle` keeps the restart for it.
    #[serde(skip)]
    pub restart_required: Option<String>,
}

use std::time::Duration;

use anyhow::Result;

use crate::catalogue::dashboards::{self, DashboardFill, Reads};
use crate::catalogue::objects;
use crate::config::{Config, SecretSource, StackMode};
use crate::dynamic::{Change, DynamicMetric, MetricsMode, ReleaseMetrics};
use crate::estimate::{self, Estimate, Inventory};
use crate::kube::Kube;
use crate::spec::MetricSpec;
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
    /// Whether the `servicemonitors.monitoring.coreos.com` CRD exists, if known.
    pub service_monitor_crd: Option<bool>,
    /// The cluster's size for the series estimate, or why it is not known.
    pub sizes: Sizes,
}

/// The cluster's size for the estimate: from preflight or the `--estimate-*` flags, or unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Sizes {
    Known {
        inventory: Inventory,
        /// "from the cluster", "from --estimate-* flags".
        source: String,
    },
    Unknown {
        reason: String,
    },
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes::Unknown {
            reason: "no cluster was read and no --estimate-nodes/-namespaces/-pods/-workloads were given".into(),
        }
    }
}

impl Target {
    /// The chart's `cluster.name` in the release's values, if set.
    pub fn cluster_name(&self) -> Option<&str> {
        self.current_values.as_ref()?["cluster"]["name"].as_str()
    }
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
    /// The kubeconfig and context every helm and kubectl step is given.
    pub kube: Kube,
    /// Helm's `--timeout` and `kubectl rollout status --timeout`.
    pub timeout: Duration,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            values_dir: None,
            secrets_dir: PathBuf::from(SCRIPT_SECRETS_DIR),
            kube: Kube::default(),
            timeout: Duration::from_secs(600),
        }
    }
}

impl Layout {
    fn helm_common(&self, args: &mut Vec<String>) {
        args.extend(self.kube.helm_flags());
    }
    fn kubectl_common(&self, args: &mut Vec<String>) {
        args.extend(self.kube.kubectl_flags());
    }
}

/// The Cilium version the plan targets: the configured chart version, else the installed one,
/// else (offline) the newest catalogued release. It is pinned (`--version`), so it names a
/// release; `facts` is the release whose catalogue facts apply.
pub fn target_version(config: &Config, target: &Target) -> Result<crate::catalogue::Resolved> {
    Ok(crate::catalogue::resolve_version(
        config.cilium.version.as_deref(),
        target.installed.as_ref(),
        crate::catalogue::VersionUse::Pin,
    )?)
}

/// Which kube-prometheus-stack the plan works with, decided from the configured mode and what
/// the cluster already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackChoice {
    /// Install (or upgrade) it as `release` in `namespace`.
    Install { release: String, namespace: String },
    /// Use the one installed as `release` in `namespace`, as it is. `asked_to_install`: the
    /// configuration asked for an install, but the cluster already has one.
    Reuse {
        release: String,
        namespace: String,
        asked_to_install: bool,
    },
    /// No stack: no ServiceMonitors, no dashboards. `namespace` is still where dashboards
    /// would go.
    None { namespace: String },
}

impl StackChoice {
    /// Reuse an existing stack rather than install a second one.
    pub fn decide(
        stack: &crate::config::StackConfig,
        existing: Option<&(String, String)>,
    ) -> StackChoice {
        let configured = || (stack.release.clone(), stack.namespace.clone());
        match (stack.mode, existing) {
            (StackMode::Install | StackMode::Reuse, Some((r, ns))) => StackChoice::Reuse {
                release: r.clone(),
                namespace: ns.clone(),
                asked_to_install: stack.mode == StackMode::Install,
            },
            (StackMode::Install, None) => {
                let (release, namespace) = configured();
                StackChoice::Install { release, namespace }
            }
            (StackMode::Reuse, None) => {
                let (release, namespace) = configured();
                StackChoice::Reuse {
                    release,
                    namespace,
                    asked_to_install: false,
                }
            }
            (StackMode::None, _) => StackChoice::None {
                namespace: stack.namespace.clone(),
            },
        }
    }

    pub fn installs(&self) -> bool {
        matches!(self, StackChoice::Install { .. })
    }

    /// The release whose Prometheus should select Cilium's ServiceMonitors.
    pub fn release(&self) -> Option<&str> {
        match self {
            StackChoice::Install { release, .. } | StackChoice::Reuse { release, .. } => {
                Some(release)
            }
            StackChoice::None { .. } => None,
        }
    }

    pub fn namespace(&self) -> &str {
        match self {
            StackChoice::Install { namespace, .. }
            | StackChoice::Reuse { namespace, .. }
            | StackChoice::None { namespace } => namespace,
        }
    }

    /// Why the plan does what it does with the stack, when it is not what was asked.
    fn note(&self) -> Option<String> {
        match self {
            // Upgrading someone's stack would reset its values and move its chart version: use
            // it as it is.
            StackChoice::Reuse {
                release: r,
                namespace: ns,
                asked_to_install: true,
            } => Some(format!(
                "kube-prometheus-stack is already installed as release '{r}' in '{ns}': it is reused as it is (not installed twice, not upgraded); Cilium's ServiceMonitors carry release={r} so its Prometheus selects them."
            )),
            _ => None,
        }
    }
}

/// How the Cilium upgrade keeps the release's values, decided from the chart versions and Helm.
#[derive(Debug, Clone, PartialEq)]
pub enum ValuesStrategy {
    /// Same chart version: `--reuse-values`.
    Reuse,
    /// A chart version change on Helm 3.14+: `--reset-then-reuse-values`.
    ResetThenReuse { from: Option<Version> },
    /// A chart version change on older Helm: the current values saved to `path` and passed with
    /// `--reset-values -f` over the new chart's defaults.
    ResetWithSaved {
        path: PathBuf,
        current: serde_json::Value,
    },
}

impl ValuesStrategy {
    pub fn decide(target: &Target, version: &Version, layout: &Layout) -> ValuesStrategy {
        let same_chart = target.installed.as_ref().is_none_or(|i| i == version);
        if same_chart {
            ValuesStrategy::Reuse
        } else if crate::catalogue::chart::helm_has_reset_then_reuse(target.helm) {
            ValuesStrategy::ResetThenReuse {
                from: target.installed.clone(),
            }
        } else {
            let dir = layout.values_dir.as_ref().unwrap_or(&layout.secrets_dir);
            ValuesStrategy::ResetWithSaved {
                path: dir.join("cilium-current-values.yaml"),
                current: target
                    .current_values
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({})),
            }
        }
    }

    /// Its helm flags, the file it needs written, and the note saying why.
    fn apply(self, version: &Version, args: &mut Vec<String>, files: &mut Vec<PlanFile>) -> String {
        match self {
            ValuesStrategy::Reuse => {
                args.push("--reuse-values".into());
                format!(
                    "Your values stay: the chart stays at {version}, so the upgrade keeps the release's current values and changes only the ones shown (--reuse-values)."
                )
            }
            ValuesStrategy::ResetThenReuse { from } => {
                args.push("--reset-then-reuse-values".into());
                format!(
                    "Your values stay and the new chart's defaults apply: the chart moves from {} to {version}, so the upgrade keeps the release's values and takes the new chart's defaults for the rest (--reset-then-reuse-values, Helm 3.14+; --reuse-values would drop those defaults).",
                    from.map(|v| v.to_string()).unwrap_or_default()
                )
            }
            ValuesStrategy::ResetWithSaved { path, current } => {
                args.extend([
                    "--reset-values".into(),
                    "-f".into(),
                    path.display().to_string(),
                ]);
                files.push(PlanFile {
                    path,
                    source: FileSource::Values { values: current },
                });
                "Your values stay and the new chart's defaults apply: this Helm (older than 3.14) has no --reset-then-reuse-values, so the release's current values are saved and passed with -f over the new chart's defaults.".into()
            }
        }
    }
}

/// The steps, files and notes as the plan is built.
struct Builder<'a> {
    layout: &'a Layout,
    timeout: String,
    steps: Vec<Step>,
    files: Vec<PlanFile>,
    notes: Vec<String>,
}

impl Builder<'_> {
    fn helm(&mut self, kind: StepKind, mut args: Vec<String>, purpose: String) {
        if !matches!(kind, StepKind::StackInstall | StepKind::CiliumUpgrade) {
            self.layout.helm_common(&mut args);
        }
        self.steps.push(Step {
            kind,
            program: "helm".into(),
            args,
            purpose,
        });
    }

    fn kubectl(&mut self, kind: StepKind, mut args: Vec<String>, purpose: &str) {
        self.layout.kubectl_common(&mut args);
        self.steps.push(Step {
            kind,
            program: "kubectl".into(),
            args,
            purpose: purpose.into(),
        });
    }

    /// `helm repo add` for each repository, then one `helm repo update`.
    fn repositories(&mut self, repos: &[&crate::config::Repo]) {
        for repo in repos {
            self.helm(
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
            );
        }
        let mut update = vec!["repo".into(), "update".into()];
        update.extend(repos.iter().map(|r| r.name.clone()));
        self.helm(
            StepKind::RepoUpdate,
            update,
            "Fetch the current chart indexes of those repositories".into(),
        );
    }

    /// kube-prometheus-stack first: its CRDs must exist before Cilium's ServiceMonitors.
    fn stack_install(
        &mut self,
        stack: &crate::config::StackConfig,
        release: &str,
        namespace: &str,
        values: &serde_json::Value,
    ) {
        let layout = self.layout;
        let mut args = vec![
            "upgrade".into(),
            "--install".into(),
            release.to_string(),
            format!("{}/{}", stack.repo.name, stack.chart),
            "--namespace".into(),
            namespace.to_string(),
            "--create-namespace".into(),
        ];
        if let Some(v) = &stack.version {
            args.extend(["--version".into(), v.clone()]);
        }
        values_args(
            &mut args,
            layout,
            "stack-values.yaml",
            values,
            &mut self.files,
        );
        match &stack.grafana_admin_password {
            Some(SecretSource::File(path)) => {
                args.extend(["--set-file".into(), format!("grafana.adminPassword={}", path.display())]);
            }
            Some(SecretSource::Env(var)) => {
                let path = layout.secrets_dir.join("grafana-admin-password");
                args.extend(["--set-file".into(), format!("grafana.adminPassword={}", path.display())]);
                self.files.push(PlanFile { path, source: FileSource::Env { variable: var.clone() } });
            }
            None => self.notes.push(format!(
                "Grafana admin password: none given, so the chart generates one. Read it with: kubectl get secret -n {namespace} -l app.kubernetes.io/component=admin-secret -o jsonpath='{{.items[0].data.admin-password}}' | base64 -d"
            )),
        }
        args.extend(["--wait".into(), "--timeout".into(), self.timeout.clone()]);
        layout.helm_common(&mut args);
        self.helm(
            StepKind::StackInstall,
            args,
            "Install kube-prometheus-stack first: its ServiceMonitor CRD must exist before Cilium's ServiceMonitors".into(),
        );
    }

    /// The Cilium upgrade, keeping the user's values.
    fn cilium_upgrade(
        &mut self,
        config: &Config,
        version: &Version,
        strategy: ValuesStrategy,
        values: &serde_json::Value,
        monitors: bool,
    ) {
        let mut args = vec![
            "upgrade".into(),
            config.cilium.release.clone(),
            format!("{}/{}", config.cilium.repo.name, config.cilium.chart),
            "--namespace".into(),
            config.cilium.namespace.clone(),
            "--version".into(),
            version.to_string(),
        ];
        let note = strategy.apply(version, &mut args, &mut self.files);
        self.notes.push(note);
        values_args(
            &mut args,
            self.layout,
            "cilium-values.yaml",
            values,
            &mut self.files,
        );
        // Helm waits for the chart's hooks (Helm 4 by default) up to its own --timeout (5m
        // when not given): keep it inside ciliumon's limit for the step, so helm stops and
        // reports before ciliumon has to stop it (which would leave the release
        // pending-upgrade).
        args.extend(["--timeout".into(), self.timeout.clone()]);
        self.layout.helm_common(&mut args);
        self.helm(
            StepKind::CiliumUpgrade,
            args,
            format!(
                "Upgrade Cilium {version} in place with Hubble, the metrics endpoints{}",
                if monitors { " and ServiceMonitors" } else { "" }
            ),
        );
    }

    /// The agents read the static metric list only at start-up: restart them (when `restart`)
    /// and wait.
    fn rollouts(&mut self, namespace: &str, operator: bool, restart: bool) {
        let ns = namespace.to_string();
        let agents = objects::agent_daemonset_ref();
        let timeout = format!("--timeout={}", self.timeout);
        if restart {
            self.kubectl(
                StepKind::RestartAgents,
                vec![
                    "rollout".into(),
                    "restart".into(),
                    agents.clone(),
                    "--namespace".into(),
                    ns.clone(),
                ],
                "Restart the agents: they read the Hubble metric list only at start-up",
            );
        }
        self.kubectl(
            StepKind::WaitAgents,
            vec![
                "rollout".into(),
                "status".into(),
                agents,
                "--namespace".into(),
                ns.clone(),
                timeout.clone(),
            ],
            "Wait until every agent runs the new configuration",
        );
        if operator {
            self.kubectl(
                StepKind::WaitOperator,
                vec![
                    "rollout".into(),
                    "status".into(),
                    objects::operator_deployment_ref(),
                    "--namespace".into(),
                    ns,
                    timeout,
                ],
                "Wait until the operator serves its metrics",
            );
        }
    }
}

/// A stack to reuse whose ServiceMonitor CRD is not there: the Cilium upgrade would fail on
/// its ServiceMonitors (`trustCRDsExist=true` skips the chart's own check). Exit 3.
pub fn missing_crd(config: &Config, target: &Target) -> Option<crate::exit::Failure> {
    let choice = StackChoice::decide(&config.prometheus_stack, target.existing_stack.as_ref());
    let reused = matches!(choice, StackChoice::Reuse { .. });
    (reused && config.service_monitors && target.service_monitor_crd == Some(false)).then(|| {
        let how = match target.existing_stack {
            Some((ref r, ref ns)) => format!("the kube-prometheus-stack release '{r}' in '{ns}' is reused, but"),
            None => "a kube-prometheus-stack installed outside Helm is to be reused (--stack reuse), but".into(),
        };
        crate::exit::Failure::preflight(format!(
            "{how} the CRD servicemonitors.monitoring.coreos.com does not exist: Cilium's ServiceMonitors (trustCRDsExist=true) would fail the upgrade; nothing was changed"
        ))
        .hint("install the Prometheus Operator's CRDs first (e.g. `helm upgrade --install prometheus-operator-crds prometheus-community/prometheus-operator-crds`), or let ciliumon install the stack with --stack install, or go without ServiceMonitors (--stack none or --no-service-monitors)")
    })
}

/// The Hubble list's mode, the dynamic file, and whether the agents must restart, decided from
/// the configuration and the release's current values.
#[derive(Debug, Clone)]
pub struct MetricsPlan {
    pub mode: MetricsMode,
    pub release: ReleaseMetrics,
    /// The dynamic metrics file (dynamic mode).
    pub content: Vec<DynamicMetric>,
    /// Dynamic → dynamic: what changes for the running agents.
    pub change: Option<Change>,
    /// Whether the plan restarts the agents.
    pub restart: bool,
    pub notes: Vec<String>,
}

impl MetricsPlan {
    /// Why the agents must restart even when the upgrade changes neither their pod template nor
    /// cilium-config: dynamic metrics whose context options change (the agents refuse such a
    /// file), or a switch between static and dynamic mode (read only at start-up).
    pub fn restart_required(&self) -> Option<String> {
        if !self.restart || (self.mode == MetricsMode::Static && !self.release.dynamic) {
            return None;
        }
        Some(match &self.change {
            Some(c) if c.needs_restart() => format!(
                "the context options of {} change, and the agents refuse such a file until they restart",
                c.relabelled.join(", ")
            ),
            _ => "the Hubble metrics mode changes (static and dynamic), which the agents read only at start-up".into(),
        })
    }

    pub fn decide(
        config: &Config,
        target: &Target,
        version: &Version,
        specs: &[crate::spec::MetricSpec],
    ) -> Result<MetricsPlan> {
        let release = target
            .current_values
            .as_ref()
            .map(ReleaseMetrics::read)
            .unwrap_or(ReleaseMetrics {
                dynamic: false,
                static_list: false,
                content: None,
            });
        let mut notes = Vec::new();
        let mode = match (config.hubble.metrics_mode, release.dynamic) {
            (Some(m), _) => m,
            (None, true) => {
                notes.push("The release runs dynamic Hubble metrics (hubble.metrics.dynamic.enabled=true): the plan stays in dynamic mode (--metrics-mode static switches to the static list).".into());
                MetricsMode::Dynamic
            }
            (None, false) => MetricsMode::Static,
        };
        crate::dynamic::check_mode(mode, version)?;
        crate::dynamic::validate_entries(&config.hubble.metrics, mode, version)?;
        if specs.is_empty() {
            return Ok(MetricsPlan {
                mode,
                release,
                content: Vec::new(),
                change: None,
                restart: true,
                notes,
            });
        }
        let (content, change, restart) = match (mode, release.dynamic) {
            (MetricsMode::Dynamic, true) => {
                let current = release.content.clone().unwrap_or_default();
                let content =
                    crate::dynamic::content_for(specs, &config.hubble.metrics, Some(&current));
                let change = crate::dynamic::decide(&current, &content);
                notes.push(change.describe());
                if !change.needs_restart() {
                    notes.push("An agent also refuses a file that gives other context options to a metric it ran earlier since it started (removed since or not): `ciliumon check` says when the agents run an older configuration.".into());
                }
                let restart = change.needs_restart();
                (content, Some(change), restart)
            }
            (MetricsMode::Dynamic, false) => {
                notes.push("Switching to dynamic Hubble metrics: the agents read hubble-dynamic-metrics-config-path from cilium-config only at start-up, so they are restarted once; later changes to the list and its filters apply without a restart.".into());
                (
                    crate::dynamic::content_for(specs, &config.hubble.metrics, None),
                    None,
                    true,
                )
            }
            (MetricsMode::Static, true) => {
                notes.push("Switching from dynamic to static Hubble metrics: the agents read the static list only at start-up, so they are restarted.".into());
                (Vec::new(), None, true)
            }
            (MetricsMode::Static, false) => (Vec::new(), None, true),
        };
        Ok(MetricsPlan {
            mode,
            release,
            content,
            change,
            restart,
            notes,
        })
    }
}

/// Build the plan. Pure: no I/O, no clock, no environment.
pub fn build(config: &Config, target: &Target, layout: &Layout) -> Result<Plan> {
    let resolved = target_version(config, target)?;
    let version = resolved.version;
    // Specs and values follow the catalogue's facts: for a patch newer than it knows, those of
    // the newest known patch of the line (said in a note).
    let facts = resolved.facts;
    // A preset (`--metrics-preset`) becomes the list for these facts: every reader sees it.
    let config = &config.with_preset_for(&facts);
    let specs = config.metric_specs(&facts)?;
    let (open_metrics, om_note) = config.open_metrics(&specs)?;
    let mut b = Builder {
        layout,
        timeout: crate::duration::to_go(layout.timeout),
        steps: Vec::new(),
        files: Vec::new(),
        notes: Vec::new(),
    };
    if config.cilium.version.is_none() && target.installed.is_none() {
        b.notes.push(format!(
            "Cilium {version} was assumed (the newest ciliumon knows): the upgrade pins --version {version}. If your cluster runs another version, plan again with --cilium-version (see `helm list -n {}`), or this script changes your Cilium version.",
            config.cilium.namespace
        ));
    }
    b.notes.extend(resolved.note);
    if let Some(installed) = &target.installed
        && config.cilium.version.is_some()
        && *installed != version
    {
        b.notes.push(format!(
            "The release runs chart {installed}: --version {version} changes the Cilium version itself, not only its metrics (`ciliumon setup` asks first, or needs --allow-version-change). Leave --cilium-version out to keep {installed}."
        ));
    }
    b.notes.extend(om_note);

    let stack = &config.prometheus_stack;
    let choice = StackChoice::decide(stack, target.existing_stack.as_ref());
    b.notes.extend(choice.note());
    if matches!(choice, StackChoice::Reuse { .. }) && specs.iter().any(|s| s.exemplars()) {
        b.notes.push("Exemplars: the reused Prometheus needs `enableFeatures: [exemplar-storage]`; ciliumon does not change a stack it does not install.".into());
    }

    let metrics = MetricsPlan::decide(config, target, &version, &specs)?;
    b.notes.extend(metrics.notes.iter().cloned());
    let built = values::cilium(&ValuesInput {
        config,
        specs: &specs,
        version: &facts,
        open_metrics,
        stack_release: choice.release(),
        stack_namespace: choice.namespace(),
        metrics: values::MetricsValues {
            mode: metrics.mode,
            dynamic: &metrics.content,
            release_dynamic: metrics.release.dynamic,
            release_static: metrics.release.static_list,
        },
    });
    b.notes.extend(built.notes);
    let cilium_values = built.values;
    let stack_values = choice.installs().then(|| {
        let sv = values::stack(&specs);
        b.notes.extend(sv.notes);
        sv.values
    });

    let mut repos = vec![&config.cilium.repo];
    if choice.installs() {
        repos.insert(0, &stack.repo);
    }
    b.repositories(&repos);
    if let (StackChoice::Install { release, namespace }, Some(sv)) = (&choice, &stack_values) {
        b.stack_install(stack, release, namespace, sv);
    }
    let strategy = ValuesStrategy::decide(target, &version, layout);
    let monitors = choice.release().is_some() && config.service_monitors;
    let mut cilium_values = cilium_values;
    let relabeled = cluster_label(
        config,
        target,
        monitors,
        &specs,
        &mut cilium_values,
        &mut b.notes,
    )?;
    let fills = installed_dashboards(config, &version, &specs, &relabeled);
    dashboard_notes(&fills, &relabeled, monitors, &mut b.notes);
    let (estimate, estimate_source) =
        estimate_notes(&target.sizes, &specs, &config.hubble.metrics, &mut b.notes);
    b.cilium_upgrade(config, &version, strategy, &cilium_values, monitors);
    b.rollouts(
        &config.cilium.namespace,
        config.metrics.operator,
        metrics.restart,
    );
    b.notes.push(format!(
        "Hubble metrics the agents will run: {}",
        crate::spec::join(&specs)
    ));

    Ok(Plan {
        cilium_version: version,
        cilium_release: config.cilium.release.clone(),
        cilium_namespace: config.cilium.namespace.clone(),
        steps: b.steps,
        files: b.files,
        notes: b.notes,
        cilium_values,
        stack_values,
        dashboards: fills,
        estimate,
        estimate_source,
        restart_required: metrics.restart_required(),
    })
}

/// With `--cluster-label`, the ServiceMonitors' relabelings add `cluster=<cluster.name>`: the
/// labels relabeled (for the dashboards' analysis). Without ServiceMonitors there is nothing to
/// relabel, and the note says so.
fn cluster_label(
    config: &Config,
    target: &Target,
    monitors: bool,
    specs: &[MetricSpec],
    values: &mut serde_json::Value,
    notes: &mut Vec<String>,
) -> Result<Vec<&'static str>> {
    if !config.hubble.cluster_label {
        return Ok(Vec::new());
    }
    if !monitors {
        notes.push("--cluster-label: no ServiceMonitors are created, so no relabeling adds cluster; label the series in Prometheus instead (external labels)".into());
        return Ok(Vec::new());
    }
    let (name, from) = match target.cluster_name() {
        Some(n) => (n, "the release's cluster.name"),
        None if target.current_values.is_some() => (
            "default",
            "the chart's default cluster.name; the release does not set it",
        ),
        None => (
            "default",
            "the chart's default cluster.name; the release was not read, plan without --dry-run reads it",
        ),
    };
    let set = dashboards::cluster_relabelings(name).map_err(|e| {
        crate::exit::Failure::bad_input(e)
            .hint("set cluster.name on the release, or drop --cluster-label")
    })?;
    let mut keys = Vec::new();
    for (key, list) in set {
        // Only the ServiceMonitors that will exist: the agent's (prometheus.*) and Hubble's.
        let on = match key {
            "prometheus.serviceMonitor.relabelings" => config.metrics.agent,
            _ => !specs.is_empty(),
        };
        if on {
            values::set(values, key, list);
            keys.push(key);
        }
    }
    notes.push(format!(
        "ServiceMonitors: cluster={name} ({from}) added to every series by {}, after the chart's default node relabeling",
        keys.join(" and ")
    ));
    Ok(vec!["cluster"])
}

/// The dashboards the chart will install with this configuration: none without a stack (the
/// values drop them), each only with the metrics it reads turned on.
fn installed_dashboards(
    config: &Config,
    version: &Version,
    specs: &[MetricSpec],
    relabeled: &[&str],
) -> Vec<DashboardFill> {
    if !config.dashboards || config.prometheus_stack.mode == StackMode::None {
        return Vec::new();
    }
    dashboards::analyse(version, specs, relabeled)
        .into_iter()
        .filter(|d| match d.reads {
            Reads::Agent => config.metrics.agent,
            Reads::Operator => config.metrics.operator,
            Reads::Hubble => !specs.is_empty(),
        })
        .collect()
}

/// A note per installed dashboard: how many panels fill and why the others stay empty; and the
/// offer of the cluster relabeling when a panel needs `cluster`.
fn dashboard_notes(
    fills: &[DashboardFill],
    relabeled: &[&str],
    monitors: bool,
    notes: &mut Vec<String>,
) {
    notes.extend(dashboards::notes(fills));
    for d in fills.iter().filter(|d| d.panels.is_empty()) {
        notes.push(format!("dashboard '{}': {}", d.title, d.notes.join("; ")));
    }
    let needs_cluster = fills
        .iter()
        .flat_map(|d| d.panels.iter().flat_map(|p| p.missing.iter()))
        .any(|m| m.label == Some("cluster"));
    if needs_cluster && monitors && !relabeled.contains(&"cluster") {
        notes.push("dashboards: panels select on a cluster label that nothing adds by default; --cluster-label (config hubble.clusterLabel: true) adds cluster=<cluster.name> with the ServiceMonitors' relabelings".into());
    }
}

/// The estimate's notes: inputs, per family, total, the warning, churn. Returns the estimate and
/// where its inputs came from (or why none was made).
fn estimate_notes(
    sizes: &Sizes,
    specs: &[MetricSpec],
    entries: &[crate::dynamic::MetricEntry],
    notes: &mut Vec<String>,
) -> (Option<Estimate>, String) {
    let out = match sizes {
        Sizes::Known { inventory, source } => {
            let est = estimate::estimate_filtered(inventory, specs, entries);
            let families: Vec<String> = est.families.iter().map(estimate::family_line).collect();
            notes.push(format!(
                "Series estimate for {} nodes, {} namespaces, {} pods, {} workloads ({source}): {}; total ≈ {}",
                inventory.nodes,
                inventory.namespaces,
                inventory.pods,
                inventory.workloads,
                if families.is_empty() { "no Hubble families".to_string() } else { families.join(", ") },
                est.total
            ));
            notes.extend(
                estimate::warning_filtered(inventory, specs, entries)
                    .map(|w| format!("warning: {w}")),
            );
            (Some(est), source.clone())
        }
        Sizes::Unknown { reason } => {
            notes.push(format!("No series estimate: {reason}"));
            (None, reason.clone())
        }
    };
    notes.extend(
        estimate::churn(specs)
            .iter()
            .filter_map(estimate::churn_line),
    );
    out
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
        None => args.extend(crate::helm_set::set_flags(values)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(p: &Plan) -> Vec<StepKind> {
        p.steps.iter().map(|s| s.kind).collect()
    }

    /// Every step that changes the cluster and waits carries the tool's own timeout, and
    /// ciliumon's limit for the step (`Limits::outside`) is longer, so the tool stops first.
    #[test]
    fn every_waiting_step_carries_its_tools_timeout_inside_ciliumons_limit() {
        let old_helm = Target {
            installed: Some(Version::new(1, 17, 6)),
            helm: Some((3, 12)),
            ..Target::default()
        };
        for secs in [1u64, 90, 600, 3 * 3600] {
            let layout = Layout {
                timeout: Duration::from_secs(secs),
                ..Layout::default()
            };
            let go = crate::duration::to_go(layout.timeout);
            let limit = crate::run::Limits::outside(layout.timeout).timeout;
            assert!(limit > layout.timeout, "{secs}s");
            for target in [Target::default(), old_helm.clone()] {
                let plan = build(&Config::default(), &target, &layout).unwrap();
                let mut waiting = 0;
                for step in &plan.steps {
                    let a = &step.args;
                    let has = |w: &[&str]| a.windows(w.len()).any(|x| x == w);
                    match step.kind {
                        StepKind::StackInstall | StepKind::CiliumUpgrade => {
                            assert!(has(&["--timeout", &go]), "{step:?}");
                            waiting += 1;
                        }
                        StepKind::WaitAgents | StepKind::WaitOperator => {
                            assert!(has(&[&format!("--timeout={go}")]), "{step:?}");
                            waiting += 1;
                        }
                        _ => {}
                    }
                }
                assert_eq!(waiting, 4, "{:?}", kinds(&plan));
            }
        }
    }

    #[test]
    fn stack_choice_by_mode_and_cluster() {
        let mut stack = Config::default().prometheus_stack;
        let found = ("kps".to_string(), "observability".to_string());
        let c = StackChoice::decide(&stack, None);
        assert!(c.installs());
        assert_eq!(c.release(), Some(stack.release.as_str()));
        let c = StackChoice::decide(&stack, Some(&found));
        assert!(!c.installs());
        assert_eq!((c.release(), c.namespace()), (Some("kps"), "observability"));
        assert!(c.note().unwrap().contains("reused as it is"));
        stack.mode = StackMode::Reuse;
        let c = StackChoice::decide(&stack, Some(&found));
        assert_eq!(c.note(), None);
        let c = StackChoice::decide(&stack, None);
        assert_eq!(c.release(), Some(stack.release.as_str()));
        stack.mode = StackMode::None;
        let c = StackChoice::decide(&stack, Some(&found));
        assert_eq!((c.release(), c.installs()), (None, false));
    }

    #[test]
    fn values_strategy_by_chart_and_helm() {
        let v = Version::new(1, 18, 4);
        let layout = Layout::default();
        let mut t = Target {
            installed: Some(v.clone()),
            ..Target::default()
        };
        assert_eq!(
            ValuesStrategy::decide(&t, &v, &layout),
            ValuesStrategy::Reuse
        );
        t.installed = Some(Version::new(1, 17, 0));
        t.helm = Some((3, 14));
        assert!(matches!(
            ValuesStrategy::decide(&t, &v, &layout),
            ValuesStrategy::ResetThenReuse { .. }
        ));
        t.helm = Some((3, 13));
        let ValuesStrategy::ResetWithSaved { path, .. } = ValuesStrategy::decide(&t, &v, &layout)
        else {
            panic!("old Helm across versions saves the current values")
        };
        assert!(path.starts_with(&layout.secrets_dir));
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
    fn a_reused_stack_needs_its_crd() {
        let mut config = Config::default();
        config.prometheus_stack.mode = StackMode::Reuse;
        let mut t = Target {
            service_monitor_crd: Some(false),
            ..Target::default()
        };
        let f = missing_crd(&config, &t).expect("refused");
        assert_eq!(f.code, crate::exit::Code::Preflight);
        assert!(
            f.message.contains("installed outside Helm")
                && f.message.contains("servicemonitors.monitoring.coreos.com"),
            "{}",
            f.message
        );
        assert!(f.hint.unwrap().contains("--stack install"));
        t.service_monitor_crd = Some(true);
        assert!(missing_crd(&config, &t).is_none());
        // Unknown (not readable): not refused.
        t.service_monitor_crd = None;
        assert!(missing_crd(&config, &t).is_none());
        // Installing the stack brings the CRD; without ServiceMonitors none is needed.
        t.service_monitor_crd = Some(false);
        config.service_monitors = false;
        assert!(missing_crd(&config, &t).is_none());
        config.service_monitors = true;
        config.prometheus_stack.mode = StackMode::Install;
        assert!(missing_crd(&config, &t).is_none());
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

    fn dynamic_release(content: serde_json::Value) -> Target {
        Target {
            installed: Some(Version::new(1, 18, 12)),
            current_values: Some(serde_json::json!({"hubble": {"metrics": {
                "enabled": [], "dynamic": {"enabled": true, "config": {"content": content}}}}})),
            ..Target::default()
        }
    }

    fn with_metrics(yaml: &str) -> Config {
        let mut c = Config::default();
        c.hubble.metrics = crate::yaml::from_str(yaml).unwrap();
        c
    }

    #[test]
    fn a_dynamic_release_gets_no_static_list() {
        // issue 9: --reuse-values keeps dynamic.enabled=true; a static list next to it breaks
        // the agents. Without --metrics-mode the plan follows the release.
        let t = dynamic_release(serde_json::json!([{"name": "drop"}]));
        let p = build(&Config::default(), &t, &Layout::default()).unwrap();
        let m = &p.cilium_values["hubble"]["metrics"];
        assert_eq!(m["enabled"], serde_json::json!([]));
        assert_eq!(m["dynamic"]["enabled"], true);
        assert_eq!(
            m["dynamic"]["config"]["content"].as_array().unwrap().len(),
            7
        );
        assert!(p.notes.iter().any(|n| n.contains("stays in dynamic mode")));
    }

    #[test]
    fn restart_only_when_context_options_of_a_running_metric_change() {
        let current = serde_json::json!([
            {"name": "flow", "contextOptions": [{"name": "sourceContext", "values": ["namespace"]}],
             "includeFilters": [], "excludeFilters": []},
            {"name": "drop", "contextOptions": [], "includeFilters": [], "excludeFilters": []}]);
        let t = dynamic_release(current);
        let restarts = |c: &Config| {
            kinds(&build(c, &t, &Layout::default()).unwrap()).contains(&StepKind::RestartAgents)
        };
        // Same list: nothing to restart.
        assert!(!restarts(&with_metrics(
            "[drop, 'flow:sourceContext=namespace']"
        )));
        // Filters changed: live.
        assert!(!restarts(&with_metrics(
            "[drop, {spec: 'flow:sourceContext=namespace', includeFilters: [{source_pod: [shop/]}]}]"
        )));
        // Added and removed: live.
        assert!(!restarts(&with_metrics(
            "['flow:sourceContext=namespace', dns]"
        )));
        // Context options of a running metric: the agents refuse the file, so a restart.
        let c = with_metrics("[drop, 'flow:sourceContext=pod']");
        assert!(restarts(&c));
        let p = build(&c, &t, &Layout::default()).unwrap();
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("label set cannot be changed"))
        );
        // Static mode (today's behaviour) restarts; so does a switch to dynamic.
        let mut c = Config::default();
        assert!(
            kinds(&build(&c, &Target::default(), &Layout::default()).unwrap())
                .contains(&StepKind::RestartAgents)
        );
        c.hubble.metrics_mode = Some(MetricsMode::Dynamic);
        let p = build(&c, &Target::default(), &Layout::default()).unwrap();
        assert!(kinds(&p).contains(&StepKind::RestartAgents));
        assert!(p.notes.iter().any(|n| n.contains("Switching to dynamic")));
    }

    /// The 1.17 line by patch (chart facts in catalogue::chart): 1.17.0–1.17.1 render no
    /// hubble-metrics Service in dynamic mode (noted), 1.17.2–1.17.3 set no dynamic path with
    /// an empty static list (refused), 1.17.4+ render both.
    #[test]
    fn dynamic_on_the_117_line_by_patch() {
        let mut c = Config::default();
        c.hubble.metrics_mode = Some(MetricsMode::Dynamic);
        let at = |patch: u32| Target {
            installed: Some(Version::new(1, 17, patch)),
            ..Target::default()
        };
        let service_note = |p: &Plan| p.notes.iter().any(|n| n.contains("hubble-metrics Service"));
        let p = build(&c, &at(1), &Layout::default()).unwrap();
        assert!(service_note(&p), "{:#?}", p.notes);
        assert_eq!(
            p.cilium_values["hubble"]["metrics"]["dynamic"]["enabled"],
            true
        );
        for patch in [2, 3] {
            let e = build(&c, &at(patch), &Layout::default()).unwrap_err();
            let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
            assert_eq!(f.code, crate::exit::Code::BadInput);
            assert!(
                f.message.contains(&format!("1.17.{patch}")),
                "{}",
                f.message
            );
        }
        for patch in [4, 18] {
            let p = build(&c, &at(patch), &Layout::default()).unwrap();
            assert!(!service_note(&p), "1.17.{patch}: {:#?}", p.notes);
        }
    }

    #[test]
    fn dynamic_before_117_is_refused_with_the_version() {
        let mut c = Config::default();
        c.cilium.version = Some("1.16.19".into());
        c.hubble.metrics_mode = Some(MetricsMode::Dynamic);
        let e = build(&c, &Target::default(), &Layout::default()).unwrap_err();
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.code, crate::exit::Code::BadInput);
        assert!(
            f.message.contains("1.16.19") && f.message.contains("1.17"),
            "{}",
            f.message
        );
        // Filters without dynamic mode are refused too.
        let mut c = with_metrics("[{spec: flow, includeFilters: [{source_pod: [a/]}]}]");
        c.cilium.version = Some("1.18.12".into());
        let e = build(&c, &Target::default(), &Layout::default()).unwrap_err();
        assert!(e.to_string().contains("only dynamic"), "{e}");
    }
}
