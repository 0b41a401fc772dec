//! From what is known (the settings, and in cluster mode the snapshot) to what to probe: one
//! row per node, the endpoints to probe with their requests, the endpoints judged without a
//! probe (a pod that is not running), and the findings known before any probe. Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::Result;

use super::cluster::{self, Pod};
use super::probe::Request;
use super::proc_net::Listener;
use super::snapshot::{PrometheusView, Snapshot};
use super::{
    Asked, Context, Endpoint, Expected, Finding, L7Policies, Mode, NodeRow, Ports, Settings,
    Source, Status,
};
use crate::catalogue::{Component, chart, objects};
use crate::exit::Failure;

/// One endpoint to probe, and where its result goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its node's row in `Plan::rows`.
    pub row: usize,
    pub component: Component,
    /// Shown in the report: `10.0.0.1:9962`, `pod kube-system/cilium-x:9962`.
    pub label: String,
    pub request: Request,
}

/// An endpoint judged without probing (a pod that is not running, Hubble over TLS with
/// `--direct`).
#[derive(Debug, Clone)]
pub struct Fixed {
    pub row: usize,
    pub endpoint: Endpoint,
}

/// What to do with the rows once judged, before the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Post {
    Nothing,
    /// Cluster mode: each row's agent pod and what the API server says is wrong with its node
    /// or the pod (see `judge::at_fault`).
    Cluster {
        namespace: String,
        agents: Vec<RowAgent>,
    },
    /// Straight to nodes, where the operator runs on one or two of them: a refused operator
    /// port is "not here", and no operator anywhere is `none` (see `judge::operator_somewhere`).
    OperatorSomewhere {
        port: u16,
        none: Status,
    },
}

/// A row's agent pod, and why its node or the pod is not Ready (from the API server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowAgent {
    pub row: usize,
    pub pod: String,
    pub node: String,
    /// `Ready=Unknown, NodeStatusUnknown, ...` of the Node.
    pub node_not_ready: Option<String>,
    /// `Ready=False, ContainersNotReady, ...` of the agent pod.
    pub pod_not_ready: Option<String>,
}

/// The probes to make and everything needed to judge them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ctx: Context,
    pub rows: Vec<NodeRow>,
    pub targets: Vec<Target>,
    pub fixed: Vec<Fixed>,
    /// Findings known before probing (configuration, operator pods, Prometheus).
    pub checks: Vec<Finding>,
    pub post: Post,
}

/// The judge's context before anything is read: the families from the settings.
pub fn context(settings: &Settings, mode: Mode) -> Result<Context> {
    Ok(Context {
        mode,
        expected: settings.expected.as_ref().map(|(e, _)| e.clone()),
        families_from: settings.expected.as_ref().map(|(_, from)| from.clone()),
        strict: settings.strict,
        l7: L7Policies::Unknown {
            reason: "policies are listed in cluster mode only".into(),
        },
        openmetrics: None,
        restart_hint: settings.restart_hint()?,
        timeout: settings.timeout,
        via_proxy: false,
        dynamic: false,
        configured: vec![],
        asked: None,
    })
}

/// `host` as it goes in a URL: IPv6 in brackets.
pub fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn metrics_request(host: &str, port: u16) -> Request {
    Request {
        url: format!("http://{host}:{port}/metrics"),
        openmetrics: true,
        group: None,
    }
}

/// `--node`/`--nodes-file`: the three ports of every node, directly.
pub fn for_nodes(settings: &Settings, nodes: &[(String, IpAddr)]) -> Result<Plan> {
    let ports = settings.ports;
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (i, (name, ip)) in nodes.iter().enumerate() {
        rows.push(NodeRow::new(name.clone(), Some(ip.to_string())));
        for c in Component::ALL {
            let port = ports.get(c);
            targets.push(Target {
                row: i,
                component: c,
                label: format!("{}:{port}", host(*ip)),
                request: metrics_request(&host(*ip), port),
            });
        }
    }
    Ok(Plan {
        ctx: context(settings, Mode::Nodes)?,
        rows,
        targets,
        fixed: Vec::new(),
        checks: Vec::new(),
        post: Post::OperatorSomewhere {
            port: ports.get(Component::Operator),
            none: Status::Fail,
        },
    })
}

