//! The catalogue: every Hubble metric handler, its options, the context options every handler
//! shares, the metric names each produces, the Cilium versions where each is valid, and the three
//! metrics endpoints. This is the one list: the spec parser, the wizard, the values renderer, the
//! `metrics` command and the checker all read it, and none keeps its own.
//!
//! Facts and their sources: `shared/reference/cilium-hubble-facts.md` §1–§4, with the version
//! bounds checked against cilium/cilium release branches (see the notes on each entry).

use crate::exit::Failure;
use crate::version::{Since, Version};

pub mod chart;
pub mod dashboards;
pub mod filters;
pub mod labels;
pub mod objects;

/// The Cilium releases ciliumon knows, newest patch of each minor line (cilium/charts index).
pub const RELEASES: &[Version] = &[
    Version::new(1, 14, 19),
    Version::new(1, 15, 19),
    Version::new(1, 16, 19),
    Version::new(1, 17, 18),
    Version::new(1, 18, 12),
    Version::new(1, 19, 6),
    Version::new(1, 20, 0),
];

/// The oldest minor line ciliumon plans for.
pub const OLDEST: (u32, u32) = (1, 14);

/// The newest catalogued release; `plan --dry-run` targets it when no version is given.
pub fn newest() -> Version {
    RELEASES[RELEASES.len() - 1].clone()
}

/// Whether `v` is a minor line ciliumon knows. Newer lines than the catalogue are refused rather
/// than guessed at: a handler may have gone.
pub fn supported(v: &Version) -> bool {
    let line = v.minor_line();
    line >= OLDEST && line <= newest().minor_line()
}

/// What a command does with the Cilium version it resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionUse {
    /// It ends up in `helm upgrade --version` (`plan`, `setup`): it must name a release
    /// (`x.y.z`). A line alone (`1.16`) would pin `1.16.0`, downgrading a 1.16.19 cluster.
    Pin,
    /// Only the catalogue's facts are read (`metrics`, `check`): a line (`1.16`) means its newest
    /// known patch.
    Facts,
}

/// A resolved Cilium version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The version given or installed (what `--version` pins).
    pub version: Version,
    /// The release whose facts the catalogue applies: `version`, or, for a patch newer than the
    /// catalogue knows (`1.16.99`), the newest known patch of its line.
    pub facts: Version,
    /// Said when `facts` is not `version`.
    pub note: Option<String>,
}

/// The newest patch of `v`'s minor line that the catalogue knows.
pub fn newest_patch(v: &Version) -> Option<&'static Version> {
    RELEASES
        .iter()
        .rev()
        .find(|r| r.minor_line() == v.minor_line())
}

/// The one version resolution every command uses: the version given (a flag or the config
/// file's `cilium.version`), else the one installed, else the newest catalogued release; parsed,
/// and refused (exit 2, naming the bad token and the known lines) when it is not a minor line the
/// catalogue knows, or (for `VersionUse::Pin`) when it names a line but no release. A patch newer
/// than the catalogue's newest of its line is validated against that newest one, with a note.
pub fn resolve_version(
    given: Option<&str>,
    installed: Option<&Version>,
    usage: VersionUse,
) -> Result<Resolved, Failure> {
    let v = match (given, installed) {
        (Some(text), _) => text
            .parse::<Version>()
            .map_err(|e| Failure::bad_input(e.to_string()))?,
        (None, Some(installed)) => installed.clone(),
        (None, None) => newest(),
    };
    let Some(known) = newest_patch(&v).filter(|_| supported(&v)) else {
        return Err(unsupported(&v));
    };
    let line_only = given.is_some_and(crate::version::is_minor_line);
    if line_only {
        if usage == VersionUse::Pin {
            return Err(Failure::bad_input(format!(
                "Cilium version '{}' names a release line, not a release: the upgrade pins the chart with --version, and '{}' would mean {}.{}.0",
                crate::escape::escape(given.unwrap_or_default()),
                crate::escape::escape(given.unwrap_or_default()),
                v.major,
                v.minor
            ))
            .hint(format!(
                "give the exact release your cluster runs or should run, e.g. --cilium-version {known} (the newest {}.{} release ciliumon knows; `helm list --all-namespaces` shows the installed one)",
                v.major, v.minor
            )));
        }
        return Ok(Resolved {
            version: known.clone(),
            facts: known.clone(),
            note: None,
        });
    }
    if v > *known {
        let note = format!(
            "Cilium {v} is newer than the newest {}.{} release ciliumon knows ({known}): its metric list is validated against {known}",
            v.major, v.minor
        );
        return Ok(Resolved {
            version: v,
            facts: known.clone(),
            note: Some(note),
        });
    }
    Ok(Resolved {
        facts: v.clone(),
        version: v,
        note: None,
    })
}

