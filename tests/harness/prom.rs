//! A fake Prometheus HTTP API on loopback for the `--from-prometheus` check: it answers
//! `/api/v1/query` and `/api/v1/targets` for a described fleet of N nodes, as Prometheus would
//! if it scraped each node's agent (`job="cilium-agent"`) and Hubble (`job="hubble-metrics"`)
//! through the chart's ServiceMonitors (the `node` label from the chart's relabeling) and one
//! operator. It knows the fixed queries of `ciliumon::check::prometheus` by their text and answers any
//! other query by the metric names it reads: data if the fleet holds every one of them and no
//! matcher needs a value of a label of `missing_labels` (`l="x"`, `l=~".+"`; `l=~".*"` matches
//! series without the label, as in Prometheus), an empty vector otherwise; a query naming no Hubble
//! metric gets a 400 `bad_data` error envelope. Bounded: it stops after `max_requests` requests
//! or `lifetime`, whichever comes first, and when dropped.
//!
//! Part of the harness: the fake API server's service proxy forwards to it (`api::FakeCluster::
//! prometheus`), and `benches/check.rs` runs [`from_prometheus_once`].

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ciliumon::catalogue::L7Rule;
use ciliumon::check::prometheus;

/// What the fake Prometheus has scraped.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub nodes: usize,
    /// Every k-th node's agent target is down (0: none), with "connection refused".
    pub agent_down_every: usize,
    /// Every k-th node's Hubble target is down (0: none).
    pub hubble_down_every: usize,
    pub operator: bool,
    /// Metric name → series on each node whose Hubble is up and not quiet.
    pub metrics: Vec<(String, u64)>,
    /// The first `quiet_nodes` nodes hold no Hubble series yet.
    pub quiet_nodes: usize,
    /// Labels no series carries.
    pub missing_labels: Vec<String>,
}

impl Fleet {
    /// `nodes` nodes with drop, tcp, flow, dns and httpV2 series (5 + 10 + 20 + 8 + 30 + 14 a
    /// node), every 100th agent down, no `source_namespace`/`destination_namespace` labels.
    pub fn typical(nodes: usize) -> Fleet {
        Fleet {
            nodes,
            agent_down_every: 100,
            hubble_down_every: 0,
            operator: true,
            metrics: [
                ("hubble_drop_total", 5),
                ("hubble_tcp_flags_total", 10),
                ("hubble_flows_processed_total", 20),
                ("hubble_dns_queries_total", 8),
                ("hubble_http_requests_total", 30),
                ("hubble_http_request_duration_seconds_bucket", 12),
                ("hubble_http_request_duration_seconds_sum", 1),
                ("hubble_http_request_duration_seconds_count", 1),
            ]
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect(),
            quiet_nodes: 0,
            missing_labels: vec!["source_namespace".into(), "destination_namespace".into()],
        }
    }

    pub fn node(&self, i: usize) -> String {
        format!("node-{i:05}")
    }

    fn ip(&self, i: usize) -> String {
        format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256)
    }

    fn agent_up(&self, i: usize) -> bool {
        self.agent_down_every == 0 || !i.is_multiple_of(self.agent_down_every)
    }

    fn hubble_up(&self, i: usize) -> bool {
        self.hubble_down_every == 0 || !i.is_multiple_of(self.hubble_down_every)
    }

    /// Nodes whose Hubble series Prometheus holds.
    pub fn holding(&self) -> usize {
        (0..self.nodes)
            .filter(|&i| i >= self.quiet_nodes && self.hubble_up(i))
            .count()
    }

    pub fn agents_down(&self) -> usize {
        (0..self.nodes).filter(|&i| !self.agent_up(i)).count()
    }

    fn holds(&self, metric: &str) -> bool {
        self.holding() > 0 && self.metrics.iter().any(|(m, s)| m == metric && *s > 0)
    }
}

fn envelope_vector(result: &str) -> String {
    format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{result}]}}}}"#)
}

fn sample(labels: &[(&str, &str)], value: impl std::fmt::Display) -> String {
    let l: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}:{}", serde_json::json!(k), serde_json::json!(v)))
        .collect();
    format!(
        r#"{{"metric":{{{}}},"value":[1700000000.0,"{value}"]}}"#,
        l.join(",")
    )
}

/// The answers that do not depend on the query's details, rendered once.
struct Canned {
    up: String,
    series: String,
    nodes_per_name: String,
    node_series: String,
    targets: String,
}

