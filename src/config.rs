//! The configuration: what the user wants, resolved from the built-in default (the blog post's
//! setup), then a `ciliumon.yaml`, then flags. Pure apart from reading the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::catalogue::dashboards::{self, MetricsPreset};
use crate::catalogue::objects;
use crate::cli::{ConfigArgs, GlobalArgs};
use crate::dynamic::{MetricEntry, MetricsMode};
use crate::escape::escape;
use crate::exit::Failure;
use crate::spec::{self, MetricSpec, SpecError};
use crate::version::Version;

/// The Hubble metric list of the blog post, in Cilium's grammar.
pub const BLOG_METRICS: &[&str] = &[
    "dns",
    "drop",
    "tcp",
    "flow",
    "port-distribution",
    "icmp",
    "httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction",
];

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
/// What to do about kube-prometheus-stack (model; `--stack` parses into it).
pub enum StackMode {
    /// Install (or upgrade) kube-prometheus-stack
    Install,
    /// Use a kube-prometheus-stack that is already installed
    Reuse,
    /// No Prometheus stack: no ServiceMonitors, no dashboards
    None,
}

/// The Kubernetes Service type of the Hubble UI (model; `--ui-service-type` parses into it, in
/// Kubernetes' spelling, `NodePort`, or the kebab form, `node-port`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum ServiceType {
    #[value(alias = "ClusterIP")]
    ClusterIP,
    #[value(alias = "NodePort")]
    NodePort,
    #[value(alias = "LoadBalancer")]
    LoadBalancer,
}

impl ServiceType {
    /// The name Kubernetes (and the chart's `hubble.ui.service.type`) uses.
    pub fn kube_name(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Config {
    pub cilium: CiliumConfig,
    pub hubble: HubbleConfig,
    /// Agent (9962) and operator (9963) metrics.
    pub metrics: ComponentMetrics,
    /// ServiceMonitors for agent, operator and Hubble (need the prometheus-operator CRDs).
    pub service_monitors: bool,
    /// Cilium's Grafana dashboards, as ConfigMaps for the Grafana sidecar.
    pub dashboards: bool,
    pub prometheus_stack: StackConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CiliumConfig {
    pub release: String,
    pub namespace: String,
    pub repo: Repo,
    pub chart: String,
    /// Chart version to run. Unset: keep the installed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Repo {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HubbleConfig {
    pub relay: bool,
    pub ui: UiConfig,
    pub export: ExportConfig,
    /// Unset: on when a metric asks for exemplars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_metrics: Option<bool>,
    /// Static (`hubble.metrics.enabled`) or dynamic (a ConfigMap the agents re-read, 1.17+).
    /// Unset: the release's mode, else static.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_mode: Option<MetricsMode>,
    /// Metric specs in Cilium's grammar (`httpV2:exemplars=true;labelsContext=a,b`), or
    /// `{spec, includeFilters, excludeFilters}` (filters: dynamic mode only).
    pub metrics: Vec<MetricEntry>,
    /// A named list instead of `metrics` (`blog`, `dashboards`), resolved for the target
    /// version. In one file with `metrics` it is an error; `--metric` replaces it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_preset: Option<MetricsPreset>,
    /// Add `cluster=<cluster.name>` with the ServiceMonitors' relabelings (`--cluster-label`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cluster_label: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct UiConfig {
    pub enabled: bool,
    pub service_type: ServiceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ExportConfig {
    pub enabled: bool,
    pub file_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_max_size_mb: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_max_backups: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ComponentMetrics {
    pub agent: bool,
    pub operator: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct StackConfig {
    pub mode: StackMode,
    pub release: String,
    pub namespace: String,
    pub repo: Repo,
    pub chart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the Grafana admin password comes from; never written inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grafana_admin_password: Option<SecretSource>,
    /// The labels Cilium's ServiceMonitors carry so that a Prometheus installed outside Helm
    /// selects them (its `serviceMonitorSelector`). Empty: `release: <release>`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub service_monitor_labels: std::collections::BTreeMap<String, String>,
}

/// Deserialized in `secret`, so that a wrong shape never echoes the value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretSource {
    /// A file holding the password (helm reads it with --set-file).
    File(PathBuf),
    /// An environment variable holding the password.
    Env(String),
}

impl Default for Config {
    /// The blog post's configuration, done right.
    fn default() -> Self {
        Config {
            cilium: CiliumConfig::default(),
            hubble: HubbleConfig::default(),
            metrics: ComponentMetrics::default(),
            service_monitors: true,
            dashboards: true,
            prometheus_stack: StackConfig::default(),
        }
    }
}

impl Default for CiliumConfig {
    fn default() -> Self {
        CiliumConfig {
            release: objects::RELEASE.into(),
            namespace: objects::NAMESPACE.into(),
            repo: Repo {
                name: objects::REPO_NAME.into(),
                url: objects::REPO_URL.into(),
            },
            chart: objects::CHART.into(),
            version: None,
        }
    }
}

impl Default for HubbleConfig {
    fn default() -> Self {
        HubbleConfig {
            relay: true,
            ui: UiConfig::default(),
            export: ExportConfig::default(),
            open_metrics: Some(true),
            metrics_mode: None,
            metrics: BLOG_METRICS.iter().map(|s| MetricEntry::from(*s)).collect(),
            metrics_preset: None,
            cluster_label: false,
        }
    }
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            enabled: true,
            service_type: ServiceType::NodePort,
            node_port: Some(31234),
        }
    }
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            enabled: true,
            file_path: "/var/run/cilium/hubble/events.log".into(),
            file_max_size_mb: None,
            file_max_backups: None,
        }
    }
}

impl Default for ComponentMetrics {
    fn default() -> Self {
        ComponentMetrics {
            agent: true,
            operator: true,
        }
    }
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            mode: StackMode::Install,
            release: "prometheus".into(),
            namespace: "monitoring".into(),
            repo: Repo {
                name: "prometheus-community".into(),
                url: "https://prometheus-community.github.io/helm-charts".into(),
            },
            chart: "kube-prometheus-stack".into(),
            version: None,
            grafana_admin_password: None,
            service_monitor_labels: Default::default(),
        }
    }
}

