//! How many series a Hubble metric list will create, before it is enabled, from the cluster's
//! size; and which of them Cilium removes when pods go away.
//!
//! # The model
//!
//! Every agent exports the series of the flows it sees, so each family's series are counted per
//! node and multiplied by the number of nodes. On one node, a metric has
//!
//! `base(metric) × pairs × extra`
//!
//! series, where
//!
//! - `base` is the number of combinations of the family's own labels a node typically shows
//!   ([`base_series`]: e.g. `drop` reason × protocol ≈ 10; a histogram counts each of its 12
//!   buckets, `_sum` and `_count`). `reporter` follows the traffic direction and adds nothing.
//! - `pairs` counts the distinct (`source` side, `destination` side) values. A side's labels are
//!   the `sourceContext`/`destinationContext` label (and its egress/ingress forms) and the
//!   `labelsContext` names of that side; its cardinality `E` is that of its finest label:
//!   `pod`, `pod-name`, `ip`, `*_pod`, `*_ip` → pods; `workload`, `workload-name`, `app`,
//!   `identity`, `dns`, `*_workload`, `*_app` → workloads; `namespace`, `*_namespace` →
//!   namespaces; `reserved-identity` → [`RESERVED_IDENTITIES`]; `*_workload_kind` →
//!   [`WORKLOAD_KINDS`]; no label → 1. Fallbacks (`workload-name|reserved-identity`) add up.
//!   A node runs `p = ⌈pods / nodes⌉` pods, each talking to [`PEERS`] peers ([`DNS_SERVERS`]
//!   for `dns`), so it sees `c = p × peers` outgoing and as many incoming conversations. With
//!   `dns:query` each conversation splits into [`QUERY_NAMES_PER_POD`] names (`c × Q`), out of
//!   `N = p × Q` names on the node. With `L = min(E, p)` the values of a side among the local
//!   pods: `egress = min(c × Q, L_src × E_dst × N)`, `ingress = min(c × Q, L_dst × E_src × N)`,
//!   `pairs = min(E_src × E_dst × D × N, egress + ingress)`, `D` = 2 with `traffic_direction`,
//!   else 1; `Q = N = 1` without `query`.
//! - `extra` is [`WORLD_PORTS`] with `flows-to-world:port`.
//!
//! The result is an upper bound for steady traffic: L7 families (dns, http, httpV2, kafka) count
//! as if every pod's traffic went through the L7 proxy.
//!
//! # Filters (dynamic mode)
//!
//! A family's `includeFilters` and `excludeFilters` (Hubble flow filters) keep a share of its
//! flows, and the series scale with it ([`filter_share`]). Only namespace selections are
//! modelled: a `source_pod`/`destination_pod` value `ns/` or `ns/prefix` selects, at most, that
//! namespace's pods, taken as `1 / namespaces` of them each (pods spread evenly over
//! namespaces). Fields in one filter must all match (their shares multiply); a flow passes the
//! include list when any filter matches (`1 - Π(1 - share)`), and is dropped when any exclude
//! filter matches. Any other field (a verdict, a label, a port) is not modelled: it counts as
//! keeping every flow, so the figure stays an upper bound, and [`FilterShare::unmodelled`] names it.
//!
//! # Churn
//!
//! Cilium deletes a pod's series about a minute after the pod goes, but only the series that name
//! it as a pod: a source or destination context (plain, egress or ingress) whose identifiers
//! include `pod`, or `labelsContext` with both `<side>_pod` and `<side>_namespace`
//! (cilium/cilium `pkg/hubble/metrics/api/context.go`, `ContextOptions.DeleteMetricsAssociatedWithPod`,
//! called for every handler's metric vectors from `ProcessPodDeletion`, later
//! `ProcessCiliumEndpointDeletion`, in `pkg/hubble/metrics/api/api.go`). Series keyed by `ip`,
//! `pod-name`, `dns`, a lone `*_pod` or `*_ip` label, or the `dns:query` name are never deleted:
//! they grow with every pod restart and every new name until the agent restarts.

use serde::{Deserialize, Serialize};

use crate::catalogue::MetricType;
use crate::catalogue::labels;
use crate::dynamic::MetricEntry;
use crate::spec::{MetricSpec, SpecOption};

