//! A fake Kubernetes API server on 127.0.0.1 for the real kubectl (`get --raw`, and `kubectl
//! proxy`'s keep-alive transport): the Cilium pods, `cilium-config`, policies,
//! kube-prometheus-stack's Prometheus service, targets, ServiceMonitors and Prometheus objects,
//! and a pod proxy that forwards to the fake nodes and streams their answers back as the API
//! server does (a refused dial is a 503 with the dial error; a node that accepts and never
//! answers leaves the request hanging). Served by a tokio runtime of its own.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde_json::{Value, json};

use super::http::{header, json_response, read_head, reason_phrase, status_json};

/// The cluster the fake API server describes.
pub struct FakeCluster {
    /// (pod name, node name, loopback address of its node, "agent" or "operator")
    pub pods: Vec<(String, String, String, &'static str)>,
    pub config: Value,
    pub cnp: Value,
    pub targets: Value,
    /// The ServiceMonitors in kube-system.
    pub monitors: Vec<Value>,
    /// The Prometheus objects (monitoring.coreos.com/v1).
    pub prometheuses: Vec<Value>,
    /// Pod proxy paths asked for with `https:` (TLS to the pod).
    pub tls_paths: Arc<Mutex<Vec<String>>>,
    /// A fake Prometheus (`http://127.0.0.1:PORT`, `prom::FakeProm`) behind the service proxy of
    /// `monitoring/prometheus-operated:9090`: every request under it is forwarded there (the
    /// canned `targets` answer otherwise).
    pub prometheus: Option<String>,
    /// ConfigMaps in `monitoring` labelled grafana_dashboard=1 (the dashboards).
    pub dashboards: Vec<Value>,
    /// Nodes, namespaces, pods, workloads for the list calls that count them (each list
    /// answers one item and `remainingItemCount`); None: those lists are not found.
    pub inventory: Option<[u64; 4]>,
    /// Nodes (by node name) and pods (by pod name) that are not Ready; the rest are.
    pub not_ready: Vec<String>,
}

/// A dashboard ConfigMap as the chart renders it (label grafana_dashboard=1).
pub fn dashboard_configmap(name: &str, key: &str, json: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "monitoring", "labels": {"grafana_dashboard": "1"}},
        "data": {key: json},
    })
}

pub fn pod_json(name: &str, node: &str, ip: &str, app: (&str, &str)) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "kube-system", "labels": {app.0: app.1}},
        "spec": {"nodeName": node},
        "status": {"phase": "Running", "hostIP": ip, "podIP": ip, "startTime": "2025-05-01T10:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// A Node, Ready or (as the node lifecycle controller marks a node whose kubelet went silent)
/// `Ready=Unknown`.
pub fn node_json(name: &str, ready: bool) -> Value {
    let cond = if ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"})
    } else {
        json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."})
    };
    json!({"metadata": {"name": name}, "status": {"conditions": [
        {"type": "MemoryPressure", "status": "False"}, cond]}})
}

/// `cilium-config` with this Hubble list and the three ports, last changed 2025-04-01.
pub fn cilium_config(list: &str, ports: [u16; 3]) -> Value {
    json!({
        "metadata": {"name": "cilium-config", "namespace": "kube-system",
                     "managedFields": [{"manager": "helm", "time": "2025-04-01T00:00:00Z"}]},
        "data": {
            "hubble-metrics": list,
            "prometheus-serve-addr": format!(":{}", ports[0]),
            "operator-prometheus-serve-addr": format!(":{}", ports[1]),
            "hubble-metrics-server": format!(":{}", ports[2]),
            "enable-hubble-open-metrics": "false"
        }
    })
}

/// Prometheus scrapes the agents and the operator, not Hubble.
pub fn all_targets_up() -> Value {
    json!({"status": "success", "data": {"activeTargets": [
        {"scrapePool": "serviceMonitor/kube-system/cilium-agent/0", "labels": {"job": "cilium-agent"}, "health": "up"},
        {"scrapePool": "serviceMonitor/kube-system/cilium-operator/0", "labels": {"job": "cilium-operator"}, "health": "up"}
    ]}})
}

/// A hubble ServiceMonitor without the label kube-prometheus-stack's Prometheus selects on.
pub fn hubble_monitor() -> Vec<Value> {
    vec![json!({"metadata": {"name": "hubble", "labels": {"app.kubernetes.io/part-of": "cilium"}}})]
}

/// A Prometheus selecting ServiceMonitors labelled release=kps (kube-prometheus-stack's default
/// for a release named kps).
pub fn kps_prometheus() -> Vec<Value> {
    vec![json!({"spec": {"serviceMonitorSelector": {"matchLabels": {"release": "kps"}}}})]
}

