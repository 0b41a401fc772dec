//! `ciliumon check` through the binary, against real TCP/HTTP servers on loopback that the tests
//! start, and (cluster mode) the real kubectl talking to a fake API server on loopback.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) use crate::harness::api::dns_policy;
use crate::harness::api::{
    self, FakeCluster, all_targets_up, cilium_config, dynamic_config, hubble_monitor,
    kps_prometheus,
};
pub(crate) use crate::harness::fixtures::fixture;
use crate::harness::nodes::{
    Serve, closed_port, closed_port_held, common_ports, drip, prom, serve_on, spawn_server,
};
use crate::support::{bin, kubectl_binary};

fn run(args: &[&str]) -> (Output, Value) {
    let out = bin().arg("check").args(args).output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn port_args(ports: [u16; 3]) -> Vec<String> {
    vec![
        "--agent-port".into(),
        ports[0].to_string(),
        "--operator-port".into(),
        ports[1].to_string(),
        "--hubble-port".into(),
        ports[2].to_string(),
    ]
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const BUSY_LIST: [&str; 7] = [
    "dns:query",
    "drop",
    "tcp",
    "flow",
    "port-distribution",
    "icmp",
    "httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction",
];

fn metric_args(list: &[&str]) -> Vec<String> {
    list.iter()
        .flat_map(|m| ["--metric".to_string(), m.to_string()])
        .collect()
}

/// Two nodes on 127.0.0.2 and 127.0.0.3 with the same ports; the operator on the first only.
fn two_healthy_nodes(hubble: Serve) -> [u16; 3] {
    let mut r = common_ports(&["127.0.0.2", "127.0.0.3"]);
    let ports = r.ports;
    for ip in ["127.0.0.2", "127.0.0.3"] {
        r.serve(ip, ports[0], prom(fixture("agent-datadog.txt")));
        r.serve(ip, ports[2], hubble.clone());
    }
    r.serve("127.0.0.2", ports[1], prom(fixture("operator-datadog.txt")));
    ports
}

fn node_args(ports: [u16; 3], extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "--node".into(),
        "127.0.0.2".into(),
        "--node".into(),
        "127.0.0.3".into(),
    ];
    v.extend(port_args(ports));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn all_healthy_nodes_pass() {
    let ports = two_healthy_nodes(prom(fixture("hubble-busy.txt")));
    let mut a = node_args(ports, &["-o", "json"]);
    a.extend(metric_args(&BUSY_LIST[..6]));
    let (out, j) = run(&args(&a));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(j["passed"], true);
    assert_eq!(j["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(j["nodes"][0]["agent"]["status"], "pass");
    assert_eq!(j["nodes"][0]["agent"]["samples"], 975);
    assert_eq!(j["nodes"][0]["operator"]["status"], "pass");
    assert_eq!(
        j["nodes"][1]["operator"]["status"], "skip",
        "operator not on every node"
    );
    assert_eq!(j["nodes"][1]["hubble"]["samples"], 3225);
    for f in j["families"].as_array().unwrap() {
        assert_eq!(f["status"], "pass", "{f}");
        assert_eq!(f["nodes_with_samples"], 2, "{f}");
    }
    // httpV2 is served but --metric does not name it: noted (passing), not called an older
    // list (the cluster's own list is checked that way in cluster mode).
    let note = &j["nodes"][0]["notes"][0];
    assert_eq!(note["status"], "pass", "{note}");
    let what = note["what"].as_str().unwrap();
    assert!(
        what.starts_with("Hubble also serves")
            && what.contains("httpV2")
            && !what.contains("older list"),
        "{what}"
    );

    // The same as a table.
    let mut a = node_args(ports, &[]);
    a.extend(metric_args(&BUSY_LIST));
    let (out, _) = run(&args(&a));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("NODE") && text.contains("127.0.0.3") && text.contains("✓ 975 series"),
        "{text}"
    );
    assert!(text.contains("✓ 7/7"), "{text}");
    assert!(
        text.contains("no exemplars: Hubble serves Prometheus text"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "NO_COLOR: no escapes");
}

#[test]
fn closed_port_fails() {
    let ports = two_healthy_nodes(prom(fixture("hubble-busy.txt")));
    let mut p = ports;
    p[0] = closed_port("127.0.0.2");
    let mut a = vec![
        "--node".to_string(),
        "127.0.0.2".into(),
        "-o".into(),
        "json".into(),
    ];
    a.extend(port_args(p));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(j["nodes"][0]["agent"]["status"], "fail");
    assert_eq!(j["nodes"][0]["agent"]["summary"], "refused");
    assert!(
        j["nodes"][0]["agent"]["hint"]
            .as_str()
            .unwrap()
            .contains("prometheus.enabled")
    );
    assert_eq!(j["nodes"][0]["hubble"]["status"], "pass");
}

fn one_node_with(component: usize, serve: Serve, extra: &[&str]) -> (Output, Value, Duration) {
    let ports = two_healthy_nodes(prom(fixture("hubble-busy.txt")));
    let ip = "127.0.0.4";
    let mut p = [closed_port(ip), closed_port(ip), closed_port(ip)];
    p[component] = serve_on(ip, 0, serve).port();
    for (i, port) in p.iter_mut().enumerate() {
        if i != component {
            *port = ports[i];
        }
    }
    // Node 127.0.0.2 serves agent/operator/Hubble on `ports`; 127.0.0.4 only the one under test.
    let mut a = vec!["--node".to_string(), ip.into(), "-o".into(), "json".into()];
    a.extend(port_args(p));
    a.extend(extra.iter().map(|s| s.to_string()));
    let start = Instant::now();
    let (out, j) = run(&args(&a));
    (out, j, start.elapsed())
}

#[test]
fn accept_and_never_answer_costs_one_timeout() {
    let (out, j, took) = one_node_with(0, Serve::Hang, &["--timeout", "600ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(j["nodes"][0]["agent"]["summary"], "no answer");
    assert!(
        j["nodes"][0]["agent"]["detail"]
            .as_str()
            .unwrap()
            .contains("600ms")
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_steady_body_longer_than_the_timeout_is_read_to_the_end() {
    // 6 pieces 120 ms apart: over 700 ms in all, more than --timeout 600ms, but each pause is
    // well inside it (and the whole inside the overall deadline, twice the timeout).
    let drip = drip("agent-datadog.txt", 6, 120, false);
    let (out, j, took) = one_node_with(0, drip, &["--timeout", "600ms"]);
    let agent = &j["nodes"][0]["agent"];
    assert_eq!(agent["status"], "pass", "{agent}");
    assert_eq!(agent["samples"], 975);
    assert!(agent["elapsed_ms"].as_u64().unwrap() >= 700, "{agent}");
    assert!(took >= Duration::from_millis(700), "{took:?}");
    // The node under test serves only the agent port.
    assert_eq!(
        j["nodes"][0]["operator"]["summary"],
        "not here",
        "{}",
        stdout(&out)
    );
}

#[test]
fn with_few_slots_agents_and_operators_go_before_hubble() {
    // Nodes .5 and .6 hang on Hubble; .7 comes last. One request at a time, --timeout 400ms, so
    // the whole check has 800 ms: room for the two hangs and nothing after them. In node order
    // both hangs come before node .7's agent; agents (and operators) first, it is judged.
    let nodes = ["127.0.0.5", "127.0.0.6", "127.0.0.7"];
    let mut r = common_ports(&nodes);
    let ports = r.ports;
    for ip in nodes {
        r.serve(ip, ports[0], prom(fixture("agent-datadog.txt")));
    }
    r.serve(nodes[0], ports[2], Serve::Hang);
    r.serve(nodes[1], ports[2], Serve::Hang);
    r.serve(nodes[2], ports[2], prom(fixture("hubble-busy.txt")));
    drop(r); // the operator ports: closed
    let mut a: Vec<String> = vec!["-o".into(), "json".into()];
    for ip in nodes {
        a.extend(["--node".to_string(), ip.to_string()]);
    }
    a.extend(port_args(ports));
    a.extend(["--concurrency", "1", "--timeout", "400ms"].map(String::from));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    for n in 0..3 {
        assert_eq!(j["nodes"][n]["agent"]["status"], "pass", "{}", stdout(&out));
    }
    assert_eq!(j["nodes"][0]["hubble"]["summary"], "no answer");
}

#[test]
fn a_host_that_hangs_on_one_port_is_asked_on_the_others_early() {
    // Two slots, --timeout 2s (the check has 4 s). Seven nodes serve Hubble in 0.4 s each (4
    // pieces 100 ms apart); node .9, last, hangs on every port. In plain order its Hubble
    // request starts only when the queue gets to it, about 2.4 s in, and the deadline cuts it.
    // Once its agent has gone unanswered for a quarter of the timeout, its Hubble request goes
    // next: both of its timeouts run together and every healthy body still fits (by ~3.6 s).
    // (Times are twice what the logic needs, so a loaded 2-core machine still sees the order.)
    let healthy = [
        "127.0.1.1",
        "127.0.1.2",
        "127.0.1.3",
        "127.0.1.4",
        "127.0.1.5",
        "127.0.1.6",
        "127.0.1.7",
    ];
    let hangs = "127.0.1.9";
    let all: Vec<&str> = healthy.iter().copied().chain([hangs]).collect();
    let mut r = common_ports(&all);
    let ports = r.ports;
    for ip in healthy {
        r.serve(ip, ports[0], prom(fixture("agent-datadog.txt")));
        r.serve(ip, ports[2], drip("hubble-busy.txt", 4, 100, false));
    }
    r.serve(hangs, ports[0], Serve::Hang);
    r.serve(hangs, ports[2], Serve::Hang);
    drop(r); // the operator ports: closed
    let mut a: Vec<String> = vec!["-o".into(), "json".into()];
    for ip in &all {
        a.extend(["--node".to_string(), ip.to_string()]);
    }
    a.extend(port_args(ports));
    a.extend(["--concurrency", "2", "--timeout", "2s"].map(String::from));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    for n in 0..healthy.len() {
        assert_eq!(
            j["nodes"][n]["hubble"]["status"],
            "pass",
            "{}",
            stdout(&out)
        );
    }
    let last = healthy.len();
    assert_eq!(j["nodes"][last]["agent"]["summary"], "no answer");
    assert_eq!(
        j["nodes"][last]["hubble"]["summary"],
        "no answer",
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_body_cut_by_the_overall_deadline_says_so_not_timed_out() {
    // Pauses of 250 ms, each well inside --timeout 500ms, but 1.25 s in all: the overall
    // deadline (twice the timeout) cuts it, and the report must not blame the endpoint's pace.
    let drip = drip("agent-datadog.txt", 5, 250, false);
    let (_, j, took) = one_node_with(0, drip, &["--timeout", "500ms"]);
    let agent = &j["nodes"][0]["agent"];
    assert_eq!(agent["summary"], "cut short", "{agent}");
    let detail = agent["detail"].as_str().unwrap();
    assert!(
        detail.contains("the overall deadline came after"),
        "{detail}"
    );
    assert!(!detail.contains("timed out"), "{detail}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_body_that_goes_silent_is_cut_short_after_one_timeout() {
    let stall = drip("agent-datadog.txt", 4, 10, true);
    let (out, j, took) = one_node_with(0, stall, &["--timeout", "500ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let agent = &j["nodes"][0]["agent"];
    assert_eq!(agent["summary"], "cut short", "{agent}");
    let detail = agent["detail"].as_str().unwrap();
    let half = fixture("agent-datadog.txt").len().div_ceil(4) * 2;
    assert!(
        detail.contains(&format!("timed out after {half} bytes")),
        "{detail}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn http_500_fails() {
    let (out, j, _) = one_node_with(0, Serve::Status(500), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(j["nodes"][0]["agent"]["summary"], "HTTP 500");
    assert_eq!(j["nodes"][0]["agent"]["http_status"], 500);
}

#[test]
fn a_body_that_is_not_metrics_fails() {
    let html = Serve::Body(
        "text/html",
        Arc::new(b"<html><body>Grafana</body></html>\n".to_vec()),
    );
    let (out, j, _) = one_node_with(0, html, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(j["nodes"][0]["agent"]["summary"], "not metrics");
    assert!(
        j["nodes"][0]["agent"]["detail"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );
}

#[test]
fn wrong_component_on_a_port_fails() {
    let (out, j, _) = one_node_with(0, prom(fixture("hubble-busy.txt")), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(j["nodes"][0]["agent"]["summary"], "hubble metrics");
}

#[test]
fn openmetrics_with_exemplars() {
    let om = Serve::Body(
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Arc::new(fixture("hubble-openmetrics.txt")),
    );
    let ports = two_healthy_nodes(om);
    let mut a = node_args(ports, &["-o", "json"]);
    a.extend(metric_args(&BUSY_LIST));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(j["nodes"][0]["hubble"]["format"], "openmetrics");
    assert_eq!(j["nodes"][0]["hubble"]["exemplars"], 20);
    let http = j["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["family"] == "httpV2")
        .unwrap();
    assert_eq!(http["status"], "pass");
    assert_eq!(http["exemplars"], 40);
    assert!(http["detail"].as_str().unwrap().contains("exemplars"));

    // Cut off before `# EOF`: truncated.
    let mut cut = fixture("hubble-openmetrics.txt");
    cut.truncate(cut.len() - 6);
    let (out, j, _) = one_node_with(
        2,
        Serve::Body("application/openmetrics-text; version=1.0.0", Arc::new(cut)),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(j["nodes"][0]["hubble"]["summary"], "truncated");
}

#[test]
fn fresh_hubble_is_healthy_and_waiting() {
    let ports = two_healthy_nodes(prom(fixture("hubble-fresh.txt")));
    let mut a = node_args(ports, &["-o", "json"]);
    a.extend(metric_args(&["dns", "drop", "flow"]));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(j["nodes"][0]["hubble"]["status"], "pass");
    assert_eq!(j["nodes"][0]["hubble"]["summary"], "up, no flows yet");
    for f in j["families"].as_array().unwrap() {
        assert_eq!(f["status"], "warn", "{f}");
    }
    let drop = &j["families"][1];
    assert!(
        drop["detail"]
            .as_str()
            .unwrap()
            .contains("waiting for traffic"),
        "{drop}"
    );
    let dns = &j["families"][0];
    assert!(
        dns["hint"]
            .as_str()
            .unwrap()
            .contains("CiliumNetworkPolicy with DNS rules"),
        "{dns}"
    );

    a.push("--strict".into());
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(j["families"][1]["status"], "fail");
}

/// Every Hubble server registers its own series at start (lost events, the /metrics handler
/// after the first scrape): they are no flow, so the families still wait for traffic and the
/// hint does not blame an older list.
#[test]
fn hubble_own_series_are_not_flows() {
    let mut body = fixture("hubble-fresh.txt");
    body.extend_from_slice(
        b"# HELP hubble_lost_events_total Number of lost events\n\
# TYPE hubble_lost_events_total counter\n\
hubble_lost_events_total{source=\"observer_events_queue\"} 3\n\
# HELP hubble_metrics_http_handler_requests_total A counter for requests to the wrapped handler.\n\
# TYPE hubble_metrics_http_handler_requests_total counter\n\
hubble_metrics_http_handler_requests_total{code=\"200\"} 4\n\
# HELP hubble_metrics_http_handler_request_duration_seconds A histogram of latencies for requests.\n\
# TYPE hubble_metrics_http_handler_request_duration_seconds histogram\n\
hubble_metrics_http_handler_request_duration_seconds_bucket{code=\"200\",le=\"+Inf\"} 4\n\
hubble_metrics_http_handler_request_duration_seconds_sum{code=\"200\"} 0.01\n\
hubble_metrics_http_handler_request_duration_seconds_count{code=\"200\"} 4\n",
    );
    let ports = two_healthy_nodes(prom(body));
    let mut a = node_args(ports, &["-o", "json"]);
    a.extend(metric_args(&["drop", "flow"]));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        j["nodes"][0]["hubble"]["summary"], "up, no flows yet",
        "{j}"
    );
    for f in j["families"].as_array().unwrap() {
        assert_eq!(f["status"], "warn", "{f}");
        assert!(
            f["hint"]
                .as_str()
                .unwrap()
                .starts_with("generate some traffic"),
            "{f}"
        );
    }
}

#[test]
fn hubble_with_some_families_missing() {
    let ports = two_healthy_nodes(prom(fixture("hubble-busy.txt")));
    let mut a = node_args(ports, &["-o", "json"]);
    a.extend(metric_args(&[
        "drop",
        "policy",
        "flows-to-world",
        "dns:query",
        "tcp",
        "flow",
        "port-distribution",
        "icmp",
        "httpV2",
    ]));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let fams = j["families"].as_array().unwrap();
    let policy = fams.iter().find(|f| f["family"] == "policy").unwrap();
    assert_eq!(policy["status"], "warn");
    assert!(
        policy["hint"].as_str().unwrap().contains("older list"),
        "{policy}"
    );
    let drop = fams.iter().find(|f| f["family"] == "drop").unwrap();
    assert_eq!(drop["status"], "pass");
    assert_eq!(j["nodes"][0]["families"].as_array().unwrap().len(), 9);
    // The table shows 7 of 9 families with samples.
    let mut t = node_args(ports, &[]);
    t.extend(metric_args(&[
        "drop",
        "policy",
        "flows-to-world",
        "dns:query",
        "tcp",
        "flow",
        "port-distribution",
        "icmp",
        "httpV2",
    ]));
    let (out, _) = run(&args(&t));
    assert!(stdout(&out).contains("‼ 7/9"), "{}", stdout(&out));
}

#[test]
fn wait_notices_a_port_that_opens_later() {
    let ports = two_healthy_nodes(prom(fixture("hubble-busy.txt")));
    let (late, reserved) = closed_port_held("127.0.0.5");
    let body = fixture("agent-datadog.txt");
    let opened = Arc::new(std::sync::Mutex::new(None));
    let o = opened.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        drop(reserved);
        let l = TcpListener::bind(("127.0.0.5", late)).unwrap();
        *o.lock().unwrap() = Some(Instant::now());
        spawn_server(l, prom(body));
    });
    let mut a = vec![
        "--node".to_string(),
        "127.0.0.5".into(),
        "-o".into(),
        "json".into(),
        "--wait".into(),
        "10s".into(),
    ];
    a.extend(port_args([late, ports[1], ports[2]]));
    // Operator and Hubble from node 2's ports are closed on .5; ask only about the agent there.
    let hub = serve_on("127.0.0.5", ports[2], prom(fixture("hubble-busy.txt")));
    let op = serve_on("127.0.0.5", ports[1], prom(fixture("operator-datadog.txt")));
    assert_eq!((hub.port(), op.port()), (ports[2], ports[1]));
    let (out, j) = run(&args(&a));
    let done = Instant::now();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(j["nodes"][0]["agent"]["status"], "pass");
    let opened_at = opened.lock().unwrap().expect("opened");
    let noticed = done.duration_since(opened_at);
    // Noticed within a quarter second, plus the time to print and exit.
    assert!(noticed < Duration::from_millis(450), "{noticed:?}");
}

#[test]
fn local_reads_the_socket_table_then_metrics() {
    let agent = serve_on("127.0.0.1", 0, prom(fixture("agent-datadog.txt")));
    let hubble = closed_port("127.0.0.1");
    let op = closed_port("127.0.0.1");
    let mut a = vec!["--local".to_string(), "-o".into(), "json".into()];
    a.extend(port_args([agent.port(), op, hubble]));
    let (out, j) = run(&args(&a));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let row = &j["nodes"][0];
    assert_eq!(row["agent"]["status"], "pass", "{row:#}");
    let detail = row["agent"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("listening on 127.0.0.1:{}", agent.port())),
        "{detail}"
    );
    assert_eq!(row["hubble"]["status"], "fail");
    assert!(
        row["hubble"]["detail"]
            .as_str()
            .unwrap()
            .contains("nothing listens")
    );
    assert_eq!(row["operator"]["status"], "skip");
    assert_eq!(
        j["checks"][0]["status"], "warn",
        "no operator here is only a warning locally"
    );
}

#[test]
fn bad_input_exits_2_naming_the_token() {
    let cases: &[(&[&str], &str)] = &[
        (&["--node", "10.0.0.300"], "10.0.0.300"),
        (&["--node", "10.0.0.1:9962"], "10.0.0.1:9962"),
        (&["--node", "[::1]:9962"], "[::1]:9962"),
        (
            &["--node", "127.0.0.1", "--agent-port", "0"],
            "--agent-port",
        ),
        (&["--node", "127.0.0.1", "--agent-port", "70000"], "70000"),
        (
            &["--nodes-file", "/nonexistent/nodes.txt"],
            "/nonexistent/nodes.txt",
        ),
        (&["--node", "127.0.0.1", "--metric", "dnss"], "dnss"),
        (&["--node", "127.0.0.1", "--timeout", "5x"], "5x"),
    ];
    for (a, token) in cases {
        let (out, _) = run(a);
        assert_eq!(out.status.code(), Some(2), "{a:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(token), "{a:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{a:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("nodes");
    std::fs::write(&f, "# fleet\n127.0.0.1\nnode two!\n").unwrap();
    let (out, _) = run(&["--nodes-file", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("node two!") && stderr(&out).contains(":3"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// IPv6: nodes on [::1].

/// Whether this machine can listen on `::1`; when it cannot, the test says so and returns.
fn ipv6_loopback(test: &str) -> bool {
    match TcpListener::bind(("::1", 0)) {
        Ok(_) => true,
        Err(e) => {
            println!("SKIPPED {test}: cannot listen on [::1] on this machine ({e})");
            false
        }
    }
}

/// Agent, operator and Hubble on three ports of `::1`.
fn healthy_ipv6_node() -> [u16; 3] {
    let mut r = common_ports(&["::1"]);
    let ports = r.ports;
    r.serve("::1", ports[0], prom(fixture("agent-datadog.txt")));
    r.serve("::1", ports[1], prom(fixture("operator-datadog.txt")));
    r.serve("::1", ports[2], prom(fixture("hubble-busy.txt")));
    ports
}

fn assert_ipv6_node_passes(a: &[String], node: &str, ports: [u16; 3]) {
    let (out, j) = run(&args(a));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{a:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(j["passed"], true, "{j:#}");
    let nodes = j["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{j:#}");
    let row = &nodes[0];
    assert_eq!(row["node"], node, "the node as it was given");
    assert_eq!(row["address"], "::1");
    for (c, port) in ["agent", "operator", "hubble"].iter().zip(ports) {
        assert_eq!(row[c]["status"], "pass", "{c}: {row:#}");
        assert_eq!(row[c]["target"], format!("[::1]:{port}"), "{c}");
    }
    assert_eq!(row["agent"]["samples"], 975);
    assert_eq!(row["hubble"]["samples"], 3225);
    for f in j["families"].as_array().unwrap() {
        assert_eq!(f["status"], "pass", "{f}");
    }
}

#[test]
fn ipv6_node_bare_and_bracketed_passes() {
    if !ipv6_loopback("ipv6_node_bare_and_bracketed_passes") {
        return;
    }
    let ports = healthy_ipv6_node();
    for node in ["::1", "[::1]"] {
        let mut a = vec![
            "--node".to_string(),
            node.into(),
            "-o".into(),
            "json".into(),
        ];
        a.extend(port_args(ports));
        a.extend(metric_args(&BUSY_LIST[..6]));
        assert_ipv6_node_passes(&a, node, ports);
    }
    // The table names the node and, for a failure, the bracketed address and port.
    let mut a = vec!["--node".to_string(), "::1".into()];
    a.extend(port_args(ports));
    let (out, _) = run(&args(&a));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("::1 ")),
        "a row for ::1: {text}"
    );
}

#[test]
fn ipv6_nodes_file() {
    if !ipv6_loopback("ipv6_nodes_file") {
        return;
    }
    let ports = healthy_ipv6_node();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("nodes");
    std::fs::write(&f, "# IPv6 fleet\n::1   # loopback\n").unwrap();
    let mut a = vec![
        "--nodes-file".to_string(),
        f.to_str().unwrap().into(),
        "-o".into(),
        "json".into(),
    ];
    a.extend(port_args(ports));
    a.extend(metric_args(&BUSY_LIST[..6]));
    assert_ipv6_node_passes(&a, "::1", ports);
}

#[test]
fn ipv6_closed_port_is_refused() {
    if !ipv6_loopback("ipv6_closed_port_is_refused") {
        return;
    }
    let p = [closed_port("::1"), closed_port("::1"), closed_port("::1")];
    let mut a = vec![
        "--node".to_string(),
        "[::1]".into(),
        "-o".into(),
        "json".into(),
    ];
    a.extend(port_args(p));
    let (out, j) = run(&args(&a));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(j["passed"], false);
    let row = &j["nodes"][0];
    assert_eq!(row["address"], "::1");
    for (c, port) in ["agent", "hubble"].iter().zip([p[0], p[2]]) {
        assert_eq!(row[c]["status"], "fail", "{c}: {row:#}");
        assert_eq!(row[c]["summary"], "refused", "{c}: {row:#}");
        assert_eq!(row[c]["target"], format!("[::1]:{port}"), "{c}");
    }
    // The operator runs on some nodes only: refused here is "not here", and none anywhere fails.
    assert_eq!(row["operator"]["summary"], "not here", "{row:#}");
    let checks = j["checks"].to_string();
    assert!(checks.contains("no node serves the operator"), "{checks}");
    // The table says so too.
    let mut a = vec!["--node".to_string(), "::1".into()];
    a.extend(port_args(p));
    let (out, _) = run(&args(&a));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("agent [::1]:{}", p[0])) && text.contains("refused"),
        "{text}"
    );
}

#[test]
fn ipv6_local_scrapes_through_ipv6_loopback() {
    if !ipv6_loopback("ipv6_local_scrapes_through_ipv6_loopback") {
        return;
    }
    // `--local` looks a port up on every address, so no closed ports here (a parallel test could
    // take one on 127.x) and every socket blocks IPv4 binds on its port.
    // The agent on [::1], and an IPv4 wildcard socket on the same port that is never asked:
    // localhost comes first.
    let (agent, _v4_wildcard) = loop {
        let l = TcpListener::bind(("::1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        if let Ok(guard) = TcpListener::bind(("0.0.0.0", port)) {
            break (spawn_server(l, prom(fixture("agent-datadog.txt"))), guard);
        }
    };
    // Operator and Hubble on the IPv6 wildcard, as Go's `:9963` listens (one socket in
    // /proc/net/tcp6, none in /proc/net/tcp): reached through [::1].
    let op = serve_on("::", 0, prom(fixture("operator-datadog.txt")));
    let hubble = serve_on("::", 0, prom(fixture("hubble-busy.txt")));
    let mut a = vec!["--local".to_string(), "-o".into(), "json".into()];
    a.extend(port_args([agent.port(), op.port(), hubble.port()]));
    let (out, j) = run(&args(&a));
    let row = &j["nodes"][0];
    assert_eq!(out.status.code(), Some(0), "{row:#}{}", stderr(&out));
    assert_eq!(row["agent"]["status"], "pass", "{row:#}");
    assert_eq!(row["agent"]["target"], format!("[::1]:{}", agent.port()));
    let detail = row["agent"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("[::1]:{}", agent.port()))
            && detail.contains(&format!("0.0.0.0:{}", agent.port())),
        "both sockets shown: {detail}"
    );
    for (c, addr) in [("operator", op), ("hubble", hubble)] {
        assert_eq!(row[c]["status"], "pass", "{row:#}");
        assert_eq!(row[c]["target"], format!("[::1]:{}", addr.port()));
        let detail = row[c]["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("listening on [::]:{}", addr.port())),
            "{detail}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cluster mode: the real kubectl against a fake API server.

fn start_api(cluster: FakeCluster) -> u16 {
    api::start(cluster).0
}

pub(crate) fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\ncurrent-context: fake\n\
             users:\n- name: tester\n  user:\n    token: test-token\n"
        ),
    )
    .unwrap();
    path
}

fn run_cluster(api: &str, extra: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), api);
    let kubectl_dir = kubectl_binary().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        kubectl_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = bin()
        .env("PATH", path)
        .env_remove("KUBECONFIG")
        .args([
            "check",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--timeout",
            "1s",
        ])
        .args(extra)
        .output()
        .unwrap();
    let j = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, j)
}

pub(crate) fn busy_cluster(hubble_body: Vec<u8>, cnp: Value, list: &str) -> (u16, [u16; 3]) {
    let (api, ports, _) = busy_cluster_with(hubble_body, cnp, list, false);
    (api, ports)
}

/// A two-node cluster; `hubble_tls` sets `hubble-metrics-server-enable-tls`. Also returns the
/// pod proxy paths asked for over TLS.
fn busy_cluster_with(
    hubble_body: Vec<u8>,
    cnp: Value,
    list: &str,
    hubble_tls: bool,
) -> (u16, [u16; 3], Arc<Mutex<Vec<String>>>) {
    busy_cluster_custom(hubble_body, cnp, list, hubble_tls, |_| {})
}

/// As `busy_cluster_with`, with `tweak` changing the fake cluster before its API server starts.
fn busy_cluster_custom(
    hubble_body: Vec<u8>,
    cnp: Value,
    list: &str,
    hubble_tls: bool,
    tweak: impl FnOnce(&mut FakeCluster),
) -> (u16, [u16; 3], Arc<Mutex<Vec<String>>>) {
    let mut r = common_ports(&["127.0.0.6", "127.0.0.7"]);
    let ports = r.ports;
    for ip in ["127.0.0.6", "127.0.0.7"] {
        r.serve(ip, ports[0], prom(fixture("agent-datadog.txt")));
        r.serve(ip, ports[2], prom(hubble_body.clone()));
    }
    r.serve("127.0.0.6", ports[1], prom(fixture("operator-datadog.txt")));
    drop(r);
    let tls_paths: Arc<Mutex<Vec<String>>> = Default::default();
    let mut cluster = FakeCluster {
        pods: vec![
            (
                "cilium-aaaaa".into(),
                "node-a".into(),
                "127.0.0.6".into(),
                "agent",
            ),
            (
                "cilium-bbbbb".into(),
                "node-b".into(),
                "127.0.0.7".into(),
                "agent",
            ),
            (
                "cilium-operator-1".into(),
                "node-a".into(),
                "127.0.0.6".into(),
                "operator",
            ),
        ],
        config: {
            let mut config = cilium_config(list, ports);
            if hubble_tls {
                config["data"]["hubble-metrics-server-enable-tls"] = json!("true");
            }
            config
        },
        cnp,
        targets: all_targets_up(),
        monitors: hubble_monitor(),
        prometheuses: kps_prometheus(),
        tls_paths: tls_paths.clone(),
        dynamic: None,
        prometheus: None,
        dashboards: vec![],
        inventory: None,
        not_ready: vec![],
    };
    tweak(&mut cluster);
    let api = start_api(cluster);
    (api, ports, tls_paths)
}

#[test]
fn cluster_hubble_over_tls_goes_through_the_https_pod_proxy() {
    let (api, _, tls) = busy_cluster_with(
        fixture("hubble-busy.txt"),
        dns_policy(),
        "dns drop tcp flow",
        true,
    );
    let server = format!("http://127.0.0.1:{api}");
    let (out, j) = run_cluster(&server, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{j:#}", stderr(&out));
    let mut seen = tls.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|p| p.starts_with("cilium-") && !p.contains("operator")),
        "{seen:?}"
    );
    // --direct cannot speak TLS: said so, as a warning, not as a broken agent.
    let (_, j) = run_cluster(&server, &["-o", "json", "--direct"]);
    let hubble = &j["nodes"][0]["hubble"];
    assert_eq!(hubble["status"], "warn", "{j:#}");
    assert!(
        hubble["detail"].as_str().unwrap().contains("TLS"),
        "{hubble}"
    );
    assert!(
        hubble["hint"]
            .as_str()
            .unwrap()
            .contains("without --direct")
    );
}

#[test]
fn cluster_healthy_through_kubectl_proxy() {
    let (api, _) = busy_cluster(
        fixture("hubble-busy.txt"),
        dns_policy(),
        // What hubble-busy.txt serves: httpV2's series carry these labelsContext labels.
        &BUSY_LIST.join(" "),
    );
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(j["mode"], "cluster");
    assert_eq!(j["families_from"], "kube-system/cilium-config");
    assert_eq!(j["nodes"][0]["node"], "node-a");
    assert_eq!(
        j["nodes"][0]["agent"]["target"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("pod kube-system/cilium-aaaaa")
    );
    assert_eq!(j["nodes"][0]["operator"]["status"], "pass");
    assert!(j["nodes"][1]["operator"].is_null());
    assert_eq!(j["nodes"][1]["hubble"]["samples"], 3225);
    let checks = j["checks"].to_string();
    assert!(
        checks.contains("Prometheus scrapes cilium-agent: 1/1 targets up"),
        "{checks}"
    );
    assert!(
        checks.contains("ServiceMonitor hubble lacks the label release=kps"),
        "{checks}"
    );
    // Agents started after the ConfigMap changed: no stale-list note.
    assert!(
        j["nodes"][0]["notes"].as_array().unwrap().is_empty(),
        "{}",
        j["nodes"][0]["notes"]
    );

    // --direct reaches the same servers at the host IPs.
    let (out, j) = run_cluster(
        &format!("http://127.0.0.1:{api}"),
        &["-o", "json", "--direct"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        j["nodes"][1]["agent"]["target"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.7:")
    );
}

#[test]
fn cluster_names_the_selector_requirement_a_service_monitor_fails() {
    // Two Prometheus objects: the one in the namespace of `prometheus-operated` is judged. Its
    // selector takes `release` from a set; the hubble ServiceMonitor has the part-of label it
    // also asks for but another release, so it fails on the expression only.
    let (api, _, _) = busy_cluster_custom(
        fixture("hubble-busy.txt"),
        dns_policy(),
        "dns drop tcp flow",
        false,
        |c| {
            c.monitors = vec![
                json!({"metadata": {"name": "hubble", "namespace": "kube-system",
                "labels": {"app.kubernetes.io/part-of": "cilium", "release": "cilium"}}}),
            ];
            c.prometheuses = vec![
                json!({"metadata": {"name": "other", "namespace": "elsewhere"}, "spec": {}}),
                json!({"metadata": {"name": "kps", "namespace": "monitoring"}, "spec": {
                    "serviceMonitorSelector": {
                        "matchLabels": {"app.kubernetes.io/part-of": "cilium"},
                        "matchExpressions": [{"key": "release", "operator": "In", "values": ["prom", "kps"]}]
                    },
                    "serviceMonitorNamespaceSelector": {"matchLabels": {"monitoring": "on"}}
                }}),
            ];
        },
    );
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hubble = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == "Prometheus has no hubble target")
        .unwrap_or_else(|| panic!("{:#}", j["checks"]));
    assert_eq!(hubble["status"], "warn");
    let hint = hubble["hint"].as_str().unwrap();
    assert!(
        hint.starts_with(
            "ServiceMonitor hubble fails `release In (prom, kps)` (it has release=cilium)"
        ),
        "{hint}"
    );
    assert!(
        !hint.contains("part-of"),
        "a requirement that holds is not blamed: {hint}"
    );
    assert!(
        hint.contains("hubble.metrics.serviceMonitor.labels"),
        "{hint}"
    );
    // The namespace selector needs labels ciliumon does not read; the label failure is certain,
    // so the uncertain part is left out rather than guessed.
    assert!(!hint.contains("serviceMonitorNamespaceSelector"), "{hint}");
}

#[test]
fn cluster_unreachable_api_server_is_preflight() {
    let port = closed_port("127.0.0.1");
    let (out, _) = run_cluster(&format!("http://127.0.0.1:{port}"), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot read the Cilium pods"), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("refused"),
        "kubectl's own message: {err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn cluster_pod_whose_node_does_not_answer() {
    let mut r = common_ports(&["127.0.0.8", "127.0.0.9"]);
    let ports = r.ports;
    r.serve("127.0.0.8", ports[0], prom(fixture("agent-datadog.txt")));
    r.serve("127.0.0.8", ports[1], prom(fixture("operator-datadog.txt")));
    r.serve("127.0.0.8", ports[2], prom(fixture("hubble-busy.txt")));
    r.serve("127.0.0.9", ports[0], Serve::Hang);
    r.serve("127.0.0.9", ports[2], Serve::Hang);
    drop(r);
    let api = start_api(FakeCluster {
        pods: vec![
            (
                "cilium-good".into(),
                "node-good".into(),
                "127.0.0.8".into(),
                "agent",
            ),
            (
                "cilium-stuck".into(),
                "node-stuck".into(),
                "127.0.0.9".into(),
                "agent",
            ),
            (
                "cilium-operator-1".into(),
                "node-good".into(),
                "127.0.0.8".into(),
                "operator",
            ),
        ],
        config: cilium_config("drop flow", ports),
        cnp: json!({"items": []}),
        targets: all_targets_up(),
        monitors: hubble_monitor(),
        prometheuses: kps_prometheus(),
        tls_paths: Default::default(),
        dynamic: None,
        prometheus: None,
        dashboards: vec![],
        inventory: None,
        not_ready: vec![],
    });
    let start = Instant::now();
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!(j["nodes"][0]["node"], "node-good");
    assert_eq!(j["nodes"][0]["agent"]["status"], "pass");
    assert_eq!(j["nodes"][1]["agent"]["status"], "fail");
    assert_eq!(j["nodes"][1]["agent"]["summary"], "no answer");
    assert_eq!(j["nodes"][1]["hubble"]["summary"], "no answer");
}

/// Three nodes through the fake API server: node-a serves everything; node-b's agent serves but
/// its Hubble port is refused (the others serve Hubble: a problem of node-b, not of the
/// configuration); node-c is NotReady and hangs; node-d's agent pod is not Ready and refuses.
#[test]
fn cluster_nodes_at_fault_are_reported_as_such() {
    let ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"];
    let mut r = common_ports(&ips);
    let ports = r.ports;
    r.serve(ips[0], ports[0], prom(fixture("agent-datadog.txt")));
    r.serve(ips[0], ports[1], prom(fixture("operator-datadog.txt")));
    r.serve(ips[0], ports[2], prom(fixture("hubble-busy.txt")));
    r.serve(ips[1], ports[0], prom(fixture("agent-datadog.txt")));
    r.serve(ips[2], ports[0], Serve::Hang);
    r.serve(ips[2], ports[2], Serve::Hang);
    drop(r); // node-b's Hubble port and all of node-d's: closed
    let pod = |name: &str, node: &str, ip: &str, kind| {
        (name.to_string(), node.to_string(), ip.to_string(), kind)
    };
    let api = start_api(FakeCluster {
        pods: vec![
            pod("cilium-a", "node-a", ips[0], "agent"),
            pod("cilium-b", "node-b", ips[1], "agent"),
            pod("cilium-c", "node-c", ips[2], "agent"),
            pod("cilium-d", "node-d", ips[3], "agent"),
            pod("cilium-operator-1", "node-a", ips[0], "operator"),
        ],
        config: cilium_config("drop flow", ports),
        cnp: json!({"items": []}),
        targets: all_targets_up(),
        monitors: hubble_monitor(),
        prometheuses: kps_prometheus(),
        tls_paths: Default::default(),
        dynamic: None,
        prometheus: None,
        dashboards: vec![],
        inventory: None,
        not_ready: vec!["node-c".into(), "cilium-d".into()],
    });
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let node = |n: usize| &j["nodes"][n];
    assert_eq!(node(0)["hubble"]["status"], "pass");
    // node-b: refused while node-a serves Hubble: no "enable Hubble metrics".
    let b = &node(1)["hubble"];
    assert_eq!(b["summary"], "refused", "{b}");
    let hint = b["hint"].as_str().unwrap();
    assert!(!hint.contains("enable Hubble metrics"), "{hint}");
    assert!(
        hint.starts_with("1 of 4 nodes serve hubble metrics"),
        "{hint}"
    );
    assert!(hint.contains("logs cilium-b -c cilium-agent"), "{hint}");
    // node-c: NotReady, said instead of "the agent process may be stuck".
    for c in ["agent", "hubble"] {
        let e = &node(2)[c];
        assert_eq!(e["summary"], "no answer", "{e}");
        let detail = e["detail"].as_str().unwrap();
        assert!(
            detail.contains("node node-c is NotReady (Ready=Unknown, NodeStatusUnknown"),
            "{detail}"
        );
        let hint = e["hint"].as_str().unwrap();
        assert!(!hint.contains("may be stuck"), "{hint}");
        assert!(hint.contains("kubectl describe node node-c"), "{hint}");
    }
    assert!(
        node(2)["notes"][0]["what"]
            .as_str()
            .unwrap()
            .starts_with("node node-c is NotReady")
    );
    // node-d: its agent pod is not Ready.
    let e = &node(3)["agent"];
    assert_eq!(e["summary"], "refused", "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("agent pod cilium-d is not Ready (Ready=False, ContainersNotReady"),
        "{e}"
    );
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains("kubectl -n kube-system describe pod cilium-d"),
        "{e}"
    );
    // And the text report says it too.
    let (out, _) = run_cluster(&format!("http://127.0.0.1:{api}"), &[]);
    let text = stdout(&out);
    assert!(text.contains("node node-c is NotReady"), "{text}");
    assert!(!text.contains("may be stuck"), "{text}");
}

fn without_dns(body: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .filter(|l| !l.contains("hubble_dns_"))
        .flat_map(|l| [l, "\n"])
        .collect::<String>()
        .into_bytes()
}

#[test]
fn cluster_empty_dns_family_with_and_without_l7_policy() {
    for (cnp, want) in [
        (
            json!({"items": []}),
            "no CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy has DNS rules",
        ),
        (dns_policy(), "L7 policy present (shop/dns-visibility)"),
    ] {
        let (api, _) = busy_cluster(
            without_dns(fixture("hubble-busy.txt")),
            cnp,
            "dns:query drop flow",
        );
        let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let dns = &j["families"][0];
        assert_eq!(dns["family"], "dns");
        assert_eq!(dns["status"], "warn");
        assert!(dns["hint"].as_str().unwrap().contains(want), "{dns}");
    }
}

#[test]
fn cluster_agent_started_before_the_config_changed() {
    let (api, _) = {
        let mut r = common_ports(&["127.0.0.10"]);
        let ports = r.ports;
        r.serve("127.0.0.10", ports[0], prom(fixture("agent-datadog.txt")));
        r.serve(
            "127.0.0.10",
            ports[1],
            prom(fixture("operator-datadog.txt")),
        );
        r.serve("127.0.0.10", ports[2], prom(fixture("hubble-busy.txt")));
        let mut config = cilium_config("drop flow", ports);
        config["metadata"]["managedFields"][0]["time"] = json!("2025-06-01T00:00:00Z");
        let api = start_api(FakeCluster {
            pods: vec![
                (
                    "cilium-old".into(),
                    "node-a".into(),
                    "127.0.0.10".into(),
                    "agent",
                ),
                (
                    "cilium-operator-1".into(),
                    "node-a".into(),
                    "127.0.0.10".into(),
                    "operator",
                ),
            ],
            config,
            cnp: json!({"items": []}),
            targets: all_targets_up(),
            monitors: hubble_monitor(),
            prometheuses: kps_prometheus(),
            tls_paths: Default::default(),
            dynamic: None,
            prometheus: None,
            dashboards: vec![],
            inventory: None,
            not_ready: vec![],
        });
        (api, ports)
    };
    let (out, _) = run_cluster(&format!("http://127.0.0.1:{api}"), &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("started 2025-05-01T10:00:00Z, before cilium-config last changed"),
        "{text}"
    );
    assert!(
        text.contains("kubectl -n kube-system rollout restart ds/cilium"),
        "{text}"
    );
    // The busy payload serves dns and more, which this list lacks.
    assert!(text.contains("runs an older list"), "{text}");
}

#[test]
fn config_file_gives_the_families() {
    let ports = two_healthy_nodes(prom(fixture("hubble-busy.txt")));
    let config = crate::support::repo_root().join("examples/blog.yaml");
    let a = node_args(ports, &["-o", "json", "--config", config.to_str().unwrap()]);
    let (out, j) = run(&args(&a));
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        stderr(&out)
    );
    assert_eq!(j["families_from"].as_str(), config.to_str());
    let fams: Vec<&str> = j["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["family"].as_str().unwrap())
        .collect();
    assert!(fams.contains(&"dns") && fams.contains(&"drop"), "{fams:?}");

    let (out, _) = run(&[
        "--node",
        "127.0.0.1",
        "--config",
        "/nonexistent/ciliumon.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("/nonexistent/ciliumon.yaml"));
}

/// A cluster in dynamic mode: cilium-config points the agents at the dynamic file (and has no
/// static list), and `cilium-dynamic-metrics-config` holds `body`.
pub(crate) fn dynamic_cluster(body: &str, keep_static: bool) -> u16 {
    let body = body.to_string();
    let (api, _, _) = busy_cluster_custom(
        fixture("hubble-busy.txt"),
        dns_policy(),
        // What hubble-busy.txt serves: httpV2's series carry these labelsContext labels.
        &BUSY_LIST.join(" "),
        false,
        move |c| {
            let data = c.config["data"].as_object_mut().unwrap();
            if !keep_static {
                data.remove("hubble-metrics");
            }
            data.insert(
                "hubble-dynamic-metrics-config-path".into(),
                json!("/dynamic-metrics-config/dynamic-metrics.yaml"),
            );
            c.dynamic = Some(dynamic_config(&body));
        },
    );
    api
}

pub(crate) const DYNAMIC_ALL: &str = "metrics:\n- name: dns\n  contextOptions:\n  - name: query\n- name: drop\n- name: tcp\n- name: flow\n  includeFilters:\n  - source_pod: [shop/]\n- name: port-distribution\n- name: icmp\n- name: httpV2\n  contextOptions:\n  - name: exemplars\n    values: ['true']\n  - name: labelsContext\n    values: [source_ip, source_namespace, source_workload, destination_ip, destination_namespace, destination_workload, traffic_direction]\n";

#[test]
fn cluster_dynamic_mode_reads_the_dynamic_configmap() {
    let api = dynamic_cluster(DYNAMIC_ALL, false);
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{j:#}", stderr(&out));
    assert_eq!(
        j["families_from"],
        "kube-system/cilium-dynamic-metrics-config (dynamic)"
    );
    let fams: Vec<&str> = j["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["family"].as_str().unwrap())
        .collect();
    assert_eq!(fams.len(), 7, "{fams:?}");
    assert!(
        fams.contains(&"httpV2") && fams.contains(&"dns"),
        "{fams:?}"
    );
    assert!(
        j["nodes"][0]["notes"].as_array().unwrap().is_empty(),
        "{}",
        j["nodes"][0]["notes"]
    );
}

#[test]
fn cluster_dynamic_mode_says_when_the_agents_run_a_previous_file() {
    // The file now asks for drop and flow only; the agents still serve the families of the
    // file before (an agent keeps its old file when it refuses a new one).
    let api = dynamic_cluster("metrics:\n- name: drop\n- name: flow\n", false);
    let (out, _) = run_cluster(&format!("http://127.0.0.1:{api}"), &[]);
    let text = stdout(&out);
    assert!(
        text.contains("which cilium-dynamic-metrics-config no longer asks for"),
        "{text}"
    );
    assert!(text.contains("label set cannot be changed"), "{text}");
    assert!(
        text.contains("kubectl -n kube-system rollout restart ds/cilium"),
        "{text}"
    );
}

#[test]
fn cluster_dynamic_mode_says_when_the_agents_refused_changed_context_options() {
    // The stand-in nodes serve the label sets of the file before (hubble-busy.txt: flow without
    // context labels, httpV2 with seven labelsContext labels); the file now changes the
    // contextOptions of both, which an agent refuses ("label set cannot be changed without
    // restarting"), keeping the old ones.
    let changed = DYNAMIC_ALL
        .replace(
            "- name: flow\n",
            "- name: flow\n  contextOptions:\n  - name: sourceContext\n    values: [namespace]\n",
        )
        .replace(
            "source_ip, source_namespace, source_workload, destination_ip, destination_namespace, destination_workload, traffic_direction",
            "source_namespace, destination_namespace",
        );
    assert_ne!(changed, DYNAMIC_ALL);
    let api = dynamic_cluster(&changed, false);
    let server = format!("http://127.0.0.1:{api}");
    let (out, j) = run_cluster(&server, &["-o", "json", "--kube-context", "fake"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{j:#}", stderr(&out));
    for (n, node) in ["node-a", "node-b"].iter().enumerate() {
        let row = &j["nodes"][n];
        assert_eq!(row["node"], *node);
        let sets = row["label_sets"].as_array().unwrap();
        let fams: Vec<&str> = sets.iter().map(|s| s["family"].as_str().unwrap()).collect();
        assert_eq!(fams, ["flow", "httpV2"], "{row:#}");
        assert_eq!(sets[0]["served"], json!([]));
        assert_eq!(sets[0]["asked"], json!(["source"]));
        assert_eq!(
            sets[1]["served"],
            json!([
                "destination_ip",
                "destination_namespace",
                "destination_workload",
                "source_ip",
                "source_namespace",
                "source_workload",
                "traffic_direction"
            ])
        );
        assert_eq!(
            sets[1]["asked"],
            json!(["destination_namespace", "source_namespace"])
        );
        let notes = row["notes"].as_array().unwrap();
        assert_eq!(notes.len(), 1, "{row:#}");
        let what = notes[0]["what"].as_str().unwrap();
        assert!(
            what.starts_with(&format!("on {node}, Hubble serves flow with labels none where cilium-dynamic-metrics-config asks for source (flow:sourceContext=namespace)")),
            "{what}"
        );
        assert!(
            what.contains("label set cannot be changed without restarting"),
            "{what}"
        );
        assert_eq!(
            notes[0]["hint"],
            "restart the agents: kubectl --context fake -n kube-system rollout restart ds/cilium"
        );
    }
    // Text: the same verdict under its node.
    let (out, _) = run_cluster(&server, &[]);
    let text = stdout(&out);
    assert!(
        text.contains("on node-b, Hubble serves flow with labels none"),
        "{text}"
    );
    assert!(
        text.contains("kubectl -n kube-system rollout restart ds/cilium"),
        "{text}"
    );
}

#[test]
fn cluster_static_mode_says_when_an_agent_serves_the_labels_of_an_older_list() {
    // cilium-config's list no longer has httpV2's labelsContext; the agents, not restarted,
    // still serve it.
    let (api, _) = busy_cluster(
        fixture("hubble-busy.txt"),
        dns_policy(),
        "dns:query drop tcp flow port-distribution icmp httpV2:exemplars=true",
    );
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{j:#}", stderr(&out));
    let row = &j["nodes"][0];
    assert_eq!(row["label_sets"][0]["family"], "httpV2", "{row:#}");
    assert_eq!(row["label_sets"][0]["asked"], json!([]));
    let what = row["notes"][0]["what"].as_str().unwrap();
    assert!(
        what.contains("where cilium-config hubble-metrics asks for none (httpV2:exemplars=true): this agent runs an older list"),
        "{what}"
    );
}

#[test]
fn cluster_dynamic_mode_with_a_static_list_too_fails() {
    let api = dynamic_cluster(DYNAMIC_ALL, true);
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{j:#}");
    let checks = j["checks"].to_string();
    assert!(checks.contains("sets both a static list"), "{checks}");
    // An unparsable file is said so: the agents keep their previous configuration.
    let api = dynamic_cluster("metrics: [", false);
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{j:#}");
    assert!(
        j["checks"]
            .to_string()
            .contains("keep their previous configuration"),
        "{}",
        j["checks"]
    );
}

/// kube-prometheus-stack present: the fake API server's service proxy forwards to a fake
/// Prometheus of the same two nodes, and the dashboards are ConfigMaps in `monitoring`.
fn cluster_with_prometheus(fake: &crate::fake_prom::FakeProm) -> u16 {
    let dashboards = [
        (
            "hubble-dashboard",
            include_str!("../fixtures/dashboards/hubble-mini.json"),
        ),
        (
            "hubble-dns-namespace",
            include_str!("../fixtures/dashboards/namespace-mini.json"),
        ),
        (
            "hubble-l7-http-metrics-by-workload",
            include_str!("../fixtures/dashboards/l7-mini.json"),
        ),
        // Not Cilium's: left alone.
        (
            "kube-apiserver",
            include_str!("../fixtures/dashboards/hubble-mini.json"),
        ),
    ]
    .iter()
    .map(|(name, j)| crate::harness::api::dashboard_configmap(name, &format!("{name}.json"), j))
    .collect();
    let base = fake.base.clone();
    busy_cluster_custom(
        fixture("hubble-busy.txt"),
        json!({"items": []}),
        "dns drop tcp flow httpV2",
        false,
        move |c| {
            c.prometheus = Some(base);
            c.dashboards = dashboards;
            c.inventory = Some([2, 10, 40, 8]);
        },
    )
    .0
}

#[test]
fn cluster_with_prometheus_reports_empty_panels_and_series_side_by_side() {
    let fake = crate::fake_prom::FakeProm::start(
        crate::fake_prom::Fleet::typical(2),
        200,
        Duration::from_secs(60),
    );
    let api = cluster_with_prometheus(&fake);
    let (out, j) = run_cluster(&format!("http://127.0.0.1:{api}"), &["-o", "json"]);
    assert!(j.is_object(), "{}\n{}", stdout(&out), stderr(&out));
    let p = &j["prometheus"];
    let panels = p["panels"].as_array().expect("panels asked");
    assert!(panels.iter().any(|a| a["state"] == "data"), "{p:#}");
    // The namespace labels are missing in the fake: those panels are empty, with the reason.
    let empty: Vec<&Value> = panels.iter().filter(|a| a["state"] == "empty").collect();
    assert!(!empty.is_empty(), "{p:#}");
    assert!(
        empty
            .iter()
            .all(|a| a["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "{empty:#?}"
    );
    // Only Cilium's ConfigMaps were read.
    assert!(panels.iter().all(|a| a["dashboard"] != "kube-apiserver"));
    // Series: Prometheus' count, the estimate (counted inventory) and the scanner, per family.
    let series = p["series"].as_array().unwrap();
    let drop = series
        .iter()
        .find(|s| s["family"] == "drop")
        .expect("drop row");
    assert_eq!(drop["prometheus"], 10, "2 nodes × 5: {drop}");
    assert!(drop["estimate"].as_u64().is_some(), "{drop}");
    assert!(drop["scanned"].as_u64().is_some_and(|n| n > 0), "{drop}");
    assert_eq!(drop["scanned_nodes"], 2);
    // And the text report shows both.
    let (out, _) = run_cluster(&format!("http://127.0.0.1:{api}"), &[]);
    let text = stdout(&out);
    assert!(
        text.contains("Dashboards (panel queries against Prometheus)"),
        "{text}"
    );
    assert!(
        text.contains("Series per family (Prometheus / estimate / scanned)"),
        "{text}"
    );
}

#[test]
fn from_prometheus_answers_without_scraping_the_agents() {
    let fake = crate::fake_prom::FakeProm::start(
        crate::fake_prom::Fleet::typical(2),
        200,
        Duration::from_secs(60),
    );
    let api = cluster_with_prometheus(&fake);
    let (out, j) = run_cluster(
        &format!("http://127.0.0.1:{api}"),
        &["--from-prometheus", "-o", "json"],
    );
    assert!(j.is_object(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(
        j["nodes"].as_array().map(Vec::len),
        Some(0),
        "no agent scraped"
    );
    let p = &j["prometheus"];
    assert_eq!(p["nodes"].as_array().unwrap().len(), 2, "{p:#}");
    assert!(p["families"].as_array().is_some_and(|f| !f.is_empty()));
    assert!(p["queries"].as_u64().unwrap() >= 4);
    assert!(fake.requests() >= 4);
}
