//! Cluster mode's read: everything the check needs from the API server, in one plain value
//! (`Snapshot`), read with kubectl (`get --raw`, and one `kubectl proxy` that also carries the
//! pod-proxy scrapes). Nothing is decided here: a read that fails is kept as its error for
//! `targets::for_cluster` to judge, except the agent pods, without which there is no check.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use super::Settings;
use super::cluster::{
    self, CiliumConfig, List, NetworkPolicy, Pod, Prometheus, ServiceMonitor, TargetsResponse,
};
use crate::catalogue::objects;
use crate::exit::Failure;
use crate::kubectl::{Kubectl, Proxy};

/// What the API server says about Cilium, as read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The Cilium namespace read.
    pub namespace: String,
    /// The agent pods (`k8s-app=cilium`), by node then name.
    pub agents: Vec<Pod>,
    /// The operator pods (`io.cilium/app=operator`); empty when they could not be read.
    pub operators: Vec<Pod>,
    /// The nodes that are not Ready, by name, with their `Ready` condition (one list of
    /// `/api/v1/nodes`), or why the nodes could not be listed.
    pub not_ready_nodes: Result<BTreeMap<String, String>, String>,
    /// `cilium-config`, or why it could not be read.
    pub config: Result<CiliumConfig, String>,
    /// CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies, or why they could not be
    /// listed.
    pub policies: Result<(List<NetworkPolicy>, List<NetworkPolicy>), String>,
    /// The `kubectl proxy` base URL (`http://127.0.0.1:PORT`), or why it did not start.
    pub proxy: Result<String, String>,
    /// kube-prometheus-stack's Prometheus, when its service exists and the proxy runs.
    pub prometheus: Option<PrometheusView>,
}

/// What the Prometheus behind `prometheus-operated` scrapes, and the objects that explain it.
#[derive(Debug, Clone)]
pub struct PrometheusView {
    pub namespace: String,
    pub service: String,
    pub port: u16,
    /// `/api/v1/targets?state=active`, or why it could not be asked.
    pub targets: Result<TargetsResponse, String>,
    /// The ServiceMonitors in the Cilium namespace (None: not readable).
    pub monitors: Option<List<ServiceMonitor>>,
    /// Every Prometheus object (None: not readable).
    pub prometheuses: Option<List<Prometheus>>,
}

fn find_kubectl() -> Result<std::path::PathBuf> {
    which::which("kubectl").map_err(|_| {
        Failure::preflight("kubectl not found on PATH; cluster mode reads the Cilium pods with it")
            .hint(format!(
                "{}; or check nodes without the API server: --node ADDR, --nodes-file FILE or --local",
                crate::cluster::install_hint("kubectl")
            ))
            .into()
    })
}

