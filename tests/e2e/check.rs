//! `ciliumon check` in cluster mode against the real API and pod proxy: nodes whose endpoints
//! refuse or hang, a NotReady node, agents older than the ConfigMap, an L7 CiliumNetworkPolicy.

use std::time::Duration;

use serde_json::Value;

use crate::cluster;
use crate::env::{Env, text};
use crate::net::Endpoint;
use crate::nodes::{Node, payload};
use crate::support::serial;

pub const METRICS_ON: &str = "prometheus:\n  enabled: true\noperator:\n  replicas: 1\n  prometheus:\n    enabled: true\nhubble:\n  metrics:\n    enableOpenMetrics: false\n    enabled:\n    - dns\n    - drop\n    - tcp\n    - flow\n    - port-distribution\n    - icmp\n    - httpV2\n";

/// Values files merge maps, so the node pinning and METRICS_ON combine; the operator's keys are
/// spelled once (its nodeSelector comes from the pinning file).
pub fn metrics_on_release(e: &Env) {
    let pin = e.values_file("pin.yaml", "");
    let on = e.path("metrics-on.yaml");
    std::fs::write(&on, METRICS_ON).unwrap();
    e.install_cilium(&[&pin, &on], &[]);
}

fn running_agents(e: &Env) -> usize {
    let list = e.k_json(&["get", "pods", "-n", &e.ns, "-l", "k8s-app=cilium"]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count()
}

#[test]
fn check_refused_hanging_notready_stale_l7() {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    // Agents that just started: Hubble has no series yet (tests the L7 policy notes).
    let fresh = Node {
        hubble: Endpoint::Serve {
            text: payload("hubble-fresh.txt"),
            openmetrics: None,
        },
        ..Node::ok()
    };
    let refused = Node {
        agent: Endpoint::Refuse,
        ..fresh.clone()
    };
    let hanging = Node {
        agent: Endpoint::Hang,
        hubble: Endpoint::Hang,
        ..Node::ok()
    };
    // A node that dies after its agent started: nothing answers there any more.
    let not_ready = Node {
        agent: Endpoint::Hang,
        operator: Endpoint::Hang,
        hubble: Endpoint::Hang,
        ..Node::ok()
    };
    let e = Env::new(c, "check", 4, &[fresh, refused, hanging, not_ready]);
    metrics_on_release(&e);
    e.rollout_done();
    assert_eq!(running_agents(&e), 4);
    e.fleet.make_not_ready(3, c);
    // The node lifecycle controller then marks that node's pods not Ready (phase stays Running).
    let dead = e.fleet.names[3].clone();
    let start = std::time::Instant::now();
    loop {
        let pods = e.k_json(&[
            "get",
            "pods",
            "-n",
            &e.ns,
            "-l",
            "k8s-app=cilium",
            "--field-selector",
            &format!("spec.nodeName={dead}"),
        ]);
        let p = &pods["items"][0];
        let ready = p["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .map(|c| c["status"].clone());
        if ready == Some("False".into()) {
            assert_eq!(p["status"]["phase"], "Running");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "pod on {dead} still Ready: {p:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // A change to cilium-config after the agents started (API times have 1 s resolution).
    std::thread::sleep(Duration::from_millis(1100));
    e.install_cilium(
        &[],
        &[
            "--reuse-values",
            "--set-string",
            "extraConfig.changed=later",
        ],
    );
    let policy = e.path("l7.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: l7-http\n  namespace: {}\nspec:\n  endpointSelector: {{}}\n  ingress:\n  - toPorts:\n    - ports:\n      - port: \"80\"\n        protocol: TCP\n      rules:\n        http:\n        - method: GET\n",
            e.ns
        ),
    )
    .unwrap();
    e.k(&["apply", "-f", policy.to_str().unwrap()]);

    let out = e.ciliumon(&["check", "-n", &e.ns, "--timeout", "2s", "-o", "json"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{err}: {all}"));
    let node = |i: usize| {
        doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == e.fleet.names[i].as_str())
            .unwrap_or_else(|| panic!("{} not reported: {doc:#}", e.fleet.names[i]))
            .clone()
    };
    let (n0, n1, n2, n3) = (node(0), node(1), node(2), node(3));
    // Addresses are the nodes' host IPs, reached through the API server's pod proxy.
    for (i, n) in [&n0, &n1, &n2, &n3].into_iter().enumerate() {
        assert_eq!(n["address"], e.fleet.ips[i].to_string(), "{n:#}");
    }
    assert_eq!(n0["agent"]["status"], "pass", "{n0:#}");
    assert_eq!(n0["hubble"]["status"], "pass", "{n0:#}");
    assert_eq!(n1["agent"]["status"], "fail", "{n1:#}");
    assert_eq!(n1["agent"]["summary"], "refused", "{n1:#}");
    assert_eq!(n1["hubble"]["status"], "pass", "{n1:#}");
    assert_eq!(n2["agent"]["summary"], "no answer", "{n2:#}");
    assert_eq!(n2["hubble"]["summary"], "no answer", "{n2:#}");
    assert_eq!(n3["agent"]["status"], "fail", "{n3:#}");
    // Every agent started before the ConfigMap changed.
    for n in [&n0, &n1, &n2, &n3] {
        let notes = n["notes"].to_string();
        assert!(notes.contains("before cilium-config last changed"), "{n:#}");
    }
    let log = e.fleet.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|(a, l)| a.ip() == e.fleet.ips[0]
            && a.port() == 9962
            && l.starts_with("GET /metrics")),
        "{log:?}"
    );
    // No Hubble series yet: the L7 families say whether an L7 policy exists.
    let fam = |f: &str| {
        doc["families"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["family"] == f)
            .unwrap_or_else(|| panic!("no family {f}: {doc:#}"))
            .clone()
    };
    let http = fam("httpV2");
    let dns = fam("dns");
    let policy = format!("{}/l7-http", e.ns);
    assert!(http.to_string().contains(&policy), "{http:#}");
    assert!(!dns.to_string().contains(&policy), "{dns:#}");
    assert!(dns.to_string().contains("has DNS rules"), "{dns:#}");
}

/// A node whose kubelet stopped: the node lifecycle controller marks it NotReady and its pods
/// not Ready (phase stays Running). The check names the NotReady node (or the not-Ready pod)
/// instead of blaming the agent ("may be stuck or overloaded").
#[test]
fn check_names_a_not_ready_node() {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let dead = Node {
        agent: Endpoint::Hang,
        operator: Endpoint::Hang,
        hubble: Endpoint::Hang,
        ..Node::ok()
    };
    let e = Env::new(c, "notready", 4, &[Node::ok(), dead]);
    metrics_on_release(&e);
    e.rollout_done();
    e.fleet.make_not_ready(1, c);
    let name = e.fleet.names[1].clone();
    let start = std::time::Instant::now();
    while e.k(&[
        "get",
        "node",
        &name,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]) != "Unknown"
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name} still Ready"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = e.ciliumon(&["check", "-n", &e.ns, "--timeout", "1s", "-o", "json"]);
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", text(&out)));
    let n = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == name.as_str())
        .unwrap()
        .to_string();
    assert!(n.contains("NotReady") || n.contains("not Ready"), "{n}");
}

/// Every agent refuses 9962 while cilium-config sets `prometheus-serve-addr`: the metrics are
/// configured, so the hint is the agents not listening, not "enable prometheus.enabled=true".
#[test]
fn check_refused_although_configured() {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let refused = Node {
        agent: Endpoint::Refuse,
        ..Node::ok()
    };
    let e = Env::new(c, "refused-cfg", 4, &[refused]);
    metrics_on_release(&e);
    e.rollout_done();
    let addr = e.k(&[
        "get",
        "configmap",
        "cilium-config",
        "-n",
        &e.ns,
        "-o",
        "jsonpath={.data.prometheus-serve-addr}",
    ]);
    assert!(!addr.trim().is_empty(), "prometheus-serve-addr not set");
    let out = e.ciliumon(&["check", "-n", &e.ns, "--timeout", "2s", "-o", "json"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{err}: {all}"));
    let agent = &doc["nodes"][0]["agent"];
    assert_eq!(agent["summary"], "refused", "{agent:#}");
    let hint = agent["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("does not listen although configured"),
        "{hint}"
    );
    assert!(!hint.contains("prometheus.enabled=true"), "{hint}");
}
