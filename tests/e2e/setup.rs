//! `ciliumon setup --yes` against the real API: the stack first, values merged, one new
//! revision, the agents rolled, the check through the real pod proxy; then a second run that
//! changes nothing.

use serde_json::Value;

use crate::cluster;
use crate::env::{Env, text};
use crate::nodes::Node;
use crate::support::serial;

const USER_VALUES: &str = "cluster:\n  name: \"on\"\nextraConfig:\n  user-flag: \"on\"\n";

/// A release at revision 2 with user values (strings `on` among them), all agents running.
pub fn release_at_rev2(e: &Env, extra: &str) -> i64 {
    let f = e.values_file("user-values.yaml", &format!("{USER_VALUES}{extra}"));
    e.install_cilium(&[&f], &[]);
    e.install_cilium(
        &[],
        &["--reuse-values", "--set-string", "extraConfig.second=kept"],
    );
    e.rollout_done();
    let rev = e.revision();
    assert_eq!(rev, 2);
    rev
}

/// `updated` as helm prints it ("2026-12-01 19:00:00.12345 +0000 UTC" from Helm 3, RFC 3339
/// from Helm 4; both UTC here), as (date and time to the second, fraction) for comparing.
fn helm_time(v: &Value) -> (String, f64) {
    let t = v["updated"].as_str().unwrap_or("").replace('T', " ");
    let (secs, rest) = t.split_at(t.len().min(19));
    let frac: String = rest
        .strip_prefix('.')
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (secs.to_string(), format!("0.{frac}0").parse().unwrap())
}

fn setup_then_again(major: u8, exactly_once: bool) {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let name = format!("setup-h{major}");
    let e = Env::new(c, &name, major, &[Node::ok(), Node::ok(), Node::ok()]);
    let n = release_at_rev2(&e, "");
    let revisions_before = e.agent_revisions();
    let pods_before = e.agent_pods();
    assert_eq!(pods_before.len(), 3, "{pods_before:?}");
    let cfg = e.config("");
    let backups = e.path("backups");
    let cfg_s = cfg.display().to_string();
    let backups_s = backups.display().to_string();
    let args = [
        "setup",
        "--yes",
        "--config",
        &cfg_s,
        "--backup-dir",
        &backups_s,
        "--timeout",
        "3m",
        "--check-wait",
        "1m",
        "-o",
        "json",
    ];

    let out = e.ciliumon(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", text(&out)));
    assert_eq!(doc["status"], "done", "{doc:#}");
    assert_eq!(doc["cilium"]["revisionBefore"], n);
    assert_eq!(doc["check"]["passed"], true, "{doc:#}");

    // The stack was installed, and before the Cilium upgrade.
    let stack = e.helm_json(&["history", "prometheus", "-n", &e.stack_ns]);
    assert_eq!(stack.as_array().unwrap().len(), 1, "{stack:#}");
    assert_eq!(stack[0]["status"], "deployed");
    let history = e.helm_json(&["history", "cilium", "-n", &e.ns]);
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["revision"], n + 1, "{history:#}");
    assert_eq!(last["status"], "deployed");
    assert!(
        helm_time(&stack[0]) < helm_time(&last),
        "stack {} not before cilium {}",
        stack[0]["updated"],
        last["updated"]
    );
    // The CRDs came from the stack chart's crds/.
    e.k(&["get", "crd", "servicemonitors.monitoring.coreos.com"]);

    // Values merged: the user's kept (strings stay strings), ciliumon's added.
    let v = e.values(None);
    assert_eq!(v["cluster"]["name"], "on", "{v:#}");
    assert_eq!(v["extraConfig"]["user-flag"], "on", "{v:#}");
    assert_eq!(v["extraConfig"]["second"], "kept", "{v:#}");
    assert_eq!(v["nodeSelector"][crate::nodes::GROUP_LABEL], e.fleet.group);
    assert_eq!(v["prometheus"]["enabled"], true);
    assert_eq!(v["hubble"]["metrics"]["serviceMonitor"]["enabled"], true);
    let cm = e.k_json(&["get", "configmap", "cilium-config", "-n", &e.ns]);
    assert_eq!(cm["data"]["cluster-name"], "on");
    assert_eq!(cm["data"]["user-flag"], "on");
    assert_eq!(cm["data"]["prometheus-serve-addr"], ":9962");
    let hm = cm["data"]["hubble-metrics"].as_str().unwrap_or("");
    assert!(
        hm.starts_with("dns drop tcp flow port-distribution icmp httpV2:exemplars=true;"),
        "{hm}"
    );
    for sm in ["cilium-agent", "cilium-operator", "hubble"] {
        let o = e.k_json(&["get", "servicemonitor", sm, "-n", &e.ns]);
        assert_eq!(o["metadata"]["labels"]["release"], "prometheus", "{o:#}");
    }

    // The agents run the new configuration: every pod replaced, started after the ConfigMap
    // changed, the rollout complete (kwok made them Ready).
    let pods_after = e.agent_pods();
    assert_eq!(pods_after.len(), 3, "{pods_after:?}");
    for (name, uid, _) in &pods_before {
        assert!(
            !pods_after.iter().any(|p| &p.1 == uid),
            "{name} was not replaced"
        );
    }
    let ds = e.k_json(&["get", "ds", "cilium", "-n", &e.ns]);
    assert_eq!(ds["status"]["updatedNumberScheduled"], 3, "{ds:#}");
    assert_eq!(ds["status"]["numberReady"], 3, "{ds:#}");

    // The real pod proxy carried the check: every node's three ports were asked.
    let log = e.fleet.log.lock().unwrap().clone();
    for ip in &e.fleet.ips {
        for port in [9962, 9965] {
            assert!(
                log.iter().any(|(a, l)| a.ip() == *ip
                    && a.port() == port
                    && l.starts_with("GET /metrics")),
                "{ip}:{port} never scraped: {log:?}"
            );
        }
    }
    assert!(
        log.iter().any(|(a, _)| a.port() == 9963),
        "no operator scraped: {log:?}"
    );

    let revisions_after = e.agent_revisions();
    eprintln!("agent ControllerRevisions before {revisions_before:?}, after {revisions_after:?}");

    // Run again: nothing changes.
    let again = e.ciliumon(&args);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let doc: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(doc["status"], "unchanged", "{doc:#}");
    assert_eq!(doc["check"]["passed"], true, "{doc:#}");
    assert_eq!(e.revision(), n + 1);
    assert_eq!(
        e.helm_json(&["history", "prometheus", "-n", &e.stack_ns])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        e.agent_revisions(),
        revisions_after,
        "the second run rolled the agents"
    );
    assert_eq!(
        e.agent_pods(),
        pods_after,
        "the second run replaced agent pods"
    );

    // The agents were rolled (the DaemonSet's history grew); exactly once is what the issue
    // asks for, and what ciliumon does not do yet (see agents_rolled_once_*).
    let rolls = revisions_after.len() - revisions_before.len();
    assert!(
        rolls >= 1,
        "not rolled: {revisions_before:?} -> {revisions_after:?}"
    );
    if exactly_once {
        assert_eq!(
            rolls, 1,
            "the agents were rolled {rolls} times: ControllerRevisions before {revisions_before:?}, after {revisions_after:?}"
        );
    }
}

