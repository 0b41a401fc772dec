//! `ciliumon check`: validate the flags, decide the mode, gather the targets, probe them (with
//! retries under `--wait`), judge, print.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::catalogue::{self, Component};
use crate::check::cluster;
use crate::check::probe::{self, Probe, Request, Settings};
use crate::check::{
    self as model, Context, Endpoint, Expected, Finding, L7Policies, Mode, NodeRow, Report, Status,
};
use crate::cli::{CheckArgs, GlobalArgs, ReportOutput};
use crate::cluster::Kube;
use crate::exit::{Code, Failure};
use crate::kubectl::Kubectl;
use crate::ui::Printer;
use crate::version::Version;

/// One endpoint to probe, and where its result goes.
struct Target {
    row: usize,
    component: Component,
    /// Shown in the report: `10.0.0.1:9962`, `pod kube-system/cilium-x:9962`.
    label: String,
    request: Request,
}

/// An endpoint judged without probing (a pod that is not running).
struct Fixed {
    row: usize,
    endpoint: Endpoint,
}

pub fn run(global: &GlobalArgs, args: &CheckArgs, printer: Printer) -> Result<Code> {
    // Ctrl-C: stop the kubectl that is running (in its own process group) and exit 130.
    crate::run::install_interrupt_handler();
    let report = report(global, args)?;
    let out = match args.output {
        ReportOutput::Json => model::render::json(&report),
        ReportOutput::Text => model::render::text(&report, printer.stdout_color()),
    };
    // The check is done: a closed stdout does not turn a failed check into a pass.
    printer.report(&out);
    Ok(if report.passed {
        Code::Ok
    } else {
        Code::Failed
    })
}

/// Validate the flags, decide the mode, probe and judge: the report, printed by the caller
/// (`check` on stdout; `setup` after its steps).
pub fn report(global: &GlobalArgs, args: &CheckArgs) -> Result<Report> {
    let ports = ports(args)?;
    if args.concurrency == Some(0) {
        return Err(Failure::bad_input("invalid --concurrency 0: must be at least 1").into());
    }
    if args.timeout.is_zero() {
        return Err(Failure::bad_input("invalid --timeout 0: must be more than zero").into());
    }
    let expected = expected_from_flags(args)?;
    let mut nodes: Vec<(String, IpAddr)> = Vec::new();
    for n in &args.nodes {
        nodes.push((n.clone(), parse_node(n, "--node")?));
    }
    if let Some(file) = &args.nodes_file {
        nodes.extend(read_nodes_file(file)?);
    }
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| "kube-system".into());
    let mut restart = format!("kubectl -n {namespace} rollout restart ds/cilium");
    if let Some(c) = &global.kube_context {
        restart = format!(
            "kubectl --context {} -n {namespace} rollout restart ds/cilium",
            shlex::try_quote(c)?
        );
    }
    let mut ctx = Context {
        mode: Mode::Nodes,
        expected: expected.as_ref().map(|(e, _)| e.clone()),
        families_from: expected.as_ref().map(|(_, from)| from.clone()),
        strict: args.strict,
        l7: L7Policies::Unknown {
            reason: "policies are listed in cluster mode only".into(),
        },
        openmetrics: None,
        restart_hint: format!("restart the agents: {restart}"),
        timeout: args.timeout,
        via_proxy: false,
    };
    let report = if args.local {
        ctx.mode = Mode::Local;
        local(&ctx, args, ports)?
    } else if !nodes.is_empty() {
        direct_nodes(&ctx, args, ports, &nodes)
    } else if args.nodes_file.is_some() {
        return Err(Failure::bad_input("the --nodes-file has no addresses")
            .hint("one address a line; # starts a comment")
            .into());
    } else {
        ctx.mode = Mode::Cluster;
        in_cluster(ctx, global, args, &namespace)?
    };
    Ok(report)
}

/// Ports: agent, operator, Hubble, from the flags (None = the default or the cluster's).
#[derive(Debug, Clone, Copy)]
struct Ports {
    agent: Option<u16>,
    operator: Option<u16>,
    hubble: Option<u16>,
}

impl Ports {
    fn get(&self, c: Component) -> u16 {
        match c {
            Component::Agent => self.agent,
            Component::Operator => self.operator,
            Component::Hubble => self.hubble,
        }
        .unwrap_or(c.default_port())
    }
}

