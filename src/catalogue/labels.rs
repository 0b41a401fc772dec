//! The labels each Hubble metric carries and where a dashboard's label comes from when the family
//! does not emit it: the family's own labels, a handler option's, the Prometheus target's, the
//! relabeled ones; and how many combinations of its own labels a metric typically shows on one
//! node (the estimate's `base`).
//!
//! Facts: `shared/reference/cilium-hubble-facts.md` §1.4 and §2 (labels per family, options),
//! `shared/reference/dashboards.md` "Where the labels come from" (target and relabeled labels).
//! The combination counts are the estimate's assumptions (see `crate::estimate`), kept here next
//! to the labels they multiply.

use crate::catalogue::MetricType;

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