impl Config {
    /// Read a ciliumon.yaml. Unknown fields are rejected with their place in the file.
    pub fn load(path: &Path) -> Result<Config> {
        Ok(Config::load_with_keys(path)?.0)
    }

    /// Read a ciliumon.yaml, and the keys it sets (for telling a setting from its default).
    fn load_with_keys(path: &Path) -> Result<(Config, serde_json::Value)> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_input(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let config =
            crate::secret::config_from_str(&text, &path.display().to_string()).map_err(|e| {
                Failure::bad_input(format!("invalid config file {}: {e}", path.display()))
                    .hint("see examples/ for commented configurations")
            })?;
        // It parsed as a Config, so it parses as a value; an empty file is no keys.
        let keys = crate::yaml::from_str::<serde_json::Value>(&text).unwrap_or_default();
        if config.hubble.metrics_preset.is_some() && !keys["hubble"]["metrics"].is_null() {
            return Err(Failure::bad_input(format!(
                "config file {}: hubble.metrics and hubble.metricsPreset are both set; a preset is a whole list",
                path.display()
            ))
            .hint("keep one: the list (hubble.metrics) or the preset (hubble.metricsPreset: blog|dashboards)")
            .into());
        }
        Ok((config, keys))
    }

    /// Default < file < flags, then the rules between settings. Metric specs are validated
    /// later, against the Cilium version the plan targets.
    pub fn resolve(global: &GlobalArgs, args: &ConfigArgs) -> Result<Config> {
        let (mut c, keys) = match &args.config {
            Some(path) => {
                let (c, keys) = Config::load_with_keys(path)?;
                (c, Some((path.as_path(), keys)))
            }
            None => (Config::default(), None),
        };
        if let Some(ns) = &global.namespace {
            c.cilium.namespace = ns.clone();
        }
        if let Some(r) = &args.release {
            c.cilium.release = r.clone();
        }
        if let Some(v) = &args.cilium_version {
            c.cilium.version = Some(v.clone());
        }
        if let Some(p) = args.metrics_preset {
            c.hubble.metrics_preset = Some(p);
        }
        if !args.metrics.is_empty() {
            // --metric replaces the list and any preset, from the file or the command line.
            c.hubble.metrics = args.metrics.iter().map(|s| s.as_str().into()).collect();
            c.hubble.metrics_preset = None;
        }
        if args.cluster_label {
            c.hubble.cluster_label = true;
        }
        if let Some(m) = args.metrics_mode {
            c.hubble.metrics_mode = Some(m);
        }
        if args.open_metrics {
            c.hubble.open_metrics = Some(true);
        }
        if args.no_open_metrics {
            c.hubble.open_metrics = Some(false);
        }
        if args.no_agent_metrics {
            c.metrics.agent = false;
        }
        if args.no_operator_metrics {
            c.metrics.operator = false;
        }
        if args.no_relay {
            c.hubble.relay = false;
        }
        if args.no_ui {
            c.hubble.ui.enabled = false;
        }
        if let Some(t) = args.ui_service_type {
            c.hubble.ui.service_type = t;
        }
        if let Some(p) = args.ui_node_port {
            c.hubble.ui.node_port = Some(p);
        }
        if args.no_export {
            c.hubble.export.enabled = false;
        }
        if let Some(p) = &args.export_file_path {
            c.hubble.export.file_path = p.clone();
        }
        if let Some(m) = args.stack {
            c.prometheus_stack.mode = m;
        }
        if let Some(r) = &args.stack_release {
            c.prometheus_stack.release = r.clone();
        }
        if let Some(n) = &args.stack_namespace {
            c.prometheus_stack.namespace = n.clone();
        }
        if let Some(v) = &args.stack_version {
            c.prometheus_stack.version = Some(v.clone());
        }
        if args.no_service_monitors {
            c.service_monitors = false;
        }
        if args.no_dashboards {
            c.dashboards = false;
        }
        if let Some(f) = &args.grafana_password_file {
            c.prometheus_stack.grafana_admin_password = Some(SecretSource::File(f.clone()));
        }
        if let Some(v) = &args.grafana_password_env {
            c.prometheus_stack.grafana_admin_password = Some(SecretSource::Env(v.clone()));
        }
        Origins { args, file: keys }.contradictions(&c)?;
        // The built-in node port goes with the built-in NodePort type only.
        if c.hubble.ui.service_type != ServiceType::NodePort {
            c.hubble.ui.node_port = None;
        }
        c.validate()?;
        Ok(c)
    }

