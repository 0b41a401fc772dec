//! Cluster mode: what the API server says about Cilium (agent and operator pods, the
//! `cilium-config` ConfigMap, L7 policies, kube-prometheus-stack's Prometheus), read with
//! `kubectl get --raw` (no discovery, JSON out; see `crate::kubectl`) and, through the one
//! `kubectl proxy` on a loopback port that carries every pod-proxy scrape, Prometheus' own API.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::selector::{self, Selector, Verdict};
use super::{Finding, L7Policies, Status};
use crate::catalogue::{COMPONENTS, Component, ComponentFacts, L7Rule, objects};

// ---------------------------------------------------------------------------------------------
// The Kubernetes JSON the check reads, as small typed structs: only the fields it uses, each
// `#[serde(default)]` (an absent or null field is its empty value, as the API server leaves out
// what is unset). Label selectors and labels stay JSON: `selector` parses them and explains
// what is wrong with a bad one.

/// A null where a list or map is expected is the empty one (`"egress": null`).
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Any Kubernetes list (`PodList`, `ServiceList`, a custom resource list).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, bound(deserialize = "T: Deserialize<'de>"))]
pub struct List<T> {
    #[serde(deserialize_with = "nullable")]
    pub items: Vec<T>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List { items: Vec::new() }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ManagedField {
    pub time: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: Option<String>,
    /// `{"key": "value"}`, or null when the object has none.
    pub labels: Value,
    pub creation_timestamp: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub managed_fields: Vec<ManagedField>,
}

/// A pod, as `/api/v1/namespaces/NS/pods` lists it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodObject {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub node_name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodStatus {
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
    pub phase: Option<String>,
    #[serde(rename = "startTime")]
    pub start_time: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub conditions: Vec<Condition>,
}

/// A pod's or a node's condition (`{"type": "Ready", "status": "False", ...}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// A Node, as `/api/v1/nodes` lists it: its name and conditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeObject {
    pub metadata: ObjectMeta,
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeStatus {
    #[serde(deserialize_with = "nullable")]
    pub conditions: Vec<Condition>,
}

/// Whether something is Ready, from its `Ready` condition: `Ok(())`, or why not (`Unknown:
/// NodeStatusUnknown, Kubelet stopped posting node status.`). No `Ready` condition: `Ok`.
fn readiness(conditions: &[Condition]) -> Result<(), String> {
    match conditions.iter().find(|c| c.kind == "Ready") {
        Some(c) if c.status != "True" => {
            let mut why = format!("Ready={}", c.status);
            for part in [&c.reason, &c.message].into_iter().flatten() {
                if !part.is_empty() {
                    why.push_str(&format!(", {}", part.trim()));
                }
            }
            Err(why)
        }
        _ => Ok(()),
    }
}

/// The nodes that are not Ready, by name, with why (their `Ready` condition).
pub fn not_ready_nodes(list: &List<NodeObject>) -> BTreeMap<String, String> {
    list.items
        .iter()
        .filter_map(|n| {
            readiness(&n.status.conditions)
                .err()
                .map(|why| (n.metadata.name.clone(), why))
        })
        .collect()
}

/// A ConfigMap (`cilium-config`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigMap {
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "nullable")]
    pub data: BTreeMap<String, String>,
}

/// A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy: `spec`, `specs`, or both.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NetworkPolicy {
    pub metadata: ObjectMeta,
    pub spec: Option<PolicySpec>,
    #[serde(deserialize_with = "nullable")]
    pub specs: Vec<PolicySpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PolicySpec {
    #[serde(deserialize_with = "nullable")]
    pub ingress: Vec<PolicyRule>,
    #[serde(deserialize_with = "nullable")]
    pub egress: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(deserialize_with = "nullable")]
    pub to_ports: Vec<PortRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PortRule {
    pub rules: Option<L7Rules>,
}

/// The L7 rules of a port rule (`dns`, `http`, `kafka`, ... by `L7Rule::key`); only whether
/// each kind has any matters here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct L7Rules(BTreeMap<String, serde_json::Value>);

