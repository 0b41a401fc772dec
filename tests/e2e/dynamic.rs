//! Dynamic Hubble metrics (issue 13) against the real control plane: `ciliumon setup --yes
//! --metrics-mode dynamic` with real Helm 3 and Helm 4 renders the test chart's
//! `cilium-dynamic-metrics-config` (the real chart's name, key and body shape) with exactly the
//! asked entries, filters included, and no static list; `ciliumon check` reads the list from that
//! ConfigMap and compares it with what the fake agents serve; changes of the dynamic file apply
//! live or restart the agents as `dynamic::decide` says; and dynamic → static through setup.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::cluster;
use crate::env::{Env, text};
use crate::nodes::{Node, hubble_serving};
use crate::setup::release_at_rev2;
use crate::support::serial;

const DYNAMIC_CM: &str = "cilium-dynamic-metrics-config";
const DYNAMIC_KEY: &str = "dynamic-metrics.yaml";
const DYNAMIC_PATH: &str = "/dynamic-metrics-config/dynamic-metrics.yaml";

/// The families the first file asks for, and the fake agents serve.
const FAMILIES: [&str; 3] = ["flow", "drop", "dns"];

/// ciliumon.yaml's Hubble part: dynamic mode, a map entry with include and exclude filters.
/// OpenMetrics off: the fake agents' payloads are Prometheus text.
fn dynamic_config(flow_context: &str, flow_pods: &str) -> String {
    format!(
        "hubble:\n  openMetrics: false\n  metricsMode: dynamic\n  metrics:\n  \
         - spec: 'flow:sourceContext={flow_context}'\n    includeFilters:\n    \
         - source_pod: ['{flow_pods}']\n    excludeFilters:\n    - verdict: [DROPPED]\n  \
         - 'drop:sourceContext=namespace'\n  - dns\n"
    )
}

/// The dynamic file those entries render: what the agents are asked to run, exactly (in name
/// order).
fn expected_metrics(flow_context: &str, flow_pods: &str) -> Value {
    by_name(&json!([
        {"name": "flow",
         "contextOptions": [{"name": "sourceContext", "values": [flow_context]}],
         "includeFilters": [{"source_pod": [flow_pods]}],
         "excludeFilters": [{"verdict": ["DROPPED"]}]},
        {"name": "drop",
         "contextOptions": [{"name": "sourceContext", "values": ["namespace"]}],
         "includeFilters": [],
         "excludeFilters": []},
        {"name": "dns", "contextOptions": [], "includeFilters": [], "excludeFilters": []}
    ]))
}

/// A node whose agent serves exactly these Hubble families (and real agent/operator payloads).
fn serving(families: &[&str]) -> Node {
    Node {
        hubble: hubble_serving(families),
        ..Node::ok()
    }
}

/// A list of dynamic metrics in name order (ciliumon writes them in the catalogue's order; the
/// agents do not depend on it).
fn by_name(metrics: &Value) -> Value {
    let mut v = metrics.as_array().cloned().unwrap_or_default();
    v.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Value::Array(v)
}

/// The dynamic ConfigMap in the API server: its one key, parsed; the metrics in name order.
fn dynamic_file(e: &Env) -> Value {
    let cm = e.k_json(&["get", "configmap", DYNAMIC_CM, "-n", &e.ns]);
    let data = cm["data"].as_object().expect("no data");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [DYNAMIC_KEY],
        "{DYNAMIC_CM}: {cm:#}"
    );
    let body = data[DYNAMIC_KEY].as_str().unwrap();
    let file: Value = serde_saphyr::from_str(body).unwrap_or_else(|err| panic!("{err}: {body}"));
    let keys: Vec<&String> = file.as_object().expect("not a map").keys().collect();
    assert_eq!(keys, ["metrics"], "{body}");
    json!({"metrics": by_name(&file["metrics"])})
}

fn cilium_config(e: &Env) -> Value {
    e.k_json(&["get", "configmap", "cilium-config", "-n", &e.ns])["data"].clone()
}

fn pod_uids(e: &Env) -> BTreeSet<String> {
    e.agent_pods().into_iter().map(|(_, uid, _)| uid).collect()
}

