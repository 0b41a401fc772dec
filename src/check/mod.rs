//! The check: which endpoints to probe, how to judge what came back, and the report that the
//! renderers print. The pipeline (`pipeline::report`), from a `Settings` value:
//!
//! 1. read: in cluster mode `snapshot::read` (kubectl) into a plain `Snapshot`; `--local` reads
//!    this host's sockets (`proc_net`);
//! 2. plan, pure: `targets` turns settings (and snapshot) into a `Plan`: node rows, the
//!    endpoints to probe with their requests, and the findings known before probing;
//! 3. probe: `probe` (HTTP), under `wait`, the `--wait` retry loop;
//! 4. judge, pure: `judge_endpoint` and `finish` here, `judge` (assembling, the operator verdict,
//!    what to retry), `cluster::judge_targets` (Prometheus), `selector` (label selectors);
//! 5. render: `render`, text or JSON.

pub mod cluster;
#[cfg(test)]
mod examples;
pub mod judge;
pub mod pipeline;
pub mod probe;
pub mod proc_net;
pub mod prometheus;
pub mod render;
pub mod scan;
pub mod selector;
pub mod settings;
pub mod snapshot;
pub mod targets;
pub mod wait;

pub use pipeline::report;
pub use settings::{Ports, Settings, Source};
pub use snapshot::Snapshot;

use serde::Serialize;

use crate::catalogue::{self, Component, Handler, L7Rule, chart};
use probe::{Outcome, Probe};
use scan::Scan;

/// ✓, ‼, ✗, or not applicable here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Skip,
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Pass => "✓",
            Status::Warn => "‼",
            Status::Fail => "✗",
            Status::Skip => "—",
        }
    }
}

/// Where the families come from when `ciliumon check --metric` names them: some families to
/// look for, not necessarily every one the agents run (others served are not a stale list).
pub const FROM_METRIC_FLAGS: &str = "--metric";

/// A family the user asked for: from `--metric`, the config file or the cluster's ConfigMap.
#[derive(Debug, Clone, Serialize)]
pub struct Expected {
    /// The spec as written (`httpV2:exemplars=true;...`).
    pub spec: String,
    #[serde(serialize_with = "handler_name")]
    pub handler: &'static Handler,
    pub exemplars: bool,
    /// The dynamic file's filters of this metric (for the estimate).
    #[serde(skip)]
    pub include_filters: Vec<serde_json::Value>,
    #[serde(skip)]
    pub exclude_filters: Vec<serde_json::Value>,
}

fn handler_name<S: serde::Serializer>(h: &&'static Handler, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(h.name)
}

impl Expected {
    pub fn from_spec(spec: &crate::spec::MetricSpec) -> Expected {
        Expected {
            spec: spec.to_string(),
            handler: spec.handler,
            exemplars: spec.exemplars(),
            include_filters: vec![],
            exclude_filters: vec![],
        }
    }

    /// As a configuration entry, filters included (for the estimate).
    pub fn entry(&self) -> crate::dynamic::MetricEntry {
        crate::dynamic::MetricEntry {
            spec: self.spec.clone(),
            include_filters: self.include_filters.clone(),
            exclude_filters: self.exclude_filters.clone(),
        }
    }

    /// From the agent's own list (`hubble-metrics`, space separated), leniently: the cluster's
    /// list is what it is, so only the handler name and the exemplars option matter here.
    /// Unknown names are returned separately.
    pub fn from_agent_list(list: &str) -> (Vec<Expected>, Vec<String>) {
        let mut out: Vec<Expected> = Vec::new();
        let mut unknown = Vec::new();
        for spec in list.split_whitespace() {
            let name = spec.split(':').next().unwrap_or(spec);
            match catalogue::handler(name) {
                Some(h) if !out.iter().any(|e| e.handler.name == h.name) => out.push(Expected {
                    spec: spec.to_string(),
                    handler: h,
                    exemplars: spec.contains("exemplars=true"),
                    include_filters: vec![],
                    exclude_filters: vec![],
                }),
                Some(_) => {}
                None => unknown.push(spec.to_string()),
            }
        }
        (out, unknown)
    }

    /// From the dynamic metrics file: one per named handler; unknown names separately.
    pub fn from_dynamic(metrics: &[crate::dynamic::DynamicMetric]) -> (Vec<Expected>, Vec<String>) {
        let mut out: Vec<Expected> = Vec::new();
        let mut unknown = Vec::new();
        for m in metrics {
            match catalogue::handler(&m.name) {
                Some(h) if !out.iter().any(|e| e.handler.name == h.name) => {
                    let spec = m.spec_text();
                    out.push(Expected {
                        exemplars: spec.contains("exemplars=true"),
                        spec,
                        handler: h,
                        include_filters: m.include_filters.clone().unwrap_or_default(),
                        exclude_filters: m.exclude_filters.clone().unwrap_or_default(),
                    })
                }
                Some(_) => {}
                None => unknown.push(m.name.clone()),
            }
        }
        (out, unknown)
    }

