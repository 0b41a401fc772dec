//! The labels each Hubble metric carries and where a dashboard's label comes from when the family
//! does not emit it: the family's own labels, a handler option's, the Prometheus target's, the
//! relabeled ones; and how many combinations of its own labels a metric typically shows on one
//! node (the estimate's `base`).
//!
//! Facts: `shared/reference/cilium-hubble-facts.md` §1.4 and §2 (labels per family, options),
//! `shared/reference/dashboards.md` "Where the labels come from" (target and relabeled labels).
//! The combination counts are the estimate's assumptions (see `crate::estimate`), kept here next
//! to the labels they multiply.

use crate::catalogue::{self, Handler, MetricType};

/// Labels a Prometheus target scraped through a ServiceMonitor carries (the prometheus-operator's
/// target labels; dashboards.md "Where the labels come from").
pub const TARGET_LABELS: &[&str] = &["pod", "namespace", "service", "endpoint", "instance", "job"];

/// Labels nobody adds by default; a ServiceMonitor relabeling (or an external label) must.
pub const RELABELED_LABELS: &[&str] = &["cluster"];

/// The labels each family's metric carries by itself, whatever the options
/// (cilium-hubble-facts.md §2; histograms add `le` on their `_bucket` samples). `http`'s
/// `hubble_http_requests_total` has `reporter` but no `status` (cilium/cilium
/// `pkg/hubble/metrics/http/handler.go`, the non-V2 branch of `Init`); older handlers have no
/// `protocol` on `hubble_http_responses_total`, which no panel reads.
pub const FAMILY_LABELS: &[(&str, &str, &[&str])] = &[
    (
        "dns",
        "hubble_dns_queries_total",
        &["rcode", "qtypes", "ips_returned"],
    ),
    (
        "dns",
        "hubble_dns_responses_total",
        &["rcode", "qtypes", "ips_returned"],
    ),
    (
        "dns",
        "hubble_dns_response_types_total",
        &["type", "qtypes"],
    ),
    ("drop", "hubble_drop_total", &["reason", "protocol"]),
    ("tcp", "hubble_tcp_flags_total", &["flag", "family"]),
    (
        "flow",
        "hubble_flows_processed_total",
        &["protocol", "type", "subtype", "verdict"],
    ),
    (
        "port-distribution",
        "hubble_port_distribution_total",
        &["protocol", "port"],
    ),
    ("icmp", "hubble_icmp_total", &["family", "type"]),
    (
        "http",
        "hubble_http_requests_total",
        &["method", "protocol", "reporter"],
    ),
    (
        "http",
        "hubble_http_responses_total",
        &["method", "protocol", "status", "reporter"],
    ),
    (
        "http",
        "hubble_http_request_duration_seconds",
        &["method", "reporter", "le"],
    ),
    (
        "httpV2",
        "hubble_http_requests_total",
        &["method", "protocol", "status", "reporter"],
    ),
    (
        "httpV2",
        "hubble_http_request_duration_seconds",
        &["method", "reporter", "le"],
    ),
    (
        "kafka",
        "hubble_kafka_requests_total",
        &["topic", "api_key", "error_code", "reporter"],
    ),
    (
        "kafka",
        "hubble_kafka_request_duration_seconds",
        &["topic", "api_key", "reporter", "le"],
    ),
    (
        "policy",
        "hubble_policy_verdicts_total",
        &["direction", "match", "action"],
    ),
    (
        "flows-to-world",
        "hubble_flows_to_world_total",
        &["protocol", "verdict"],
    ),
    (
        "sctp",
        "hubble_sctp_chunk_types_total",
        &["chunk_type", "family"],
    ),
];

/// Labels a handler flag adds (cilium-hubble-facts.md §1.4).
pub const OPTION_LABELS: &[(&str, &str, &str)] = &[
    ("dns", "query", "query"),
    ("flows-to-world", "port", "port"),
];