/// Distinct peers one pod talks to (assumption of the model).
pub const PEERS: u64 = 10;
/// Reserved identities seen in practice (host, world, kube-apiserver, remote-node, health, ...).
pub const RESERVED_IDENTITIES: u64 = 6;
/// Workload kinds (Deployment, StatefulSet, DaemonSet, Job, CronJob).
pub const WORKLOAD_KINDS: u64 = 5;
/// DNS servers a pod's queries go to (the cluster DNS's pods), for `dns`.
pub const DNS_SERVERS: u64 = 2;
/// Distinct DNS names one pod asks for, with `dns:query`.
pub const QUERY_NAMES_PER_POD: u64 = 5;
/// Destination ports of traffic leaving the cluster, with `flows-to-world:port`.
pub const WORLD_PORTS: u64 = 10;
/// Above this many series in total, the estimate warns (a Prometheus needs a few KiB of memory
/// per active series: a million is several GiB).
pub const WARN_TOTAL: u64 = 1_000_000;

/// The cluster's size: counts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub nodes: u64,
    pub namespaces: u64,
    pub pods: u64,
    pub workloads: u64,
}

impl Inventory {
    /// The inventory from `--estimate-nodes`, `--estimate-namespaces`, `--estimate-pods` and
    /// `--estimate-workloads`: all four, or none (no estimate is made). Some but not all, or no
    /// nodes, is bad input naming the flags.
    pub fn from_flags(
        nodes: Option<u64>,
        namespaces: Option<u64>,
        pods: Option<u64>,
        workloads: Option<u64>,
    ) -> Result<Option<Inventory>, String> {
        let given = [
            ("--estimate-nodes", nodes),
            ("--estimate-namespaces", namespaces),
            ("--estimate-pods", pods),
            ("--estimate-workloads", workloads),
        ];
        match (nodes, namespaces, pods, workloads) {
            (None, None, None, None) => Ok(None),
            (Some(0), ..) => Err("--estimate-nodes must be at least 1".into()),
            (Some(nodes), Some(namespaces), Some(pods), Some(workloads)) => Ok(Some(Inventory {
                nodes,
                namespaces,
                pods,
                workloads,
            })),
            _ => {
                let missing: Vec<&str> = given
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(f, _)| *f)
                    .collect();
                Err(format!(
                    "an estimate needs all four cluster sizes: missing {}",
                    missing.join(", ")
                ))
            }
        }
    }
}

/// `flow ≈ 60000`, with what its filters keep when it has some.
pub fn family_line(f: &FamilySeries) -> String {
    match &f.filters {
        None => format!("{} ≈ {}", f.family, f.series),
        Some(x) => {
            let mut line = format!(
                "{} ≈ {} (its filters keep ≈ {}% of {}",
                f.family, f.series, x.kept_percent, x.unfiltered
            );
            if !x.unmodelled.is_empty() {
                line.push_str(&format!("; {} not estimated", x.unmodelled.join(", ")));
            }
            line + ")"
        }
    }
}

/// The series one family creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilySeries {
    pub family: &'static str,
    pub series: u64,
    /// With filters (dynamic mode): the series without them and the share they keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filtered>,
}

/// What a family's filters save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filtered {
    /// The family's series without its filters.
    pub unfiltered: u64,
    /// The share of its flows the filters keep, in percent (rounded up).
    pub kept_percent: u64,
    /// Filter fields the model does not estimate (they count as keeping every flow).
    pub unmodelled: Vec<String>,
}

/// The share of a family's flows its filters keep (see the module's model).
#[derive(Debug, Clone, PartialEq)]
pub struct FilterShare {
    pub kept: f64,
    pub unmodelled: Vec<String>,
}

/// The share of flows one flow filter (a JSON object) selects, counting each field the model
/// cannot size as selecting every flow (named in `unmodelled`); and whether it sized them all.
fn one_filter_share(
    filter: &serde_json::Value,
    inv: &Inventory,
    unmodelled: &mut Vec<String>,
) -> (f64, bool) {
    let Some(fields) = filter.as_object() else {
        return (1.0, false);
    };
    let namespaces = inv.namespaces.max(1) as f64;
    let (mut share, mut sized) = (1.0, true);
    for (field, values) in fields {
        let selected: Option<std::collections::BTreeSet<&str>> = match field.as_str() {
            "source_pod" | "destination_pod" => values.as_array().and_then(|vs| {
                vs.iter()
                    .map(|v| v.as_str().and_then(|t| t.split_once('/')).map(|(ns, _)| ns))
                    .collect()
            }),
            _ => None,
        };
        match selected {
            Some(ns) => share *= (ns.len() as f64 / namespaces).min(1.0),
            None => {
                sized = false;
                if !unmodelled.contains(field) {
                    unmodelled.push(field.clone());
                }
            }
        }
    }
    (share, sized)
}