impl L7Rules {
    /// Whether it has rules of this kind (a non-empty list under its key).
    pub fn has(&self, rule: L7Rule) -> bool {
        self.0
            .get(rule.key())
            .and_then(serde_json::Value::as_array)
            .is_some_and(|a| !a.is_empty())
    }
}

/// A Service (kube-prometheus-stack's `prometheus-operated`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServiceSpec {
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: Option<u16>,
}

/// A Prometheus Operator `Prometheus`: its ServiceMonitor selectors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Prometheus {
    pub metadata: ObjectMeta,
    pub spec: PrometheusSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// A label selector; null when not set (which selects nothing).
    pub service_monitor_selector: Value,
    /// A label selector; null when not set (the Prometheus' own namespace only).
    pub service_monitor_namespace_selector: Value,
}

/// A Prometheus Operator `ServiceMonitor`: its name, namespace and labels are what matters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServiceMonitor {
    pub metadata: ObjectMeta,
}

/// Prometheus' `/api/v1/targets` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TargetsResponse {
    pub data: TargetsData,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TargetsData {
    #[serde(deserialize_with = "nullable")]
    pub active_targets: Vec<ScrapeTarget>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ScrapeTarget {
    pub scrape_pool: String,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    pub health: String,
    pub last_error: String,
}

/// A JSON document as `T`, with what was being read in the error.
pub fn typed<T: DeserializeOwned>(v: Value, what: &str) -> Result<T> {
    serde_json::from_value(v).with_context(|| format!("{what}: unexpected JSON"))
}

// ---------------------------------------------------------------------------------------------

/// A Cilium pod as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub node: String,
    pub host_ip: Option<String>,
    pub phase: String,
    pub start_time: Option<String>,
    /// Why the pod is not Ready (its `Ready` condition), if it is not.
    pub not_ready: Option<String>,
}

/// The pods of a list, by node then name.
pub fn parse_pods(list: &List<PodObject>) -> Vec<Pod> {
    let mut pods: Vec<Pod> = list
        .items
        .iter()
        .map(|p| Pod {
            name: p.metadata.name.clone(),
            node: p.spec.node_name.clone(),
            host_ip: p.status.host_ip.clone(),
            phase: p.status.phase.clone().unwrap_or_else(|| "Unknown".into()),
            start_time: p.status.start_time.clone(),
            not_ready: readiness(&p.status.conditions).err(),
        })
        .collect();
    pods.sort_by(|a, b| a.node.cmp(&b.node).then(a.name.cmp(&b.name)));
    pods
}

/// What `cilium-config` says about metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiliumConfig {
    pub hubble_metrics: Option<String>,
    pub agent_port: Option<u16>,
    pub operator_port: Option<u16>,
    pub hubble_port: Option<u16>,
    pub openmetrics: bool,
    /// `hubble.metrics.tls.enabled` (`catalogue::chart::HUBBLE_METRICS_TLS`): Hubble speaks HTTPS.
    pub hubble_tls: bool,
    /// When the ConfigMap was last written (newest managedFields time), RFC 3339, as written.
    pub changed: Option<String>,
    /// Its times that are not RFC 3339 (left out of `changed`, and reported).
    pub bad_times: Vec<String>,
}

fn port_of(addr: Option<&str>) -> Option<u16> {
    addr?
        .rsplit(':')
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p != 0)
}

/// An API time (RFC 3339, any offset and precision).
pub fn parse_time(t: &str) -> Result<jiff::Timestamp, String> {
    t.parse::<jiff::Timestamp>()
        .map_err(|e| format!("'{t}' is not an RFC 3339 time: {e}"))
}

pub fn parse_config(cm: &ConfigMap) -> CiliumConfig {
    let s = |k: &str| cm.data.get(k).map(String::as_str);
    let address = |c: Component| port_of(s(c.facts().config_map_address_key));
    let mut bad_times = Vec::new();
    let changed = cm
        .metadata
        .managed_fields
        .iter()
        .filter_map(|f| f.time.as_deref())
        .chain(cm.metadata.creation_timestamp.as_deref())
        .filter_map(|t| match parse_time(t) {
            Ok(ts) => Some((ts, t)),
            Err(_) => {
                bad_times.push(t.to_string());
                None
            }
        })
        .max_by_key(|(ts, _)| *ts)
        .map(|(_, t)| t.to_string());
    CiliumConfig {
        hubble_metrics: s(objects::CONFIG_MAP_HUBBLE_METRICS)
            .map(str::to_string)
            .filter(|l| !l.trim().is_empty()),
        agent_port: address(Component::Agent),
        operator_port: address(Component::Operator),
        hubble_port: address(Component::Hubble),
        openmetrics: s(objects::CONFIG_MAP_HUBBLE_OPEN_METRICS) == Some("true"),
        hubble_tls: s(objects::CONFIG_MAP_HUBBLE_TLS) == Some("true"),
        changed,
        bad_times,
    }
}