    /// Rules between settings that need no Cilium version.
    pub fn validate(&self) -> Result<()> {
        for (what, value) in [
            ("cilium.release", &self.cilium.release),
            ("cilium.namespace", &self.cilium.namespace),
            ("prometheusStack.release", &self.prometheus_stack.release),
            (
                "prometheusStack.namespace",
                &self.prometheus_stack.namespace,
            ),
        ] {
            if what.ends_with("namespace") {
                crate::names::check_namespace(what, value)?;
            } else {
                crate::names::check_release(what, value)?;
            }
        }
        for (what, value) in [
            ("cilium.repo.name", &self.cilium.repo.name),
            ("cilium.chart", &self.cilium.chart),
            (
                "prometheusStack.repo.name",
                &self.prometheus_stack.repo.name,
            ),
            ("prometheusStack.chart", &self.prometheus_stack.chart),
        ] {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(Failure::bad_input(format!(
                    "{what} '{}' is not a valid Helm repository or chart name",
                    escape(value)
                ))
                .into());
            }
        }
        if let Some(v) = &self.cilium.version {
            crate::catalogue::resolve_version(Some(v), None, crate::catalogue::VersionUse::Pin)?;
        }
        if let Some(v) = &self.prometheus_stack.version
            && let Err(e) = crate::version::check_chart_version(v)
        {
            return Err(Failure::bad_input(format!(
                "prometheusStack.version '{}' is not a chart version: {e}",
                escape(v)
            ))
            .hint("give an exact chart version, e.g. 80.4.1 (`helm search repo prometheus-community/kube-prometheus-stack --versions`)")
            .into());
        }
        for (k, v) in &self.prometheus_stack.service_monitor_labels {
            if let Some(why) = crate::names::label_problem(k, v) {
                return Err(Failure::bad_input(format!(
                    "prometheusStack.serviceMonitorLabels: {why}"
                ))
                .into());
            }
        }
        if self.hubble.ui.enabled && !self.hubble.relay {
            return Err(Failure::bad_input(
                "the Hubble UI needs Hubble Relay (the chart refuses the UI without it)",
            )
            .hint("drop --no-relay, or add --no-ui")
            .into());
        }
        if let Some(p) = self.hubble.ui.node_port
            && !(30000..=32767).contains(&p)
        {
            return Err(Failure::bad_input(format!(
                "UI node port {p} is outside the Kubernetes NodePort range 30000-32767"
            ))
            .hint("pick a port in 30000-32767, e.g. --ui-node-port 31234")
            .into());
        }
        let path = &self.hubble.export.file_path;
        if self.hubble.export.enabled
            && (!path.starts_with('/')
                || path.contains(char::is_whitespace)
                || path.chars().any(crate::escape::is_unsafe))
        {
            return Err(Failure::bad_input(format!(
                "export file path '{}' must be an absolute path without spaces",
                escape(path)
            ))
            .into());
        }
        if self.prometheus_stack.mode == StackMode::None
            && self.prometheus_stack.grafana_admin_password.is_some()
        {
            return Err(Failure::bad_input(
                "a Grafana admin password was given, but no stack is installed (--stack none)",
            )
            .into());
        }
        match &self.prometheus_stack.grafana_admin_password {
            Some(SecretSource::Env(var))
                if var.is_empty()
                    || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                return Err(Failure::bad_input(format!(
                    "'{}' is not an environment variable name",
                    escape(var)
                ))
                .into());
            }
            _ => {}
        }
        Ok(())
    }

    /// The metric list as written for `version`: the preset's, if one is chosen, else
    /// `hubble.metrics`.
    pub fn metric_list(&self, version: &Version) -> Vec<MetricEntry> {
        match self.hubble.metrics_preset {
            Some(p) => dashboards::preset_metrics(p, version)
                .iter()
                .map(|s| MetricEntry::from(s.as_str()))
                .collect(),
            None => self.hubble.metrics.clone(),
        }
    }

    /// This configuration with its preset (if any) resolved into `hubble.metrics` for `version`:
    /// what the plan builds from, so that every reader of the list sees the preset's.
    pub fn with_preset_for(&self, version: &Version) -> Config {
        let mut c = self.clone();
        if c.hubble.metrics_preset.is_some() {
            c.hubble.metrics = self.metric_list(version);
            c.hubble.metrics_preset = None;
        }
        c
    }

    /// The metric list validated for `version`, in catalogue order.
    pub fn metric_specs(&self, version: &Version) -> Result<Vec<MetricSpec>, SpecError> {
        spec::parse_list(&self.metric_list(version), version)
    }

    /// Whether OpenMetrics ends up on, and a note when ciliumon decided it.
    pub fn open_metrics(&self, specs: &[MetricSpec]) -> Result<(bool, Option<String>)> {
        let exemplars = specs.iter().find(|s| s.exemplars());
        match (self.hubble.open_metrics, exemplars) {
            (Some(false), Some(s)) => Err(Failure::bad_input(format!(
                "'{s}' asks for exemplars, which need OpenMetrics, but OpenMetrics is turned off"
            ))
            .hint("drop exemplars=true, or turn OpenMetrics on (--open-metrics / hubble.openMetrics: true)")
            .into()),
            (None, Some(s)) => Ok((true, Some(format!("OpenMetrics turned on: {} asks for exemplars, which need it", s.handler.name)))),
            (Some(on), _) => Ok((on, None)),
            (None, None) => Ok((false, None)),
        }
    }

    /// Write as a ciliumon.yaml that replays this configuration.
    pub fn to_yaml(&self) -> Result<String> {
        let body = crate::yaml::to_string(self)?;
        Ok(format!(
            "# ciliumon configuration: replay with `ciliumon setup --yes --config FILE`\n{body}"
        ))
    }
}