#[test]
fn setup_then_again_helm3() {
    setup_then_again(3, false);
}

#[test]
fn setup_then_again_helm4() {
    setup_then_again(4, false);
}

/// When the upgrade turns metrics on, the real chart adds container ports (prometheus,
/// hubble-metrics) to the agent's pod template, so the DaemonSet controller already rolls every
/// agent; ciliumon's `kubectl rollout restart` then rolls them all a second time.
#[test]
fn agents_rolled_once_helm3() {
    setup_then_again(3, true);
}

#[test]
fn agents_rolled_once_helm4() {
    setup_then_again(4, true);
}

/// Across chart versions (1.18.12 → 1.19.6, `--cilium-version`): the plan uses
/// `--reset-then-reuse-values`, so the user's values are kept and the new chart's defaults
/// apply; a real upgrade to a real second chart in the repository.
fn across_versions(major: u8) {
    let _g = serial();
    let Some(c) = cluster::get() else { return };
    let e = Env::new(
        c,
        &format!("minor-h{major}"),
        major,
        &[Node::ok(), Node::ok()],
    );
    let n = release_at_rev2(&e, "");
    let cfg = e.config("");
    let cfg_s = cfg.display().to_string();
    let backups = e.path("backups").display().to_string();
    let args = [
        "setup",
        "--yes",
        "--config",
        &cfg_s,
        "--backup-dir",
        &backups,
        "--timeout",
        "3m",
        "--check-wait",
        "1m",
        "--cilium-version",
        "1.19.6",
        "-o",
        "json",
    ];
    // Another chart version changes Cilium itself: refused off a terminal without
    // --allow-version-change, and the release stays as it was.
    let out = e.ciliumon(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("changes the Cilium version"),
        "{}",
        text(&out)
    );
    let hist = e.helm_json(&["history", "cilium", "-n", &e.ns]);
    assert_eq!(
        hist.as_array().unwrap().last().unwrap()["revision"],
        n,
        "{hist:#}"
    );
    // The chart moves from 1.18.12: off a terminal that needs saying.
    let mut args = args.to_vec();
    args.push("--allow-version-change");
    let out = e.ciliumon(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "done", "{doc:#}");
    let steps = doc["steps"].to_string();
    assert!(steps.contains("--reset-then-reuse-values"), "{steps}");
    let hist = e.helm_json(&["history", "cilium", "-n", &e.ns]);
    let last = hist.as_array().unwrap().last().unwrap();
    assert_eq!(last["revision"], n + 1, "{hist:#}");
    assert_eq!(last["chart"], "cilium-1.19.6", "{hist:#}");
    assert_eq!(last["app_version"], "1.19.6", "{hist:#}");
    let v = e.values(None);
    assert_eq!(v["cluster"]["name"], "on", "{v:#}");
    assert_eq!(v["extraConfig"]["user-flag"], "on", "{v:#}");
    assert_eq!(v["extraConfig"]["second"], "kept", "{v:#}");
    assert_eq!(
        v["hubble"]["metrics"]["serviceMonitor"]["enabled"], true,
        "{v:#}"
    );
    // The agents run the 1.19.6 image (the new chart's templates, applied).
    let ds = e.k_json(&["get", "ds", "cilium", "-n", &e.ns]);
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["image"],
        "quay.io/cilium/cilium:v1.19.6"
    );
    assert_eq!(ds["status"]["numberReady"], 2, "{ds:#}");
}

#[test]
fn across_chart_versions_helm3() {
    across_versions(3);
}

#[test]
fn across_chart_versions_helm4() {
    across_versions(4);
}