/// A CiliumNetworkPolicy list with one DNS rule.
pub fn dns_policy() -> Value {
    json!({"items": [{"metadata": {"namespace": "shop", "name": "dns-visibility"},
        "spec": {"egress": [{"toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                                          "rules": {"dns": [{"matchPattern": "*"}]}}]}]}}]})
}

/// Counters of the fake API server (`reset` between runs). Times are microseconds since
/// `epoch()`.
#[derive(Default)]
pub struct ApiStats {
    pub requests: AtomicU64,
    /// Pod proxy requests, and those whose node refused (answered 503).
    pub proxied: AtomicU64,
    pub refused: AtomicU64,
    /// Paths answered 404 (not one the fake knows).
    pub unknown: AtomicU64,
    /// Body bytes streamed from the nodes to kubectl proxy.
    pub bytes: AtomicU64,
    pub first_proxy_us: AtomicU64,
    pub last_body_us: AtomicU64,
}

pub fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

pub fn since_epoch_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

impl ApiStats {
    pub fn reset(&self) {
        for c in [
            &self.requests,
            &self.proxied,
            &self.refused,
            &self.unknown,
            &self.bytes,
            &self.last_body_us,
        ] {
            c.store(0, Relaxed);
        }
        self.first_proxy_us.store(u64::MAX, Relaxed);
    }
}

/// The answers, serialised once.
struct Api {
    agents: Vec<u8>,
    operators: Vec<u8>,
    nodes: Vec<u8>,
    config: Vec<u8>,
    cnp: Vec<u8>,
    empty: Vec<u8>,
    services: Vec<u8>,
    targets: Vec<u8>,
    monitors: Vec<u8>,
    prometheuses: Vec<u8>,
    prometheus: Option<String>,
    dashboards: Vec<u8>,
    inventory: Option<[u64; 4]>,
    /// Pod name → host IP.
    pods: HashMap<String, IpAddr>,
    tls_paths: Arc<Mutex<Vec<String>>>,
    stats: Arc<ApiStats>,
}

impl Api {
    fn new(c: FakeCluster) -> Api {
        let list = |items: Vec<Value>| {
            json!({"kind": "List", "apiVersion": "v1", "items": items})
                .to_string()
                .into_bytes()
        };
        let pods_of = |operator: bool| {
            c.pods
                .iter()
                .filter(|p| (p.3 == "operator") == operator)
                .map(|(name, node, ip, kind)| {
                    let label = if *kind == "operator" {
                        ("io.cilium/app", "operator")
                    } else {
                        ("k8s-app", "cilium")
                    };
                    let mut pod = pod_json(name, node, ip, label);
                    if c.not_ready.contains(name) {
                        pod["status"]["conditions"] = json!([{"type": "Ready", "status": "False",
                            "reason": "ContainersNotReady",
                            "message": "containers with unready status: [cilium-agent]"}]);
                    }
                    pod
                })
                .collect()
        };
        let mut node_names: Vec<&String> = c.pods.iter().map(|p| &p.1).collect();
        node_names.sort();
        node_names.dedup();
        let nodes = node_names
            .into_iter()
            .map(|n| node_json(n, !c.not_ready.contains(n)))
            .collect();
        let svc = json!({"metadata": {"name": "prometheus-operated", "namespace": "monitoring"},
                         "spec": {"ports": [{"name": "web", "port": 9090}]}});
        Api {
            agents: list(pods_of(false)),
            operators: list(pods_of(true)),
            nodes: list(nodes),
            config: c.config.to_string().into_bytes(),
            cnp: c.cnp.to_string().into_bytes(),
            empty: list(vec![]),
            services: list(vec![svc]),
            targets: c.targets.to_string().into_bytes(),
            monitors: list(c.monitors.clone()),
            prometheuses: list(c.prometheuses.clone()),
            prometheus: c.prometheus.clone(),
            dashboards: list(c.dashboards.clone()),
            inventory: c.inventory,
            pods: c
                .pods
                .iter()
                .map(|p| (p.0.clone(), p.2.parse().expect("a pod's node is an IP")))
                .collect(),
            tls_paths: c.tls_paths.clone(),
            stats: Arc::new(ApiStats::default()),
        }
    }
}

/// One connection from kubectl (get --raw, or proxy's keep-alive transport): request after
/// request until the client closes or asks to.
async fn api_conn(mut s: tokio::net::TcpStream, api: Arc<Api>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(8192);
    loop {
        let Some(end) = read_head(&mut s, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        // A GET has no body; skip one if sent.
        let body_len: usize = header(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < body_len {
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..body_len);
        let mut line = head.split("\r\n").next().unwrap_or("").split(' ');
        let (_method, path, version) = (
            line.next().unwrap_or(""),
            line.next().unwrap_or("/").to_string(),
            line.next().unwrap_or(""),
        );
        let connection = header(&head, "connection").map(str::to_ascii_lowercase);
        let close = connection.as_deref() == Some("close")
            || (version == "HTTP/1.0" && connection.as_deref() != Some("keep-alive"));
        api.stats.requests.fetch_add(1, Relaxed);
        let accept = header(&head, "accept").unwrap_or("*/*").to_string();
        let ok = api_answer(&mut s, &api, &path, &accept).await;
        if !ok || close {
            let _ = s.shutdown().await;
            return;
        }
    }
}

/// Answer one request; false when the connection cannot go on.
async fn api_answer(s: &mut tokio::net::TcpStream, api: &Api, path: &str, accept: &str) -> bool {
    use tokio::io::AsyncWriteExt;
    let json = |body: &[u8]| -> (u16, Vec<u8>) { (200, body.to_vec()) };
    let (status, body) = if path.starts_with("/api/v1/namespaces/kube-system/pods?") {
        json(if path.contains("operator") {
            &api.operators
        } else {
            &api.agents
        })
    } else if path == "/api/v1/nodes" || path.starts_with("/api/v1/nodes?") {
        json(&api.nodes)
    } else if path.starts_with("/api/v1/namespaces/kube-system/configmaps/cilium-config") {
        json(&api.config)
    } else if path.starts_with("/apis/cilium.io/v2/ciliumnetworkpolicies") {
        json(&api.cnp)
    } else if path.starts_with("/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies") {
        json(&api.empty)
    } else if path.starts_with("/api/v1/services?") {
        json(&api.services)
    } else if let (Some(base), Some(rest)) = (
        &api.prometheus,
        path.strip_prefix("/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy"),
    ) {
        api.stats.proxied.fetch_add(1, Relaxed);
        let (base, rest) = (base.clone(), rest.to_string());
        tokio::task::spawn_blocking(move || forward(&base, &rest))
            .await
            .unwrap_or((502, b"forward failed".to_vec()))
    } else if path.starts_with(
        "/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/targets",
    ) {
        json(&api.targets)
    } else if path.starts_with("/api/v1/namespaces/monitoring/configmaps?") {
        json(&api.dashboards)
    } else if let Some(n) = api.inventory.and_then(|inv| {
        let i = [
            "/api/v1/nodes?",
            "/api/v1/namespaces?",
            "/api/v1/pods?",
            "/apis/apps/v1/deployments?",
        ]
        .iter()
        .position(|p| path.starts_with(p))
        .or_else(|| {
            // The workloads: all Deployments, none of the other kinds.
            ["/apis/apps/v1/statefulsets?", "/apis/apps/v1/daemonsets?"]
                .iter()
                .any(|p| path.starts_with(p))
                .then_some(4)
        })?;
        Some(inv.get(i).copied().unwrap_or(0))
    }) {
        let body = if n == 0 {
            json!({"metadata": {}, "items": []})
        } else {
            json!({"metadata": {"remainingItemCount": n - 1}, "items": [{}]})
        };
        (200, body.to_string().into_bytes())
    } else if path
        .starts_with("/apis/monitoring.coreos.com/v1/namespaces/kube-system/servicemonitors")
    {
        json(&api.monitors)
    } else if path.starts_with("/apis/monitoring.coreos.com/v1/prometheuses") {
        json(&api.prometheuses)
    } else if let Some(rest) = path.strip_prefix("/api/v1/namespaces/kube-system/pods/") {
        let (pod_port, upstream_path) = match rest.split_once("/proxy") {
            Some((p, "")) => (p, "/"),
            Some((p, up)) => (p, up),
            None => (rest, "/"),
        };
        // `https:POD:PORT`: the API server would speak TLS to the pod; the fake records that
        // and answers from the same plain server.
        let pod_port = match pod_port.strip_prefix("https:") {
            Some(p) => {
                api.tls_paths.lock().unwrap().push(p.to_string());
                p
            }
            None => pod_port,
        };
        let (pod, port) = pod_port.split_once(':').unwrap_or((pod_port, ""));
        match (api.pods.get(pod), port.parse::<u16>()) {
            (Some(ip), Ok(port)) => {
                api.stats.proxied.fetch_add(1, Relaxed);
                api.stats
                    .first_proxy_us
                    .fetch_min(since_epoch_us(), Relaxed);
                return pod_proxy(s, api, *ip, port, upstream_path, accept).await;
            }
            _ => (
                404,
                status_json(404, "NotFound", &format!("pods \"{pod}\" not found")),
            ),
        }
    } else {
        api.stats.unknown.fetch_add(1, Relaxed);
        (
            404,
            status_json(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        )
    };
    s.write_all(&json_response(status, &body)).await.is_ok()
}

/// The service proxy to the fake Prometheus: GET `base` + `rest`, give back its status and body.
fn forward(base: &str, rest: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (503, b"fake Prometheus not reachable".to_vec());
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {rest} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (502, b"bad answer from the fake Prometheus".to_vec());
    };
    let status = String::from_utf8_lossy(&raw[..end])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    (status, raw[end + 4..].to_vec())
}

/// The pod proxy: GET the node's port, stream its answer back (status, Content-Type, body).
async fn pod_proxy(
    s: &mut tokio::net::TcpStream,
    api: &Api,
    ip: IpAddr,
    port: u16,
    path: &str,
    accept: &str,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fail = |status: u16, reason: &str, message: String| {
        json_response(status, &status_json(status, reason, &message))
    };
    let mut up = match tokio::net::TcpStream::connect((ip, port)).await {
        Ok(up) => up,
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                api.stats.refused.fetch_add(1, Relaxed);
                format!(
                    "error trying to reach service: dial tcp {ip}:{port}: connect: connection refused"
                )
            } else {
                format!("error trying to reach service: dial tcp {ip}:{port}: {e}")
            };
            return s
                .write_all(&fail(503, "ServiceUnavailable", message))
                .await
                .is_ok();
        }
    };
    let _ = up.set_nodelay(true);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nAccept: {accept}\r\nUser-Agent: fake-apiserver\r\nConnection: close\r\n\r\n"
    );
    if up.write_all(req.as_bytes()).await.is_err() {
        return s
            .write_all(&fail(
                502,
                "BadGateway",
                format!("error trying to reach service: write to {ip}:{port} failed"),
            ))
            .await
            .is_ok();
    }
    let mut buf = Vec::with_capacity(8192);
    let Some(end) = read_head(&mut up, &mut buf).await else {
        return s
            .write_all(&fail(
                502,
                "BadGateway",
                format!("error trying to reach service: {ip}:{port}: EOF"),
            ))
            .await
            .is_ok();
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(502);
    let content_type = header(&head, "content-type")
        .unwrap_or("text/plain")
        .to_string();
    let length = match header(&head, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        Some(n) => n,
        None => {
            // No length: read it all, then answer with one.
            if up.read_to_end(&mut buf).await.is_err() {
                return false;
            }
            buf.len() as u64
        }
    };
    let out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n",
        reason_phrase(status)
    );
    if s.write_all(out.as_bytes()).await.is_err() {
        return false;
    }
    let mut left = length;
    let first = buf.len().min(left as usize);
    if s.write_all(&buf[..first]).await.is_err() {
        return false;
    }
    left -= first as u64;
    api.stats.bytes.fetch_add(first as u64, Relaxed);
    let mut chunk = vec![0u8; 64 << 10];
    while left > 0 {
        let want = chunk.len().min(left as usize);
        let n = match up.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if s.write_all(&chunk[..n]).await.is_err() {
            return false;
        }
        left -= n as u64;
        api.stats.bytes.fetch_add(n as u64, Relaxed);
    }
    api.stats.last_body_us.fetch_max(since_epoch_us(), Relaxed);
    true
}

/// Start the fake API server for `cluster` on 127.0.0.1 on its own runtime; its port and
/// counters.
pub fn start(cluster: FakeCluster) -> (u16, Arc<ApiStats>) {
    let api = Api::new(cluster);
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("fake-apiserver")
            .build()
            .expect("API server runtime"),
    ));
    // The listen backlog of a Go server (the real API server): net.core.somaxconn, not std's
    // 128, which kubectl proxy's burst of new connections overflows (each overflow costs the
    // client a 1 s SYN-ACK retransmission, a timeout here).
    let backlog = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4096);
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("API server socket");
    sock.bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .expect("bind the fake API server");
    sock.listen(backlog).expect("listen");
    let l: TcpListener = sock.into();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let stats = api.stats.clone();
    let api = Arc::new(api);
    let _enter = rt.enter();
    let l = tokio::net::TcpListener::from_std(l).unwrap();
    rt.spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(api_conn(s, api.clone()));
        }
    });
    (port, stats)
}