/// Where the settings of a resolved configuration came from: a flag, the config file, or the
/// built-in default. Two settings that contradict each other are refused naming both, and where
/// each was set.
struct Origins<'a> {
    args: &'a ConfigArgs,
    file: Option<(&'a Path, serde_json::Value)>,
}

impl Origins<'_> {
    /// `hubble.ui.nodePort` → "hubble.ui.nodePort in c.yaml", when the file sets it.
    fn in_file(&self, key: &str) -> Option<String> {
        let (path, keys) = self.file.as_ref()?;
        let mut v = keys;
        for part in key.split('.') {
            v = v.get(part)?;
        }
        (!v.is_null()).then(|| format!("{key}: {} in {}", short(v), path.display()))
    }

    /// The flag if given, else the file's key if set.
    fn origin(&self, flag: Option<String>, key: &str) -> Option<String> {
        flag.or_else(|| self.in_file(key))
    }

    fn contradictions(&self, c: &Config) -> Result<()> {
        let a = self.args;
        let ui = &c.hubble.ui;
        let node_port = ui.node_port.and_then(|p| {
            self.origin(
                a.ui_node_port.map(|_| format!("--ui-node-port {p}")),
                "hubble.ui.nodePort",
            )
        });
        if let Some(port) = &node_port {
            if !ui.enabled {
                let off = self
                    .origin(a.no_ui.then(|| "--no-ui".into()), "hubble.ui.enabled")
                    .unwrap_or_else(|| "the UI turned off".into());
                return Err(contradiction(
                    port,
                    &off,
                    "a node port for a UI that is not installed",
                ));
            }
            if ui.service_type != ServiceType::NodePort {
                let t = self
                    .origin(
                        a.ui_service_type
                            .map(|t| format!("--ui-service-type {}", t.kube_name())),
                        "hubble.ui.serviceType",
                    )
                    .unwrap_or_else(|| format!("service type {}", ui.service_type.kube_name()));
                return Err(contradiction(
                    port,
                    &t,
                    "a node port needs the NodePort service type",
                ));
            }
        }
        let export = &c.hubble.export;
        if !export.enabled
            && let Some(path) = self.origin(
                a.export_file_path
                    .as_ref()
                    .map(|p| format!("--export-file-path {}", escape(p))),
                "hubble.export.filePath",
            )
        {
            let off = self
                .origin(
                    a.no_export.then(|| "--no-export".into()),
                    "hubble.export.enabled",
                )
                .unwrap_or_else(|| "export turned off".into());
            return Err(contradiction(
                &path,
                &off,
                "a path for an export that is off",
            ));
        }
        let stack = &c.prometheus_stack;
        if stack.mode == StackMode::None {
            let none = self
                .origin(
                    a.stack.map(|_| "--stack none".into()),
                    "prometheusStack.mode",
                )
                .unwrap_or_else(|| "no stack".into());
            for (flag, value, key) in [
                (
                    "--stack-release",
                    &a.stack_release,
                    "prometheusStack.release",
                ),
                (
                    "--stack-namespace",
                    &a.stack_namespace,
                    "prometheusStack.namespace",
                ),
                (
                    "--stack-version",
                    &a.stack_version,
                    "prometheusStack.version",
                ),
            ] {
                if let Some(given) =
                    self.origin(value.as_ref().map(|v| format!("{flag} {}", escape(v))), key)
                {
                    return Err(contradiction(
                        &given,
                        &none,
                        "a kube-prometheus-stack setting with no stack",
                    ));
                }
            }
        }
        if c.hubble.open_metrics == Some(false) {
            let newest = crate::catalogue::newest();
            let with_exemplars =
                c.hubble.metrics.iter().find(|e| {
                    MetricSpec::parse(&e.spec, &newest).is_ok_and(|spec| spec.exemplars())
                });
            if let Some(spec) = with_exemplars {
                let off = self
                    .origin(
                        a.no_open_metrics.then(|| "--no-open-metrics".into()),
                        "hubble.openMetrics",
                    )
                    .unwrap_or_else(|| "OpenMetrics turned off".into());
                let list = if !a.metrics.is_empty() {
                    "--metric".to_string()
                } else {
                    self.in_file("hubble.metrics")
                        .map(|_| {
                            let (path, _) = self.file.as_ref().expect("in_file found the file");
                            format!("hubble.metrics in {}", path.display())
                        })
                        .unwrap_or_else(|| "the default metric list".into())
                };
                let spec = escape(&spec.spec);
                return Err(Failure::bad_input(format!(
                    "{off} contradicts '{spec}' ({list}): exemplars need OpenMetrics"
                ))
                .hint(
                    "drop exemplars=true from that metric (give the list with --metric), or leave OpenMetrics on; ciliumon does not drop what a metric asks for",
                )
                .into());
            }
        }
        Ok(())
    }
}