/// The label each plain context key adds (cilium-hubble-facts.md §1.4); its egress/ingress forms
/// ([`catalogue::ContextKey::refines`]) add the same label.
pub const CONTEXT_KEY_LABELS: &[(&str, &str)] = &[
    ("sourceContext", "source"),
    ("destinationContext", "destination"),
];

/// The label a context key adds (`sourceEgressContext` → `source`), if it adds one
/// (`labelsContext` adds the labels it lists).
pub fn context_key_label(key: &str) -> Option<&'static str> {
    let k = catalogue::context_key(key)?;
    let plain = k.refines.unwrap_or(k.key);
    CONTEXT_KEY_LABELS
        .iter()
        .find(|(p, _)| *p == plain)
        .map(|(_, l)| *l)
}

/// Every label the options of `handler` can add to its metrics: the context keys' (`source`,
/// `destination`), every `labelsContext` name, and the handler's own flags' (`dns:query`).
/// The family's own labels are never among them.
pub fn option_labels(handler: &Handler) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = CONTEXT_KEY_LABELS.iter().map(|(_, l)| *l).collect();
    out.extend(catalogue::LABELS.iter().map(|l| l.name));
    out.extend(
        OPTION_LABELS
            .iter()
            .filter(|(h, _, _)| *h == handler.name)
            .map(|(_, _, l)| *l),
    );
    out
}

/// The labels a metric's options add, read from the options as the agent reads them: each
/// option's name and its values (a dynamic file's `contextOptions`, or a spec's `key=a|b`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AskedLabels {
    /// Sorted. A `labelsContext` name ciliumon does not know is kept as written.
    pub labels: Vec<String>,
    /// Labels whose presence depends on the patch release: an egress/ingress context key
    /// without its plain key adds `source`/`destination` only from 1.14.3
    /// ([`catalogue::ContextKey::alone`]), so neither their presence nor absence tells anything.
    pub unsure: Vec<&'static str>,
}

/// What `options` (name, values) of a `handler` metric ask for.
pub fn asked_labels(handler: &Handler, options: &[(String, Vec<String>)]) -> AskedLabels {
    let mut labels: Vec<String> = Vec::new();
    let mut plain: Vec<&'static str> = Vec::new();
    let mut refined: Vec<&'static str> = Vec::new();
    for (name, values) in options {
        if let Some(k) = catalogue::context_key(name) {
            if k.labels {
                labels.extend(values.iter().filter(|v| !v.is_empty()).cloned());
            } else if let Some(l) = context_key_label(k.key) {
                if k.refines.is_some() {
                    refined.push(l);
                } else {
                    plain.push(l);
                }
            }
        } else if let Some((_, _, l)) = OPTION_LABELS
            .iter()
            .find(|(h, o, _)| *h == handler.name && o.eq_ignore_ascii_case(name))
        {
            labels.push(l.to_string());
        }
    }
    labels.extend(plain.iter().map(|l| l.to_string()));
    let mut unsure: Vec<&'static str> =
        refined.into_iter().filter(|l| !plain.contains(l)).collect();
    labels.sort();
    labels.dedup();
    unsure.sort_unstable();
    unsure.dedup();
    AskedLabels { labels, unsure }
}

/// A metric spec in Cilium's grammar (`flow:sourceContext=namespace;labelsContext=a,b`) as the
/// agent's options, leniently (a list the cluster runs is what it is): name and values per
/// option, values split on `|` and `,`.
pub fn spec_options(spec: &str) -> Vec<(String, Vec<String>)> {
    let Some((_, opts)) = spec.split_once(':') else {
        return Vec::new();
    };
    opts.split(';')
        .filter(|o| !o.is_empty())
        .map(|o| match o.split_once('=') {
            Some((k, v)) => (
                k.to_string(),
                v.split(['|', ',']).map(str::to_string).collect(),
            ),
            None => (o.to_string(), Vec::new()),
        })
        .collect()
}

/// Series of a histogram per label combination: 11 default buckets + `+Inf`, `_sum` and `_count`.
pub const HISTOGRAM_SERIES: u64 = 14;