/// The share of flows `entry`'s filters keep on a cluster of `inv`'s size: any include filter
/// lets a flow in, any exclude filter takes it out. An exclude filter the model cannot size
/// takes nothing out, so the figure stays an upper bound.
pub fn filter_share(entry: &MetricEntry, inv: &Inventory) -> FilterShare {
    let mut unmodelled = Vec::new();
    let mut none_of = 1.0;
    for f in &entry.include_filters {
        none_of *= 1.0 - one_filter_share(f, inv, &mut unmodelled).0;
    }
    let included = if entry.include_filters.is_empty() {
        1.0
    } else {
        1.0 - none_of
    };
    let mut kept_by_excludes = 1.0;
    for f in &entry.exclude_filters {
        if let (share, true) = one_filter_share(f, inv, &mut unmodelled) {
            kept_by_excludes *= 1.0 - share;
        }
    }
    FilterShare {
        kept: (included * kept_by_excludes).clamp(0.0, 1.0),
        unmodelled,
    }
}

/// `x` rounded up, ignoring the last bits of floating-point error (22000.000000000004 is 22000).
fn up(x: f64) -> u64 {
    (x - x.abs() * 1e-12).ceil().max(0.0) as u64
}

/// The series of `spec` with `entry`'s filters (the entry of the same family, if any).
pub fn filtered_series(
    spec: &MetricSpec,
    entry: Option<&MetricEntry>,
    inv: &Inventory,
) -> FamilySeries {
    let all = family_series(spec, inv);
    let Some(share) = entry
        .filter(|e| e.has_filters())
        .map(|e| filter_share(e, inv))
    else {
        return FamilySeries {
            family: spec.name(),
            series: all,
            filters: None,
        };
    };
    FamilySeries {
        family: spec.name(),
        series: up(all as f64 * share.kept),
        filters: Some(Filtered {
            unfiltered: all,
            kept_percent: up(share.kept * 100.0),
            unmodelled: share.unmodelled,
        }),
    }
}

/// `estimate: {inputs, families: [{family, series}], total}` in `-o json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub inputs: Inventory,
    pub families: Vec<FamilySeries>,
    pub total: u64,
}

/// Combinations of a metric's own labels one node typically shows ([`labels::TYPICAL_COMBINATIONS`]).
pub fn base_series(metric: &str, kind: MetricType) -> u64 {
    labels::typical_combinations(metric, kind)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
}

fn side_of_key(key: &str) -> Option<Side> {
    if key.starts_with("source") {
        Some(Side::Source)
    } else if key.starts_with("destination") {
        Some(Side::Destination)
    } else {
        None
    }
}

fn label_side(label: &str) -> Option<(Side, &str)> {
    if let Some(rest) = label.strip_prefix("source_") {
        Some((Side::Source, rest))
    } else {
        label
            .strip_prefix("destination_")
            .map(|rest| (Side::Destination, rest))
    }
}

fn context_id_cardinality(id: &str, inv: &Inventory) -> u64 {
    match id {
        "pod" | "pod-name" | "ip" => inv.pods,
        "namespace" => inv.namespaces,
        "reserved-identity" => RESERVED_IDENTITIES,
        // workload, workload-name, app, identity, dns, pod-short
        _ => inv.workloads,
    }
}

fn label_cardinality(rest: &str, inv: &Inventory) -> u64 {
    match rest {
        "ip" | "pod" => inv.pods,
        "namespace" => inv.namespaces,
        "workload_kind" => WORKLOAD_KINDS,
        // workload, app
        _ => inv.workloads,
    }
}

/// The cardinality of one side's labels on `spec` (1 when it has none).
fn side_cardinality(spec: &MetricSpec, side: Side, inv: &Inventory) -> u64 {
    let mut e = 1u64;
    for o in &spec.options {
        match o {
            SpecOption::Context(key, ids) if side_of_key(key) == Some(side) => {
                let sum = ids
                    .iter()
                    .map(|i| context_id_cardinality(i, inv))
                    .fold(0u64, u64::saturating_add);
                e = e.max(sum);
            }
            SpecOption::Labels(ls) => {
                for l in ls {
                    if let Some((_, rest)) = label_side(l).filter(|(s, _)| *s == side) {
                        e = e.max(label_cardinality(rest, inv));
                    }
                }
            }
            _ => {}
        }
    }
    e.max(1)
}

fn pods_per_node(inv: &Inventory) -> u64 {
    if inv.nodes == 0 {
        return 0;
    }
    inv.pods.div_ceil(inv.nodes)
}