    /// Samples of this family's metrics in a scan.
    pub fn samples_in(&self, scan: &Scan) -> (u64, u64) {
        let mut samples = 0;
        let mut exemplars = 0;
        for (name, stats) in &scan.names {
            if self.handler.metrics.iter().any(|m| m.matches_sample(name)) {
                samples += stats.samples;
                exemplars += stats.exemplars;
            }
        }
        (samples, exemplars)
    }
}

/// What the cluster asks the agents to run, metric by metric, with the labels each metric's
/// options add (cluster mode): the dynamic file's `contextOptions`, or `cilium-config`'s list.
/// Compared with the label names Hubble serves (`judge::label_sets`).
#[derive(Debug, Clone)]
pub struct Asked {
    /// Where it was read: `cilium-dynamic-metrics-config` or `cilium-config hubble-metrics`.
    pub from: String,
    /// The dynamic file, which the agents re-read (and refuse when options change).
    pub dynamic: bool,
    pub metrics: Vec<AskedMetric>,
}

/// One metric the cluster asks for.
#[derive(Debug, Clone)]
pub struct AskedMetric {
    pub handler: &'static Handler,
    /// In Cilium's grammar, for the verdict.
    pub spec: String,
    pub labels: catalogue::labels::AskedLabels,
}

impl Asked {
    /// From the dynamic metrics file: one per known handler (the first of a name).
    pub fn from_dynamic(from: String, metrics: &[crate::dynamic::DynamicMetric]) -> Asked {
        let mut out: Vec<AskedMetric> = Vec::new();
        for m in metrics {
            let Some(h) = catalogue::handler(&m.name) else {
                continue;
            };
            if out.iter().any(|a| a.handler.name == h.name) {
                continue;
            }
            let options: Vec<(String, Vec<String>)> = m
                .context_options
                .iter()
                .flatten()
                .map(|o| (o.name.clone(), o.values.clone().unwrap_or_default()))
                .collect();
            out.push(AskedMetric {
                handler: h,
                spec: m.spec_text(),
                labels: catalogue::labels::asked_labels(h, &options),
            });
        }
        Asked {
            from,
            dynamic: true,
            metrics: out,
        }
    }

    /// From the agent's static list (`hubble-metrics`, space separated), leniently.
    pub fn from_agent_list(from: String, list: &str) -> Asked {
        let mut out: Vec<AskedMetric> = Vec::new();
        for spec in list.split_whitespace() {
            let name = spec.split(':').next().unwrap_or(spec);
            let Some(h) = catalogue::handler(name) else {
                continue;
            };
            if out.iter().any(|a| a.handler.name == h.name) {
                continue;
            }
            out.push(AskedMetric {
                handler: h,
                spec: spec.to_string(),
                labels: catalogue::labels::asked_labels(h, &catalogue::labels::spec_options(spec)),
            });
        }
        Asked {
            from,
            dynamic: false,
            metrics: out,
        }
    }
}

/// Whether any CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy has L7 rules.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum L7Policies {
    /// Not looked up (direct modes), or the lookup failed.
    Unknown { reason: String },
    /// Policies by kind of rule (every `L7Rule`, in its order), as `namespace/name` (or `name`
    /// for clusterwide).
    Known {
        #[serde(flatten)]
        by_rule: std::collections::BTreeMap<L7Rule, Vec<String>>,
    },
}

impl L7Policies {
    /// The policies with rules of this kind; `None` when not known.
    pub fn for_rule(&self, rule: L7Rule) -> Option<&[String]> {
        match self {
            L7Policies::Unknown { .. } => None,
            L7Policies::Known { by_rule } => {
                Some(by_rule.get(&rule).map(Vec::as_slice).unwrap_or_default())
            }
        }
    }
}

/// One component endpoint on one node, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub component: Component,
    /// Where it was probed: `10.0.0.1:9962`, or `pod kube-system/cilium-x:9962`.
    pub target: String,
    pub status: Status,
    /// A few words for the table cell.
    pub summary: String,
    /// One sentence.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    pub samples: u64,
    pub exemplars: u64,
    pub elapsed_ms: u64,
    #[serde(skip)]
    pub scan: Option<Scan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Prometheus,
    OpenMetrics,
}

/// A problem or remark that is not one endpoint's: a node note, a cluster-wide check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub status: Status,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(status: Status, what: impl Into<String>, hint: Option<String>) -> Finding {
        Finding {
            status,
            what: what.into(),
            hint,
        }
    }
}

/// A family's samples on one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeFamily {
    pub family: &'static str,
    pub samples: u64,
    pub exemplars: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub agent: Option<Endpoint>,
    pub operator: Option<Endpoint>,
    pub hubble: Option<Endpoint>,
    /// The expected families, present or not (empty when no list was given).
    pub families: Vec<NodeFamily>,
    pub notes: Vec<Finding>,
    /// Families whose served label names are not those the cluster's configuration asks for
    /// (cluster mode): the agent runs a previous configuration.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub label_sets: Vec<judge::LabelSet>,
}