/// Whether a pod started before the ConfigMap was last changed, comparing the instants (API
/// times are RFC 3339; offsets and fractional seconds are allowed, where text order is wrong).
/// A time that does not parse is an error naming it.
pub fn started_before(start: &str, changed: &str) -> Result<bool, String> {
    Ok(parse_time(start)? < parse_time(changed)?)
}

/// Policies with L7 rules, by kind, from CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
/// lists.
pub fn l7_policies(lists: &[&List<NetworkPolicy>]) -> L7Policies {
    let mut by_rule: BTreeMap<L7Rule, Vec<String>> =
        L7Rule::ALL.iter().map(|r| (*r, Vec::new())).collect();
    for list in lists {
        for p in &list.items {
            let name = match &p.metadata.namespace {
                Some(ns) => format!("{ns}/{}", p.metadata.name),
                None => p.metadata.name.clone(),
            };
            for (rule, names) in by_rule.iter_mut() {
                let has = p
                    .spec
                    .iter()
                    .chain(&p.specs)
                    .flat_map(|spec| spec.ingress.iter().chain(&spec.egress))
                    .flat_map(|r| r.to_ports.iter().filter_map(|tp| tp.rules.as_ref()))
                    .any(|rules| rules.has(*rule));
                if has {
                    names.push(name.clone());
                }
            }
        }
    }
    L7Policies::Known { by_rule }
}

/// The Prometheus of kube-prometheus-stack: the `prometheus-operated` service (label
/// `operated-prometheus=true`) and its web port.
pub fn prometheus_service(list: &List<Service>) -> Option<(String, String, u16)> {
    let svc = list.items.first()?;
    let ns = svc.metadata.namespace.clone()?;
    let name = svc.metadata.name.clone();
    if name.is_empty() {
        return None;
    }
    let ports = &svc.spec.ports;
    let port = ports
        .iter()
        .find(|p| {
            p.name
                .as_deref()
                .is_some_and(|n| objects::PROMETHEUS_WEB_PORTS.contains(&n))
        })
        .or_else(|| ports.first())?
        .port?;
    Some((ns, name, port))
}

fn target_matches(facts: &ComponentFacts, t: &ScrapeTarget) -> bool {
    let label = t.labels.get("job").map(String::as_str).unwrap_or("");
    facts.job_matches(&t.scrape_pool) || facts.job_matches(label)
}

/// The label every namespace carries with its own name (Kubernetes 1.21+): the one namespace
/// label known without reading the Namespace.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Whether Prometheus' `serviceMonitorNamespaceSelector` lets it look in the ServiceMonitor's
/// namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Namespaces {
    Selected,
    /// It does not: why.
    Not(String),
    /// Could not be told: why.
    Unknown(String),
}