/// Combinations of a metric's own labels one node typically shows (assumptions of the estimate;
/// the labels multiplied are in the comments, from [`FAMILY_LABELS`]).
pub const TYPICAL_COMBINATIONS: &[(&str, u64)] = &[
    ("hubble_dns_queries_total", 6),   // rcode × qtypes × ips_returned
    ("hubble_dns_responses_total", 6), // rcode × qtypes × ips_returned
    ("hubble_dns_response_types_total", 4), // type × qtypes
    ("hubble_drop_total", 10),         // reason × protocol
    ("hubble_tcp_flags_total", 8),     // 4 flags × 2 families
    ("hubble_flows_processed_total", 20), // type × subtype × verdict × protocol
    ("hubble_port_distribution_total", 20), // protocol × port
    ("hubble_icmp_total", 8),          // family × type
    ("hubble_http_requests_total", 8), // method × protocol × status
    ("hubble_http_responses_total", 8), // method × protocol × status
    ("hubble_kafka_requests_total", 8), // topic × api_key × error_code
    ("hubble_policy_verdicts_total", 12), // direction × match × action
    ("hubble_flows_to_world_total", 4), // protocol × verdict
    ("hubble_sctp_chunk_types_total", 8), // chunk_type × family
];

/// Combinations a metric not in [`TYPICAL_COMBINATIONS`] shows: a histogram for 2 methods (or
/// api keys), a counter 4.
pub fn typical_combinations(metric: &str, kind: MetricType) -> u64 {
    if let Some((_, n)) = TYPICAL_COMBINATIONS.iter().find(|(m, _)| *m == metric) {
        return *n;
    }
    match kind {
        MetricType::Histogram => 2 * HISTOGRAM_SERIES,
        MetricType::Counter => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(handler: &str, spec: &str) -> AskedLabels {
        asked_labels(catalogue::handler(handler).unwrap(), &spec_options(spec))
    }

    #[test]
    fn options_give_their_labels() {
        let a = asked(
            "flow",
            "flow:sourceContext=workload-name|reserved-identity;destinationContext=namespace;labelsContext=source_namespace,destination_namespace",
        );
        assert_eq!(
            a.labels,
            [
                "destination",
                "destination_namespace",
                "source",
                "source_namespace"
            ]
        );
        assert!(a.unsure.is_empty());
        // Handler flags: a label for dns:query and flows-to-world:port, none for the others.
        assert_eq!(asked("dns", "dns:query;ignoreAAAA").labels, ["query"]);
        assert!(asked("drop", "drop:query").labels.is_empty());
        assert_eq!(
            asked("flows-to-world", "flows-to-world:port;any-drop").labels,
            ["port"]
        );
        assert!(asked("httpV2", "httpV2:exemplars=true").labels.is_empty());
        assert!(asked("drop", "drop").labels.is_empty());
        // An egress form alone: `source` depends on the patch release (1.14.3).
        let a = asked(
            "drop",
            "drop:sourceEgressContext=pod;destinationIngressContext=pod;destinationContext=pod",
        );
        assert_eq!(a.labels, ["destination"]);
        assert_eq!(a.unsure, ["source"]);
        // A label ciliumon does not know is kept as asked.
        assert_eq!(
            asked("drop", "drop:labelsContext=source_zone").labels,
            ["source_zone"]
        );
    }

    #[test]
    fn option_labels_are_never_a_familys_own() {
        for h in catalogue::HANDLERS {
            let own: Vec<&str> = FAMILY_LABELS
                .iter()
                .filter(|(f, _, _)| *f == h.name)
                .flat_map(|(_, _, ls)| ls.iter().copied())
                .collect();
            for l in option_labels(h) {
                assert!(!own.contains(&l), "{}: {l}", h.name);
                assert!(!TARGET_LABELS.contains(&l), "{}: {l}", h.name);
            }
        }
    }
}