impl NodeRow {
    pub fn new(node: impl Into<String>, address: Option<String>) -> NodeRow {
        NodeRow {
            node: node.into(),
            address,
            agent: None,
            operator: None,
            hubble: None,
            families: Vec::new(),
            notes: Vec::new(),
            label_sets: Vec::new(),
        }
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        [&self.agent, &self.operator, &self.hubble]
            .into_iter()
            .flatten()
    }

    pub fn status(&self) -> Status {
        self.endpoints()
            .map(|e| e.status)
            .chain(self.notes.iter().map(|n| n.status))
            .max()
            .unwrap_or(Status::Skip)
    }
}

/// One expected family over all nodes.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyRow {
    pub spec: String,
    pub family: &'static str,
    pub status: Status,
    pub nodes_with_samples: usize,
    pub nodes: usize,
    pub samples: u64,
    pub exemplars: u64,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Local,
    Nodes,
    Cluster,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: Mode,
    pub status: Status,
    pub passed: bool,
    /// Where the expected family list came from (`--metric`, a file, `cilium-config`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub families_from: Option<String>,
    pub nodes: Vec<NodeRow>,
    pub families: Vec<FamilyRow>,
    /// Cluster-wide findings: configuration, operator, Prometheus targets, policies.
    pub checks: Vec<Finding>,
    pub counts: Counts,
    /// What kube-prometheus-stack's Prometheus holds: dashboard panels, series per family next
    /// to the estimate and the scanner's counts (cluster mode, when it is found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<prometheus::PromReport>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

impl Counts {
    /// Count the verdicts, and the worst of them (`Skip` when there were none to judge).
    pub fn tally(statuses: impl IntoIterator<Item = Status>) -> (Counts, Status) {
        let mut counts = Counts::default();
        let mut worst = Status::Skip;
        for s in statuses {
            match s {
                Status::Pass => counts.pass += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
                Status::Skip => {}
            }
            worst = worst.max(s);
        }
        (counts, worst)
    }
}

/// What the judge needs besides the probes.
#[derive(Debug, Clone)]
pub struct Context {
    pub mode: Mode,
    pub expected: Option<Vec<Expected>>,
    pub families_from: Option<String>,
    pub strict: bool,
    pub l7: L7Policies,
    /// Hubble serves OpenMetrics when asked (`enable-hubble-open-metrics`), if known.
    pub openmetrics: Option<bool>,
    /// The command that restarts the agents (cluster namespace known) for stale-list hints.
    pub restart_hint: String,
    pub timeout: std::time::Duration,
    /// Probes went through the API server's pod proxy.
    pub via_proxy: bool,
    /// The expected list is the dynamic metrics file the agents re-read (1.17+): an agent that
    /// serves a family the file no longer has runs a previous file.
    pub dynamic: bool,
    /// Cluster mode: the components whose listen address `cilium-config` sets (e.g.
    /// `prometheus-serve-addr`), so a refused port is not metrics left off.
    pub configured: Vec<Component>,
    /// Cluster mode: what the cluster's configuration asks the agents to run, to compare with
    /// the label names they serve.
    pub asked: Option<Asked>,
}