fn ports(args: &CheckArgs) -> Result<Ports> {
    for (flag, p) in [
        ("--agent-port", args.agent_port),
        ("--operator-port", args.operator_port),
        ("--hubble-port", args.hubble_port),
    ] {
        if p == Some(0) {
            return Err(
                Failure::bad_input(format!("invalid {flag} 0: a port is 1 to 65535")).into(),
            );
        }
    }
    Ok(Ports {
        agent: args.agent_port,
        operator: args.operator_port,
        hubble: args.hubble_port,
    })
}

fn expected_from_flags(args: &CheckArgs) -> Result<Option<(Vec<Expected>, String)>> {
    let version: Version = match &args.cilium_version {
        Some(v) => v.parse().map_err(|e: anyhow::Error| {
            Failure::bad_input(format!("invalid --cilium-version '{v}': {e}"))
        })?,
        None => catalogue::newest(),
    };
    if !args.metrics.is_empty() {
        let specs = crate::spec::parse_list(&args.metrics, &version)?;
        return Ok(Some((
            specs.iter().map(Expected::from_spec).collect(),
            "--metric".into(),
        )));
    }
    if let Some(path) = &args.config {
        let specs = crate::config::metrics_from_file(path, &version)?;
        return Ok(Some((
            specs.iter().map(Expected::from_spec).collect(),
            path.display().to_string(),
        )));
    }
    Ok(None)
}

/// A node address: an IP literal (IPv6 with or without brackets) or a host name that resolves.
pub(crate) fn parse_node(raw: &str, source: &str) -> Result<IpAddr> {
    let s = raw.trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return Ok(ip);
    }
    let bad = |why: &str| -> anyhow::Error {
        Failure::bad_input(format!(
            "invalid {source} address '{}': {why}",
            crate::escape::escape(raw)
        ))
            .hint("give an IP address or a host name, without a port (ports: --agent-port, --operator-port, --hubble-port)")
            .into()
    };
    let looks_like_name = !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && !s.starts_with(['-', '.']);
    if !looks_like_name {
        return Err(bad("not an IP address or host name"));
    }
    match (s, 0u16).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| bad("the name has no address")),
        Err(e) => Err(bad(&format!("cannot resolve it ({e})"))),
    }
}

pub(crate) fn read_nodes_file(path: &Path) -> Result<Vec<(String, IpAddr)>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::bad_input(format!("cannot read --nodes-file {}: {e}", path.display()))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ip = parse_node(line, &format!("{}:{}", path.display(), i + 1))?;
        out.push((line.to_string(), ip));
    }
    Ok(out)
}