/// `--local`: this host (`hostname`), each port at the address it listens on (`listeners`).
pub fn for_local(settings: &Settings, listeners: &[Listener], hostname: &str) -> Result<Plan> {
    let ports = settings.ports;
    let mut targets = Vec::new();
    for c in Component::ALL {
        let port = ports.get(c);
        // Several sockets may listen on the port (one per address): prefer localhost, then
        // the wildcard (reached through localhost), then any other address.
        let rank = |ip: IpAddr| match ip {
            IpAddr::V4(v) if v == Ipv4Addr::LOCALHOST => 0,
            IpAddr::V6(v) if v.is_loopback() => 0,
            ip if ip.is_unspecified() => 1,
            _ => 2,
        };
        let addr = listeners
            .iter()
            .filter(|l| l.addr.port() == port)
            .map(|l| l.addr.ip())
            .min_by_key(|ip| rank(*ip));
        let ip = match addr {
            Some(ip) if !ip.is_unspecified() => ip,
            Some(IpAddr::V6(_))
                if !listeners
                    .iter()
                    .any(|l| l.addr.port() == port && l.addr.is_ipv4()) =>
            {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            }
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        targets.push(Target {
            row: 0,
            component: c,
            label: format!("{}:{port}", host(ip)),
            request: metrics_request(&host(ip), port),
        });
    }
    Ok(Plan {
        ctx: context(settings, Mode::Local)?,
        rows: vec![NodeRow::new(hostname, None)],
        targets,
        fixed: Vec::new(),
        checks: Vec::new(),
        post: Post::OperatorSomewhere {
            port: ports.get(Component::Operator),
            none: Status::Warn,
        },
    })
}

/// An endpoint that was not probed because its pod cannot be reached.
fn unprobed(c: Component, pod: &Pod, ns: &str, summary: &str, detail: String) -> Endpoint {
    Endpoint {
        component: c,
        target: format!("pod {ns}/{}", pod.name),
        status: Status::Fail,
        summary: summary.to_string(),
        detail,
        hint: Some(format!("kubectl -n {ns} describe pod {}", pod.name)),
        http_status: None,
        format: None,
        samples: 0,
        exemplars: 0,
        elapsed_ms: 0,
        scan: None,
    }
}

/// Dynamic mode (cilium-config has `hubble-dynamic-metrics-config-path`): the expected
/// families are the dynamic file's (compared with the settings' list when one is given).
fn reconcile_dynamic(
    ctx: &mut Context,
    list: Option<&str>,
    file: &Result<cluster::DynamicFile, String>,
    ns: &str,
    checks: &mut Vec<Finding>,
) {
    let cm = format!("{ns}/{}", objects::DYNAMIC_CONFIG_MAP);
    if list.is_some() {
        checks.push(Finding::new(
            Status::Fail,
            format!(
                "{} sets both a static list ({}) and dynamic metrics ({}): 1.17 agents start no Hubble metrics and 1.18+ agents refuse the configuration",
                objects::CONFIG_MAP,
                objects::CONFIG_MAP_HUBBLE_METRICS,
                objects::CONFIG_MAP_DYNAMIC_PATH
            ),
            Some("keep one: ciliumon setup --metrics-mode dynamic (or static) renders only that one".into()),
        ));
    }
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            checks.push(Finding::new(
                Status::Fail,
                format!(
                    "the agents read dynamic Hubble metrics, but ConfigMap {cm} cannot be read: {e}"
                ),
                Some(format!(
                    "kubectl -n {ns} get configmap {} -o yaml",
                    objects::DYNAMIC_CONFIG_MAP
                )),
            ));
            return;
        }
    };
    let (from_file, unknown) = Expected::from_dynamic(&file.metrics);
    ctx.asked = Some(Asked::from_dynamic(
        objects::DYNAMIC_CONFIG_MAP.to_string(),
        &file.metrics,
    ));
    if !unknown.is_empty() {
        checks.push(Finding::new(
            Status::Warn,
            format!(
                "{cm} names metrics ciliumon does not know: {}",
                unknown.join(" ")
            ),
            None,
        ));
    }
    ctx.dynamic = true;
    match &ctx.expected {
        Some(flags) => {
            let mut a: Vec<&str> = flags.iter().map(|e| e.handler.name).collect();
            let mut b: Vec<&str> = from_file.iter().map(|e| e.handler.name).collect();
            a.sort_unstable();
            b.sort_unstable();
            if a != b {
                checks.push(Finding::new(
                    Status::Warn,
                    format!(
                        "{cm} asks for {}, not the families asked for ({})",
                        b.join(" "),
                        a.join(" ")
                    ),
                    Some("apply the list with ciliumon setup --metrics-mode dynamic (no restart needed)".into()),
                ));
            }
        }
        None => {
            ctx.expected = Some(from_file);
            ctx.families_from = Some(format!("{cm} (dynamic)"));
        }
    }
}