/// Distinct (source, destination[, query]) values on one node (see the module's model).
fn pairs(spec: &MetricSpec, inv: &Inventory) -> u64 {
    let e_src = side_cardinality(spec, Side::Source, inv);
    let e_dst = side_cardinality(spec, Side::Destination, inv);
    let direction = spec
        .options
        .iter()
        .any(|o| matches!(o, SpecOption::Labels(ls) if ls.contains(&"traffic_direction")));
    let d = if direction { 2 } else { 1 };
    let p = pods_per_node(inv).max(1);
    let dns = spec.name() == "dns";
    let peers = if dns { DNS_SERVERS } else { PEERS };
    let (q, n) = if dns && has_flag(spec, "query") {
        (QUERY_NAMES_PER_POD, p.saturating_mul(QUERY_NAMES_PER_POD))
    } else {
        (1, 1)
    };
    let c = p.saturating_mul(peers).saturating_mul(q);
    let (l_src, l_dst) = (e_src.min(p), e_dst.min(p));
    let egress = c.min(l_src.saturating_mul(e_dst).saturating_mul(n));
    let ingress = c.min(l_dst.saturating_mul(e_src).saturating_mul(n));
    e_src
        .saturating_mul(e_dst)
        .saturating_mul(d)
        .saturating_mul(n)
        .min(egress.saturating_add(ingress))
}

fn has_flag(spec: &MetricSpec, flag: &str) -> bool {
    spec.options
        .iter()
        .any(|o| matches!(o, SpecOption::Flag(f) if f.eq_ignore_ascii_case(flag)))
}

/// The series one spec creates across the cluster.
pub fn family_series(spec: &MetricSpec, inv: &Inventory) -> u64 {
    let pairs = pairs(spec, inv);
    let extra = if spec.name() == "flows-to-world" && has_flag(spec, "port") {
        WORLD_PORTS
    } else {
        1
    };
    let per_node = spec
        .handler
        .metrics
        .iter()
        .map(|m| base_series(m.name, m.kind))
        .fold(0u64, u64::saturating_add)
        .saturating_mul(pairs)
        .saturating_mul(extra);
    per_node.saturating_mul(inv.nodes)
}

/// The estimate for `specs` on a cluster of `inv`'s size.
pub fn estimate(inv: &Inventory, specs: &[MetricSpec]) -> Estimate {
    estimate_filtered(inv, specs, &[])
}

/// The estimate for `specs` with the filters of `entries` (dynamic mode; matched by family).
pub fn estimate_filtered(
    inv: &Inventory,
    specs: &[MetricSpec],
    entries: &[MetricEntry],
) -> Estimate {
    let entry_of = |s: &MetricSpec| {
        entries
            .iter()
            .find(|e| e.spec.split(':').next() == Some(s.name()))
    };
    let families: Vec<FamilySeries> = specs
        .iter()
        .map(|s| filtered_series(s, entry_of(s), inv))
        .collect();
    let total = families
        .iter()
        .map(|f| f.series)
        .fold(0u64, u64::saturating_add);
    Estimate {
        inputs: *inv,
        families,
        total,
    }
}

/// The one option that costs most: the series saved by leaving it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Costliest {
    pub family: &'static str,
    /// The option as written, e.g. `labelsContext=source_ip,...` or `query`.
    pub option: String,
    pub series: u64,
}

fn without(spec: &MetricSpec, i: usize) -> MetricSpec {
    let mut s = spec.clone();
    s.options.remove(i);
    s
}

fn option_text(o: &SpecOption) -> String {
    match o {
        SpecOption::Flag(k) => (*k).to_string(),
        SpecOption::Value(k, v) => format!("{k}={v}"),
        SpecOption::Context(k, ids) => format!("{k}={}", ids.join("|")),
        SpecOption::Labels(ls) => format!("labelsContext={}", ls.join(",")),
    }
}

/// The option of `specs` whose removal saves the most series, if any saves some.
pub fn costliest(inv: &Inventory, specs: &[MetricSpec]) -> Option<Costliest> {
    let mut best: Option<Costliest> = None;
    for s in specs {
        let all = family_series(s, inv);
        for (i, o) in s.options.iter().enumerate() {
            let saved = all.saturating_sub(family_series(&without(s, i), inv));
            if saved > 0 && best.as_ref().is_none_or(|b| saved > b.series) {
                best = Some(Costliest {
                    family: s.name(),
                    option: option_text(o),
                    series: saved,
                });
            }
        }
    }
    best
}

/// What happens to a family's series when pods come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Lifetime {
    /// No label names a pod or an address: the series are bounded by the cluster's shape.
    Bounded,
    /// Series naming a pod are deleted when it goes.
    CleanedWithPods,
    /// Some labels take values that are never deleted: series grow with churn.
    Grows,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Churn {
    pub family: &'static str,
    pub lifetime: Lifetime,
    /// The choices whose series Cilium deletes with the pod.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleaned: Vec<String>,
    /// The choices whose series stay after the pod (or name) is gone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grows: Vec<String>,
}