/// The error for a version outside the catalogue.
pub fn unsupported(v: &Version) -> Failure {
    let known: Vec<String> = RELEASES
        .iter()
        .map(|r| format!("{}.{}", r.major, r.minor))
        .collect();
    Failure::bad_input(format!(
        "Cilium {v} is not a version ciliumon knows (it knows {})",
        known.join(", ")
    ))
    .hint("pass --cilium-version with a release from that list")
}

/// The kind of L7 rule (`toPorts[].rules.<kind>` of a CiliumNetworkPolicy) a family needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L7Rule {
    Dns,
    Http,
    Kafka,
}

impl L7Rule {
    pub const ALL: [L7Rule; 3] = [L7Rule::Dns, L7Rule::Http, L7Rule::Kafka];

    /// The key under `toPorts[].rules`.
    pub fn key(self) -> &'static str {
        match self {
            L7Rule::Dns => "dns",
            L7Rule::Http => "http",
            L7Rule::Kafka => "kafka",
        }
    }

    /// How the report names the rules: `DNS rules (toPorts[].rules.dns)`.
    pub fn describe(self) -> &'static str {
        match self {
            L7Rule::Dns => "DNS rules (toPorts[].rules.dns)",
            L7Rule::Http => "HTTP rules (toPorts[].rules.http)",
            L7Rule::Kafka => "Kafka rules (toPorts[].rules.kafka)",
        }
    }
}

/// Prometheus metric type of a family, as the handler registers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Histogram,
}

/// One metric family a handler produces.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct MetricName {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: MetricType,
}

impl MetricName {
    /// Whether a sample line's metric name belongs to this family (histograms expose
    /// `_bucket`, `_sum` and `_count` samples).
    pub fn matches_sample(&self, sample: &str) -> bool {
        match self.kind {
            MetricType::Counter => sample == self.name,
            MetricType::Histogram => sample
                .strip_prefix(self.name)
                .is_some_and(|rest| matches!(rest, "_bucket" | "_sum" | "_count")),
        }
    }
}

/// What an option of a handler accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// A bare key (`query`): present or not.
    Flag,
    /// `key=value` where value is one of these.
    OneOf(&'static [&'static str]),
}

/// An option of one handler (`dns:query`, `httpV2:exemplars=true`).
#[derive(Debug, Clone, Copy)]
pub struct HandlerOption {
    pub key: &'static str,
    pub kind: OptionKind,
    pub description: &'static str,
    pub valid: Since,
}

/// A Hubble metrics handler, the name in `hubble.metrics.enabled`.
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    pub name: &'static str,
    pub description: &'static str,
    pub valid: Since,
    pub options: &'static [HandlerOption],
    pub metrics: &'static [MetricName],
    /// Handlers that cannot be enabled together with this one.
    pub conflicts: &'static [&'static str],
    /// Series only appear for traffic through Cilium's L7 proxy: the kind of L7 rule a
    /// CiliumNetworkPolicy needs for this family to count anything.
    pub l7: Option<L7Rule>,
    /// Shown next to the handler where it holds; the handler still works.
    pub deprecated: Option<Deprecated>,
}

/// A handler that still works but is on its way out, from some release on.
#[derive(Debug, Clone, Copy)]
pub struct Deprecated {
    pub note: &'static str,
    pub from: Since,
}

impl Handler {
    /// Why this handler is deprecated in Cilium `v`, if it is.
    pub fn deprecated_in(&self, v: &Version) -> Option<&'static str> {
        self.deprecated
            .filter(|d| d.from.contains(v))
            .map(|d| d.note)
    }

    pub fn option(&self, key: &str) -> Option<&'static HandlerOption> {
        self.options
            .iter()
            .find(|o| o.key.eq_ignore_ascii_case(key))
    }
}

const fn counter(name: &'static str) -> MetricName {
    MetricName {
        name,
        kind: MetricType::Counter,
    }
}
const fn histogram(name: &'static str) -> MetricName {
    MetricName {
        name,
        kind: MetricType::Histogram,
    }
}
const fn flag(key: &'static str, description: &'static str) -> HandlerOption {
    HandlerOption {
        key,
        kind: OptionKind::Flag,
        description,
        valid: Since::ALWAYS,
    }
}

const EXEMPLARS: HandlerOption = HandlerOption {
    key: "exemplars",
    kind: OptionKind::OneOf(&["true", "false"]),
    description: "attach trace IDs as exemplars (needs OpenMetrics and Prometheus exemplar storage)",
    valid: Since::ALWAYS,
};