fn fmt_ms(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

/// A proxied error from the API server (`error trying to reach service: dial tcp ...`).
fn proxy_error(body: &str) -> Option<Outcome> {
    let b = body.to_ascii_lowercase();
    if b.contains("connection refused") {
        Some(Outcome::Refused)
    } else if b.contains("i/o timeout") || b.contains("deadline exceeded") || b.contains("timeout")
    {
        Some(Outcome::NoAnswer)
    } else {
        None
    }
}

/// What a refused port means: metrics left off (how to enable them), or, when `cilium-config`
/// sets the listen address, a process that does not listen although configured.
pub fn refused_hint(component: Component, ctx: &Context) -> String {
    let facts = component.facts();
    if !ctx.configured.contains(&component) {
        return facts.enable_hint();
    }
    let process = match component {
        Component::Operator => "the operator",
        _ => "the agent on this node",
    };
    format!(
        "{} metrics are configured ({} {} is set), so there is nothing to enable: {process} does not listen although configured (still starting, crash-looping, or running an older configuration), a node or agent problem; look at its pod and logs, or {}",
        component.name(),
        catalogue::objects::CONFIG_MAP,
        facts.config_map_address_key,
        ctx.restart_hint
    )
}

/// Judge one endpoint's probe.
pub fn judge_endpoint(
    component: Component,
    target: String,
    probe: &Probe,
    ctx: &Context,
) -> Endpoint {
    let port_word = target.rsplit(':').next().unwrap_or("").to_string();
    let mut e = Endpoint {
        component,
        target,
        status: Status::Fail,
        summary: String::new(),
        detail: String::new(),
        hint: None,
        http_status: None,
        format: None,
        samples: 0,
        exemplars: 0,
        elapsed_ms: probe.elapsed.as_millis() as u64,
        scan: None,
    };
    let t = fmt_ms(ctx.timeout);
    let mut outcome = probe.outcome.clone();
    // Through the pod proxy, a dead port comes back as a 5xx with the dial error in the body.
    if ctx.via_proxy
        && let Outcome::Http {
            status: 500..=599,
            body_start: Some(body),
            ..
        } = &outcome
        && let Some(o) = proxy_error(body)
    {
        outcome = o;
    }
    match outcome {
        Outcome::Refused => {
            e.summary = "refused".into();
            e.detail = format!("connection refused: nothing listens on port {port_word}");
            e.hint = Some(refused_hint(component, ctx));
        }
        Outcome::ConnectTimeout => {
            e.summary = "no connect".into();
            e.detail = format!("no connection within {t} (host down or port filtered)");
            e.hint = Some(format!(
                "allow TCP {port_word} from here to the node, or check through the API server (cluster mode without --direct)"
            ));
        }
        Outcome::NoAnswer => {
            e.summary = "no answer".into();
            e.detail = format!("accepted the connection but sent no response within {t}");
            e.hint = Some(format!(
                "the {} process may be stuck or overloaded; look at its logs, or raise --timeout",
                component.name()
            ));
        }
        Outcome::NotStarted => {
            e.summary = "not probed".into();
            e.detail = "not probed before the overall deadline".into();
            e.hint = Some("raise --timeout or --concurrency".into());
        }
        Outcome::OutOfTime(doing) => {
            e.summary = "out of time".into();
            e.detail = format!(
                "the check's overall deadline came while {doing}, before this endpoint's own {t} ran out"
            );
            e.hint = Some(
                "the whole check stops after twice --timeout: raise --timeout, or give it --wait"
                    .into(),
            );
        }
        Outcome::Error(msg) => {
            e.summary = "error".into();
            e.detail = msg;
        }
        Outcome::Http {
            status,
            content_type,
            scan,
            body_start,
            cut_short,
        } => {
            e.http_status = Some(status);
            if status != 200 {
                e.summary = format!("HTTP {status}");
                let body = body_start.unwrap_or_default();
                let first = body
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect::<String>();
                e.detail = if first.is_empty() {
                    format!("HTTP {status} from /metrics")
                } else {
                    format!("HTTP {status} from /metrics: {first}")
                };
                e.hint = Some(match status {
                    404 => "this port serves something other than metrics at /metrics; check the port numbers".into(),
                    401 | 403 => "access denied: check RBAC for pods/proxy, or use --direct".into(),
                    _ => format!("the {} metrics server returned an error; look at its logs", component.name()),
                });
                return e;
            }
            if let Some(why) = cut_short {
                e.summary = "cut short".into();
                e.detail = format!("HTTP 200 but the body stopped: {why}");
                e.hint = Some(
                    "raise --timeout if the endpoint is slow; otherwise look at its logs".into(),
                );
                return e;
            }
            let scan = *scan.expect("200 without a cut is scanned");
            let openmetrics = content_type.starts_with("application/openmetrics-text");
            e.format = Some(if openmetrics {
                Format::OpenMetrics
            } else {
                Format::Prometheus
            });
            e.samples = scan.samples;
            e.exemplars = scan.exemplars;
            if !scan.is_metrics() {
                e.summary = "not metrics".into();
                e.detail = match &scan.first_bad {
                    Some((n, line)) => {
                        format!("HTTP 200 but not Prometheus text (line {n}: {line:?})")
                    }
                    None => "HTTP 200 but the body has no samples".into(),
                };
                e.hint = Some(format!(
                    "something else listens on port {port_word}; check the {} port",
                    component.name()
                ));
                return e;
            }
            if openmetrics && !scan.eof {
                e.summary = "truncated".into();
                e.detail = "OpenMetrics body without the final `# EOF`: cut off".into();
                e.hint =
                    Some("raise --timeout; if it persists, look at the endpoint's logs".into());
                return e;
            }
            let owners: Vec<Component> = Component::ALL
                .into_iter()
                .filter(|c| scan.names.keys().any(|n| c.owns(n)))
                .collect();
            let grpc_only = scan
                .names
                .keys()
                .all(|n| n.starts_with(catalogue::HUBBLE_GRPC_PREFIX));
            let mine = owners.contains(&component) || (component == Component::Hubble && grpc_only);
            if !mine {
                let other = owners.first().map(|c| c.name()).unwrap_or("unknown");
                e.summary = format!("{other} metrics");
                e.detail = format!(
                    "serves {} samples but none of {}'s ({} metrics instead)",
                    scan.samples,
                    component.name(),
                    other
                );
                e.hint = Some(
                    "the ports are mixed up: check --agent-port, --operator-port, --hubble-port"
                        .into(),
                );
                return e;
            }
            e.status = Status::Pass;
            let fmt = if openmetrics { ", OpenMetrics" } else { "" };
            e.summary = format!("{} series", scan.samples);
            e.detail = format!("{} series{fmt} in {}", scan.samples, fmt_ms(probe.elapsed));
            if component == Component::Hubble
                && !scan.names.keys().any(|n| catalogue::is_flow_sample(n))
            {
                e.summary = "up, no flows yet".into();
                e.detail = format!(
                    "healthy, serving {} series, none from a metric family: no flow seen yet (Hubble creates series with the first flows)",
                    scan.samples
                );
            }
            e.scan = Some(scan);
        }
    }
    e
}

/// Fill each node's families and notes, build the family rows and the totals.
pub fn finish(ctx: &Context, mut nodes: Vec<NodeRow>, mut checks: Vec<Finding>) -> Report {
    let mut families = Vec::new();
    if let Some(expected) = &ctx.expected {
        let hubble_up: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].hubble.as_ref().is_some_and(|h| h.scan.is_some()))
            .collect();
        for (i, row) in nodes.iter_mut().enumerate() {
            let Some(scan) = row.hubble.as_ref().and_then(|h| h.scan.as_ref()) else {
                continue;
            };
            let _ = i;
            let mut fams = Vec::new();
            for ex in expected {
                let (samples, exemplars) = ex.samples_in(scan);
                fams.push(NodeFamily {
                    family: ex.handler.name,
                    samples,
                    exemplars,
                });
            }
            // Families served that are not in the list: this agent was started with another list.
            let stale: Vec<&str> = catalogue::HANDLERS
                .iter()
                .filter(|h| {
                    !expected.iter().any(|e| {
                        e.handler
                            .metrics
                            .iter()
                            .any(|m| h.metrics.iter().any(|n| n.name == m.name))
                    })
                })
                .filter(|h| {
                    scan.names
                        .keys()
                        .any(|n| h.metrics.iter().any(|m| m.matches_sample(n)))
                })
                .map(|h| h.name)
                .collect();
            if !stale.is_empty() && ctx.dynamic {
                row.notes.push(Finding::new(
                    Status::Warn,
                    format!(
                        "Hubble serves {} which {} no longer asks for: this agent still runs a previous dynamic configuration (it refuses a new file that changes the context options of a metric it runs, \"label set cannot be changed without restarting\", and keeps the old one; or it has not re-read the file yet, up to a minute after a change)",
                        stale.join(", "),
                        catalogue::objects::DYNAMIC_CONFIG_MAP
                    ),
                    Some(ctx.restart_hint.clone()),
                ));
            } else if !stale.is_empty() && ctx.families_from.as_deref() == Some(FROM_METRIC_FLAGS) {
                // The user named some families; the agent may well run more.
                row.notes.push(Finding::new(
                    Status::Pass,
                    format!(
                        "Hubble also serves {}, which --metric does not name",
                        stale.join(", ")
                    ),
                    None,
                ));
            } else if !stale.is_empty() {
                row.notes.push(Finding::new(
                    Status::Warn,
                    format!(
                        "Hubble serves {} which the configured list does not have: this agent runs an older list",
                        stale.join(", ")
                    ),
                    Some(ctx.restart_hint.clone()),
                ));
            }
            row.families = fams;
        }
        for ex in expected {
            let name = ex.handler.name;
            let mut row = FamilyRow {
                spec: ex.spec.clone(),
                family: name,
                status: Status::Pass,
                nodes_with_samples: 0,
                nodes: hubble_up.len(),
                samples: 0,
                exemplars: 0,
                detail: String::new(),
                hint: None,
            };
            for &i in &hubble_up {
                if let Some(f) = nodes[i].families.iter().find(|f| f.family == name) {
                    row.samples += f.samples;
                    row.exemplars += f.exemplars;
                    if f.samples > 0 {
                        row.nodes_with_samples += 1;
                    }
                }
            }
            let waiting = if ctx.strict {
                Status::Fail
            } else {
                Status::Warn
            };
            if hubble_up.is_empty() {
                row.status = Status::Skip;
                row.detail = "not checked: no Hubble endpoint answered".into();
            } else if let (0, Some(rule)) = (row.samples, ex.handler.l7) {
                row.status = waiting;
                row.detail =
                    "no samples: L7 family, counts only traffic through Cilium's L7 proxy".into();
                row.hint = Some(l7_hint(name, rule, &ctx.l7));
            } else if row.samples == 0 {
                row.status = waiting;
                let any_flows = hubble_up.iter().any(|&i| {
                    nodes[i]
                        .hubble
                        .as_ref()
                        .and_then(|h| h.scan.as_ref())
                        .is_some_and(|s| s.names.keys().any(|n| catalogue::is_flow_sample(n)))
                });
                row.detail = "waiting for traffic: no samples yet (Hubble creates series with the first matching flow)".into();
                row.hint = Some(if any_flows {
                    format!(
                        "other families have samples: if {name} should have seen traffic by now, the agents may run an older list; {}",
                        ctx.restart_hint
                    )
                } else {
                    "generate some traffic (or wait), then check again with --wait".into()
                });
            } else {
                row.detail = format!(
                    "{} samples on {}/{} nodes",
                    row.samples, row.nodes_with_samples, row.nodes
                );
                if ex.exemplars {
                    let om = hubble_up.iter().any(|&i| {
                        nodes[i]
                            .hubble
                            .as_ref()
                            .is_some_and(|h| h.format == Some(Format::OpenMetrics))
                    });
                    if row.exemplars > 0 {
                        row.detail
                            .push_str(&format!(", {} exemplars", row.exemplars));
                    } else if !om {
                        row.status = Status::Warn;
                        row.detail.push_str(
                            ", no exemplars: Hubble serves Prometheus text, not OpenMetrics",
                        );
                        row.hint = Some(format!(
                            "exemplars need OpenMetrics: helm value {}=true",
                            chart::HUBBLE_OPEN_METRICS
                        ));
                    } else {
                        row.detail
                            .push_str(", no exemplars yet (they need requests with trace context)");
                    }
                } else if row.exemplars > 0 {
                    row.detail
                        .push_str(&format!(", {} exemplars", row.exemplars));
                }
            }
            families.push(row);
        }
    }
    if let Some(asked) = &ctx.asked {
        for row in nodes.iter_mut() {
            let Some(scan) = row.hubble.as_ref().and_then(|h| h.scan.as_ref()) else {
                continue;
            };
            let sets = judge::label_sets(scan, &asked.metrics);
            if !sets.is_empty() {
                row.notes.push(judge::label_note(
                    &row.node,
                    &sets,
                    asked,
                    &ctx.restart_hint,
                ));
                row.label_sets = sets;
            }
        }
    }
    if ctx.openmetrics == Some(true) {
        for row in &nodes {
            if let Some(h) = &row.hubble
                && h.scan.is_some()
                && h.format != Some(Format::OpenMetrics)
            {
                checks.push(Finding::new(
                    Status::Warn,
                    format!(
                        "{}: OpenMetrics is enabled but Hubble answered with Prometheus text",
                        row.node
                    ),
                    Some(ctx.restart_hint.clone()),
                ));
                break;
            }
        }
    }
    let statuses = nodes
        .iter()
        .flat_map(|n| {
            n.endpoints()
                .map(|e| e.status)
                .chain(n.notes.iter().map(|f| f.status))
                .collect::<Vec<_>>()
        })
        .chain(families.iter().map(|f| f.status))
        .chain(checks.iter().map(|c| c.status));
    let (counts, worst) = Counts::tally(statuses);
    let status = if worst == Status::Skip {
        Status::Pass
    } else {
        worst
    };
    Report {
        mode: ctx.mode,
        status,
        passed: counts.fail == 0,
        families_from: ctx.families_from.clone(),
        nodes,
        families,
        checks,
        counts,
        prometheus: None,
    }
}