fn namespace_check(prometheus: &Prometheus, sm_ns: Option<&str>) -> Namespaces {
    let raw = &prometheus.spec.service_monitor_namespace_selector;
    let parsed = match selector::parse(raw) {
        Ok(s) => s,
        Err(e) => {
            return Namespaces::Not(format!(
                "Prometheus' serviceMonitorNamespaceSelector is not valid: {e}"
            ));
        }
    };
    let Some(sm_ns) = sm_ns else {
        return Namespaces::Unknown(
            "could not check Prometheus' serviceMonitorNamespaceSelector: the ServiceMonitor's namespace is not known".into(),
        );
    };
    if parsed == Selector::Null {
        // Prometheus Operator: a null namespace selector is the Prometheus' own namespace only.
        return match prometheus.metadata.namespace.as_deref() {
            Some(own) if own == sm_ns => Namespaces::Selected,
            Some(own) => Namespaces::Not(format!(
                "Prometheus' serviceMonitorNamespaceSelector is not set, so it looks for ServiceMonitors in its own namespace {own} only, not in {sm_ns}; set it to {{}} for every namespace"
            )),
            None => Namespaces::Unknown(
                "could not check Prometheus' serviceMonitorNamespaceSelector: it is not set (the Prometheus' own namespace only) and that namespace is not known".into(),
            ),
        };
    }
    let labels = serde_json::json!({ NAMESPACE_NAME_LABEL: sm_ns });
    match selector::evaluate(&parsed, &labels, |k| k == NAMESPACE_NAME_LABEL) {
        Verdict::Selected | Verdict::Nothing => Namespaces::Selected,
        Verdict::Fails(f) => Namespaces::Not(format!(
            "Prometheus' serviceMonitorNamespaceSelector does not select namespace {sm_ns}: it {}",
            selector::explain(&f)
        )),
        Verdict::Unknown(reqs) => Namespaces::Unknown(format!(
            "could not check Prometheus' serviceMonitorNamespaceSelector ({}) against the labels of namespace {sm_ns}, which ciliumon does not read (kubectl get namespace {sm_ns} --show-labels)",
            reqs.iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Why Prometheus has no target for an existing ServiceMonitor, from the Prometheus object's
/// `serviceMonitorSelector` (labels) and `serviceMonitorNamespaceSelector`.
fn unselected_hint(
    sm: &ServiceMonitor,
    prometheus: &Prometheus,
    name: &str,
    labels_value: &str,
) -> String {
    let by_labels = match selector::parse(&prometheus.spec.service_monitor_selector) {
        Err(e) => Some(format!(
            "Prometheus' serviceMonitorSelector is not valid ({e}), so it selects no ServiceMonitor"
        )),
        Ok(sel) => match selector::evaluate(&sel, &sm.metadata.labels, |_| true) {
            Verdict::Selected | Verdict::Unknown(_) => None,
            Verdict::Nothing => Some(
                "Prometheus' serviceMonitorSelector is not set, which selects no ServiceMonitor: set it to {} for every ServiceMonitor, or to labels the Cilium ServiceMonitors carry (kube-prometheus-stack sets {} with helm value prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false)".to_string(),
            ),
            Verdict::Fails(f) => Some(format!(
                "ServiceMonitor {name} {}, so Prometheus' serviceMonitorSelector does not select it; its labels are set with helm value {labels_value}",
                selector::explain(&f)
            )),
        },
    };
    let namespaces = namespace_check(prometheus, sm.metadata.namespace.as_deref());
    match (by_labels, namespaces) {
        (Some(l), Namespaces::Not(n)) => format!("{l}; also, {n}"),
        (Some(l), _) => l,
        (None, Namespaces::Not(n)) => {
            format!("ServiceMonitor {name} matches Prometheus' serviceMonitorSelector, but {n}")
        }
        (None, Namespaces::Unknown(u)) => format!(
            "ServiceMonitor {name} matches Prometheus' serviceMonitorSelector; {u}; then check that the ServiceMonitor's selector matches the Service's labels"
        ),
        (None, Namespaces::Selected) => format!(
            "ServiceMonitor {name} exists and Prometheus' serviceMonitorSelector and serviceMonitorNamespaceSelector select it; check that the ServiceMonitor's selector matches the Service's labels"
        ),
    }
}

/// Judge Prometheus' `/api/v1/targets` answer; `monitors` (ServiceMonitor list) and
/// `prometheus` (the Prometheus object, for its selectors) explain absent targets.
pub fn judge_targets(
    targets: &TargetsResponse,
    monitors: Option<&List<ServiceMonitor>>,
    prometheus: Option<&Prometheus>,
) -> Vec<Finding> {
    let active = &targets.data.active_targets;
    let mut out = Vec::new();
    for facts in &COMPONENTS {
        let job = facts.prometheus_job;
        let (value, labels_value) = (
            facts.service_monitor_enable(),
            facts.service_monitor_labels(),
        );
        let labels_value = labels_value.as_str();
        let mine: Vec<&ScrapeTarget> = active.iter().filter(|t| target_matches(facts, t)).collect();
        if mine.is_empty() {
            let monitor = monitors.and_then(|m| {
                m.items
                    .iter()
                    .find(|sm| facts.job_matches(&sm.metadata.name))
            });
            let hint = match (monitor, prometheus) {
                (None, _) => format!("no ServiceMonitor for {job}: set helm value {value}"),
                (Some(sm), Some(prom)) => {
                    let name = Some(sm.metadata.name.as_str())
                        .filter(|n| !n.is_empty())
                        .unwrap_or(job);
                    unselected_hint(sm, prom, name, labels_value)
                }
                (Some(sm), None) => format!(
                    "ServiceMonitor {} exists; check that Prometheus' serviceMonitorSelector selects it",
                    Some(sm.metadata.name.as_str())
                        .filter(|n| !n.is_empty())
                        .unwrap_or(job)
                ),
            };
            out.push(Finding::new(
                Status::Warn,
                format!("Prometheus has no {job} target"),
                Some(hint),
            ));
            continue;
        }
        let up = mine.iter().filter(|t| t.health == "up").count();
        if up == mine.len() {
            out.push(Finding::new(
                Status::Pass,
                format!("Prometheus scrapes {job}: {up}/{} targets up", mine.len()),
                None,
            ));
        } else {
            let err = mine
                .iter()
                .find(|t| t.health != "up")
                .map(|t| t.last_error.clone())
                .unwrap_or_default();
            out.push(Finding::new(
                Status::Fail,
                format!(
                    "Prometheus scrapes {job}: {up}/{} targets up; {err}",
                    mine.len()
                ),
                Some("look at the failing targets in Prometheus' Targets page".into()),
            ));
        }
    }
    out
}

/// GET a JSON document through the kubectl proxy, as `T`.
pub fn proxy_json<T: DeserializeOwned>(base: &str, path: &str, timeout: Duration) -> Result<T> {
    let (status, body) = super::probe::fetch(&format!("{base}{path}"), timeout, PROXY_JSON_LIMIT)
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("GET {path} through kubectl proxy"))?;
    if status != 200 {
        return Err(anyhow!(
            "GET {path}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
}

/// The largest JSON answer read through the proxy (Prometheus' targets of a large cluster run
/// to megabytes; anything near this is not what was asked for).
const PROXY_JSON_LIMIT: usize = 256 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from<T: DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn readiness_of_pods_and_nodes() {
        let pods: List<PodObject> = from(json!({"items": [
            {"metadata": {"name": "cilium-a"}, "status": {"phase": "Running", "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                 "message": "containers with unready status: [cilium-agent]"}]}},
            {"metadata": {"name": "cilium-b"}, "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "cilium-c"}, "status": {"conditions": null}}
        ]}));
        let p = parse_pods(&pods);
        assert_eq!(
            p[0].not_ready.as_deref(),
            Some("Ready=False, ContainersNotReady, containers with unready status: [cilium-agent]")
        );
        assert_eq!(
            (p[1].not_ready.as_deref(), p[2].not_ready.as_deref()),
            (None, None)
        );
        let nodes: List<NodeObject> = from(json!({"items": [
            {"metadata": {"name": "n1"}, "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                 "message": "Kubelet stopped posting node status."}]}},
            {"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        ]}));
        let bad = not_ready_nodes(&nodes);
        assert_eq!(bad.len(), 1);
        assert_eq!(
            bad["n1"],
            "Ready=Unknown, NodeStatusUnknown, Kubelet stopped posting node status."
        );
    }

    #[test]
    fn absent_and_null_fields_read_as_empty() {
        let pods: List<PodObject> = from(json!({"items": [
            {"metadata": {"name": "cilium-b"}, "spec": {"nodeName": "n2"}, "status": {"phase": "Running", "hostIP": "10.0.0.2"}},
            {"metadata": {"name": "cilium-a", "labels": null}, "status": {}}
        ]}));
        let p = parse_pods(&pods);
        assert_eq!(p[0].name, "cilium-a");
        assert_eq!((p[0].node.as_str(), p[0].phase.as_str()), ("", "Unknown"));
        assert_eq!(p[1].host_ip.as_deref(), Some("10.0.0.2"));
        assert_eq!(p[0].not_ready, None);
        let cm: ConfigMap = from(json!({"metadata": {"managedFields": null}, "data": null}));
        assert_eq!(parse_config(&cm), CiliumConfig::default());
        let cnp: List<NetworkPolicy> = from(json!({"items": [
            {"metadata": {"name": "x"}, "spec": {"egress": null, "ingress": [{"toPorts": null}]}, "specs": null}]}));
        let l7 = l7_policies(&[&cnp]);
        let dns = l7.for_rule(L7Rule::Dns).unwrap();
        assert!(dns.is_empty());
        let t: TargetsResponse = from(json!({"status": "success"}));
        assert!(t.data.active_targets.is_empty());
        // A document of another shape is an error naming what was read.
        let e =
            typed::<List<PodObject>>(json!({"items": {"a": 1}}), "the Cilium pods").unwrap_err();
        assert!(
            format!("{e:#}").starts_with("the Cilium pods: unexpected JSON"),
            "{e:#}"
        );
    }

    #[test]
    fn prometheus_service_prefers_the_web_port() {
        let l: List<Service> = from(
            json!({"items": [{"metadata": {"name": "prometheus-operated", "namespace": "monitoring"},
            "spec": {"ports": [{"name": "grpc", "port": 10901}, {"name": "http-web", "port": 9090}]}}]}),
        );
        assert_eq!(
            prometheus_service(&l),
            Some(("monitoring".into(), "prometheus-operated".into(), 9090))
        );
        assert_eq!(prometheus_service(&List::default()), None);
    }

    #[test]
    fn config_ports_and_time() {
        let cm = json!({
            "metadata": {"creationTimestamp": "2025-01-01T00:00:00Z", "managedFields": [
                {"time": "2025-01-02T00:00:00Z"}, {"time": "2025-03-04T05:06:07Z"}]},
            "data": {"hubble-metrics": "dns drop", "prometheus-serve-addr": ":9990",
                     "operator-prometheus-serve-addr": ":9963", "hubble-metrics-server": "[::]:9965",
                     "enable-hubble-open-metrics": "true"}});
        let c = parse_config(&from(cm));
        assert_eq!(c.agent_port, Some(9990));
        assert_eq!(c.hubble_port, Some(9965));
        assert!(c.openmetrics);
        assert_eq!(c.changed.as_deref(), Some("2025-03-04T05:06:07Z"));
        assert!(started_before("2025-03-04T05:06:06Z", "2025-03-04T05:06:07Z").unwrap());
        assert!(!started_before("2025-03-04T05:06:07Z", "2025-03-04T05:06:07Z").unwrap());
        assert!(c.bad_times.is_empty());
    }

    #[test]
    fn times_compare_as_instants_not_text() {
        // Text order says the first is later ("2025-03-04T06" > "2025-03-04T05"), but at
        // +02:00 it is 04:00Z, an hour before.
        assert!(started_before("2025-03-04T06:00:00+02:00", "2025-03-04T05:00:00Z").unwrap());
        // Fractional seconds: "...:07.5Z" > "...:07Z" as text and as time; "...:07.000Z" is the
        // same instant as "...:07Z" though it sorts after it as text.
        assert!(!started_before("2025-03-04T05:06:07.5Z", "2025-03-04T05:06:07Z").unwrap());
        assert!(!started_before("2025-03-04T05:06:07Z", "2025-03-04T05:06:07.000Z").unwrap());
        assert!(started_before("2025-03-04T05:06:06.999Z", "2025-03-04T05:06:07Z").unwrap());
        // A time that does not parse is an error naming it, not ordered as text.
        let e = started_before("yesterday", "2025-03-04T05:06:07Z").unwrap_err();
        assert!(e.contains("'yesterday' is not an RFC 3339 time"), "{e}");
        // The newest managedFields time by instant, not by text; a bad one is reported.
        let cm = json!({
            "metadata": {"creationTimestamp": "2025-03-04T00:00:00Z", "managedFields": [
                {"time": "2025-03-04T09:00:00+05:00"}, {"time": "2025-03-04T05:00:00Z"},
                {"time": "not a time"}]}});
        let c = parse_config(&from(cm));
        assert_eq!(c.changed.as_deref(), Some("2025-03-04T05:00:00Z"));
        assert_eq!(c.bad_times, ["not a time"]);
    }

    #[test]
    fn l7_rules_are_found_in_spec_and_specs() {
        let cnp = json!({"items": [
            {"metadata": {"namespace": "a", "name": "dns-only"}, "spec": {"egress": [{"toPorts": [{"rules": {"dns": [{"matchPattern": "*"}]}}]}]}},
            {"metadata": {"namespace": "b", "name": "l4"}, "spec": {"ingress": [{"toPorts": [{"ports": [{"port": "80"}]}]}]}},
            {"metadata": {"namespace": "c", "name": "multi"}, "specs": [{"ingress": [{"toPorts": [{"rules": {"http": [{"method": "GET"}]}}]}]}]}
        ]});
        let ccnp = json!({"items": []});
        let l7 = l7_policies(&[&from(cnp), &from(ccnp)]);
        let rule = |r| l7.for_rule(r).unwrap().to_vec();
        assert_eq!(rule(L7Rule::Dns), vec!["a/dns-only"]);
        assert_eq!(rule(L7Rule::Http), vec!["c/multi"]);
        assert!(rule(L7Rule::Kafka).is_empty());
        // The JSON the report carries keeps one list per kind, in kind order.
        assert_eq!(
            serde_json::to_string(&l7).unwrap(),
            r#"{"state":"known","dns":["a/dns-only"],"http":["c/multi"],"kafka":[]}"#
        );
    }

    #[test]
    fn targets_up_down_absent() {
        let t = json!({"data": {"activeTargets": [
            {"scrapePool": "serviceMonitor/kube-system/cilium-agent/0", "health": "up"},
            {"scrapePool": "serviceMonitor/kube-system/cilium-operator/0", "health": "down", "lastError": "connection refused"},
            {"scrapePool": "serviceMonitor/kube-system/hubble-relay/0", "health": "up"}]}});
        let sm = json!({"items": [{"metadata": {"name": "hubble", "labels": {"app": "x"}}}]});
        let prom = json!({"spec": {"serviceMonitorSelector": {"matchLabels": {"release": "kps"}}}});
        let f = judge_targets(&from(t), Some(&from(sm)), Some(&from(prom)));
        assert_eq!(f[0].status, Status::Pass);
        assert_eq!(f[1].status, Status::Fail);
        assert!(f[1].what.contains("connection refused"));
        assert_eq!(f[2].status, Status::Warn);
        assert!(
            f[2].hint.as_ref().unwrap().contains("release=kps"),
            "{:?}",
            f[2].hint
        );
    }

    /// The hint for hubble's absent target, with a hubble ServiceMonitor in kube-system
    /// carrying `labels` and a Prometheus in `monitoring` with `spec`.
    fn hubble_hint(labels: Value, spec: Value) -> String {
        let t = json!({"data": {"activeTargets": [
            {"scrapePool": "serviceMonitor/kube-system/cilium-agent/0", "health": "up"},
            {"scrapePool": "serviceMonitor/kube-system/cilium-operator/0", "health": "up"}]}});
        let sm = json!({"items": [{"metadata": {"name": "hubble", "namespace": "kube-system", "labels": labels}}]});
        let prom = json!({"metadata": {"name": "kps", "namespace": "monitoring"}, "spec": spec});
        let f = judge_targets(&from(t), Some(&from(sm)), Some(&from(prom)));
        assert_eq!(f[2].status, Status::Warn);
        f[2].hint.clone().unwrap()
    }

    #[test]
    fn a_service_monitor_failing_only_on_an_expression_is_named() {
        let hint = hubble_hint(
            json!({"app.kubernetes.io/part-of": "cilium", "release": "cilium"}),
            json!({
                "serviceMonitorSelector": {
                    "matchLabels": {"app.kubernetes.io/part-of": "cilium"},
                    "matchExpressions": [{"key": "release", "operator": "In", "values": ["prom", "kps"]}]
                },
                "serviceMonitorNamespaceSelector": {}
            }),
        );
        assert_eq!(
            hint,
            "ServiceMonitor hubble fails `release In (prom, kps)` (it has release=cilium), so Prometheus' serviceMonitorSelector does not select it; its labels are set with helm value hubble.metrics.serviceMonitor.labels"
        );
    }

    #[test]
    fn each_operator_in_a_hint() {
        let spec = |op: &str, values: &[&str]| {
            json!({"serviceMonitorSelector": {"matchExpressions": [{"key": "team", "operator": op, "values": values}]},
                   "serviceMonitorNamespaceSelector": {}})
        };
        let h = hubble_hint(json!({"team": "net"}), spec("NotIn", &["net", "sec"]));
        assert!(
            h.contains("fails `team NotIn (net, sec)` (it has team=net)"),
            "{h}"
        );
        let h = hubble_hint(json!({}), spec("Exists", &[]));
        assert!(h.contains("fails `team Exists` (no label team)"), "{h}");
        let h = hubble_hint(json!({"team": "net"}), spec("DoesNotExist", &[]));
        assert!(
            h.contains("fails `team DoesNotExist` (it has team=net)"),
            "{h}"
        );
        // Met: the requirement is not blamed.
        let h = hubble_hint(json!({"team": "sec"}), spec("In", &["sec"]));
        assert!(!h.contains("team"), "{h}");
        assert!(
            h.contains(
                "select it; check that the ServiceMonitor's selector matches the Service's labels"
            ),
            "{h}"
        );
        let h = hubble_hint(json!({}), spec("Equals", &["x"]));
        assert!(
            h.contains("serviceMonitorSelector is not valid") && h.contains("'Equals'"),
            "{h}"
        );
    }

    #[test]
    fn empty_selector_selects_and_null_selects_nothing() {
        let h = hubble_hint(
            json!(null),
            json!({"serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {}}),
        );
        assert!(h.starts_with("ServiceMonitor hubble exists and Prometheus' serviceMonitorSelector and serviceMonitorNamespaceSelector select it"), "{h}");
        let h = hubble_hint(
            json!({"release": "kps"}),
            json!({"serviceMonitorNamespaceSelector": {}}),
        );
        assert!(
            h.starts_with(
                "Prometheus' serviceMonitorSelector is not set, which selects no ServiceMonitor"
            ),
            "{h}"
        );
        assert!(
            h.contains("serviceMonitorSelectorNilUsesHelmValues=false"),
            "{h}"
        );
    }

    #[test]
    fn namespace_selector_decided_where_it_can_be() {
        let labels = json!({"release": "kps"});
        let spec = |ns: Value| json!({"serviceMonitorSelector": {"matchLabels": {"release": "kps"}}, "serviceMonitorNamespaceSelector": ns});
        // Null: the Prometheus' own namespace only.
        let h = hubble_hint(labels.clone(), spec(Value::Null));
        assert!(
            h.contains("matches Prometheus' serviceMonitorSelector, but"),
            "{h}"
        );
        assert!(
            h.contains("its own namespace monitoring only, not in kube-system"),
            "{h}"
        );
        // On the namespace's name: decided.
        let h = hubble_hint(
            labels.clone(),
            spec(json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"]}]})),
        );
        assert!(h.contains("does not select namespace kube-system: it fails `kubernetes.io/metadata.name In (monitoring)`"), "{h}");
        let h = hubble_hint(
            labels.clone(),
            spec(json!({"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}})),
        );
        assert!(
            h.contains("select it; check that the ServiceMonitor's selector"),
            "{h}"
        );
        // On other namespace labels: not guessed.
        let h = hubble_hint(
            labels.clone(),
            spec(json!({"matchLabels": {"monitoring": "enabled"}})),
        );
        assert!(
            h.contains(
                "could not check Prometheus' serviceMonitorNamespaceSelector (`monitoring=enabled`)"
            ),
            "{h}"
        );
        assert!(
            h.contains("kubectl get namespace kube-system --show-labels"),
            "{h}"
        );
        // A label failure and a namespace failure: both said.
        let h = hubble_hint(json!({}), spec(Value::Null));
        assert!(
            h.starts_with("ServiceMonitor hubble lacks the label release=kps"),
            "{h}"
        );
        assert!(
            h.contains("; also, Prometheus' serviceMonitorNamespaceSelector is not set"),
            "{h}"
        );
    }
}