/// Read the cluster. The running proxy is returned beside the snapshot: the probes go through
/// it, and it stops when dropped.
pub fn read(settings: &Settings) -> Result<(Snapshot, Option<Proxy>)> {
    let ns = settings.namespace.as_str();
    let kubectl = Kubectl {
        bin: find_kubectl()?,
        kube: settings.kube.clone(),
    };
    let pods_path =
        |selector: &str| format!("/api/v1/namespaces/{ns}/pods?labelSelector={selector}");
    let (agents, operators, nodes, cm, cnp, ccnp, prom, proxy) = std::thread::scope(|s| {
        let k = &kubectl;
        let agents =
            s.spawn(move || k.get_raw(&pods_path(&objects::encoded(objects::AGENT_SELECTOR))));
        let operators =
            s.spawn(move || k.get_raw(&pods_path(&objects::encoded(objects::OPERATOR_SELECTOR))));
        let nodes = s.spawn(move || k.get_raw(objects::NODES_PATH));
        let cm = s.spawn(move || {
            k.get_raw(&format!(
                "/api/v1/namespaces/{ns}/configmaps/{}",
                objects::CONFIG_MAP
            ))
        });
        let cnp = s.spawn(move || k.get_raw(objects::NETWORK_POLICIES_PATH));
        let ccnp = s.spawn(move || k.get_raw(objects::CLUSTERWIDE_NETWORK_POLICIES_PATH));
        let prom = s.spawn(move || {
            k.get_raw(&format!(
                "/api/v1/services?labelSelector={}",
                objects::encoded(objects::PROMETHEUS_SERVICE_SELECTOR)
            ))
        });
        let proxy = s.spawn(move || k.proxy());
        let j = |h: std::thread::ScopedJoinHandle<'_, Result<serde_json::Value>>| {
            h.join().expect("kubectl thread")
        };
        (
            j(agents),
            j(operators),
            j(nodes),
            j(cm),
            j(cnp),
            j(ccnp),
            j(prom),
            proxy.join().expect("proxy thread"),
        )
    });
    let agents = agents
        .and_then(|v| cluster::typed(v, "the Cilium pods"))
        .map_err(|e| {
            Failure::preflight(format!("cannot read the Cilium pods: {e:#}"))
                .hint("check that the cluster is reachable: kubectl cluster-info (--kube-context, --kubeconfig)")
        })?;
    let operators = operators
        .and_then(|v| cluster::typed(v, "the operator pods"))
        .map(|l| cluster::parse_pods(&l))
        .unwrap_or_default();
    let not_ready_nodes = nodes
        .and_then(|v| cluster::typed(v, "the nodes"))
        .map(|l| cluster::not_ready_nodes(&l))
        .map_err(|e| format!("{e:#}"));
    let config = cm
        .and_then(|v| cluster::typed(v, objects::CONFIG_MAP))
        .map(|cm| cluster::parse_config(&cm))
        .map_err(|e| format!("{e:#}"));
    let policies = cnp
        .and_then(|v| cluster::typed(v, "CiliumNetworkPolicies"))
        .and_then(|a| {
            ccnp.and_then(|v| cluster::typed(v, "CiliumClusterwideNetworkPolicies"))
                .map(|b| (a, b))
        })
        .map_err(|e| format!("{e:#}"));
    let (proxy_base, proxy) = match proxy {
        Ok(p) => (Ok(p.base.clone()), Some(p)),
        Err(e) => (Err(format!("{e:#}")), None),
    };
    let service = prom
        .ok()
        .and_then(|v| cluster::typed(v, "services").ok())
        .and_then(|l| cluster::prometheus_service(&l));
    let prometheus = match (&proxy, service) {
        (Some(p), Some((pns, name, port))) => Some(read_prometheus(
            &p.base,
            ns,
            pns,
            name,
            port,
            settings.timeout,
        )),
        _ => None,
    };
    let snapshot = Snapshot {
        namespace: ns.to_string(),
        agents: cluster::parse_pods(&agents),
        operators,
        not_ready_nodes,
        config,
        policies,
        proxy: proxy_base,
        prometheus,
    };
    Ok((snapshot, proxy))
}

/// kube-prometheus-stack's view, through the proxy: its active targets, then (only when it
/// answered) the ServiceMonitors and Prometheus objects that explain the missing ones.
fn read_prometheus(
    base: &str,
    ns: &str,
    pns: String,
    name: String,
    port: u16,
    timeout: Duration,
) -> PrometheusView {
    let t = timeout.max(Duration::from_secs(5));
    let targets_path = format!(
        "/api/v1/namespaces/{pns}/services/{name}:{port}/proxy/api/v1/targets?state=active"
    );
    let targets = cluster::proxy_json::<TargetsResponse>(base, &targets_path, t)
        .map_err(|e| format!("{e:#}"));
    let (monitors, prometheuses) = if targets.is_ok() {
        (
            cluster::proxy_json(base, &objects::service_monitors_path(ns), t).ok(),
            cluster::proxy_json(base, &objects::prometheuses_path(), t).ok(),
        )
    } else {
        (None, None)
    };
    PrometheusView {
        namespace: pns,
        service: name,
        port,
        targets,
        monitors,
        prometheuses,
    }
}