/// The expected families: the settings' list (compared with `cilium-config`'s), or
/// `cilium-config`'s own.
fn reconcile_families(ctx: &mut Context, list: Option<&str>, ns: &str, checks: &mut Vec<Finding>) {
    ctx.asked = list.map(|l| {
        Asked::from_agent_list(
            format!(
                "{} {}",
                objects::CONFIG_MAP,
                objects::CONFIG_MAP_HUBBLE_METRICS
            ),
            l,
        )
    });
    match (&ctx.expected, list) {
        (Some(flags), Some(list)) => {
            let (cm_list, _) = Expected::from_agent_list(list);
            let mut a: Vec<&str> = flags.iter().map(|e| e.handler.name).collect();
            let mut b: Vec<&str> = cm_list.iter().map(|e| e.handler.name).collect();
            a.sort_unstable();
            b.sort_unstable();
            if a != b {
                checks.push(Finding::new(
                    Status::Warn,
                    format!(
                        "{} enables {}, not the families asked for ({})",
                        objects::CONFIG_MAP,
                        b.join(" "),
                        a.join(" ")
                    ),
                    Some("apply the list with ciliumon setup, then restart the agents".into()),
                ));
            }
        }
        (None, Some(list)) => {
            let (list, unknown) = Expected::from_agent_list(list);
            if !unknown.is_empty() {
                checks.push(Finding::new(
                    Status::Warn,
                    format!(
                        "{} lists families ciliumon does not know: {}",
                        objects::CONFIG_MAP,
                        unknown.join(" ")
                    ),
                    None,
                ));
            }
            ctx.expected = Some(list);
            ctx.families_from = Some(format!("{ns}/{}", objects::CONFIG_MAP));
        }
        (_, None) => checks.push(Finding::new(
            Status::Fail,
            format!(
                "Hubble metrics are not enabled: {} has no {} list",
                objects::CONFIG_MAP,
                objects::CONFIG_MAP_HUBBLE_METRICS
            ),
            Some(format!(
                "enable them: helm value {}={{dns,drop,tcp,flow,...}} (ciliumon setup does it)",
                chart::HUBBLE_METRICS_ENABLED
            )),
        )),
    }
}

