//! The check from settings to report: read (the cluster, or this host's sockets), plan the
//! probes, probe with retries, judge. Rendering is the caller's (`render`).

use anyhow::{Context as _, Result};

use super::snapshot::Snapshot;
use super::{
    Finding, Mode, Report, Settings, Source, Status, judge, probe, proc_net, prometheus, snapshot,
    targets, wait,
};
use crate::catalogue::{self, Component};
use crate::exit::Failure;

/// Run the check `settings` describe.
pub fn report(settings: &Settings) -> Result<Report> {
    settings.validate()?;
    match &settings.source {
        Source::Local => {
            let wanted: Vec<u16> = Component::ALL
                .iter()
                .map(|c| settings.ports.get(*c))
                .collect();
            let listeners =
                proc_net::listening_on(&wanted).context("reading this host's listening sockets")?;
            let plan = targets::for_local(settings, &listeners, &hostname())?;
            let mut report = wait::probe_until(&plan, settings, probe::run_all);
            let now = proc_net::listening_on(&wanted).unwrap_or(listeners);
            judge::annotate_local(&mut report, settings.ports, &now);
            Ok(report)
        }
        Source::Nodes(nodes) => {
            let plan = targets::for_nodes(settings, nodes)?;
            Ok(wait::probe_until(&plan, settings, probe::run_all))
        }
        Source::Cluster { .. } => {
            let (snap, proxy) = snapshot::read(settings)?;
            let plan = targets::for_cluster(&snap, settings)?;
            if settings.from_prometheus {
                let report = from_prometheus(&snap, &plan, settings);
                drop(proxy);
                return report;
            }
            let mut report = wait::probe_until(&plan, settings, probe::run_all);
            let nodes = report.nodes.len();
            if let Some(advice) =
                prometheus::prefer_from_prometheus(nodes, snap.prometheus.is_some())
            {
                report.checks.push(Finding::new(Status::Warn, advice, None));
                report.counts.warn += 1;
            }
            if let Some(api) = prometheus_api(&snap, settings) {
                let scanned = prometheus::scanned_from_rows(&report.nodes);
                let inputs = prometheus_inputs(&snap, &plan, settings, Some(scanned));
                let (prom, _) = prometheus::evaluate(&api, &inputs);
                report.prometheus = Some(prom);
            }
            drop(proxy);
            Ok(report)
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Prometheus' HTTP API through the running `kubectl proxy` and the service proxy of
/// kube-prometheus-stack's `prometheus-operated`, when both are there.
fn prometheus_api(snap: &Snapshot, settings: &Settings) -> Option<prometheus::HttpApi> {
    let (base, view) = (snap.proxy.as_ref().ok()?, snap.prometheus.as_ref()?);
    Some(prometheus::HttpApi::new(
        format!(
            "{base}/api/v1/namespaces/{}/services/{}:{}/proxy",
            view.namespace, view.service, view.port
        ),
        settings.timeout.max(std::time::Duration::from_secs(5)),
    ))
}

/// What the Prometheus judge needs: the families expected (flags or cilium-config), the
/// dashboards installed (their ConfigMaps, read through the proxy), their fill analysis, the L7
/// policies, and the estimate for the cluster's size (counted now) when the list parses.
fn prometheus_inputs(
    snap: &Snapshot,
    plan: &targets::Plan,
    settings: &Settings,
    scanned: Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>>,
) -> prometheus::Inputs {
    let expected = plan.ctx.expected.clone();
    let specs: Vec<String> = expected.iter().flatten().map(|e| e.spec.clone()).collect();
    let version = catalogue::newest();
    let parsed = crate::spec::parse_list(&specs, &version).ok();
    let dashboards = snap
        .proxy
        .as_ref()
        .ok()
        .zip(snap.prometheus.as_ref())
        .map(|(base, view)| read_dashboards(base, &view.namespace, settings))
        .unwrap_or_default();
    let fills = parsed
        .as_deref()
        .map(|s| catalogue::dashboards::analyse(&version, s, &[]))
        .unwrap_or_default();
    let estimate = parsed.as_deref().and_then(|s| {
        let kubectl = crate::kubectl::Kubectl {
            bin: which::which("kubectl").ok()?,
            kube: settings.kube.clone(),
        };
        let inv = crate::cluster::inventory(&kubectl).ok()?;
        let entries: Vec<_> = expected
            .iter()
            .flatten()
            .map(super::Expected::entry)
            .collect();
        Some(crate::estimate::estimate_filtered(&inv, s, &entries))
    });
    prometheus::Inputs {
        expected,
        dashboards,
        fills,
        l7: plan.ctx.l7.clone(),
        estimate,
        scanned,
        strict: settings.strict,
    }
}

/// The Cilium dashboards' ConfigMaps in the stack's namespace (the Grafana sidecar's label),
/// only those the chart installs (by name), parsed to panel queries. Unreadable ones are left
/// out: the panels are then not asked.
fn read_dashboards(
    base: &str,
    namespace: &str,
    settings: &Settings,
) -> Vec<prometheus::GrafanaDashboard> {
    let path =
        format!("/api/v1/namespaces/{namespace}/configmaps?labelSelector=grafana_dashboard%3D1");
    let Ok(list) = super::cluster::proxy_json::<serde_json::Value>(
        base,
        &path,
        settings.timeout.max(std::time::Duration::from_secs(5)),
    ) else {
        return Vec::new();
    };
    let ours: Vec<serde_json::Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|cm| {
            let name = cm["metadata"]["name"].as_str().unwrap_or("");
            catalogue::dashboards::DASHBOARDS
                .iter()
                .any(|d| d.configmap == name && d.reads == catalogue::dashboards::Reads::Hubble)
        })
        .cloned()
        .collect();
    prometheus::dashboards_from_configmaps(&serde_json::json!({ "items": ours }))
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}

/// `check --from-prometheus`: the report from Prometheus alone, no agent scraped.
fn from_prometheus(snap: &Snapshot, plan: &targets::Plan, settings: &Settings) -> Result<Report> {
    let api = prometheus_api(snap, settings).ok_or_else(|| {
        Failure::preflight(
            "--from-prometheus: no kube-prometheus-stack Prometheus found (a service labelled operated-prometheus=true), or kubectl proxy did not start",
        )
        .hint("check without --from-prometheus scrapes every agent through the API server")
    })?;
    let inputs = prometheus_inputs(snap, plan, settings, None);
    let (prom, _) = prometheus::evaluate(&api, &inputs);
    let mut checks = plan.checks.clone();
    checks.extend(prom.checks.iter().cloned());
    let mut counts = prom.counts;
    for c in &plan.checks {
        match c.status {
            Status::Fail => counts.fail += 1,
            Status::Warn => counts.warn += 1,
            _ => counts.pass += 1,
        }
    }
    Ok(Report {
        mode: Mode::Cluster,
        status: prom.status.max(
            plan.checks
                .iter()
                .map(|c| c.status)
                .max()
                .unwrap_or(Status::Pass),
        ),
        passed: counts.fail == 0,
        families_from: settings
            .expected
            .as_ref()
            .map(|(_, f)| f.clone())
            .or(Some("cilium-config".into())),
        nodes: Vec::new(),
        families: prom.families.clone(),
        checks,
        counts,
        prometheus: Some(prom),
    })
}