/// Every handler, in the order ciliumon lists and writes them.
pub const HANDLERS: &[Handler] = &[
    Handler {
        name: "dns",
        description: "DNS queries and responses seen by the DNS proxy, by rcode and query type",
        valid: Since::ALWAYS,
        options: &[
            flag(
                "query",
                "add the queried name as a `query` label (one series per name)",
            ),
            flag("ignoreAAAA", "skip flows whose only query type is AAAA"),
        ],
        metrics: &[
            counter("hubble_dns_queries_total"),
            counter("hubble_dns_responses_total"),
            counter("hubble_dns_response_types_total"),
        ],
        conflicts: &[],
        l7: Some(L7Rule::Dns),
        deprecated: None,
    },
    Handler {
        name: "drop",
        description: "dropped packets by drop reason and protocol",
        valid: Since::ALWAYS,
        options: &[],
        metrics: &[counter("hubble_drop_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
    Handler {
        name: "tcp",
        description: "TCP flags (SYN, SYN-ACK, FIN, RST) of forwarded flows",
        valid: Since::ALWAYS,
        options: &[],
        metrics: &[counter("hubble_tcp_flags_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
    Handler {
        name: "flow",
        description: "all flows processed, by type, subtype and verdict",
        valid: Since::ALWAYS,
        options: &[],
        metrics: &[counter("hubble_flows_processed_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
    Handler {
        name: "port-distribution",
        description: "destination ports of forwarded flows, by protocol",
        valid: Since::ALWAYS,
        options: &[],
        metrics: &[counter("hubble_port_distribution_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
    Handler {
        name: "icmp",
        description: "ICMP and ICMPv6 messages by family and type",
        valid: Since::ALWAYS,
        options: &[],
        metrics: &[counter("hubble_icmp_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
    Handler {
        name: "http",
        description: "HTTP requests, responses and latency",
        valid: Since::ALWAYS,
        options: &[EXEMPLARS],
        metrics: &[
            counter("hubble_http_requests_total"),
            counter("hubble_http_responses_total"),
            histogram("hubble_http_request_duration_seconds"),
        ],
        conflicts: &["httpV2"],
        l7: Some(L7Rule::Http),
        deprecated: Some(Deprecated {
            note: "superseded by httpV2",
            from: Since::ALWAYS,
        }),
    },
    Handler {
        name: "httpV2",
        description: "HTTP requests by method and status, and latency, from the L7 proxy",
        valid: Since::ALWAYS,
        options: &[EXEMPLARS],
        metrics: &[
            counter("hubble_http_requests_total"),
            histogram("hubble_http_request_duration_seconds"),
        ],
        conflicts: &["http"],
        l7: Some(L7Rule::Http),
        deprecated: None,
    },
    Handler {
        name: "kafka",
        description: "Kafka requests and latency by topic and API key, from the L7 proxy",
        // Kafka-aware policy and the handler left with 1.20 (cilium/cilium#43557).
        valid: Since::until(1, 20),
        options: &[],
        metrics: &[
            counter("hubble_kafka_requests_total"),
            histogram("hubble_kafka_request_duration_seconds"),
        ],
        conflicts: &[],
        l7: Some(L7Rule::Kafka),
        // Marked deprecated in its own help text from 1.18.3 on (pkg/hubble/metrics/kafka,
        // audited per release line; Kafka L7 visibility deprecated by cilium/cilium#41072).
        deprecated: Some(Deprecated {
            note: "Kafka support goes away in Cilium 1.20",
            from: Since::from_patch(1, 18, 3),
        }),
    },
    Handler {
        name: "policy",
        description: "policy verdicts by direction, match type and action",
        valid: Since::ALWAYS,
        options: &[],
        metrics: &[counter("hubble_policy_verdicts_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
    Handler {
        name: "flows-to-world",
        description: "flows leaving the cluster (destination reserved:world)",
        valid: Since::ALWAYS,
        options: &[
            flag("any-drop", "count every drop, not only policy denials"),
            flag("port", "add the destination port as a `port` label"),
            flag("syn-only", "for TCP, count only the opening SYN"),
        ],
        metrics: &[counter("hubble_flows_to_world_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
    Handler {
        name: "sctp",
        description: "SCTP chunk types by family",
        // Added by cilium/cilium#43535, first released in 1.20.
        valid: Since::from(1, 20),
        options: &[],
        metrics: &[counter("hubble_sctp_chunk_types_total")],
        conflicts: &[],
        l7: None,
        deprecated: None,
    },
];

/// A context option key shared by every handler.
#[derive(Debug, Clone, Copy)]
pub struct ContextKey {
    pub key: &'static str,
    pub description: &'static str,
    /// `labelsContext` takes labels separated by `,`; the others take identifiers separated by `|`.
    pub labels: bool,
    /// The plain key whose label this one sets for one direction of traffic only
    /// (`sourceEgressContext` refines `sourceContext`).
    pub refines: Option<&'static str>,
    pub valid: Since,
    /// Where a key that refines a plain one adds its label without the plain key set too.
    /// Before cilium/cilium#27792 (fixing #27717, merged August 2023, backported to 1.14.3) the
    /// `source` or `destination` label came only with the plain key.
    pub alone: Since,
}

const fn plain_context(key: &'static str, description: &'static str) -> ContextKey {
    ContextKey {
        key,
        description,
        labels: false,
        refines: None,
        valid: Since::ALWAYS,
        alone: Since::ALWAYS,
    }
}

/// The egress/ingress variants came with cilium/cilium#22731 (merged January 2023, in 1.14).
const fn directional_context(
    key: &'static str,
    refines: &'static str,
    description: &'static str,
) -> ContextKey {
    ContextKey {
        key,
        description,
        labels: false,
        refines: Some(refines),
        valid: Since::from(1, 14),
        // The fix for cilium/cilium#27717 (#27792) was backported as fd712d546c to 1.14.3.
        alone: Since::from_patch(1, 14, 3),
    }
}

/// Context keys, in the order ciliumon writes them.
pub const CONTEXT_KEYS: &[ContextKey] = &[
    plain_context("sourceContext", "adds a `source` label"),
    directional_context(
        "sourceEgressContext",
        "sourceContext",
        "the `source` label for egress flows",
    ),
    directional_context(
        "sourceIngressContext",
        "sourceContext",
        "the `source` label for ingress flows",
    ),
    plain_context("destinationContext", "adds a `destination` label"),
    directional_context(
        "destinationEgressContext",
        "destinationContext",
        "the `destination` label for egress flows",
    ),
    directional_context(
        "destinationIngressContext",
        "destinationContext",
        "the `destination` label for ingress flows",
    ),
    ContextKey {
        key: "labelsContext",
        description: "adds one label per name listed",
        labels: true,
        refines: None,
        valid: Since::ALWAYS,
        alone: Since::ALWAYS,
    },
];

/// The context keys of Cilium `v`, in catalogue order.
pub fn context_keys_for(v: &Version) -> impl Iterator<Item = &'static ContextKey> + '_ {
    CONTEXT_KEYS.iter().filter(move |k| k.valid.contains(v))
}

pub fn context_key(key: &str) -> Option<&'static ContextKey> {
    CONTEXT_KEYS
        .iter()
        .find(|k| k.key.eq_ignore_ascii_case(key))
}

/// A value of `sourceContext`, `destinationContext` and their egress/ingress variants.
#[derive(Debug, Clone, Copy)]
pub struct ContextValue {
    pub name: &'static str,
    pub description: &'static str,
    pub valid: Since,
    /// One series per pod or per address: warn before choosing it.
    pub high_cardinality: bool,
}

pub const CONTEXT_VALUES: &[ContextValue] = &[
    ContextValue {
        name: "identity",
        description: "all security-identity labels",
        valid: Since::ALWAYS,
        high_cardinality: false,
    },
    ContextValue {
        name: "namespace",
        description: "the namespace",
        valid: Since::ALWAYS,
        high_cardinality: false,
    },
    ContextValue {
        name: "pod",
        description: "namespace/pod-name",
        valid: Since::ALWAYS,
        high_cardinality: true,
    },
    ContextValue {
        name: "pod-name",
        description: "the pod name",
        valid: Since::ALWAYS,
        high_cardinality: true,
    },
    ContextValue {
        name: "pod-short",
        description: "pod name without its hash suffix (deprecated)",
        // Deprecated in 1.13 (cilium/cilium#23025), removed in 1.14 (#26125). Kept so that the
        // error can say so rather than "unknown".
        valid: Since::until(1, 14),
        high_cardinality: false,
    },
    ContextValue {
        name: "dns",
        description: "known DNS names of the peer",
        valid: Since::ALWAYS,
        high_cardinality: true,
    },
    ContextValue {
        name: "ip",
        description: "the IP address",
        valid: Since::ALWAYS,
        high_cardinality: true,
    },
    ContextValue {
        name: "reserved-identity",
        description: "the reserved identity (world, host, kube-apiserver, ...)",
        valid: Since::ALWAYS,
        high_cardinality: false,
    },
    ContextValue {
        name: "workload",
        description: "namespace/workload-name",
        // Absent from `parseContextIdentifier` in every 1.14 release (a 1.14 agent logs "unknown
        // context" and Hubble does not start); added by 985eed258c, first released in 1.15.0.
        valid: Since::from(1, 15),
        high_cardinality: false,
    },
    ContextValue {
        name: "workload-name",
        description: "the workload name (Deployment, StatefulSet, ...)",
        valid: Since::ALWAYS,
        high_cardinality: false,
    },
    ContextValue {
        name: "app",
        description: "the app label (app.kubernetes.io/name, k8s-app or app)",
        valid: Since::ALWAYS,
        high_cardinality: false,
    },
];

pub fn context_value(name: &str) -> Option<&'static ContextValue> {
    CONTEXT_VALUES
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(name))
}

/// A label `labelsContext` can add.
#[derive(Debug, Clone, Copy)]
pub struct Label {
    pub name: &'static str,
    pub valid: Since,
    pub high_cardinality: bool,
}

const fn label(name: &'static str, high_cardinality: bool) -> Label {
    Label {
        name,
        valid: Since::ALWAYS,
        high_cardinality,
    }
}

/// `labelsContext` labels in the fixed order Cilium emits them (`contextLabelsList`).
/// `*_workload_kind` came with cilium/cilium#27350 (1.15).
pub const LABELS: &[Label] = &[
    label("source_ip", true),
    label("source_pod", true),
    label("source_namespace", false),
    label("source_workload", false),
    Label {
        name: "source_workload_kind",
        valid: Since::from(1, 15),
        high_cardinality: false,
    },
    label("source_app", false),
    label("destination_ip", true),
    label("destination_pod", true),
    label("destination_namespace", false),
    label("destination_workload", false),
    Label {
        name: "destination_workload_kind",
        valid: Since::from(1, 15),
        high_cardinality: false,
    },
    label("destination_app", false),
    label("traffic_direction", false),
];

pub fn label_named(name: &str) -> Option<&'static Label> {
    LABELS.iter().find(|l| l.name.eq_ignore_ascii_case(name))
}

pub fn handler(name: &str) -> Option<&'static Handler> {
    HANDLERS.iter().find(|h| h.name.eq_ignore_ascii_case(name))
}

/// Position of a handler in the catalogue: the order ciliumon writes lists in.
pub fn handler_rank(name: &str) -> usize {
    HANDLERS
        .iter()
        .position(|h| h.name == name)
        .unwrap_or(usize::MAX)
}

pub fn handlers_for(v: &Version) -> impl Iterator<Item = &'static Handler> + '_ {
    HANDLERS.iter().filter(move |h| h.valid.contains(v))
}

/// One of the three metrics endpoints a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Agent,
    Operator,
    Hubble,
}

/// What the chart and the cluster call one component's metrics: one row a component.
#[derive(Debug, Clone, Copy)]
pub struct ComponentFacts {
    pub component: Component,
    /// The chart's default port (`prometheus.port`, `operator.prometheus.port`,
    /// `hubble.metrics.port`).
    pub default_port: u16,
    /// The Helm keys (`=true`) that turn its metrics endpoint on.
    pub enable_keys: &'static [&'static str],
    /// Where its ServiceMonitor lives in the chart values (`.enabled`, `.labels` below it).
    pub service_monitor_key: &'static str,
    /// Where its Grafana dashboards ConfigMap lives in the chart values (`.enabled`,
    /// `.namespace` below it).
    pub dashboards_key: &'static str,
    /// The `cilium-config` key holding its metrics listen address (`:9962`, `[::]:9965`).
    pub config_map_address_key: &'static str,
    /// The Prometheus job its ServiceMonitor creates (the `job` label of its targets).
    pub prometheus_job: &'static str,
    /// Scrape pools and ServiceMonitors that contain `prometheus_job` but are another
    /// component's: Hubble Relay's `hubble-relay` (facts §3.1 `hubble.relay.prometheus`).
    pub job_excludes: &'static [&'static str],
}

/// The three components, in `Component::ALL` order.
pub const COMPONENTS: [ComponentFacts; 3] = [
    ComponentFacts {
        component: Component::Agent,
        default_port: 9962,
        enable_keys: &["prometheus.enabled"],
        service_monitor_key: "prometheus.serviceMonitor",
        dashboards_key: "dashboards",
        config_map_address_key: "prometheus-serve-addr",
        prometheus_job: "cilium-agent",
        job_excludes: &[],
    },
    ComponentFacts {
        component: Component::Operator,
        default_port: 9963,
        enable_keys: &["operator.prometheus.enabled"],
        service_monitor_key: "operator.prometheus.serviceMonitor",
        dashboards_key: "operator.dashboards",
        config_map_address_key: "operator-prometheus-serve-addr",
        prometheus_job: "cilium-operator",
        job_excludes: &[],
    },
    ComponentFacts {
        component: Component::Hubble,
        default_port: 9965,
        enable_keys: &["hubble.enabled"],
        service_monitor_key: "hubble.metrics.serviceMonitor",
        dashboards_key: "hubble.metrics.dashboards",
        config_map_address_key: "hubble-metrics-server",
        prometheus_job: "hubble",
        job_excludes: &["relay"],
    },
];

impl ComponentFacts {
    /// `prometheus.serviceMonitor.enabled=true`: the helm value that creates its ServiceMonitor.
    pub fn service_monitor_enable(&self) -> String {
        format!("{}.enabled=true", self.service_monitor_key)
    }

    /// `prometheus.serviceMonitor.labels`: the helm value that sets its ServiceMonitor's labels.
    pub fn service_monitor_labels(&self) -> String {
        format!("{}.labels", self.service_monitor_key)
    }

    /// Whether a scrape pool, job or ServiceMonitor name (`name`, any case) is this component's.
    pub fn job_matches(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        n.contains(self.prometheus_job) && !self.job_excludes.iter().any(|x| n.contains(x))
    }

    /// How to turn its metrics on, for a report's hint.
    pub fn enable_hint(&self) -> String {
        match self.component {
            Component::Hubble => format!(
                "enable Hubble metrics: {}=true and a non-empty {} (ciliumon setup does it)",
                self.enable_keys.join("=true, "),
                chart::HUBBLE_METRICS_ENABLED
            ),
            c => format!(
                "enable the {} metrics: helm value {}=true (ciliumon setup does it)",
                c.name(),
                self.enable_keys.join("=true, ")
            ),
        }
    }
}

/// Metric names on the Hubble endpoint that are not flow families (facts §2, "Non-flow
/// metrics on the Hubble endpoint"): go-grpc-prometheus' `grpc_server_*` (and Hubble's own
/// series, `HUBBLE_SERVER_SERIES`).
pub const HUBBLE_GRPC_PREFIX: &str = "grpc_server_";

impl Component {
    pub const ALL: [Component; 3] = [Component::Agent, Component::Operator, Component::Hubble];

    /// This component's row of `COMPONENTS`.
    pub fn facts(self) -> &'static ComponentFacts {
        let i = match self {
            Component::Agent => 0,
            Component::Operator => 1,
            Component::Hubble => 2,
        };
        &COMPONENTS[i]
    }

    /// The default port (`prometheus.port`, `operator.prometheus.port`, `hubble.metrics.port`).
    pub fn default_port(self) -> u16 {
        self.facts().default_port
    }

    pub fn name(self) -> &'static str {
        match self {
            Component::Agent => "agent",
            Component::Operator => "operator",
            Component::Hubble => "hubble",
        }
    }

    /// Whether a sample's metric name identifies this component's endpoint.
    pub fn owns(self, metric: &str) -> bool {
        match self {
            Component::Agent => {
                metric.starts_with("cilium_") && !metric.starts_with("cilium_operator_")
            }
            Component::Operator => metric.starts_with("cilium_operator_"),
            Component::Hubble => metric.starts_with("hubble_"),
        }
    }
}

/// The series a Hubble metrics server registers for itself, with no flow seen: lost events
/// (`hubble_lost_events_total`, from the first lost event) and the instrumentation of `/metrics`
/// itself (`hubble_metrics_http_handler_*`, after the first scrape). Every release line has them
/// (cilium/cilium `pkg/hubble/metrics/metrics.go`); they say nothing about flows.
pub const HUBBLE_SERVER_SERIES: &[MetricName] = &[
    counter("hubble_lost_events_total"),
    counter("hubble_metrics_http_handler_requests_total"),
    histogram("hubble_metrics_http_handler_request_duration_seconds"),
];

/// Whether a sample's metric name is one of a flow family's (a handler's own metrics), so that
/// Hubble has seen a flow. Decided from the families' names, not the `hubble_` prefix, which the
/// server's own series share.
pub fn is_flow_sample(sample: &str) -> bool {
    HANDLERS
        .iter()
        .flat_map(|h| h.metrics)
        .any(|m| m.matches_sample(sample))
}

/// Edit distance suggestion: the closest of `candidates` to `input`, if it is close enough.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The Grafana dashboards the Cilium chart ships (as ConfigMaps for the Grafana sidecar), by
/// component, with the Cilium versions that have them (the chart's `files/*/dashboards/`).
pub const DASHBOARDS: &[(Component, &str, Since)] = &[
    (Component::Agent, "cilium-dashboard", Since::ALWAYS),
    (
        Component::Operator,
        "cilium-operator-dashboard",
        Since::ALWAYS,
    ),
    (Component::Hubble, "hubble-dashboard", Since::ALWAYS),
    (
        Component::Hubble,
        "hubble-l7-http-metrics-by-workload",
        Since::ALWAYS,
    ),
    (
        Component::Hubble,
        "hubble-dns-namespace",
        Since::from(1, 15),
    ),
    (
        Component::Hubble,
        "hubble-network-overview-namespace",
        Since::from(1, 15),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_table_is_in_all_order() {
        for (c, f) in Component::ALL.iter().zip(COMPONENTS.iter()) {
            assert_eq!(*c, f.component);
            assert_eq!(c.facts().component, *c);
        }
        assert_eq!(Component::Hubble.default_port(), 9965);
    }

    #[test]
    fn one_version_rule() {
        use VersionUse::{Facts, Pin};
        let r = |given: Option<&str>, installed: Option<&Version>, u| {
            resolve_version(given, installed, u)
        };
        assert_eq!(r(None, None, Pin).unwrap().version, newest());
        let installed = Version::new(1, 16, 5);
        let got = r(None, Some(&installed), Pin).unwrap();
        assert_eq!(
            (got.version.clone(), got.facts, got.note),
            (installed.clone(), installed.clone(), None)
        );
        assert_eq!(
            r(Some("1.18.4"), Some(&installed), Pin).unwrap().version,
            Version::new(1, 18, 4)
        );
        // A line alone cannot be pinned: refused with the newest known patch of that line.
        let e = r(Some("1.16"), Some(&installed), Pin).unwrap_err();
        assert_eq!(e.code, crate::exit::Code::BadInput);
        assert!(
            e.message.contains("'1.16' names a release line"),
            "{}",
            e.message
        );
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .contains("--cilium-version 1.16.19"),
            "{:?}",
            e.hint
        );
        // ... and means its newest known patch where nothing is pinned.
        let got = r(Some("1.18"), None, Facts).unwrap();
        assert_eq!(got.facts, Version::new(1, 18, 12));
        // A patch newer than the catalogue knows is validated against the newest known one.
        for u in [Pin, Facts] {
            let got = r(Some("1.16.99"), None, u).unwrap();
            assert_eq!(got.version, Version::new(1, 16, 99));
            assert_eq!(got.facts, Version::new(1, 16, 19));
            let note = got.note.unwrap();
            assert!(
                note.contains("1.16.99") && note.contains("validated against 1.16.19"),
                "{note}"
            );
        }
        let got = r(None, Some(&Version::new(1, 16, 20)), Pin).unwrap();
        assert_eq!(got.facts, Version::new(1, 16, 19));
        let e = r(Some("1.30"), None, Facts).unwrap_err();
        assert!(
            e.message.contains("1.30.0 is not a version ciliumon knows"),
            "{}",
            e.message
        );
        assert_eq!(e.code, crate::exit::Code::BadInput);
        let e = r(Some("banana"), None, Pin).unwrap_err();
        assert!(
            e.message.contains("invalid Cilium version 'banana'"),
            "{}",
            e.message
        );
        assert!(r(None, Some(&Version::new(1, 13, 0)), Pin).is_err());
    }

    #[test]
    fn audited_against_upstream() {
        let v = |a, b, c| Version::new(a, b, c);
        // `workload` is not in any 1.14 release.
        let workload = context_value("workload").unwrap();
        assert!(!workload.valid.contains(&v(1, 14, 19)));
        assert!(workload.valid.contains(&v(1, 15, 0)));
        // The egress/ingress keys stand alone from 1.14.3 (backport of cilium/cilium#27792).
        let egress = context_key("sourceEgressContext").unwrap();
        assert!(!egress.alone.contains(&v(1, 14, 2)));
        assert!(egress.alone.contains(&v(1, 14, 3)));
        // kafka is deprecated from 1.18.3 on, gone in 1.20.
        let kafka = handler("kafka").unwrap();
        assert_eq!(kafka.deprecated_in(&v(1, 18, 2)), None);
        assert!(kafka.deprecated_in(&v(1, 18, 3)).is_some());
        assert!(kafka.deprecated_in(&v(1, 19, 6)).is_some());
        assert!(
            handler("http")
                .unwrap()
                .deprecated_in(&v(1, 14, 0))
                .is_some()
        );
        assert_eq!(handler("dns").unwrap().deprecated_in(&v(1, 20, 0)), None);
    }

    #[test]
    fn flow_samples_are_the_families_own() {
        assert!(is_flow_sample("hubble_flows_processed_total"));
        assert!(is_flow_sample(
            "hubble_http_request_duration_seconds_bucket"
        ));
        for m in HUBBLE_SERVER_SERIES {
            assert!(!is_flow_sample(m.name), "{}", m.name);
            assert!(Component::Hubble.owns(m.name));
        }
        assert!(!is_flow_sample(
            "hubble_metrics_http_handler_request_duration_seconds_bucket"
        ));
        assert!(!is_flow_sample("grpc_server_handled_total"));
    }

    #[test]
    fn l7_kinds() {
        let kind = |n: &str| handler(n).unwrap().l7;
        assert_eq!(kind("dns"), Some(L7Rule::Dns));
        assert_eq!(kind("httpV2"), Some(L7Rule::Http));
        assert_eq!(kind("kafka"), Some(L7Rule::Kafka));
        assert_eq!(kind("drop"), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = HANDLERS.iter().map(|h| h.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), HANDLERS.len());
        let mut labels: Vec<_> = LABELS.iter().map(|l| l.name).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), LABELS.len());
    }

    #[test]
    fn conflicts_are_symmetric_and_known() {
        for h in HANDLERS {
            for c in h.conflicts {
                let other = handler(c).expect("conflict names a handler");
                assert!(other.conflicts.contains(&h.name), "{} <-> {}", h.name, c);
            }
        }
    }

    #[test]
    fn descriptions_fit_one_line() {
        for h in HANDLERS {
            assert!(
                !h.description.contains('\n') && h.description.len() <= 90,
                "{}",
                h.name
            );
        }
    }

    #[test]
    fn every_metric_is_hubble_prefixed() {
        for h in HANDLERS {
            assert!(!h.metrics.is_empty());
            for m in h.metrics {
                assert!(m.name.starts_with("hubble_"), "{}", m.name);
                assert!(Component::Hubble.owns(m.name));
            }
        }
    }

    #[test]
    fn version_bound_entries() {
        let v119 = Version::new(1, 19, 6);
        let v120 = Version::new(1, 20, 0);
        let v114 = Version::new(1, 14, 19);
        let names = |v: &Version| handlers_for(v).map(|h| h.name).collect::<Vec<_>>();
        assert!(names(&v119).contains(&"kafka") && !names(&v119).contains(&"sctp"));
        assert!(!names(&v120).contains(&"kafka") && names(&v120).contains(&"sctp"));
        assert!(!context_value("pod-short").unwrap().valid.contains(&v114));
        assert!(
            !label_named("source_workload_kind")
                .unwrap()
                .valid
                .contains(&v114)
        );
        assert!(
            label_named("source_workload_kind")
                .unwrap()
                .valid
                .contains(&Version::new(1, 15, 0))
        );
    }

    #[test]
    fn directional_contexts_refine_a_plain_key_from_1_14() {
        for k in CONTEXT_KEYS {
            if let Some(plain) = k.refines {
                let p = context_key(plain).expect("refines a catalogued key");
                assert!(p.refines.is_none() && !p.labels, "{}", k.key);
                assert!(k.key.starts_with(plain.trim_end_matches("Context")));
            }
        }
        let directional = |v: &Version| {
            context_keys_for(v)
                .filter(|k| k.refines.is_some())
                .map(|k| k.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            directional(&Version::new(1, 14, 0)),
            [
                "sourceEgressContext",
                "sourceIngressContext",
                "destinationEgressContext",
                "destinationIngressContext"
            ]
        );
        assert!(directional(&Version::new(1, 13, 4)).is_empty());
        assert_eq!(context_keys_for(&Version::new(1, 13, 4)).count(), 3);
    }

    #[test]
    fn histogram_samples() {
        let h = histogram("hubble_http_request_duration_seconds");
        assert!(h.matches_sample("hubble_http_request_duration_seconds_bucket"));
        assert!(h.matches_sample("hubble_http_request_duration_seconds_count"));
        assert!(!h.matches_sample("hubble_http_request_duration_seconds"));
        assert!(counter("hubble_drop_total").matches_sample("hubble_drop_total"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("dnss", HANDLERS.iter().map(|h| h.name)),
            Some("dns")
        );
        assert_eq!(
            did_you_mean("httpv3", HANDLERS.iter().map(|h| h.name)),
            Some("httpV2")
        );
        assert_eq!(
            did_you_mean("zzzzzzzz", HANDLERS.iter().map(|h| h.name)),
            None
        );
    }

    #[test]
    fn components() {
        assert!(Component::Agent.owns("cilium_version"));
        assert!(!Component::Agent.owns("cilium_operator_process_start_time_seconds"));
        assert!(Component::Operator.owns("cilium_operator_process_start_time_seconds"));
    }
}