/// Cluster mode: a row per node with an agent (operators join the row of their node), each
/// pod's endpoints through the pod proxy (or its host IP with `--direct`), and what the
/// snapshot already tells: the configuration, the operator pods, stale agents, Prometheus.
pub fn for_cluster(snap: &Snapshot, settings: &Settings) -> Result<Plan> {
    let ns = snap.namespace.as_str();
    let direct = matches!(settings.source, Source::Cluster { direct: true });
    if snap.agents.is_empty() {
        return Err(Failure::preflight(format!(
            "no Cilium agent pods (label {}) in namespace {ns}",
            objects::AGENT_SELECTOR
        ))
        .hint("give the Cilium namespace with --namespace, or install Cilium first")
        .into());
    }
    let mut ctx = context(settings, Mode::Cluster)?;
    let mut checks = Vec::new();
    let config = match &snap.config {
        Ok(c) => c.clone(),
        Err(e) => {
            checks.push(Finding::new(
                Status::Warn,
                format!("cannot read ConfigMap {ns}/{}: {e}", objects::CONFIG_MAP),
                Some("ports and the family list fall back to the defaults and the flags".into()),
            ));
            cluster::CiliumConfig::default()
        }
    };
    if config.dynamic_path.is_some() {
        reconcile_dynamic(
            &mut ctx,
            config.hubble_metrics.as_deref(),
            &snap.dynamic,
            ns,
            &mut checks,
        );
    } else {
        reconcile_families(&mut ctx, config.hubble_metrics.as_deref(), ns, &mut checks);
    }
    ctx.openmetrics = Some(config.openmetrics);
    ctx.configured = [
        (Component::Agent, config.agent_port),
        (Component::Operator, config.operator_port),
        (Component::Hubble, config.hubble_port),
    ]
    .into_iter()
    .filter_map(|(c, port)| port.map(|_| c))
    .collect();
    ctx.l7 = match &snap.policies {
        Ok((a, b)) => cluster::l7_policies(&[a, b]),
        Err(e) => L7Policies::Unknown {
            reason: format!("cannot list Cilium policies: {e}"),
        },
    };
    let ports = settings.ports.or(Ports {
        agent: config.agent_port,
        operator: config.operator_port,
        hubble: config.hubble_port,
    });
    let proxy = match &snap.proxy {
        Ok(base) => Some(base.as_str()),
        Err(e) if direct => {
            checks.push(Finding::new(
                Status::Warn,
                format!("kubectl proxy: {e}"),
                None,
            ));
            None
        }
        Err(e) => return Err(Failure::preflight(e.clone()).into()),
    };
    ctx.via_proxy = !direct;

    let mut rows: Vec<NodeRow> = Vec::new();
    let mut targets = Vec::new();
    let mut fixed = Vec::new();
    let row_of = |rows: &mut Vec<NodeRow>, pod: &Pod| -> usize {
        if let Some(i) = rows.iter().position(|r| r.node == pod.node) {
            return i;
        }
        rows.push(NodeRow::new(pod.node.clone(), pod.host_ip.clone()));
        rows.len() - 1
    };
    let mut add = |rows: &mut Vec<NodeRow>, pod: &Pod, c: Component| {
        let row = row_of(rows, pod);
        let tls = c == Component::Hubble && config.hubble_tls;
        match pod_endpoint(pod, c, ports.get(c), ns, tls, direct, proxy) {
            Ok((label, url)) => targets.push(Target {
                row,
                component: c,
                label,
                request: Request {
                    url,
                    openmetrics: true,
                    group: None,
                },
            }),
            Err(endpoint) => fixed.push(Fixed {
                row,
                endpoint: *endpoint,
            }),
        }
    };
    for pod in &snap.agents {
        add(&mut rows, pod, Component::Agent);
        add(&mut rows, pod, Component::Hubble);
    }
    for pod in &snap.operators {
        add(&mut rows, pod, Component::Operator);
    }
    if snap.operators.is_empty() {
        checks.push(Finding::new(
            Status::Fail,
            format!(
                "no {} pods (label {}) in {ns}",
                objects::OPERATOR_DEPLOYMENT,
                objects::OPERATOR_SELECTOR
            ),
            Some("the operator should run as a Deployment next to the agents".into()),
        ));
    }
    if !config.bad_times.is_empty() {
        checks.push(Finding::new(
            Status::Warn,
            format!(
                "{ns}/{} has times that are not RFC 3339 ({}): which agents started before it last changed is told from the others only",
                objects::CONFIG_MAP,
                config.bad_times.join(", ")
            ),
            None,
        ));
    }
    if let Some(changed) = &config.changed {
        stale_agents(&snap.agents, changed, &mut rows, &ctx.restart_hint);
    }
    if let Some(view) = &snap.prometheus {
        checks.extend(prometheus_findings(view));
    }
    let not_ready = match &snap.not_ready_nodes {
        Ok(n) => n.clone(),
        Err(_) => Default::default(),
    };
    let agents = snap
        .agents
        .iter()
        .filter_map(|pod| {
            Some(RowAgent {
                row: rows.iter().position(|r| r.node == pod.node)?,
                pod: pod.name.clone(),
                node: pod.node.clone(),
                node_not_ready: not_ready.get(&pod.node).cloned(),
                pod_not_ready: pod.not_ready.clone(),
            })
        })
        .collect();
    // Rows are in node order already: the snapshot's agents are sorted by node.
    Ok(Plan {
        ctx,
        rows,
        targets,
        fixed,
        checks,
        post: Post::Cluster {
            namespace: ns.to_string(),
            agents,
        },
    })
}

