//! The command line: clap definitions only. Nothing here decides anything; `commands/` turns
//! these into settings and acts.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalogue::Component;
use crate::config::{ServiceType, StackMode};
use crate::ui::ColorChoice;

use crate::duration::{request_timeout, step_timeout, wait};
use crate::names::{context, namespace, release};

fn cilium_version(s: &str) -> Result<String, String> {
    s.parse::<crate::version::Version>()
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

fn metrics_preset(s: &str) -> Result<crate::catalogue::dashboards::MetricsPreset, String> {
    s.parse()
}

fn chart_version(s: &str) -> Result<String, String> {
    crate::version::check_chart_version(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// The top-level help, with the ports from the catalogue.
fn long_about() -> String {
    format!(
        "Turn on Cilium and Hubble metrics in one verified step.\n\n\
        ciliumon renders the helm upgrade of Cilium and the kube-prometheus-stack install for the \
        Cilium version in your cluster, runs them with helm and kubectl, and checks that the agent \
        ({}), operator ({}) and Hubble ({}) metrics ports serve what you asked for.",
        Component::Agent.default_port(),
        Component::Operator.default_port(),
        Component::Hubble.default_port()
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "ciliumon",
    version,
    about = "Turn on Cilium and Hubble metrics in one verified step",
    long_about = long_about(),
    after_help = "Start with `ciliumon plan --dry-run`: it shows what would run and touches nothing."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// The kubeconfig context to use (helm --kube-context, kubectl --context)
    #[arg(long, global = true, value_name = "CONTEXT", value_parser = context)]
    pub kube_context: Option<String>,
    /// Namespace of the Cilium release [default: kube-system, or the config file's]
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE", value_parser = namespace)]
    pub namespace: Option<String>,
    /// Path to a kubeconfig file (otherwise KUBECONFIG or ~/.kube/config, as kubectl does)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// When to use colour (NO_COLOR is respected)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the commands that would enable the metrics, in order, touching nothing
    Plan(PlanArgs),
    /// Enable the metrics: ask (on a terminal), show the plan, run it, check the result
    Setup(SetupArgs),
    /// Check that the metrics ports listen on every node and serve the families asked for
    Check(CheckArgs),
    /// List the Hubble metric families, their options and the metrics they produce
    Metrics(MetricsArgs),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanOutput {
    /// A bash script
    #[default]
    #[value(alias = "text", alias = "bash")]
    Shell,
    Json,
    Yaml,
    /// The Cilium values alone, as one commented values file to commit (GitOps)
    Values,
    /// A Flux HelmRelease carrying the values in spec.values
    Flux,
    /// An Argo CD Application carrying the values in spec.source.helm.valuesObject
    Argocd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportOutput {
    #[default]
    Text,
    Json,
}

/// Everything that shapes the configuration. Flags override the config file, which overrides
/// the built-in default (the blog post's configuration).
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// A ciliumon.yaml (see examples/)
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A Hubble metric in Cilium's syntax, e.g. 'httpV2:exemplars=true;labelsContext=source_ip,destination_ip'.
    /// Repeat for each; replaces the list from the config file
    #[arg(short = 'm', long = "metric", value_name = "SPEC", action = clap::ArgAction::Append)]
    pub metrics: Vec<String>,
    /// Start from a named metric list: blog (the default) or dashboards (the smallest list that
    /// fills every fillable panel of the chart's dashboards). --metric replaces it
    #[arg(long, value_name = "PRESET", value_parser = metrics_preset)]
    pub metrics_preset: Option<crate::catalogue::dashboards::MetricsPreset>,
    /// Add a `cluster` label (from the release's cluster.name) with the ServiceMonitors'
    /// relabelings, for the dashboards that select on it
    #[arg(long)]
    pub cluster_label: bool,
    /// Estimate the series for a cluster of this many nodes (with the other three --estimate-*)
    #[arg(long, value_name = "N")]
    pub estimate_nodes: Option<u64>,
    /// Namespaces for the estimate
    #[arg(long, value_name = "N")]
    pub estimate_namespaces: Option<u64>,
    /// Pods for the estimate
    #[arg(long, value_name = "N")]
    pub estimate_pods: Option<u64>,
    /// Workloads (Deployments, StatefulSets, DaemonSets) for the estimate
    #[arg(long, value_name = "N")]
    pub estimate_workloads: Option<u64>,
    /// How the agents get the Hubble metric list: static (cilium-config, restart to change) or
    /// dynamic (a ConfigMap re-read within ~10 s, per-metric filters; Cilium 1.17+)
    /// [default: the release's mode, else static]
    #[arg(long, value_name = "MODE")]
    pub metrics_mode: Option<crate::dynamic::MetricsMode>,
    /// The Cilium version to plan for [default: the cluster's, or the newest known with --dry-run]
    #[arg(long, value_name = "VERSION", value_parser = cilium_version)]
    pub cilium_version: Option<String>,
    /// Name of the Cilium Helm release
    #[arg(long, value_name = "NAME", value_parser = release)]
    pub release: Option<String>,
    /// Serve Hubble metrics as OpenMetrics when asked (needed for exemplars)
    #[arg(long, overrides_with = "no_open_metrics")]
    pub open_metrics: bool,
    /// Serve Hubble metrics as Prometheus text only (refused with a metric that asks for
    /// exemplars=true, which need OpenMetrics)
    #[arg(long, overrides_with = "open_metrics")]
    pub no_open_metrics: bool,
    #[arg(long, help = format!("Do not enable the agent metrics ({})", Component::Agent.default_port()))]
    pub no_agent_metrics: bool,
    #[arg(long, help = format!("Do not enable the operator metrics ({})", Component::Operator.default_port()))]
    pub no_operator_metrics: bool,
    /// Do not enable Hubble Relay (and so no Hubble UI)
    #[arg(long)]
    pub no_relay: bool,
    /// Do not enable the Hubble UI
    #[arg(long)]
    pub no_ui: bool,
    /// Service type of the Hubble UI (NodePort, ClusterIP, LoadBalancer; or node-port, ...)
    #[arg(long, value_enum, value_name = "TYPE")]
    pub ui_service_type: Option<ServiceType>,
    /// NodePort of the Hubble UI (only with the NodePort service type, and not with --no-ui)
    #[arg(long, value_name = "PORT")]
    pub ui_node_port: Option<u16>,
    /// Do not export flows to a file on each node
    #[arg(long)]
    pub no_export: bool,
    /// Path of the flow export file on each node
    #[arg(long, value_name = "PATH")]
    pub export_file_path: Option<String>,
    /// Install kube-prometheus-stack, reuse an existing one, or none
    #[arg(long, value_enum, value_name = "MODE")]
    pub stack: Option<StackMode>,
    /// Release name of kube-prometheus-stack
    #[arg(long, value_name = "NAME", value_parser = release)]
    pub stack_release: Option<String>,
    /// Namespace of kube-prometheus-stack
    #[arg(long, value_name = "NAMESPACE", value_parser = namespace)]
    pub stack_namespace: Option<String>,
    /// Chart version of kube-prometheus-stack [default: the repository's latest]
    #[arg(long, value_name = "VERSION", value_parser = chart_version)]
    pub stack_version: Option<String>,
    /// Do not create ServiceMonitors for the agent, operator and Hubble
    #[arg(long)]
    pub no_service_monitors: bool,
    /// Do not install Cilium's Grafana dashboards
    #[arg(long)]
    pub no_dashboards: bool,
    /// File holding the Grafana admin password (passed to helm with --set-file)
    #[arg(long, value_name = "FILE", conflicts_with = "grafana_password_env")]
    pub grafana_password_file: Option<PathBuf>,
    /// Environment variable holding the Grafana admin password
    #[arg(long, value_name = "VAR")]
    pub grafana_password_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Contact nothing (no helm, no kubectl): plan for --cilium-version or the newest known release
    #[arg(long)]
    pub dry_run: bool,
    /// Write the values files to DIR (mode 0600) and use `-f FILE` instead of `--set`
    #[arg(long, value_name = "DIR")]
    pub values_dir: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = PlanOutput::Shell)]
    pub output: PlanOutput,
    /// Plan the helm upgrade even when Flux or Argo CD manages the release (after a warning)
    #[arg(long)]
    pub force_helm: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Print the plan and exit, like `plan --dry-run`: contacts nothing (no helm, kubectl or kubeconfig)
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask: take the configuration from flags and --config, and run
    #[arg(short = 'y', long, env = "CILIUMON_YES", value_parser = clap::builder::FalseyValueParser::new())]
    pub yes: bool,
    /// Time limit for each step
    #[arg(long, value_name = "DURATION", value_parser = step_timeout, default_value = "10m")]
    pub timeout: Duration,
    /// Show each step's output as it runs
    #[arg(short, long)]
    pub verbose: bool,
    /// Where to save the current Cilium values before the upgrade
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Go on when --cilium-version (or cilium.version) is not the chart version the release runs:
    /// that changes the Cilium version itself. On a terminal, setup asks instead
    #[arg(long)]
    pub allow_version_change: bool,
    /// Save the answers as a ciliumon.yaml that replays this setup
    #[arg(long, value_name = "FILE")]
    pub save_config: Option<PathBuf>,
    /// Do not check the metrics endpoints after the steps
    #[arg(long)]
    pub no_check: bool,
    /// How long the check after the steps retries while the agents come up
    #[arg(long, value_name = "DURATION", value_parser = wait, default_value = "1m")]
    pub check_wait: Duration,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = ReportOutput::Text)]
    pub output: ReportOutput,
    /// Run the helm upgrade even when Flux or Argo CD manages the release (after a warning)
    #[arg(long)]
    pub force_helm: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check this host, like `ss -tnlp`: listening sockets from /proc/net/tcp{,6}, then /metrics
    #[arg(long, conflicts_with_all = ["nodes", "nodes_file"])]
    pub local: bool,
    /// Check this node address directly (repeatable)
    #[arg(long = "node", value_name = "ADDR", action = clap::ArgAction::Append)]
    pub nodes: Vec<String>,
    /// Check the node addresses in FILE (one a line, # comments)
    #[arg(long, value_name = "FILE")]
    pub nodes_file: Option<PathBuf>,
    /// In cluster mode, scrape the host IPs directly instead of through the API server's pod proxy
    #[arg(long, conflicts_with_all = ["local", "nodes", "nodes_file"])]
    pub direct: bool,
    /// Answer from kube-prometheus-stack's Prometheus alone (targets up per node, series per
    /// family, the dashboards' panels): a few queries whatever the node count
    #[arg(long, conflicts_with_all = ["local", "nodes", "nodes_file", "direct"])]
    pub from_prometheus: bool,
    /// Agent metrics port
    #[arg(long, value_name = "PORT")]
    pub agent_port: Option<u16>,
    /// Operator metrics port
    #[arg(long, value_name = "PORT")]
    pub operator_port: Option<u16>,
    /// Hubble metrics port
    #[arg(long, value_name = "PORT")]
    pub hubble_port: Option<u16>,
    /// A ciliumon.yaml whose metric list is what should be served
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A Hubble metric that should be served (repeatable; Cilium's syntax)
    #[arg(short = 'm', long = "metric", value_name = "SPEC", action = clap::ArgAction::Append)]
    pub metrics: Vec<String>,
    /// The Cilium version to validate --metric against [default: the newest known]
    #[arg(long, value_name = "VERSION", value_parser = cilium_version)]
    pub cilium_version: Option<String>,
    /// Retry until everything passes or DURATION is up
    #[arg(long, value_name = "DURATION", value_parser = wait)]
    pub wait: Option<Duration>,
    /// A family with no samples yet is a failure, not "waiting for traffic"
    #[arg(long)]
    pub strict: bool,
    /// Time limit for each wait of a request: the connection, the response, every pause in
    /// the body (the whole check stops after twice this, or --wait)
    #[arg(long, value_name = "DURATION", value_parser = request_timeout, default_value = "2s")]
    pub timeout: Duration,
    /// How many endpoints to probe at once [default: 4096 straight to nodes, 256 through the
    /// API server]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = ReportOutput::Text)]
    pub output: ReportOutput,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The Cilium version [default: the newest known]
    #[arg(long, value_name = "VERSION", value_parser = cilium_version)]
    pub cilium_version: Option<String>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = ReportOutput::Text)]
    pub output: ReportOutput,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