/// Whether Cilium deletes `spec`'s series naming a pod on `side` (context.go
/// `DeleteMetricsAssociatedWithPod`): a context with `pod`, or both `<side>_pod` and
/// `<side>_namespace`.
fn side_cleaned(spec: &MetricSpec, side: Side) -> (bool, bool) {
    let by_context = spec.options.iter().any(|o| {
        matches!(o, SpecOption::Context(k, ids) if side_of_key(k) == Some(side) && ids.contains(&"pod"))
    });
    let prefix = match side {
        Side::Source => "source_",
        Side::Destination => "destination_",
    };
    let by_labels = spec.options.iter().any(|o| {
        matches!(o, SpecOption::Labels(ls)
            if ls.contains(&format!("{prefix}pod").as_str())
                && ls.contains(&format!("{prefix}namespace").as_str()))
    });
    (by_context, by_labels)
}

/// For each spec: which of its series Cilium cleans up when pods go, and which grow with churn.
pub fn churn(specs: &[MetricSpec]) -> Vec<Churn> {
    specs
        .iter()
        .map(|s| {
            let mut cleaned = Vec::new();
            let mut grows = Vec::new();
            for o in &s.options {
                match o {
                    SpecOption::Context(key, ids) => {
                        let Some(side) = side_of_key(key) else {
                            continue;
                        };
                        let (_, by_labels) = side_cleaned(s, side);
                        for id in ids {
                            match *id {
                                "pod" => cleaned.push(format!("{key}={id}")),
                                "pod-name" | "ip" | "dns" if by_labels => {
                                    cleaned.push(format!("{key}={id}"))
                                }
                                "pod-name" | "ip" | "dns" => grows.push(format!("{key}={id}")),
                                _ => {}
                            }
                        }
                    }
                    SpecOption::Labels(ls) => {
                        for l in ls {
                            let Some((side, rest)) = label_side(l) else {
                                continue;
                            };
                            if rest != "pod" && rest != "ip" {
                                continue;
                            }
                            let (by_context, by_labels) = side_cleaned(s, side);
                            if by_context || by_labels {
                                cleaned.push(format!("labelsContext {l}"));
                            } else {
                                grows.push(format!("labelsContext {l}"));
                            }
                        }
                    }
                    SpecOption::Flag("query") if s.name() == "dns" => {
                        grows.push("dns:query".to_string())
                    }
                    _ => {}
                }
            }
            let lifetime = if !grows.is_empty() {
                Lifetime::Grows
            } else if !cleaned.is_empty() {
                Lifetime::CleanedWithPods
            } else {
                Lifetime::Bounded
            };
            Churn {
                family: s.name(),
                lifetime,
                cleaned,
                grows,
            }
        })
        .collect()
}

/// The estimate's notes for the plan: the threshold warning naming the costliest choice, and the
/// families whose series grow with churn.
pub fn notes(inv: &Inventory, specs: &[MetricSpec]) -> Vec<String> {
    let mut out: Vec<String> = warning(inv, specs).into_iter().collect();
    out.extend(
        churn(specs)
            .iter()
            .filter(|c| c.lifetime == Lifetime::Grows)
            .map(churn_note),
    );
    out
}

/// The warning above [`WARN_TOTAL`], naming the costliest choice.
pub fn warning(inv: &Inventory, specs: &[MetricSpec]) -> Option<String> {
    warning_filtered(inv, specs, &[])
}

/// [`warning`] for a list whose `entries` may carry filters (the total counts them).
pub fn warning_filtered(
    inv: &Inventory,
    specs: &[MetricSpec],
    entries: &[MetricEntry],
) -> Option<String> {
    let est = estimate_filtered(inv, specs, entries);
    if est.total <= WARN_TOTAL {
        return None;
    }
    let mut w = format!(
        "estimated {} series in total, above {}",
        est.total, WARN_TOTAL
    );
    if let Some(c) = costliest(inv, specs) {
        w.push_str(&format!(
            "; the costliest choice is {} on {} ({} series)",
            c.option, c.family, c.series
        ));
    }
    Some(w)
}

/// One family's churn line: what grows, or what Cilium deletes with the pod; None when bounded.
pub fn churn_line(c: &Churn) -> Option<String> {
    match c.lifetime {
        Lifetime::Bounded => None,
        Lifetime::Grows => Some(churn_note(c)),
        Lifetime::CleanedWithPods => Some(format!(
            "{}: series keyed by {} are deleted when the pod goes",
            c.family,
            c.cleaned.join(", ")
        )),
    }
}