/// Where a pod's endpoint is probed (its label and URL), or, when it cannot be, the endpoint
/// judged without a probe. `tls`: Hubble serves its metrics over TLS.
fn pod_endpoint(
    pod: &Pod,
    c: Component,
    port: u16,
    ns: &str,
    tls: bool,
    direct: bool,
    proxy: Option<&str>,
) -> Result<(String, String), Box<Endpoint>> {
    if pod.phase != "Running" {
        let detail = format!("pod {} is {}, not Running", pod.name, pod.phase);
        return Err(Box::new(unprobed(
            c,
            pod,
            ns,
            &pod.phase.to_lowercase(),
            detail,
        )));
    }
    // Hubble metrics over TLS: the API server's proxy speaks HTTPS to the pod when the path
    // says `https:`; ciliumon's own client speaks plain HTTP only.
    if tls && direct {
        let mut endpoint = unprobed(
            c,
            pod,
            ns,
            "TLS, not checked",
            format!(
                "Hubble metrics are served over TLS ({}); --direct scrapes plain HTTP only",
                chart::HUBBLE_METRICS_TLS
            ),
        );
        endpoint.status = Status::Warn;
        endpoint.hint = Some(
            "check without --direct: the API server's pod proxy speaks TLS to the agent".into(),
        );
        return Err(Box::new(endpoint));
    }
    let scheme = if tls { "https:" } else { "" };
    match (proxy, direct, &pod.host_ip) {
        (_, true, Some(ip)) => {
            let h = ip
                .parse::<IpAddr>()
                .map(host)
                .unwrap_or_else(|_| ip.clone());
            Ok((format!("{h}:{port}"), format!("http://{h}:{port}/metrics")))
        }
        (Some(base), false, _) => Ok((
            format!("pod {ns}/{}:{port}", pod.name),
            format!(
                "{base}/api/v1/namespaces/{ns}/pods/{scheme}{}:{port}/proxy/metrics",
                pod.name
            ),
        )),
        _ => Err(Box::new(unprobed(
            c,
            pod,
            ns,
            "no host IP",
            "the pod has no host IP yet".into(),
        ))),
    }
}

/// Agents started before the ConfigMap last changed (`changed`) may run the old list: a note
/// on their node's row.
fn stale_agents(agents: &[Pod], changed: &str, rows: &mut [NodeRow], restart_hint: &str) {
    for pod in agents {
        let Some(start) = &pod.start_time else {
            continue;
        };
        let Some(row) = rows.iter_mut().find(|r| r.node == pod.node) else {
            continue;
        };
        match cluster::started_before(start, changed) {
            Ok(false) => {}
            Ok(true) => row.notes.push(Finding::new(
                Status::Warn,
                format!(
                    "agent {} started {start}, before {} last changed ({changed}): it may run the old list",
                    pod.name,
                    objects::CONFIG_MAP
                ),
                Some(restart_hint.to_string()),
            )),
            Err(e) => row.notes.push(Finding::new(
                Status::Warn,
                format!(
                    "cannot tell whether agent {} started before {} last changed: {e}",
                    pod.name,
                    objects::CONFIG_MAP
                ),
                None,
            )),
        }
    }
}