fn setup_args(e: &Env, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "setup",
        "--yes",
        "--config",
        &e.path("ciliumon.yaml").display().to_string(),
        "--backup-dir",
        &e.path("backups").display().to_string(),
        "--timeout",
        "3m",
        "--check-wait",
        "1m",
        "-o",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// One setup run: exit 0, done, the check passed. Returns the JSON document and stderr (the
/// plan and its notes).
fn setup_ok(e: &Env, extra_config: &str, extra: &[&str]) -> (Value, String) {
    e.config(extra_config);
    let args = setup_args(e, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = e.ciliumon(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", text(&out)));
    assert_eq!(doc["status"], "done", "{doc:#}");
    assert_eq!(doc["check"]["passed"], true, "{doc:#}");
    (doc, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn restart_steps(doc: &Value) -> usize {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "restart-agents")
        .count()
}

/// A family row of a check report.
fn family<'a>(report: &'a Value, f: &str) -> &'a Value {
    report["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["family"] == f)
        .unwrap_or_else(|| panic!("no family {f}: {report:#}"))
}

/// static (no Hubble list) → dynamic through setup, then `check` in dynamic mode; with `full`
/// also a live change (filters) and a restart change (context options) of the dynamic file;
/// then dynamic → static.
fn dynamic_mode(major: u8, full: bool) {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let e = Env::new(
        c,
        &format!("dyn-h{major}"),
        major,
        &[serving(&FAMILIES), serving(&FAMILIES)],
    );
    let n = release_at_rev2(&e, "");
    let before = pod_uids(&e);

    // static → dynamic.
    let (doc, plan) = setup_ok(&e, &dynamic_config("namespace", "shop/"), &[]);
    assert_eq!(doc["cilium"]["revisionBefore"], n);
    assert!(plan.contains("Switching to dynamic"), "{plan}");
    // The switch restarts the agents once: rolled by the upgrade (the pod template gains the
    // dynamic file's volume) or by a restart step.
    let after = pod_uids(&e);
    assert!(before.is_disjoint(&after), "{before:?} -> {after:?}");
    assert_eq!(after.len(), 2);

    // The ConfigMap Helm created, as the agents read it: exactly the asked entries.
    assert_eq!(
        dynamic_file(&e),
        json!({"metrics": expected_metrics("namespace", "shop/")})
    );
    // The release: dynamic on, the same content, an empty static list (never both).
    let v = e.values(None);
    let m = &v["hubble"]["metrics"];
    assert_eq!(m["enabled"], json!([]), "{m:#}");
    assert_eq!(m["dynamic"]["enabled"], true, "{m:#}");
    assert_eq!(
        by_name(&m["dynamic"]["config"]["content"]),
        expected_metrics("namespace", "shop/"),
        "{m:#}"
    );
    let cc = cilium_config(&e);
    assert!(
        cc.get("hubble-metrics").is_none(),
        "static list left: {cc:#}"
    );
    assert_eq!(cc["hubble-dynamic-metrics-config-path"], DYNAMIC_PATH);
    assert_eq!(cc["hubble-metrics-server"], ":9965");
    // Chart 1.18.12 renders the Service and the ServiceMonitor of :9965 in dynamic mode too
    // (cilium/cilium#37474, 1.17.2+).
    e.k(&["get", "service", "hubble-metrics", "-n", &e.ns]);
    let sm = e.k_json(&["get", "servicemonitor", "hubble", "-n", &e.ns]);
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus", "{sm:#}");

    // check in dynamic mode: the list comes from the ConfigMap, and every agent serves it.
    let out = e.ciliumon(&["check", "-n", &e.ns, "--timeout", "2s", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    let from = report["families_from"].as_str().unwrap_or_default();
    assert!(from.contains(DYNAMIC_CM), "{report:#}");
    for f in FAMILIES {
        assert_eq!(family(&report, f)["status"], "pass", "{report:#}");
        assert_eq!(family(&report, f)["nodes_with_samples"], 2, "{report:#}");
    }
    assert!(
        !report
            .to_string()
            .contains("previous dynamic configuration"),
        "{report:#}"
    );

    if full {
        // Other filters for flow: applied live, no restart, the agents keep running.
        let before = pod_uids(&e);
        let (doc, plan) = setup_ok(&e, &dynamic_config("namespace", "web/"), &[]);
        assert!(plan.contains("changes the filters of flow"), "{plan}");
        assert!(plan.contains("no restart"), "{plan}");
        assert_eq!(restart_steps(&doc), 0, "{doc:#}");
        assert_eq!(pod_uids(&e), before, "a live change restarted agents");
        assert_eq!(
            dynamic_file(&e),
            json!({"metrics": expected_metrics("namespace", "web/")})
        );

        // Other context options for the running flow: the agents would refuse the file, so
        // the plan restarts them (once).
        let (doc, plan) = setup_ok(&e, &dynamic_config("pod", "web/"), &[]);
        assert!(
            plan.contains("changes the context options of flow"),
            "{plan}"
        );
        assert!(plan.contains("label set cannot be changed"), "{plan}");
        assert_eq!(restart_steps(&doc), 1, "{doc:#}");
        let after = pod_uids(&e);
        assert!(before.is_disjoint(&after), "{before:?} -> {after:?}");
        assert_eq!(
            dynamic_file(&e),
            json!({"metrics": expected_metrics("pod", "web/")})
        );
    }

    // dynamic → static: the static list back, dynamic off, its ConfigMap gone, the agents
    // restarted (they read the list only at start-up).
    let before = pod_uids(&e);
    let (_, plan) = setup_ok(
        &e,
        "hubble:\n  openMetrics: false\n  metrics: ['flow:sourceContext=namespace', 'drop:sourceContext=namespace', dns]\n",
        &["--metrics-mode", "static"],
    );
    assert!(plan.contains("Switching from dynamic to static"), "{plan}");
    let after = pod_uids(&e);
    assert!(before.is_disjoint(&after), "{before:?} -> {after:?}");
    // The static list, in any order (ciliumon writes the catalogue's).
    let static_list = [
        "dns",
        "drop:sourceContext=namespace",
        "flow:sourceContext=namespace",
    ];
    let v = e.values(None);
    let m = &v["hubble"]["metrics"];
    let mut enabled: Vec<&str> = m["enabled"]
        .as_array()
        .unwrap_or_else(|| panic!("no static list: {m:#}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    enabled.sort_unstable();
    assert_eq!(enabled, static_list, "{m:#}");
    assert_eq!(m["dynamic"]["enabled"], false, "{m:#}");
    let gone = e.k(&[
        "get",
        "configmap",
        DYNAMIC_CM,
        "-n",
        &e.ns,
        "--ignore-not-found",
        "-o",
        "name",
    ]);
    assert!(gone.trim().is_empty(), "{DYNAMIC_CM} left: {gone}");
    let cc = cilium_config(&e);
    let mut listed: Vec<&str> = cc["hubble-metrics"]
        .as_str()
        .unwrap_or_else(|| panic!("no hubble-metrics: {cc:#}"))
        .split_whitespace()
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, static_list, "{cc:#}");
    assert!(
        cc.get("hubble-dynamic-metrics-config-path").is_none(),
        "{cc:#}"
    );
}

#[test]
fn dynamic_setup_check_and_switches_helm4() {
    dynamic_mode(4, true);
}

#[test]
fn dynamic_setup_and_back_to_static_helm3() {
    dynamic_mode(3, false);
}

/// The agents still run an older dynamic file (one that had `dns`; the ConfigMap no longer
/// asks for it): check says they run a previous configuration.
#[test]
fn dynamic_check_names_a_previous_configuration() {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let older = serving(&FAMILIES);
    let e = Env::new(c, "dyn-old", 4, &[older.clone(), older]);
    let pin = e.values_file("pin.yaml", "");
    let on = e.path("dynamic-on.yaml");
    let content = json!([
        {"name": "flow", "contextOptions": [{"name": "sourceContext", "values": ["namespace"]}]},
        {"name": "drop"}
    ]);
    std::fs::write(
        &on,
        json!({
            "prometheus": {"enabled": true},
            "operator": {"replicas": 1, "prometheus": {"enabled": true}},
            "hubble": {"metrics": {"enabled": [], "dynamic": {"enabled": true, "config": {"content": content}}}}
        })
        .to_string(),
    )
    .unwrap();
    e.install_cilium(&[&pin, &on], &[]);
    e.rollout_done();
    assert_eq!(dynamic_file(&e), json!({"metrics": by_name(&content)}));

    let out = e.ciliumon(&["check", "-n", &e.ns, "--timeout", "2s", "-o", "json"]);
    let all = text(&out);
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{err}: {all}"));
    assert!(
        report["families_from"]
            .as_str()
            .unwrap_or_default()
            .contains(DYNAMIC_CM),
        "{report:#}"
    );
    for f in ["flow", "drop"] {
        assert_eq!(family(&report, f)["status"], "pass", "{report:#}");
    }
    for node in report["nodes"].as_array().unwrap() {
        let note = node["notes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| {
                n.to_string()
                    .contains("still runs a previous dynamic configuration")
            })
            .unwrap_or_else(|| panic!("no previous-configuration note: {node:#}"));
        assert_eq!(note["status"], "warn", "{note:#}");
        assert!(note.to_string().contains("dns"), "{note:#}");
    }
    assert_ne!(report["status"], "pass", "{report:#}");
}