fn churn_note(c: &Churn) -> String {
    format!(
        "{}: series keyed by {} are never deleted and grow with pod churn",
        c.family,
        c.grows.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BLOG_METRICS;
    use crate::spec::parse_list;
    use crate::version::Version;

    const SAMPLE: Inventory = Inventory {
        nodes: 100,
        namespaces: 20,
        pods: 2000,
        workloads: 300,
    };

    fn entry(spec: &str, include: serde_json::Value, exclude: serde_json::Value) -> MetricEntry {
        MetricEntry {
            spec: spec.into(),
            include_filters: serde_json::from_value(include).unwrap(),
            exclude_filters: serde_json::from_value(exclude).unwrap(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn filters_keep_the_share_of_the_namespaces_they_select() {
        use serde_json::json;
        let share = |i, e| filter_share(&entry("flow", i, e), &SAMPLE);
        // None: everything.
        let all = share(json!([]), json!([]));
        assert!(close(all.kept, 1.0) && all.unmodelled.is_empty());
        // One namespace of 20 as a source: 5%.
        assert!(close(
            share(json!([{"source_pod": ["shop/"]}]), json!([])).kept,
            0.05
        ));
        // Both sides, two namespaces each, either may match: 1 - (1 - 0.1)².
        let either = share(
            json!([{"source_pod": ["shop/", "web/"]}, {"destination_pod": ["shop/", "web/"]}]),
            json!([]),
        );
        assert!(close(either.kept, 0.19), "{either:?}");
        // Fields in one filter must all match: 0.1 × 0.05.
        let both = share(
            json!([{"source_pod": ["a/", "b/x"], "destination_pod": ["c/"]}]),
            json!([]),
        );
        assert!(close(both.kept, 0.005), "{both:?}");
        // A field the model cannot size keeps every flow, and is named.
        let verdict = share(
            json!([{"source_pod": ["shop/"], "verdict": ["DROPPED"]}]),
            json!([]),
        );
        assert!(close(verdict.kept, 0.05));
        assert_eq!(verdict.unmodelled, ["verdict"]);
        let no_namespace = share(json!([{"source_pod": ["frontend"]}]), json!([]));
        assert!(close(no_namespace.kept, 1.0));
        assert_eq!(no_namespace.unmodelled, ["source_pod"]);
        // Excluded: one namespace's sources out, 95% kept; an unsized exclude takes out nothing.
        assert!(close(
            share(json!([]), json!([{"source_pod": ["kube-system/"]}])).kept,
            0.95
        ));
        let not_sized = share(json!([]), json!([{"verdict": ["FORWARDED"]}]));
        assert!(close(not_sized.kept, 1.0));
        assert_eq!(not_sized.unmodelled, ["verdict"]);
        // More namespaces named than the cluster has: all of them, no more.
        let tiny = Inventory {
            namespaces: 1,
            ..SAMPLE
        };
        let over = filter_share(
            &entry("flow", json!([{"source_pod": ["a/", "b/"]}]), json!([])),
            &tiny,
        );
        assert!(close(over.kept, 1.0));
    }

    #[test]
    fn the_estimate_counts_filters_by_family_and_says_so() {
        use serde_json::json;
        let v = Version::new(1, 18, 4);
        let specs = parse_list(&["dns", "flow:sourceContext=pod"], &v).unwrap();
        let entries = [
            MetricEntry::from("dns"),
            entry(
                "flow:sourceContext=pod",
                json!([{"source_pod": ["shop/"]}]),
                json!([]),
            ),
        ];
        let plain = estimate(&SAMPLE, &specs);
        let est = estimate_filtered(&SAMPLE, &specs, &entries);
        assert_eq!(est.families[0], plain.families[0], "dns has no filter");
        let flow = &est.families[1];
        let unfiltered = plain.families[1].series;
        assert_eq!(flow.series, unfiltered.div_ceil(20));
        let f = flow.filters.as_ref().unwrap();
        assert_eq!((f.unfiltered, f.kept_percent), (unfiltered, 5));
        assert_eq!(est.total, plain.families[0].series + flow.series);
        assert_eq!(
            family_line(flow),
            format!(
                "flow ≈ {} (its filters keep ≈ 5% of {unfiltered})",
                flow.series
            )
        );
        // In JSON, only a filtered family has `filters`.
        let doc = serde_json::to_value(&est).unwrap();
        assert!(doc["families"][0].get("filters").is_none());
        assert_eq!(doc["families"][1]["filters"]["keptPercent"], 5);
        // The warning counts the filtered total.
        let big = Inventory {
            pods: 200_000,
            ..SAMPLE
        };
        assert!(warning(&big, &specs).is_some());
        let only = [
            MetricEntry::from("dns"),
            entry(
                "flow:sourceContext=pod",
                json!([{"source_pod": ["a/"]}]),
                json!([]),
            ),
        ];
        let filtered_total = estimate_filtered(&big, &specs, &only).total;
        assert_eq!(
            warning_filtered(&big, &specs, &only).is_some(),
            filtered_total > WARN_TOTAL
        );
        assert!(filtered_total < estimate(&big, &specs).total);
    }

    fn specs(list: &[&str]) -> Vec<MetricSpec> {
        parse_list(list, &Version::new(1, 18, 12)).unwrap()
    }

    fn series(e: &Estimate) -> Vec<(&'static str, u64)> {
        e.families.iter().map(|f| (f.family, f.series)).collect()
    }

    // Hand computation on SAMPLE: p = 2000/100 = 20 pods a node, c = 20 × 10 = 200.
    #[test]
    fn blog_list_on_the_sample_cluster() {
        let e = estimate(&SAMPLE, &specs(BLOG_METRICS));
        assert_eq!(
            series(&e),
            [
                ("dns", 100 * (6 + 6 + 4)),
                ("drop", 100 * 10),
                ("tcp", 100 * 8),
                ("flow", 100 * 20),
                ("port-distribution", 100 * 20),
                ("icmp", 100 * 8),
                // E_src = E_dst = 2000 (source_ip, destination_ip), L = 20:
                // egress = min(200, 20 × 2000) = 200, ingress = 200, pairs = min(2000² × 2, 400).
                // base: requests 8 + duration 2 × 14 = 36.
                ("httpV2", 100 * 36 * 400),
            ]
        );
        assert_eq!(e.total, 1_448_200);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "inputs": {"nodes": 100, "namespaces": 20, "pods": 2000, "workloads": 300},
                "families": [
                    {"family": "dns", "series": 1600},
                    {"family": "drop", "series": 1000},
                    {"family": "tcp", "series": 800},
                    {"family": "flow", "series": 2000},
                    {"family": "port-distribution", "series": 2000},
                    {"family": "icmp", "series": 800},
                    {"family": "httpV2", "series": 1440000},
                ],
                "total": 1448200,
            })
        );
    }

    #[test]
    fn context_multipliers() {
        let one = |spec: &str| estimate(&SAMPLE, &specs(&[spec])).total;
        // E_src = 20, L = 20: egress = min(200, 20 × 1) = 20, ingress = min(200, 1 × 20) = 20,
        // pairs = min(20 × 1, 40) = 20.
        assert_eq!(one("flow:sourceContext=namespace"), 100 * 20 * 20);
        // E_src = 2000: egress = min(200, 20) = 20, ingress = min(200, 2000) = 200,
        // pairs = min(2000, 220) = 220.
        assert_eq!(one("flow:sourceContext=pod"), 100 * 20 * 220);
        // E_src = 300 + 6: the same per node, as the 20 pods of a node are 20 workloads.
        assert_eq!(
            one("flow:sourceContext=workload-name|reserved-identity"),
            100 * 20 * 220
        );
        // reserved-identity alone: E = 6, L = 6: egress 6, ingress 6, pairs = min(6, 12) = 6.
        assert_eq!(one("drop:sourceContext=reserved-identity"), 100 * 10 * 6);
        // Both sides namespaces: egress = min(200, 20 × 20) = 200, pairs = min(400, 400).
        assert_eq!(
            one("tcp:labelsContext=source_namespace,destination_namespace"),
            100 * 8 * 400
        );
        // traffic_direction alone: pairs = min(1 × 1 × 2, 1 + 1) = 2.
        assert_eq!(one("icmp:labelsContext=traffic_direction"), 100 * 8 * 2);
        // dns:query: N = 5 names × 20 pods = 100, c × Q = 20 × 2 × 5 = 200:
        // egress = min(200, 1 × 1 × 100) = 100, ingress = 100, pairs = min(100, 200) = 100.
        assert_eq!(one("dns:query"), 100 * 16 * 100);
        // dns goes to 2 DNS servers: c = 40; egress = min(40, 20 × 1) = 20,
        // ingress = min(40, 1 × 2000) = 40, pairs = min(2000, 60) = 60.
        assert_eq!(one("dns:sourceContext=pod"), 100 * 16 * 60);
        // With query: egress = min(200, 20 × 1 × 100) = 200, ingress = min(200, 2000 × 100),
        // pairs = min(2000 × 100, 400) = 400.
        assert_eq!(one("dns:query;sourceContext=pod"), 100 * 16 * 400);
        assert_eq!(one("flows-to-world:port"), 100 * 4 * 10);
        assert_eq!(one("policy"), 100 * 12);
    }

    #[test]
    fn small_cluster() {
        let inv = Inventory {
            nodes: 3,
            namespaces: 2,
            pods: 10,
            workloads: 4,
        };
        // p = ⌈10 / 3⌉ = 4, c = 40; E = 10, L = 4: egress = min(40, 40), pairs = min(200, 80).
        let e = estimate(&inv, &specs(BLOG_METRICS));
        assert_eq!(e.families.last().unwrap().series, 3 * 36 * 80);
        assert_eq!(e.total, 3 * (16 + 10 + 8 + 20 + 20 + 8) + 3 * 36 * 80);
    }

    #[test]
    fn no_panic_at_the_edges() {
        let zero = Inventory {
            nodes: 0,
            namespaces: 0,
            pods: 0,
            workloads: 0,
        };
        assert_eq!(estimate(&zero, &specs(BLOG_METRICS)).total, 0);
        let huge = Inventory {
            nodes: u64::MAX,
            namespaces: u64::MAX,
            pods: u64::MAX,
            workloads: u64::MAX,
        };
        assert_eq!(
            estimate(&huge, &specs(&["flow:sourceContext=pod", "dns:query"])).total,
            u64::MAX
        );
    }

    #[test]
    fn the_costliest_choice_is_named() {
        let c = costliest(&SAMPLE, &specs(BLOG_METRICS)).unwrap();
        assert_eq!(c.family, "httpV2");
        assert!(c.option.starts_with("labelsContext=source_ip,"));
        assert_eq!(c.series, 1_440_000 - 100 * 36);
        let list = specs(&["flow:sourceContext=pod", "dns:query"]);
        let c = costliest(&SAMPLE, &list).unwrap();
        assert_eq!(
            (c.family, c.option.as_str(), c.series),
            ("flow", "sourceContext=pod", 440_000 - 2_000)
        );
        let n = notes(&SAMPLE, &specs(BLOG_METRICS));
        assert_eq!(
            n[0],
            "estimated 1448200 series in total, above 1000000; the costliest choice is labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction on httpV2 (1436400 series)"
        );
        assert!(notes(&SAMPLE, &specs(&["drop", "flow"])).is_empty());
        assert!(costliest(&SAMPLE, &specs(&["drop", "flow"])).is_none());
    }

    #[test]
    fn which_series_cilium_cleans_up() {
        let life = |spec: &str| churn(&specs(&[spec]))[0].clone();
        assert_eq!(life("flow").lifetime, Lifetime::Bounded);
        assert_eq!(
            life("flow:sourceContext=workload-name|reserved-identity").lifetime,
            Lifetime::Bounded
        );
        let pod = life("flow:sourceContext=pod;destinationEgressContext=pod");
        assert_eq!(pod.lifetime, Lifetime::CleanedWithPods);
        assert_eq!(
            pod.cleaned,
            ["sourceContext=pod", "destinationEgressContext=pod"]
        );
        // Only the `pod` identifier is matched on deletion, not `pod-name`.
        assert_eq!(
            life("flow:sourceContext=pod-name").grows,
            ["sourceContext=pod-name"]
        );
        let mixed = life("flow:sourceContext=pod|ip");
        assert_eq!(mixed.lifetime, Lifetime::Grows);
        assert_eq!(mixed.grows, ["sourceContext=ip"]);
        assert_eq!(
            life("tcp:labelsContext=source_pod,source_namespace").lifetime,
            Lifetime::CleanedWithPods
        );
        assert_eq!(
            life("tcp:labelsContext=source_pod").grows,
            ["labelsContext source_pod"]
        );
        assert_eq!(
            life("tcp:sourceContext=pod;labelsContext=source_ip").cleaned,
            ["sourceContext=pod", "labelsContext source_ip"]
        );
        assert_eq!(life("dns:query").grows, ["dns:query"]);
        let blog = churn(&specs(BLOG_METRICS));
        let grows: Vec<_> = blog
            .iter()
            .filter(|c| c.lifetime == Lifetime::Grows)
            .map(|c| (c.family, c.grows.clone()))
            .collect();
        assert_eq!(
            grows,
            [(
                "httpV2",
                vec![
                    "labelsContext source_ip".to_string(),
                    "labelsContext destination_ip".to_string()
                ]
            )]
        );
        assert!(
            notes(&SAMPLE, &specs(BLOG_METRICS))[1]
                .starts_with("httpV2: series keyed by labelsContext source_ip, labelsContext destination_ip are never deleted")
        );
    }

    #[test]
    fn inventory_from_flags() {
        assert_eq!(Inventory::from_flags(None, None, None, None), Ok(None));
        assert_eq!(
            Inventory::from_flags(Some(100), Some(20), Some(2000), Some(300)),
            Ok(Some(SAMPLE))
        );
        assert_eq!(
            Inventory::from_flags(Some(100), None, Some(2000), None),
            Err("an estimate needs all four cluster sizes: missing --estimate-namespaces, --estimate-workloads".into())
        );
        assert_eq!(
            Inventory::from_flags(Some(0), Some(1), Some(1), Some(1)),
            Err("--estimate-nodes must be at least 1".into())
        );
    }
}