/// kube-prometheus-stack's view: what its Prometheus scrapes, or why it could not be asked.
fn prometheus_findings(view: &PrometheusView) -> Vec<Finding> {
    match &view.targets {
        Ok(t) => {
            // The Prometheus behind the `prometheus-operated` service: one in its namespace.
            let prometheus = view.prometheuses.as_ref().and_then(|p| {
                p.items
                    .iter()
                    .find(|i| i.metadata.namespace.as_deref() == Some(view.namespace.as_str()))
                    .or_else(|| p.items.first())
            });
            cluster::judge_targets(t, view.monitors.as_ref(), prometheus)
        }
        Err(e) => vec![Finding::new(
            Status::Warn,
            format!(
                "cannot ask Prometheus {}/{} for its targets: {e}",
                view.namespace, view.service
            ),
            None,
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::super::cluster::CiliumConfig;
    use super::super::examples;
    use super::*;

    fn pod(name: &str, node: &str, phase: &str) -> Pod {
        Pod {
            name: name.into(),
            node: node.into(),
            host_ip: Some(format!("10.0.0.{}", node.trim_start_matches("node-"))),
            phase: phase.into(),
            start_time: Some("2025-01-01T00:00:00Z".into()),
            not_ready: None,
        }
    }

    fn snapshot(config: CiliumConfig) -> Snapshot {
        Snapshot {
            namespace: "kube-system".into(),
            agents: vec![
                pod("cilium-a", "node-1", "Running"),
                pod("cilium-b", "node-2", "Pending"),
            ],
            operators: vec![pod("cilium-operator-x", "node-2", "Running")],
            not_ready_nodes: Ok(Default::default()),
            config: Ok(config),
            dynamic: Err("not found".into()),
            policies: Ok((Default::default(), Default::default())),
            proxy: Ok("http://127.0.0.1:8001".into()),
            prometheus: None,
        }
    }

    fn settings(direct: bool, expected: Option<&[&str]>) -> Settings {
        Settings {
            source: Source::Cluster { direct },
            ports: Ports::default(),
            expected: expected.map(|e| (examples::expected(e), "--metric".into())),
            strict: false,
            wait: None,
            timeout: std::time::Duration::from_secs(2),
            concurrency: None,
            namespace: "kube-system".into(),
            kube: Default::default(),
            from_prometheus: false,
        }
    }

    fn config() -> CiliumConfig {
        CiliumConfig {
            hubble_metrics: Some("dns drop".into()),
            hubble_port: Some(9999),
            changed: Some("2025-02-01T00:00:00Z".into()),
            ..CiliumConfig::default()
        }
    }

    #[test]
    fn pods_through_the_pod_proxy_on_the_configured_ports() {
        let plan = for_cluster(&snapshot(config()), &settings(false, None)).unwrap();
        assert!(plan.ctx.via_proxy);
        assert_eq!(
            plan.ctx.families_from.as_deref(),
            Some("kube-system/cilium-config")
        );
        let urls: Vec<&str> = plan
            .targets
            .iter()
            .map(|t| t.request.url.as_str())
            .collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8001/api/v1/namespaces/kube-system/pods/cilium-a:9962/proxy/metrics",
                "http://127.0.0.1:8001/api/v1/namespaces/kube-system/pods/cilium-a:9999/proxy/metrics",
                "http://127.0.0.1:8001/api/v1/namespaces/kube-system/pods/cilium-operator-x:9963/proxy/metrics",
            ]
        );
        assert_eq!(plan.targets[2].row, 1, "the operator joins its node's row");
        // The pending agent is judged without a probe.
        assert_eq!(plan.fixed.len(), 2);
        assert_eq!(plan.fixed[0].endpoint.summary, "pending");
        // Started before cilium-config changed.
        assert!(
            plan.rows[0].notes[0]
                .what
                .contains("before cilium-config last changed")
        );
    }

    #[test]
    fn dynamic_mode_takes_the_dynamic_file() {
        let mut c = config();
        c.hubble_metrics = None;
        c.dynamic_path = Some("/dynamic-metrics-config/dynamic-metrics.yaml".into());
        let mut snap = snapshot(c.clone());
        snap.dynamic = Ok(cluster::DynamicFile {
            metrics: crate::dynamic::parse_file(
                "metrics:\n- name: flow\n  contextOptions: [{name: sourceContext, values: [namespace]}]\n- name: nope\n",
            )
            .unwrap(),
        });
        let plan = for_cluster(&snap, &settings(false, None)).unwrap();
        assert!(plan.ctx.dynamic);
        assert_eq!(
            plan.ctx.families_from.as_deref(),
            Some("kube-system/cilium-dynamic-metrics-config (dynamic)")
        );
        let exp = plan.ctx.expected.as_ref().unwrap();
        assert_eq!(exp.len(), 1);
        assert_eq!(exp[0].spec, "flow:sourceContext=namespace");
        assert!(
            plan.checks
                .iter()
                .any(|f| f.what.contains("does not know: nope"))
        );
        // Flags are compared with the file.
        let plan = for_cluster(&snap, &settings(false, Some(&["drop"]))).unwrap();
        assert!(plan.checks.iter().any(|f| {
            f.what
                .contains("asks for flow, not the families asked for (drop)")
        }));
        // Both lists: a failure. An unreadable file: a failure.
        let mut both = c.clone();
        both.hubble_metrics = Some("dns".into());
        let mut s2 = snapshot(both);
        s2.dynamic = snap.dynamic.clone();
        let plan = for_cluster(&s2, &settings(false, None)).unwrap();
        assert!(
            plan.checks
                .iter()
                .any(|f| f.status == Status::Fail && f.what.contains("sets both"))
        );
        let plan = for_cluster(&snapshot(c), &settings(false, None)).unwrap();
        assert!(
            plan.checks
                .iter()
                .any(|f| f.status == Status::Fail && f.what.contains("cannot be read"))
        );
        assert!(plan.ctx.expected.is_none());
    }

    #[test]
    fn the_flags_list_is_compared_with_the_configmaps() {
        let plan = for_cluster(
            &snapshot(config()),
            &settings(false, Some(&["drop", "flow"])),
        )
        .unwrap();
        assert_eq!(plan.ctx.families_from.as_deref(), Some("--metric"));
        assert_eq!(
            plan.checks[0].what,
            "cilium-config enables dns drop, not the families asked for (drop flow)"
        );
        let mut c = config();
        c.hubble_metrics = None;
        let plan = for_cluster(&snapshot(c), &settings(false, None)).unwrap();
        assert_eq!(plan.checks[0].status, Status::Fail);
        assert!(
            plan.checks[0]
                .what
                .starts_with("Hubble metrics are not enabled")
        );
    }

    #[test]
    fn tls_hubble_goes_https_through_the_proxy_and_is_not_checked_direct() {
        let mut c = config();
        c.hubble_tls = true;
        let plan = for_cluster(&snapshot(c.clone()), &settings(false, None)).unwrap();
        assert!(
            plan.targets[1]
                .request
                .url
                .contains("/pods/https:cilium-a:9999/proxy")
        );
        let plan = for_cluster(&snapshot(c), &settings(true, None)).unwrap();
        assert!(!plan.ctx.via_proxy);
        assert_eq!(plan.targets[0].request.url, "http://10.0.0.1:9962/metrics");
        let tls = plan
            .fixed
            .iter()
            .find(|f| f.endpoint.summary == "TLS, not checked")
            .unwrap();
        assert_eq!(tls.endpoint.status, Status::Warn);
    }

    #[test]
    fn no_agents_or_no_proxy_is_an_error_and_no_operator_a_failure() {
        let mut s = snapshot(config());
        s.operators.clear();
        let plan = for_cluster(&s, &settings(false, None)).unwrap();
        assert!(
            plan.checks
                .iter()
                .any(|c| c.what.starts_with("no cilium-operator pods"))
        );
        s.proxy = Err("kubectl proxy exited: boom".into());
        let e = for_cluster(&s, &settings(false, None)).unwrap_err();
        assert_eq!(format!("{e:#}"), "kubectl proxy exited: boom");
        let plan = for_cluster(&s, &settings(true, None)).unwrap();
        assert!(
            plan.checks
                .iter()
                .any(|c| c.what == "kubectl proxy: kubectl proxy exited: boom")
        );
        s.agents.clear();
        let e = for_cluster(&s, &settings(false, None)).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("no Cilium agent pods"),
            "{e:#}"
        );
    }

    #[test]
    fn nodes_ipv6_in_brackets() {
        let nodes = vec![("::1".to_string(), "::1".parse().unwrap())];
        let plan = for_nodes(&settings(false, None), &nodes).unwrap();
        assert_eq!(plan.targets[0].label, "[::1]:9962");
        assert_eq!(plan.targets[0].request.url, "http://[::1]:9962/metrics");
        assert_eq!(plan.ctx.mode, Mode::Nodes);
    }
}