fn l7_hint(family: &str, kind: L7Rule, l7: &L7Policies) -> String {
    let rule = kind.describe();
    match l7.for_rule(kind) {
        Some([]) => format!(
            "no CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy has {rule}: add one that selects the pods whose traffic you want counted"
        ),
        Some(found) => {
            let shown: Vec<&str> = found.iter().take(3).map(String::as_str).collect();
            format!(
                "L7 policy present ({}): no matching traffic through the proxy yet; send some, or check that it selects the right pods",
                shown.join(", ")
            )
        }
        None => format!(
            "{family} needs a CiliumNetworkPolicy with {rule} selecting the pods; cluster mode (plain `ciliumon check`) tells whether one exists"
        ),
    }
}

/// Families with samples that the operator or agent is expected to serve, by node: a summary
/// used by the renderers.
pub fn family_counts(row: &NodeRow) -> Option<(usize, usize)> {
    if row.families.is_empty() {
        return None;
    }
    Some((
        row.families.iter().filter(|f| f.samples > 0).count(),
        row.families.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::examples::{self, HUBBLE_BUSY, HUBBLE_FRESH, HUBBLE_STARTED, ok};

    #[test]
    fn the_dynamic_files_filters_reach_the_estimate() {
        let file = "metrics:\n  - name: flow\n    includeFilters:\n      - source_pod: [\"shop/\"]\n  - name: dns\n";
        let metrics = crate::dynamic::parse_file(file).unwrap();
        let (expected, unknown) = super::Expected::from_dynamic(&metrics);
        assert!(unknown.is_empty());
        let entries: Vec<_> = expected.iter().map(super::Expected::entry).collect();
        assert_eq!(
            entries[0].include_filters,
            [serde_json::json!({"source_pod": ["shop/"]})]
        );
        assert!(!entries[1].has_filters());
        let v = crate::catalogue::newest();
        let specs = crate::spec::parse_list(&["flow", "dns"], &v).unwrap();
        let inv = crate::estimate::Inventory {
            nodes: 10,
            namespaces: 10,
            pods: 100,
            workloads: 20,
        };
        let est = crate::estimate::estimate_filtered(&inv, &specs, &entries);
        let flow = est.families.iter().find(|f| f.family == "flow").unwrap();
        assert_eq!(flow.filters.as_ref().unwrap().kept_percent, 10);
        let spec = specs.iter().find(|s| s.name() == "flow").unwrap();
        assert!(flow.series < crate::estimate::family_series(spec, &inv));
    }

    #[test]
    fn dynamic_mode_names_a_previous_file() {
        let served = examples::HUBBLE_BUSY;
        for (dynamic, says) in [(true, "no longer asks for"), (false, "runs an older list")] {
            let mut ctx = examples::context(Some(examples::expected(&["drop"])));
            ctx.dynamic = dynamic;
            ctx.families_from = Some("kube-system/cilium-config".into());
            let mut row = NodeRow::new("n", None);
            row.hubble = Some(judge_endpoint(
                Component::Hubble,
                "10.0.0.1:9965".into(),
                &examples::ok(served),
                &ctx,
            ));
            let report = finish(&ctx, vec![row], Vec::new());
            let notes: Vec<&str> = report.nodes[0]
                .notes
                .iter()
                .map(|n| n.what.as_str())
                .collect();
            assert!(
                notes.iter().any(|n| n.contains(says) && n.contains("flow")),
                "{notes:?}"
            );
        }
    }

    use super::probe::Outcome;
    use super::*;

    fn judge(c: Component, p: &Probe, ctx: &Context) -> Endpoint {
        judge_endpoint(c, format!("10.0.0.1:{}", c.default_port()), p, ctx)
    }

    #[test]
    fn each_outcome_has_its_verdict() {
        let ctx = examples::context(None);
        let e = judge(Component::Agent, &ok(examples::AGENT), &ctx);
        assert_eq!((e.status, e.summary.as_str()), (Status::Pass, "2 series"));
        assert_eq!(e.format, Some(Format::Prometheus));
        let e = judge(Component::Agent, &examples::probe(Outcome::Refused), &ctx);
        assert_eq!((e.status, e.summary.as_str()), (Status::Fail, "refused"));
        assert!(
            e.detail.contains("nothing listens on port 9962"),
            "{}",
            e.detail
        );
        assert!(e.hint.unwrap().contains("prometheus.enabled=true"));
        // cilium-config sets the agent's address: a refusal is the agent, not metrics left off.
        let mut configured = examples::context(None);
        configured.configured = vec![Component::Agent];
        let e = judge(
            Component::Agent,
            &examples::probe(Outcome::Refused),
            &configured,
        );
        let hint = e.hint.unwrap();
        assert!(!hint.contains("prometheus.enabled=true"), "{hint}");
        assert!(
            hint.contains("cilium-config prometheus-serve-addr is set"),
            "{hint}"
        );
        assert!(
            hint.contains("does not listen although configured"),
            "{hint}"
        );
        assert!(hint.contains("rollout restart ds/cilium"), "{hint}");
        // Only the component configured: Hubble without hubble-metrics-server is still off.
        let e = judge(
            Component::Hubble,
            &examples::probe(Outcome::Refused),
            &configured,
        );
        assert!(e.hint.unwrap().contains("hubble.enabled=true"));
        let e = judge(Component::Hubble, &examples::probe(Outcome::NoAnswer), &ctx);
        assert_eq!(e.summary, "no answer");
        assert!(e.detail.contains("within 2.0s"), "{}", e.detail);
        let e = judge(
            Component::Hubble,
            &examples::cut("reset after 100 bytes"),
            &ctx,
        );
        assert_eq!((e.status, e.summary.as_str()), (Status::Fail, "cut short"));
        assert!(e.detail.ends_with("reset after 100 bytes"), "{}", e.detail);
        let e = judge(
            Component::Operator,
            &examples::http(500, "boom\nmore"),
            &ctx,
        );
        assert_eq!(e.summary, "HTTP 500");
        assert_eq!(e.detail, "HTTP 500 from /metrics: boom");
        let e = judge(Component::Agent, &ok("<html>hello</html>\n"), &ctx);
        assert_eq!(e.summary, "not metrics");
        let e = judge(Component::Agent, &ok(examples::OPERATOR), &ctx);
        assert_eq!(
            (e.status, e.summary.as_str()),
            (Status::Fail, "operator metrics")
        );
        let e = judge(Component::Hubble, &ok(HUBBLE_FRESH), &ctx);
        assert_eq!(
            (e.status, e.summary.as_str()),
            (Status::Pass, "up, no flows yet")
        );
        // Its own series (lost events, the /metrics handler) are not flows.
        let e = judge(Component::Hubble, &ok(HUBBLE_STARTED), &ctx);
        assert_eq!(
            (e.status, e.summary.as_str()),
            (Status::Pass, "up, no flows yet"),
            "{}",
            e.detail
        );
        let e = judge(Component::Hubble, &ok(HUBBLE_BUSY), &ctx);
        assert_ne!(e.summary, "up, no flows yet");
    }

    #[test]
    fn a_dial_error_through_the_pod_proxy_is_the_dial_error() {
        let mut ctx = examples::context(None);
        let p = examples::http(
            503,
            "error trying to reach service: dial tcp 10.0.0.1:9965: connect: connection refused",
        );
        assert_eq!(judge(Component::Hubble, &p, &ctx).summary, "HTTP 503");
        ctx.via_proxy = true;
        assert_eq!(judge(Component::Hubble, &p, &ctx).summary, "refused");
        let p = examples::http(503, "dial tcp 10.0.0.1:9965: i/o timeout");
        assert_eq!(judge(Component::Hubble, &p, &ctx).summary, "no answer");
    }

    fn one_node(hubble: &str, specs: &[&str], strict: bool) -> Report {
        let mut ctx = examples::context(Some(examples::expected(specs)));
        ctx.strict = strict;
        let plan = examples::plan(ctx, 1);
        examples::report(
            &plan,
            vec![ok(examples::AGENT), ok(examples::OPERATOR), ok(hubble)],
        )
    }

    #[test]
    fn hubble_own_series_are_not_other_families_samples() {
        let r = one_node(HUBBLE_STARTED, &["drop"], false);
        let drop = r.families.iter().find(|x| x.family == "drop").unwrap();
        assert!(
            drop.detail.starts_with("waiting for traffic"),
            "{}",
            drop.detail
        );
        assert!(
            drop.hint
                .as_deref()
                .unwrap()
                .starts_with("generate some traffic"),
            "{:?}",
            drop.hint
        );
    }

    #[test]
    fn families_with_samples_pass_and_a_missing_one_waits_for_traffic() {
        let r = one_node(HUBBLE_BUSY, &["drop", "flow", "tcp"], false);
        let by = |f: &str| r.families.iter().find(|x| x.family == f).unwrap().clone();
        assert_eq!(by("drop").status, Status::Pass);
        assert_eq!(by("flow").detail, "2 samples on 1/1 nodes");
        let tcp = by("tcp");
        assert_eq!(tcp.status, Status::Warn);
        assert!(
            tcp.detail.starts_with("waiting for traffic"),
            "{}",
            tcp.detail
        );
        assert!(tcp.hint.unwrap().starts_with("other families have samples"));
        assert_eq!(family_counts(&r.nodes[0]), Some((2, 3)));
        assert!(r.passed, "waiting is a warning");
        assert_eq!(r.status, Status::Warn);
        // --strict: a failure.
        let r = one_node(HUBBLE_BUSY, &["drop", "flow", "tcp"], true);
        assert!(!r.passed);
        assert_eq!(r.counts.fail, 1);
    }

    #[test]
    fn an_empty_l7_family_names_the_policy_it_needs() {
        let r = one_node(HUBBLE_BUSY, &["dns", "drop"], false);
        let dns = &r.families[0];
        assert_eq!(dns.status, Status::Warn);
        assert!(dns.detail.contains("L7 family"), "{}", dns.detail);
        assert!(dns.hint.as_ref().unwrap().contains("toPorts[].rules.dns"));
    }

    #[test]
    fn families_served_but_not_listed_say_the_agent_runs_an_older_list() {
        // The cluster's list (or setup's, or a config file's) is the whole list: more served
        // means the agent started with another one.
        for from in [
            "kube-system/cilium-config",
            "the list setup configured",
            "c.yaml",
        ] {
            let mut ctx = examples::context(Some(examples::expected(&["flow"])));
            ctx.families_from = Some(from.into());
            let plan = examples::plan(ctx, 1);
            let r = examples::report(
                &plan,
                vec![ok(examples::AGENT), ok(examples::OPERATOR), ok(HUBBLE_BUSY)],
            );
            let note = &r.nodes[0].notes[0];
            assert_eq!(note.status, Status::Warn, "{from}");
            assert!(
                note.what.starts_with("Hubble serves drop which"),
                "{}",
                note.what
            );
            assert_eq!(
                note.hint.as_deref(),
                Some("restart the agents: kubectl -n kube-system rollout restart ds/cilium")
            );
        }
        // `check --metric flow` names one family to look for: the others are only noted.
        let r = one_node(HUBBLE_BUSY, &["flow"], false);
        let note = &r.nodes[0].notes[0];
        assert_eq!(note.status, Status::Pass);
        assert!(
            note.what.starts_with("Hubble also serves drop"),
            "{}",
            note.what
        );
        assert!(note.hint.is_none());
        assert_eq!(r.counts.warn, 0, "{:?}", r.counts);
    }

    #[test]
    fn no_hubble_answer_leaves_the_families_unchecked() {
        let ctx = examples::context(Some(examples::expected(&["drop"])));
        let plan = examples::plan(ctx, 1);
        let r = examples::report(
            &plan,
            vec![
                ok(examples::AGENT),
                ok(examples::OPERATOR),
                examples::probe(Outcome::Refused),
            ],
        );
        assert_eq!(r.families[0].status, Status::Skip);
        assert!(!r.passed);
        assert_eq!((r.counts.pass, r.counts.fail), (2, 1));
    }

    #[test]
    fn agent_list_is_read_leniently() {
        let (list, unknown) =
            Expected::from_agent_list("dns:query drop drop httpV2:exemplars=true nope");
        let names: Vec<&str> = list.iter().map(|e| e.handler.name).collect();
        assert_eq!(names, ["dns", "drop", "httpV2"]);
        assert!(list[2].exemplars);
        assert_eq!(unknown, ["nope"]);
    }
}
