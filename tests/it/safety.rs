//! Issue 9, the model side, through the binary: versions exact where they pin, the catalogue's
//! audited facts, flags that contradict each other, and what the check says when a node is at
//! fault.

use std::process::Output;

use serde_json::Value;

use crate::recorder::Recorder;
use crate::support::bin;

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2, the needles in stderr, no plan printed and (with the recording stand-ins on PATH)
/// nothing run.
fn refused(args: &[&str], needles: &[&str]) -> String {
    let rec = Recorder::new();
    let out = bin()
        .args(args)
        .env("PATH", rec.path())
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .current_dir(rec.dir.path())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in: {err}");
    }
    assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    assert!(rec.calls().is_empty(), "{args:?} ran {:?}", rec.calls());
    err
}

fn plan_json(args: &[&str]) -> Value {
    let out = bin()
        .args(["plan", "--dry-run", "-o", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn notes(plan: &Value) -> Vec<String> {
    plan["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn upgrade_args(plan: &Value) -> Vec<String> {
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["args"][0] == "upgrade" && s["args"][1] == "cilium")
        .expect("a cilium upgrade step");
    step["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn pinned(plan: &Value) -> String {
    let args = upgrade_args(plan);
    let i = args.iter().position(|a| a == "--version").unwrap();
    args[i + 1].clone()
}

#[test]
fn a_minor_line_is_refused_where_it_pins_with_the_newest_known_patch() {
    for cmd in [
        &["plan", "--dry-run"][..],
        &["plan"][..],
        &["setup", "--yes"][..],
        &["setup", "--dry-run"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--cilium-version", "1.16"]);
        refused(
            &args,
            &["'1.16' names a release line", "--cilium-version 1.16.19"],
        );
    }
    // The same from the config file.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    std::fs::write(&f, "cilium:\n  version: \"1.18\"\n").unwrap();
    refused(
        &["plan", "--dry-run", "--config", f.to_str().unwrap()],
        &["'1.18' names a release line", "1.18.12"],
    );
    // `metrics` and `check` pin nothing: a line is its newest known patch.
    let out = run(&["metrics", "--cilium-version", "1.16"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Cilium 1.16.19"));
    let out = run(&[
        "check",
        "--node",
        "127.0.0.1",
        "--agent-port",
        "1",
        "--operator-port",
        "1",
        "--hubble-port",
        "1",
        "--timeout",
        "200ms",
        "--metric",
        "drop",
        "--cilium-version",
        "1.16",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_patch_newer_than_the_catalogue_is_pinned_and_validated_against_the_newest_known() {
    let plan = plan_json(&["--cilium-version", "1.16.99"]);
    assert_eq!(pinned(&plan), "1.16.99");
    assert_eq!(plan["ciliumVersion"], "1.16.99");
    assert!(
        notes(&plan)
            .iter()
            .any(|n| n.contains("1.16.99 is newer") && n.contains("validated against 1.16.19")),
        "{:?}",
        notes(&plan)
    );
    // A known release gets no such note.
    let plan = plan_json(&["--cilium-version", "1.16.19"]);
    assert_eq!(pinned(&plan), "1.16.19");
    assert!(!notes(&plan).iter().any(|n| n.contains("is newer")));
}

#[test]
fn workload_context_is_refused_for_1_14() {
    refused(
        &[
            "plan",
            "--dry-run",
            "--cilium-version",
            "1.14.19",
            "--metric",
            "flow:sourceContext=workload",
        ],
        &[
            "context 'workload' is not in Cilium 1.14.19",
            "Cilium 1.15 and later",
        ],
    );
    let plan = plan_json(&[
        "--cilium-version",
        "1.15.19",
        "--metric",
        "flow:sourceContext=workload",
    ]);
    assert!(
        upgrade_args(&plan)
            .iter()
            .any(|a| a.contains("flow:sourceContext=workload"))
    );
}

#[test]
fn the_plain_context_key_warning_stops_at_1_14_3() {
    let warned = |version: &str| {
        let plan = plan_json(&[
            "--cilium-version",
            version,
            "--metric",
            "flow:sourceEgressContext=pod",
        ]);
        notes(&plan).iter().any(|n| n.contains("#27717"))
    };
    assert!(warned("1.14.2"));
    assert!(!warned("1.14.3"));
    assert!(!warned("1.15.19"));
}

#[test]
fn kafka_is_deprecated_from_1_18_3_in_metrics() {
    let kafka_line = |version: &str| {
        let out = run(&["metrics", "--cilium-version", version]);
        assert!(out.status.success(), "{}", stderr(&out));
        // The family's paragraph: its header may wrap onto the next lines.
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let start = text.find("\nkafka ").expect("a kafka paragraph") + 1;
        let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e);
        text[start..end].to_string()
    };
    assert!(!kafka_line("1.18.2").contains("deprecated"));
    assert!(
        kafka_line("1.18.3").contains("deprecated"),
        "{}",
        kafka_line("1.18.3")
    );
    assert!(kafka_line("1.19.6").contains("deprecated"));
    let out = run(&["metrics", "--cilium-version", "1.18.3", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kafka = doc["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "kafka")
        .unwrap();
    assert!(kafka["deprecated"].as_str().unwrap().contains("1.20"));
    let out = run(&["metrics", "--cilium-version", "1.17.18", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kafka = doc["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "kafka")
        .unwrap();
    assert!(kafka["deprecated"].is_null());
}

#[test]
fn contradicting_flags_are_refused_naming_both() {
    let cases: &[(&[&str], [&str; 2])] = &[
        (
            &["--ui-node-port", "31000", "--ui-service-type", "ClusterIP"],
            ["--ui-node-port 31000", "--ui-service-type ClusterIP"],
        ),
        (
            &[
                "--ui-node-port",
                "31000",
                "--ui-service-type",
                "load-balancer",
            ],
            ["--ui-node-port 31000", "--ui-service-type LoadBalancer"],
        ),
        (
            &["--ui-node-port", "31000", "--no-ui"],
            ["--ui-node-port 31000", "--no-ui"],
        ),
        (
            &["--export-file-path", "/var/log/flows.log", "--no-export"],
            ["--export-file-path /var/log/flows.log", "--no-export"],
        ),
        (
            &["--stack", "none", "--stack-release", "kps"],
            ["--stack-release kps", "--stack none"],
        ),
        (
            &["--stack", "none", "--stack-namespace", "obs"],
            ["--stack-namespace obs", "--stack none"],
        ),
        (
            &["--stack", "none", "--stack-version", "80.4.1"],
            ["--stack-version 80.4.1", "--stack none"],
        ),
        (
            &["--no-open-metrics"],
            ["--no-open-metrics", "httpV2:exemplars=true"],
        ),
        (
            &["--no-open-metrics", "--metric", "httpV2:exemplars=true"],
            ["--no-open-metrics", "'httpV2:exemplars=true' (--metric)"],
        ),
    ];
    for (flags, [one, other]) in cases {
        for cmd in [&["plan", "--dry-run"][..], &["setup", "--yes"][..]] {
            let mut args = cmd.to_vec();
            args.extend(flags.iter());
            refused(&args, &[one, other, "contradicts"]);
        }
    }
    for other in [
        &["--local"][..],
        &["--node", "127.0.0.1"],
        &["--nodes-file", "n.txt"],
    ] {
        let mut args = vec!["check", "--direct"];
        args.extend(other.iter());
        refused(&args, &["'--direct' cannot be used with", other[0]]);
    }
}

#[test]
fn a_flag_contradicting_the_config_file_says_which_is_where() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.yaml");
    std::fs::write(
        &f,
        "hubble:\n  ui:\n    serviceType: ClusterIP\n  export:\n    enabled: false\n  openMetrics: false\n  metrics: [drop]\nprometheusStack:\n  mode: none\n",
    )
    .unwrap();
    let file = f.to_str().unwrap();
    let shown = f.display().to_string();
    for (flags, [one, other]) in [
        (
            &["--ui-node-port", "31000"][..],
            [
                "--ui-node-port 31000",
                "hubble.ui.serviceType: ClusterIP in ",
            ],
        ),
        (
            &["--export-file-path", "/var/log/f.log"],
            [
                "--export-file-path /var/log/f.log",
                "hubble.export.enabled: false in ",
            ],
        ),
        (
            &["--stack-release", "kps"],
            ["--stack-release kps", "prometheusStack.mode: none in "],
        ),
        (
            &["--metric", "httpV2:exemplars=true"],
            ["hubble.openMetrics: false in ", "(--metric)"],
        ),
    ] {
        let mut args = vec!["plan", "--dry-run", "--config", file];
        args.extend(flags.iter());
        refused(&args, &[one, other, &shown]);
    }
    // The flag that settles it is no contradiction: the flag wins, as everywhere.
    let plan = plan_json(&[
        "--config",
        file,
        "--ui-service-type",
        "NodePort",
        "--ui-node-port",
        "31000",
    ]);
    assert!(
        upgrade_args(&plan)
            .iter()
            .any(|a| a == "hubble.ui.service.nodePort=31000")
    );
    let plan = plan_json(&[
        "--config",
        file,
        "--open-metrics",
        "--metric",
        "httpV2:exemplars=true",
    ]);
    assert!(
        upgrade_args(&plan)
            .iter()
            .any(|a| a == "hubble.metrics.enableOpenMetrics=true")
    );
    // Both in the file: named there.
    std::fs::write(
        &f,
        "hubble:\n  ui:\n    enabled: false\n    nodePort: 31000\n",
    )
    .unwrap();
    refused(
        &["plan", "--dry-run", "--config", file],
        &[
            "hubble.ui.nodePort: 31000 in ",
            "hubble.ui.enabled: false in ",
        ],
    );
}

#[test]
fn service_types_in_kubernetes_spelling_and_kebab_form() {
    for (given, rendered) in [
        ("NodePort", "NodePort"),
        ("node-port", "NodePort"),
        ("ClusterIP", "ClusterIP"),
        ("cluster-ip", "ClusterIP"),
        ("LoadBalancer", "LoadBalancer"),
        ("load-balancer", "LoadBalancer"),
    ] {
        let plan = plan_json(&["--ui-service-type", given]);
        let args = upgrade_args(&plan);
        assert!(
            args.iter()
                .any(|a| *a == format!("hubble.ui.service.type={rendered}")),
            "{given}: {args:?}"
        );
        // The default node port goes with the NodePort type only.
        assert_eq!(
            args.iter()
                .any(|a| a.starts_with("hubble.ui.service.nodePort=")),
            rendered == "NodePort",
            "{given}: {args:?}"
        );
    }
    refused(
        &["plan", "--dry-run", "--ui-service-type", "nodeport"],
        &["invalid value 'nodeport'", "node-port"],
    );
}

#[test]
fn no_open_metrics_turns_it_off() {
    let plan = plan_json(&[
        "--no-open-metrics",
        "--metric",
        "httpV2",
        "--metric",
        "drop",
    ]);
    let args = upgrade_args(&plan);
    // Set to false, not left out: --reuse-values would keep a release's `true`.
    assert!(
        args.iter()
            .any(|a| a == "hubble.metrics.enableOpenMetrics=false"),
        "{args:?}"
    );
    // Without it, the same list leaves OpenMetrics on (the built-in default).
    let plan = plan_json(&["--metric", "httpV2", "--metric", "drop"]);
    assert!(
        upgrade_args(&plan)
            .iter()
            .any(|a| a == "hubble.metrics.enableOpenMetrics=true")
    );
    // The last of --open-metrics / --no-open-metrics wins.
    let plan = plan_json(&["--no-open-metrics", "--open-metrics"]);
    assert!(
        upgrade_args(&plan)
            .iter()
            .any(|a| a == "hubble.metrics.enableOpenMetrics=true")
    );
}

#[test]
fn setup_refuses_a_version_change_off_a_terminal_without_allow_version_change() {
    use crate::setup::{Fake, stderr as err_of};
    // The release runs chart 1.18.4 (the stand-in's default).
    let f = Fake::new();
    let out = f.run(&["setup", "--yes", "--no-check", "--cilium-version", "1.19.6"]);
    let err = err_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--cilium-version 1.19.6 changes the Cilium version")
            && err.contains("runs chart 1.18.4")
            && err.contains("upgrades Cilium itself to 1.19.6"),
        "{err}"
    );
    assert!(err.contains("--allow-version-change"), "{err}");
    assert!(f.changes().is_empty(), "{:?}", f.changes());
    // A downgrade is named as one.
    let out = f.run(&[
        "setup",
        "--yes",
        "--no-check",
        "--cilium-version",
        "1.17.18",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err_of(&out).contains("downgrades Cilium itself to 1.17.18"));
    // With --allow-version-change it runs, pinning the version asked for.
    let out = f.run(&[
        "setup",
        "--yes",
        "--no-check",
        "--cilium-version",
        "1.19.6",
        "--allow-version-change",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    let upgrade = f
        .changes()
        .into_iter()
        .find(|c| c[1] == "upgrade" && c[2] == "cilium")
        .unwrap();
    assert!(
        upgrade
            .windows(2)
            .any(|w| w[0] == "--version" && w[1] == "1.19.6"),
        "{upgrade:?}"
    );
    // The release's own version is no change at all.
    let f = Fake::new();
    let out = f.run(&["setup", "--yes", "--no-check", "--cilium-version", "1.18.4"]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    assert!(!err_of(&out).contains("changes the Cilium version"));
}

#[test]
fn plan_on_the_cluster_says_when_it_changes_the_cilium_version() {
    use crate::setup::{Fake, json_doc, stderr as err_of};
    let f = Fake::new();
    let note = |out: &Output| {
        assert_eq!(out.status.code(), Some(0), "{}", err_of(out));
        notes(&json_doc(out))
            .into_iter()
            .find(|n| n.contains("changes the Cilium version"))
    };
    let n = note(&f.run(&["plan", "-o", "json", "--cilium-version", "1.19.6"])).unwrap();
    assert!(
        n.contains("runs chart 1.18.4") && n.contains("--version 1.19.6"),
        "{n}"
    );
    assert_eq!(
        note(&f.run(&["plan", "-o", "json", "--cilium-version", "1.18.4"])),
        None
    );
    assert_eq!(note(&f.run(&["plan", "-o", "json"])), None);
    assert!(f.changes().is_empty(), "{:?}", f.changes());
}