/// A config value, short, for a message.
fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => escape(s).into_owned(),
        other => other.to_string(),
    }
}

fn contradiction(one: &str, other: &str, why: &str) -> anyhow::Error {
    Failure::bad_input(format!("{one} contradicts {other}: {why}"))
        .hint("drop one of the two")
        .into()
}

/// Load just the metric list of a config file, validated for `version` (used by `check`).
pub fn metrics_from_file(path: &Path, version: &Version) -> Result<Vec<MetricSpec>> {
    let c = Config::load(path)?;
    c.metric_specs(version)
        .with_context(|| format!("in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ConfigArgs {
        ConfigArgs::default()
    }

    #[test]
    fn default_is_the_blog() {
        let c = Config::resolve(&GlobalArgs::default(), &args()).unwrap();
        assert_eq!(c.hubble.metrics, BLOG_METRICS);
        assert_eq!(c.hubble.ui.node_port, Some(31234));
        assert_eq!(c.prometheus_stack.release, "prometheus");
        assert_eq!(c.cilium.namespace, "kube-system");
    }

    #[test]
    fn yaml_round_trip() {
        let c = Config::default();
        let text = c.to_yaml().unwrap();
        let back: Config = crate::yaml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_field_is_named() {
        let err = crate::yaml::from_str::<Config>("hubble:\n  relays: true\n").unwrap_err();
        assert!(err.contains("relays"), "{err}");
    }

    #[test]
    fn flags_override_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(
            &f,
            "hubble:\n  metrics: [drop]\nprometheusStack:\n  release: kps\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(f.clone());
        let c = Config::resolve(&GlobalArgs::default(), &a).unwrap();
        assert_eq!(c.hubble.metrics, ["drop"]);
        assert_eq!(c.prometheus_stack.release, "kps");
        assert!(c.hubble.relay, "unset keys keep the default");
        a.metrics = vec!["flow".into()];
        a.stack_release = Some("other".into());
        let c = Config::resolve(
            &GlobalArgs {
                namespace: Some("cilium".into()),
                ..Default::default()
            },
            &a,
        )
        .unwrap();
        assert_eq!(c.hubble.metrics, ["flow"]);
        assert_eq!(c.prometheus_stack.release, "other");
        assert_eq!(c.cilium.namespace, "cilium");
    }

    #[test]
    fn rules() {
        let mut a = args();
        a.no_relay = true;
        let e = Config::resolve(&GlobalArgs::default(), &a).unwrap_err();
        assert!(e.to_string().contains("needs Hubble Relay"));
        let mut a = args();
        a.ui_node_port = Some(8080);
        assert!(
            Config::resolve(&GlobalArgs::default(), &a)
                .unwrap_err()
                .to_string()
                .contains("8080")
        );
        let mut a = args();
        a.stack_release = Some("Prom".into());
        assert!(
            Config::resolve(&GlobalArgs::default(), &a)
                .unwrap_err()
                .to_string()
                .contains("'Prom'")
        );
    }

    #[test]
    fn contradictions_name_both_sides() {
        let err = |a: ConfigArgs| {
            Config::resolve(&GlobalArgs::default(), &a)
                .unwrap_err()
                .to_string()
        };
        let mut a = args();
        a.ui_node_port = Some(31000);
        a.no_ui = true;
        assert_eq!(
            err(a),
            "--ui-node-port 31000 contradicts --no-ui: a node port for a UI that is not installed"
        );
        let mut a = args();
        a.stack = Some(StackMode::None);
        a.stack_version = Some("80.4.1".into());
        assert!(err(a).starts_with("--stack-version 80.4.1 contradicts --stack none"));
        // Defaults contradict nothing: the built-in node port leaves with the NodePort type.
        let mut a = args();
        a.ui_service_type = Some(ServiceType::ClusterIP);
        let c = Config::resolve(&GlobalArgs::default(), &a).unwrap();
        assert_eq!(c.hubble.ui.node_port, None);
        let mut a = args();
        a.no_ui = true;
        a.no_export = true;
        a.stack = Some(StackMode::None);
        assert!(Config::resolve(&GlobalArgs::default(), &a).is_ok());
        let mut a = args();
        a.no_open_metrics = true;
        a.metrics = vec!["httpV2:labelsContext=source_ip".into()];
        let c = Config::resolve(&GlobalArgs::default(), &a).unwrap();
        assert_eq!(c.hubble.open_metrics, Some(false));
    }

    #[test]
    fn exemplars_and_open_metrics() {
        let v: Version = "1.20.0".parse().unwrap();
        let mut c = Config::default();
        let specs = c.metric_specs(&v).unwrap();
        assert_eq!(c.open_metrics(&specs).unwrap(), (true, None));
        c.hubble.open_metrics = None;
        let (on, note) = c.open_metrics(&specs).unwrap();
        assert!(on && note.unwrap().contains("exemplars"));
        c.hubble.open_metrics = Some(false);
        assert!(
            c.open_metrics(&specs)
                .unwrap_err()
                .to_string()
                .contains("need OpenMetrics")
        );
    }
}