fn canned(f: &Fleet) -> Canned {
    let mut up = Vec::with_capacity(2 * f.nodes + 1);
    let mut targets = Vec::with_capacity(2 * f.nodes + 1);
    let mut node_series = Vec::new();
    let target = |job: &str, node: Option<&str>, instance: &str, healthy: bool| {
        let mut labels =
            serde_json::json!({"job": job, "instance": instance, "namespace": "kube-system"});
        if let Some(n) = node {
            labels["node"] = serde_json::json!(n);
        }
        serde_json::json!({
            "discoveredLabels": {"__meta_kubernetes_pod_node_name": node.unwrap_or("")},
            "labels": labels,
            "scrapePool": format!("serviceMonitor/kube-system/{job}/0"),
            "scrapeUrl": format!("http://{instance}/metrics"),
            "health": if healthy { "up" } else { "down" },
            "lastError": if healthy { "" } else { "Get \"http://x/metrics\": dial tcp: connect: connection refused" },
        })
        .to_string()
    };
    let per_node: u64 = f.metrics.iter().map(|(_, s)| s).sum();
    for i in 0..f.nodes {
        let node = f.node(i);
        let ip = f.ip(i);
        for (job, port, healthy) in [
            ("cilium-agent", 9962, f.agent_up(i)),
            ("hubble-metrics", 9965, f.hubble_up(i)),
        ] {
            let inst = format!("{ip}:{port}");
            up.push(sample(
                &[
                    ("__name__", "up"),
                    ("job", job),
                    ("instance", &inst),
                    ("node", &node),
                ],
                u8::from(healthy),
            ));
            targets.push(target(job, Some(&node), &inst, healthy));
        }
        if i >= f.quiet_nodes && f.hubble_up(i) && per_node > 0 {
            node_series.push(sample(
                &[("node", &node), ("instance", &format!("{ip}:9965"))],
                per_node,
            ));
        }
    }
    if f.operator {
        up.push(sample(
            &[
                ("__name__", "up"),
                ("job", "cilium-operator"),
                ("instance", "10.0.0.1:9963"),
            ],
            1,
        ));
        targets.push(target("cilium-operator", None, "10.0.0.1:9963", true));
    }
    let holding = f.holding() as u64;
    let mut series = Vec::new();
    let mut nodes_per_name = Vec::new();
    for (m, s) in &f.metrics {
        if holding > 0 && *s > 0 {
            series.push(sample(&[("__name__", m)], s * holding));
            nodes_per_name.push(sample(&[("__name__", m)], holding));
        }
    }
    Canned {
        up: envelope_vector(&up.join(",")),
        series: envelope_vector(&series.join(",")),
        nodes_per_name: envelope_vector(&nodes_per_name.join(",")),
        node_series: envelope_vector(&node_series.join(",")),
        targets: format!(
            r#"{{"status":"success","data":{{"activeTargets":[{}],"droppedTargets":[]}}}}"#,
            targets.join(",")
        ),
    }
}

fn decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `q` has a matcher on `label` that a series without the label fails: `label="x"`
/// (non-empty) or `label=~".+"`. (`label=~".*"` matches series without the label, as in
/// Prometheus; grouping by an absent label still returns data.)
fn needs_value(q: &str, label: &str) -> bool {
    q.match_indices(label).any(|(i, _)| {
        let before_ok = q[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let after = q[i + label.len()..].trim_start();
        before_ok
            && ((after.starts_with("=\"") && !after.starts_with("=\"\""))
                || after.starts_with("=~\".+\""))
    })
}

fn answer(f: &Fleet, c: &Canned, target: &str) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/api/v1/targets" => (200, c.targets.clone()),
        "/api/v1/query" => {
            let q = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("query="))
                .map(decode)
                .unwrap_or_default();
            if q == prometheus::UP_QUERY {
                return (200, c.up.clone());
            }
            if q == prometheus::SERIES_QUERY {
                return (200, c.series.clone());
            }
            if q == prometheus::NODES_PER_NAME_QUERY {
                return (200, c.nodes_per_name.clone());
            }
            if q == prometheus::NODE_SERIES_QUERY {
                return (200, c.node_series.clone());
            }
            let metrics: Vec<String> = prometheus::metrics_in(&q)
                .into_iter()
                .filter(|m| m.starts_with("hubble_"))
                .collect();
            if metrics.is_empty() {
                return (
                    400,
                    r#"{"status":"error","errorType":"bad_data","error":"the fake Prometheus answers only queries of Hubble metrics"}"#.into(),
                );
            }
            let label_missing = f.missing_labels.iter().any(|l| needs_value(&q, l));
            if label_missing || !metrics.iter().all(|m| f.holds(m)) {
                return (200, envelope_vector(""));
            }
            let shown = f.holding().min(3);
            let result: Vec<String> = (0..shown)
                .map(|i| sample(&[("pod", &format!("cilium-{i}"))], "0.5"))
                .collect();
            (200, envelope_vector(&result.join(",")))
        }
        _ => (404, "404 page not found\n".into()),
    }
}