fn host(ip: IpAddr) -> String {
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
fn direct_nodes(
    ctx: &Context,
    args: &CheckArgs,
    ports: Ports,
    nodes: &[(String, IpAddr)],
) -> Report {
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
    probe_and_judge(ctx, args, rows, targets, Vec::new(), Vec::new(), |report| {
        operator_somewhere(report, ports.get(Component::Operator), Status::Fail)
    })
}

/// The operator runs as one or two replicas, not on every node: a refused operator port on a
/// node is "not here", and only no operator anywhere is a problem.
fn operator_somewhere(report: &mut [NodeRow], port: u16, none_status: Status) -> Vec<Finding> {
    let mut any = false;
    for row in report.iter_mut() {
        if let Some(op) = &mut row.operator {
            if op.status == Status::Pass {
                any = true;
            } else if op.summary == "refused" {
                op.status = Status::Skip;
                op.summary = "not here".into();
                op.hint = None;
            }
        }
    }
    if any {
        return Vec::new();
    }
    let hint = "the operator runs on one or two nodes; check those, or enable its metrics: helm value operator.prometheus.enabled=true";
    vec![Finding::new(
        none_status,
        format!("no node serves the operator metrics on port {port}"),
        Some(hint.into()),
    )]
}

/// `--local`: this host's listening sockets, then each port's /metrics.
fn local(ctx: &Context, args: &CheckArgs, ports: Ports) -> Result<Report> {
    let wanted: Vec<u16> = Component::ALL.iter().map(|c| ports.get(*c)).collect();
    let listeners =
        model::proc_net::listening_on(&wanted).context("reading this host's listening sockets")?;
    let name = hostname();
    let rows = vec![NodeRow::new(name, None)];
    let mut targets = Vec::new();
    for c in Component::ALL {
        let port = ports.get(c);
        // Several sockets may listen on the port (one per address): prefer localhost, then
        // the wildcard (reached through localhost), then any other address.
        let rank = |ip: IpAddr| match ip {
            IpAddr::V4(v) if v == std::net::Ipv4Addr::LOCALHOST => 0,
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
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }
            _ => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        };
        targets.push(Target {
            row: 0,
            component: c,
            label: format!("{}:{port}", host(ip)),
            request: metrics_request(&host(ip), port),
        });
    }
    let mut report = probe_and_judge(ctx, args, rows, targets, Vec::new(), Vec::new(), |rows| {
        operator_somewhere(rows, ports.get(Component::Operator), Status::Warn)
    });
    // What `ss -tnlp` would have shown, on the endpoints.
    let now = model::proc_net::listening_on(&wanted).unwrap_or(listeners);
    let row = &mut report.nodes[0];
    for e in [&mut row.agent, &mut row.operator, &mut row.hubble]
        .into_iter()
        .flatten()
    {
        let port = ports.get(e.component);
        let socks: Vec<String> = now
            .iter()
            .filter(|l| l.addr.port() == port)
            .map(|l| match &l.process {
                Some(p) => format!("{} ({} pid {})", l.addr, p.name, p.pid),
                None => l.addr.to_string(),
            })
            .collect();
        if socks.is_empty() {
            e.detail
                .push_str(&format!("; /proc/net/tcp: nothing listens on {port}"));
        } else {
            e.detail
                .push_str(&format!("; listening on {}", socks.join(", ")));
        }
    }
    Ok(report)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Probe every target (again under `--wait` for those that fail), judge, and build the report.
/// `post` adjusts the rows once judged and may add cluster-wide findings.
fn probe_and_judge(
    ctx: &Context,
    args: &CheckArgs,
    rows: Vec<NodeRow>,
    targets: Vec<Target>,
    fixed: Vec<Fixed>,
    checks: Vec<Finding>,
    post: impl Fn(&mut [NodeRow]) -> Vec<Finding>,
) -> Report {
    let start = Instant::now();
    let overall = start + args.wait.unwrap_or(Duration::ZERO).max(args.timeout * 2);
    let mut probes: Vec<Option<Probe>> = vec![None; targets.len()];
    let mut pending: Vec<usize> = (0..targets.len()).collect();
    let mut backoff = Duration::from_millis(50);
    loop {
        // Requests start in this order when not all fit in --concurrency: the operators and
        // agents (small bodies, and what every other answer depends on) before Hubble's large
        // ones, node order within each.
        pending.sort_by_key(|&i| match targets[i].component {
            Component::Operator => 0,
            Component::Agent => 1,
            Component::Hubble => 2,
        });
        let requests: Vec<Request> = pending
            .iter()
            .map(|&i| Request {
                group: Some(targets[i].row),
                ..targets[i].request.clone()
            })
            .collect();
        let settings = Settings {
            timeout: args.timeout,
            deadline: overall,
            concurrency: args.concurrency.unwrap_or(if ctx.via_proxy {
                // Every byte goes through one local kubectl proxy and the API server. (Pod
                // proxy requests are long-running to the API server, so its in-flight limits
                // do not count them.) More streams at once only queue in their buffers and
                // this machine's TCP memory: on the bench, 1,024 lost most Hubble bodies to
                // stalls where 256 passed them all.
                256
            } else {
                4096
            }),
        };
        for (&i, p) in pending.iter().zip(probe::run_all(&requests, &settings)) {
            probes[i] = Some(p);
        }
        let report = assemble(ctx, &rows, &targets, &probes, &fixed, &checks, &post);
        let now = Instant::now();
        if report.passed || args.wait.is_none() || now >= overall {
            return report;
        }
        let families_fail = report.families.iter().any(|f| f.status == Status::Fail);
        pending = (0..targets.len())
            .filter(|&i| {
                let t = &targets[i];
                let row = &report.nodes[t.row];
                let e = match t.component {
                    Component::Agent => &row.agent,
                    Component::Operator => &row.operator,
                    Component::Hubble => &row.hubble,
                };
                e.as_ref().is_some_and(|e| e.status == Status::Fail)
                    || (families_fail && t.component == Component::Hubble)
                    || (t.component == Component::Operator
                        && report.checks.iter().any(|c| c.status == Status::Fail))
            })
            .collect();
        if pending.is_empty() {
            return report;
        }
        std::thread::sleep(backoff.min(overall - now));
        backoff = (backoff * 3 / 2).min(Duration::from_millis(200));
    }
}

fn assemble(
    ctx: &Context,
    rows: &[NodeRow],
    targets: &[Target],
    probes: &[Option<Probe>],
    fixed: &[Fixed],
    checks: &[Finding],
    post: &impl Fn(&mut [NodeRow]) -> Vec<Finding>,
) -> Report {
    let mut rows = rows.to_vec();
    for (t, p) in targets.iter().zip(probes) {
        let Some(p) = p else { continue };
        let e = model::judge_endpoint(t.component, t.label.clone(), p, ctx);
        let row = &mut rows[t.row];
        match t.component {
            Component::Agent => row.agent = Some(e),
            Component::Operator => row.operator = Some(e),
            Component::Hubble => row.hubble = Some(e),
        }
    }
    for f in fixed {
        let row = &mut rows[f.row];
        let slot = match f.endpoint.component {
            Component::Agent => &mut row.agent,
            Component::Operator => &mut row.operator,
            Component::Hubble => &mut row.hubble,
        };
        *slot = Some(f.endpoint.clone());
    }
    let mut checks = checks.to_vec();
    checks.extend(post(&mut rows));
    model::finish(ctx, rows, checks)
}

/// An endpoint that was not probed because its pod cannot be reached.
fn unprobed(c: Component, pod: &cluster::Pod, ns: &str, summary: &str, detail: String) -> Endpoint {
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

/// Default mode: ask the API server for the Cilium pods and configuration, scrape through one
/// `kubectl proxy` (or the host IPs with `--direct`).
fn in_cluster(mut ctx: Context, global: &GlobalArgs, args: &CheckArgs, ns: &str) -> Result<Report> {
    let kubectl = Kubectl {
        bin: find_kubectl()?,
        kube: Kube::from_global(global),
    };
    let pods_path =
        |selector: &str| format!("/api/v1/namespaces/{ns}/pods?labelSelector={selector}");
    let (agents, operators, cm, cnp, ccnp, prom, proxy) = std::thread::scope(|s| {
        let k = &kubectl;
        let agents = s.spawn(move || k.get_raw(&pods_path("k8s-app%3Dcilium")));
        let operators = s.spawn(move || k.get_raw(&pods_path("io.cilium%2Fapp%3Doperator")));
        let cm = s
            .spawn(move || k.get_raw(&format!("/api/v1/namespaces/{ns}/configmaps/cilium-config")));
        let cnp = s.spawn(move || k.get_raw("/apis/cilium.io/v2/ciliumnetworkpolicies"));
        let ccnp =
            s.spawn(move || k.get_raw("/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies"));
        let prom =
            s.spawn(move || k.get_raw("/api/v1/services?labelSelector=operated-prometheus%3Dtrue"));
        let proxy = s.spawn(move || k.proxy());
        let j = |h: std::thread::ScopedJoinHandle<'_, Result<serde_json::Value>>| {
            h.join().expect("kubectl thread")
        };
        (
            j(agents),
            j(operators),
            j(cm),
            j(cnp),
            j(ccnp),
            j(prom),
            proxy.join().expect("proxy thread"),
        )
    });
    let agents = agents.map_err(|e| {
        Failure::preflight(format!("cannot read the Cilium pods: {e:#}"))
            .hint("check that the cluster is reachable: kubectl cluster-info (--kube-context, --kubeconfig)")
    })?;
    let agents = cluster::parse_pods(&agents);
    if agents.is_empty() {
        return Err(Failure::preflight(format!(
            "no Cilium agent pods (label k8s-app=cilium) in namespace {ns}"
        ))
        .hint("give the Cilium namespace with --namespace, or install Cilium first")
        .into());
    }
    let operators = operators
        .map(|v| cluster::parse_pods(&v))
        .unwrap_or_default();
    let mut checks = Vec::new();
    let config = match cm {
        Ok(cm) => cluster::parse_config(&cm),
        Err(e) => {
            checks.push(Finding::new(
                Status::Warn,
                format!("cannot read ConfigMap {ns}/cilium-config: {e:#}"),
                Some("ports and the family list fall back to the defaults and the flags".into()),
            ));
            cluster::CiliumConfig::default()
        }
    };
    // The expected list: the flags, or what the agents are configured with.
    match (&ctx.expected, &config.hubble_metrics) {
        (Some(flags), Some(list)) => {
            let (cm_list, _) = Expected::from_agent_list(list);
            let mut a: Vec<&str> = flags.iter().map(|e| e.handler.name).collect();
            let mut b: Vec<&str> = cm_list.iter().map(|e| e.handler.name).collect();
            a.sort_unstable();
            b.sort_unstable();
            if a != b {
                checks.push(Finding::new(
                    Status::Warn,
                    format!("cilium-config enables {}, not the families asked for ({})", b.join(" "), a.join(" ")),
                    Some("apply the list with ciliumon setup, then restart the agents".into()),
                ));
            }
        }
        (None, Some(list)) => {
            let (list, unknown) = Expected::from_agent_list(list);
            if !unknown.is_empty() {
                checks.push(Finding::new(
                    Status::Warn,
                    format!("cilium-config lists families ciliumon does not know: {}", unknown.join(" ")),
                    None,
                ));
            }
            ctx.expected = Some(list);
            ctx.families_from = Some(format!("{ns}/cilium-config"));
        }
        (_, None) => checks.push(Finding::new(
            Status::Fail,
            "Hubble metrics are not enabled: cilium-config has no hubble-metrics list".to_string(),
            Some("enable them: helm value hubble.metrics.enabled={dns,drop,tcp,flow,...} (ciliumon setup does it)".into()),
        )),
    }
    ctx.openmetrics = Some(config.openmetrics);
    ctx.l7 = match (cnp, ccnp) {
        (Ok(a), Ok(b)) => cluster::l7_policies(&[&a, &b]),
        (Err(e), _) | (_, Err(e)) => L7Policies::Unknown {
            reason: format!("cannot list Cilium policies: {e:#}"),
        },
    };
    let ports = Ports {
        agent: args.agent_port.or(config.agent_port),
        operator: args.operator_port.or(config.operator_port),
        hubble: args.hubble_port.or(config.hubble_port),
    };
    let proxy = match proxy {
        Ok(p) => Some(p),
        Err(e) if args.direct => {
            checks.push(Finding::new(
                Status::Warn,
                format!("kubectl proxy: {e:#}"),
                None,
            ));
            None
        }
        Err(e) => return Err(Failure::preflight(format!("{e:#}")).into()),
    };
    ctx.via_proxy = !args.direct;

    // Rows: one per node with an agent; operators join the row of their node.
    let mut rows: Vec<NodeRow> = Vec::new();
    let mut targets = Vec::new();
    let mut fixed = Vec::new();
    let row_of = |rows: &mut Vec<NodeRow>, pod: &cluster::Pod| -> usize {
        if let Some(i) = rows.iter().position(|r| r.node == pod.node) {
            return i;
        }
        rows.push(NodeRow::new(pod.node.clone(), pod.host_ip.clone()));
        rows.len() - 1
    };
    let mut add = |rows: &mut Vec<NodeRow>, pod: &cluster::Pod, c: Component| {
        let row = row_of(rows, pod);
        let port = ports.get(c);
        if pod.phase != "Running" {
            let detail = format!("pod {} is {}, not Running", pod.name, pod.phase);
            fixed.push(Fixed {
                row,
                endpoint: unprobed(c, pod, ns, &pod.phase.to_lowercase(), detail),
            });
            return;
        }
        // Hubble metrics over TLS: the API server's proxy speaks HTTPS to the pod when the
        // path says `https:`; ciliumon's own client speaks plain HTTP only.
        let tls = c == Component::Hubble && config.hubble_tls;
        if tls && args.direct {
            let mut endpoint = unprobed(
                c,
                pod,
                ns,
                "TLS, not checked",
                "Hubble metrics are served over TLS (hubble.metrics.tls.enabled); --direct scrapes plain HTTP only".into(),
            );
            endpoint.status = Status::Warn;
            endpoint.hint = Some(
                "check without --direct: the API server's pod proxy speaks TLS to the agent".into(),
            );
            fixed.push(Fixed { row, endpoint });
            return;
        }
        let scheme = if tls { "https:" } else { "" };
        let (label, url) = match (&proxy, args.direct, &pod.host_ip) {
            (_, true, Some(ip)) => {
                let h = ip
                    .parse::<IpAddr>()
                    .map(host)
                    .unwrap_or_else(|_| ip.clone());
                (format!("{h}:{port}"), format!("http://{h}:{port}/metrics"))
            }
            (Some(p), false, _) => (
                format!("pod {ns}/{}:{port}", pod.name),
                format!(
                    "{}/api/v1/namespaces/{ns}/pods/{scheme}{}:{port}/proxy/metrics",
                    p.base, pod.name
                ),
            ),
            _ => {
                fixed.push(Fixed {
                    row,
                    endpoint: unprobed(
                        c,
                        pod,
                        ns,
                        "no host IP",
                        "the pod has no host IP yet".into(),
                    ),
                });
                return;
            }
        };
        targets.push(Target {
            row,
            component: c,
            label,
            request: Request {
                url,
                openmetrics: true,
                group: None,
            },
        });
    };
    for pod in &agents {
        add(&mut rows, pod, Component::Agent);
        add(&mut rows, pod, Component::Hubble);
    }
    for pod in &operators {
        add(&mut rows, pod, Component::Operator);
    }
    if operators.is_empty() {
        checks.push(Finding::new(
            Status::Fail,
            format!("no cilium-operator pods (label io.cilium/app=operator) in {ns}"),
            Some("the operator should run as a Deployment next to the agents".into()),
        ));
    }
    // Agents started before the ConfigMap last changed may run the old list.
    if let Some(changed) = &config.changed {
        for pod in &agents {
            if let Some(start) = &pod.start_time
                && cluster::started_before(start, changed)
            {
                let row = rows
                    .iter()
                    .position(|r| r.node == pod.node)
                    .expect("row exists");
                rows[row].notes.push(Finding::new(
                    Status::Warn,
                    format!(
                        "agent {} started {start}, before cilium-config last changed ({changed}): it may run the old list",
                        pod.name
                    ),
                    Some(ctx.restart_hint.clone()),
                ));
            }
        }
    }
    // kube-prometheus-stack's view, through the same proxy.
    if let (Some(p), Ok(svc)) = (&proxy, &prom)
        && let Some((pns, name, port)) = cluster::prometheus_service(svc)
    {
        let t = args.timeout.max(Duration::from_secs(5));
        let targets_path = format!(
            "/api/v1/namespaces/{pns}/services/{name}:{port}/proxy/api/v1/targets?state=active"
        );
        match cluster::proxy_json(&p.base, &targets_path, t) {
            Ok(v) => {
                let monitors = cluster::proxy_json(
                    &p.base,
                    &format!("/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors"),
                    t,
                )
                .ok();
                let proms =
                    cluster::proxy_json(&p.base, "/apis/monitoring.coreos.com/v1/prometheuses", t)
                        .ok();
                // The Prometheus behind the `prometheus-operated` service: one in its namespace.
                let prometheus = proms.as_ref().and_then(|p| {
                    let items = p["items"].as_array()?;
                    items
                        .iter()
                        .find(|i| i["metadata"]["namespace"] == pns.as_str())
                        .or_else(|| items.first())
                });
                checks.extend(cluster::judge_targets(&v, monitors.as_ref(), prometheus));
            }
            Err(e) => checks.push(Finding::new(
                Status::Warn,
                format!("cannot ask Prometheus {pns}/{name} for its targets: {e:#}"),
                None,
            )),
        }
    }
    // Rows are in node order already: parse_pods sorts the agents by node.
    let report = probe_and_judge(&ctx, args, rows, targets, fixed, checks, |_| Vec::new());
    drop(proxy);
    Ok(report)
}