fn serve(mut s: TcpStream, f: &Fleet, c: &Canned) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let (status, body) = if method == "GET" {
        answer(f, c, target)
    } else {
        (405, "method not allowed\n".to_string())
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(body.as_bytes());
}

/// A running fake Prometheus.
pub struct FakeProm {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

impl FakeProm {
    /// Serve `fleet` on a free loopback port until `max_requests` requests or `lifetime`.
    pub fn start(fleet: Fleet, max_requests: usize, lifetime: Duration) -> FakeProm {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("nonblocking accept");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        // Rendered before the first request, so that no answer waits for it.
        let canned = Arc::new(canned(&fleet));
        let fleet = Arc::new(fleet);
        let until = Instant::now() + lifetime;
        let handle = std::thread::spawn(move || {
            let mut workers = Vec::new();
            while !stop2.load(Ordering::Relaxed)
                && Instant::now() < until
                && requests2.load(Ordering::Relaxed) < max_requests
            {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        requests2.fetch_add(1, Ordering::Relaxed);
                        let (f, c) = (fleet.clone(), canned.clone());
                        workers.push(std::thread::spawn(move || serve(s, &f, &c)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        FakeProm {
            base,
            stop,
            requests,
            handle: Some(handle),
        }
    }

    /// Requests accepted so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for FakeProm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The chart-like dashboards of `tests/fixtures/dashboards/`, parsed.
pub fn fixture_dashboards() -> Vec<prometheus::GrafanaDashboard> {
    [
        include_str!("../fixtures/dashboards/hubble-mini.json"),
        include_str!("../fixtures/dashboards/namespace-mini.json"),
        include_str!("../fixtures/dashboards/l7-mini.json"),
    ]
    .into_iter()
    .map(|j| prometheus::dashboard_queries(j).expect("fixture dashboards parse"))
    .collect()
}

/// The inputs of a check of `list` (Cilium 1.18) with the fixture dashboards.
pub fn inputs(list: &[&str]) -> prometheus::Inputs {
    let v: ciliumon::version::Version = "1.18.0".parse().unwrap();
    let specs: Vec<ciliumon::spec::MetricSpec> = list
        .iter()
        .map(|s| ciliumon::spec::MetricSpec::parse(s, &v).unwrap())
        .collect();
    prometheus::Inputs {
        expected: Some(
            specs
                .iter()
                .map(ciliumon::check::Expected::from_spec)
                .collect(),
        ),
        dashboards: fixture_dashboards(),
        fills: ciliumon::catalogue::dashboards::analyse(&v, &specs, &[]),
        l7: ciliumon::check::L7Policies::Known {
            by_rule: [
                (L7Rule::Dns, vec!["kube-system/dns-visibility".to_string()]),
                (L7Rule::Http, vec![]),
                (L7Rule::Kafka, vec![]),
            ]
            .into_iter()
            .collect(),
        },
        estimate: None,
        scanned: None,
        strict: false,
    }
}

/// `check --from-prometheus` end to end over loopback against a fake Prometheus of `nodes`
/// nodes ([`Fleet::typical`]): start the fake, ask, parse, judge. For the benchmark.
pub fn from_prometheus_once(
    nodes: usize,
) -> (prometheus::PromReport, prometheus::Timings, Duration) {
    let t0 = Instant::now();
    let fake = FakeProm::start(Fleet::typical(nodes), 1000, Duration::from_secs(120));
    let api = prometheus::HttpApi::new(&fake.base, Duration::from_secs(10));
    let inputs = inputs(&["dns", "drop", "tcp", "flow", "httpV2"]);
    let (report, timings) = prometheus::evaluate(&api, &inputs);
    (report, timings, t0.elapsed())
}
