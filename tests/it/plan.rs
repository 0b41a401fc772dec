//! `ciliumon plan` through the binary: the default plan, its renderings, bad input.

use std::process::Command;

use serde_json::Value;

use crate::recorder::Recorder;
use crate::support::{bin, repo_root};

fn plan_json(args: &[&str]) -> Value {
    let out = bin()
        .args(["plan", "--dry-run", "-o", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn step_argv(step: &Value) -> Vec<String> {
    let mut argv = vec![step["program"].as_str().unwrap().to_string()];
    argv.extend(
        step["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    argv
}

#[test]
fn dry_run_needs_nothing_and_runs_nothing() {
    let rec = Recorder::new();
    let out = bin()
        .args(["plan", "--dry-run"])
        .env("PATH", rec.path())
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .current_dir(rec.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rec.calls().is_empty(), "dry run called {:?}", rec.calls());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
    insta::assert_snapshot!("default_plan_shell", script);
}

#[test]
fn default_plan_json_snapshot() {
    insta::assert_json_snapshot!("default_plan_json", plan_json(&[]));
}

#[test]
fn default_plan_follows_the_blog_in_the_right_order() {
    let plan = plan_json(&[]);
    let steps = plan["steps"].as_array().unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "repo-add",
            "repo-add",
            "repo-update",
            "stack-install",
            "cilium-upgrade",
            "restart-agents",
            "wait-agents",
            "wait-operator"
        ]
    );
    let upgrade = step_argv(&steps[4]);
    assert_eq!(
        &upgrade[..4],
        ["helm", "upgrade", "cilium", "cilium/cilium"]
    );
    assert!(upgrade.contains(&"--reuse-values".to_string()));
    assert!(upgrade.contains(&"hubble.ui.service.nodePort=31234".to_string()));
    let list = r"hubble.metrics.enabled={dns,drop,tcp,flow,port-distribution,icmp,httpV2:exemplars=true;labelsContext=source_ip\,source_namespace\,source_workload\,destination_ip\,destination_namespace\,destination_workload\,traffic_direction}";
    assert!(upgrade.contains(&list.to_string()), "{upgrade:?}");
    let stack = step_argv(&steps[3]);
    assert_eq!(
        &stack[..5],
        [
            "helm",
            "upgrade",
            "--install",
            "prometheus",
            "prometheus-community/kube-prometheus-stack"
        ]
    );
    assert!(stack.contains(&"--create-namespace".to_string()));
    assert_eq!(
        plan["values"]["cilium"]["hubble"]["metrics"]["enabled"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

#[test]
fn kube_context_rides_on_every_step() {
    let plan = plan_json(&["--kube-context", "prod-eu", "--kubeconfig", "/tmp/kc"]);
    for step in plan["steps"].as_array().unwrap() {
        let argv = step_argv(step);
        let flag = if argv[0] == "helm" {
            "--kube-context"
        } else {
            "--context"
        };
        let i = argv
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} missing in {argv:?}"));
        assert_eq!(argv[i + 1], "prod-eu");
        assert!(
            argv.windows(2)
                .any(|w| w[0] == "--kubeconfig" && w[1] == "/tmp/kc"),
            "{argv:?}"
        );
    }
}

/// What a script run left: the argv its tools got, bash's status, the private directories
/// it made (under its own TMPDIR), and the files in its working directory.
struct ScriptRun {
    calls: Vec<Vec<String>>,
    status: std::process::ExitStatus,
    stderr: String,
    tmp_left: Vec<String>,
    cwd_left: Vec<String>,
    /// What helm read through each `--set-file`/`-f` in the private directory: (mode of the
    /// directory, mode of the file, contents), recorded while the script ran.
    private_reads: Vec<(String, String, String)>,
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Render the plan with `args`, then run the script in bash with recording helm/kubectl (helm
/// failing on a call that contains `fail`), a TMPDIR of its own and `GRAFANA_PW` set.
fn run_script(args: &[&str], fail: Option<&str>) -> ScriptRun {
    let rec = Recorder::new();
    let out = bin()
        .args(["plan", "--dry-run"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = rec.dir.path();
    let (tmp, cwd) = (root.join("tmp"), root.join("cwd"));
    std::fs::create_dir(&tmp).unwrap();
    std::fs::create_dir(&cwd).unwrap();
    let script = root.join("plan.sh");
    std::fs::write(&script, &out.stdout).unwrap();
    // A helm in front of the recorder: what it reads from the private directory, and the
    // failure asked for.
    let front = root.join("front");
    std::fs::create_dir(&front).unwrap();
    let reads = root.join("reads.log");
    let helm = format!(
        r#"#!/bin/bash
take=0
for a in "$@"; do
    if [ "$take" = 1 ]; then
        f="${{a#*=}}"
        case "$f" in
            {tmp}/*) printf '%s %s %s\n' "$(stat -c %a "$(dirname "$f")")" "$(stat -c %a "$f")" "$(base64 -w0 "$f")" >> {reads} ;;
        esac
    fi
    take=0
    case "$a" in --set-file|-f|--values) take=1 ;; esac
done
"{bin}/helm" "$@"
case "helm $*" in *"$CILIUMON_TEST_FAIL"*) [ -n "$CILIUMON_TEST_FAIL" ] && exit 1 ;; esac
exit 0
"#,
        tmp = tmp.display(),
        reads = reads.display(),
        bin = root.join("bin").display(),
    );
    std::fs::write(front.join("helm"), helm).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(front.join("helm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = Command::new("bash")
        .arg(&script)
        .env("PATH", format!("{}:{}", front.display(), rec.path()))
        .env("TMPDIR", &tmp)
        .env("GRAFANA_PW", SCRIPT_PW)
        .env("CILIUMON_TEST_FAIL", fail.unwrap_or_default())
        .current_dir(&cwd)
        .output()
        .unwrap();
    let private_reads = std::fs::read_to_string(&reads)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            let contents = base64_decode(w.get(2).copied().unwrap_or_default());
            (w[0].to_string(), w[1].to_string(), contents)
        })
        .collect();
    ScriptRun {
        calls: rec.calls(),
        status: run.status,
        stderr: String::from_utf8_lossy(&run.stderr).into_owned(),
        tmp_left: names(&tmp),
        cwd_left: names(&cwd),
        private_reads,
    }
}

/// The password the scripts get, with every character bash or printf might touch.
const SCRIPT_PW: &str = "s3cret 'with' $pecial \"chars\" %s \\n";

fn base64_decode(s: &str) -> String {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Run the rendered script in bash with recording helm/kubectl: each command must reach the
/// program as exactly the argv of the JSON plan (with the script's private directory in place
/// of `$CILIUMON_SECRETS`), and nothing is left behind.
fn bash_round_trip(extra: &[&str]) -> ScriptRun {
    let run = run_script(extra, None);
    assert!(run.status.success(), "bash failed: {}", run.stderr);
    let plan = plan_json(extra);
    let expected: Vec<Vec<String>> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(step_argv)
        .collect();
    // The one private directory the script made, as its tools saw it.
    let private: Vec<String> = run
        .calls
        .iter()
        .flatten()
        .filter_map(|a| {
            let at = a.find("/ciliumon-secrets.")?;
            let end = a[at + 1..].find('/').map(|e| at + 1 + e)?;
            Some(a[a[..at].rfind(['=', ' ']).map(|i| i + 1).unwrap_or(0)..end].to_string())
        })
        .collect();
    let calls: Vec<Vec<String>> = match private.first() {
        Some(dir) => {
            assert!(private.iter().all(|d| d == dir), "{private:?}");
            run.calls
                .iter()
                .map(|c| {
                    c.iter()
                        .map(|a| a.replace(dir.as_str(), "$CILIUMON_SECRETS"))
                        .collect()
                })
                .collect()
        }
        None => run.calls.clone(),
    };
    assert_eq!(calls, expected);
    assert!(
        run.tmp_left.is_empty(),
        "left in TMPDIR: {:?}",
        run.tmp_left
    );
    assert!(
        run.cwd_left.is_empty(),
        "left in the working directory: {:?}",
        run.cwd_left
    );
    run
}

#[test]
fn bash_gives_back_the_exact_argv_default() {
    bash_round_trip(&[]);
}

#[test]
fn bash_gives_back_the_exact_argv_with_awkward_words() {
    bash_round_trip(&[
        "--kube-context",
        "it's a \"context\" with $HOME and `id` {a,b} !x ~ $CILIUMON_SECRETS/x",
        "--metric",
        "flow:sourceContext=workload-name|reserved-identity;labelsContext=source_namespace,destination_namespace",
        "--metric",
        "dns:query;ignoreAAAA",
        "--export-file-path",
        "/var/run/on/1_000/events.log",
        "--stack-namespace",
        "yes",
    ]);
}

#[test]
fn bash_round_trip_with_secret_from_env_keeps_it_off_argv() {
    let run = bash_round_trip(&["--grafana-password-env", "GRAFANA_PW"]);
    assert!(
        run.calls.iter().flatten().all(|a| !a.contains("s3cret")),
        "the password is on argv"
    );
    // helm read it from a 0600 file in a 0700 directory, which is gone now.
    assert_eq!(
        run.private_reads,
        [("700".to_string(), "600".to_string(), SCRIPT_PW.to_string())]
    );
    let out = bin()
        .args(["plan", "--dry-run", "--grafana-password-env", "GRAFANA_PW"])
        .env("GRAFANA_PW", "s3cret")
        .output()
        .unwrap();
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(!script.contains("s3cret"));
    assert!(
        script.contains(
            "--set-file grafana.adminPassword=\"$CILIUMON_SECRETS\"/grafana-admin-password"
        )
    );
    assert!(script.contains("trap 'rm -rf -- \"$CILIUMON_SECRETS\"' EXIT"));
    assert!(
        !script.contains("ciliumon-secrets/"),
        "nothing in the working directory"
    );
}

#[test]
fn a_failing_script_leaves_no_secret_behind() {
    let run = run_script(
        &["--grafana-password-env", "GRAFANA_PW"],
        Some("upgrade cilium"),
    );
    assert!(!run.status.success(), "the script stops at the failure");
    assert!(
        run.calls.last().unwrap()[..3].join(" ") == "helm upgrade cilium",
        "{:?}",
        run.calls
    );
    assert_eq!(
        run.private_reads.len(),
        1,
        "the stack install read the password"
    );
    assert!(
        run.tmp_left.is_empty(),
        "left in TMPDIR: {:?}",
        run.tmp_left
    );
    assert!(
        run.cwd_left.is_empty(),
        "left in the working directory: {:?}",
        run.cwd_left
    );
}

#[test]
fn values_dir_writes_private_files_used_with_f() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let vd = dir.path().join("values");
    let plan = plan_json(&["--values-dir", vd.to_str().unwrap()]);
    let upgrade = step_argv(&plan["steps"][4]);
    let cilium_file = vd.join("cilium-values.yaml");
    assert!(
        upgrade
            .windows(2)
            .any(|w| w[0] == "-f" && w[1] == cilium_file.to_str().unwrap()),
        "{upgrade:?}"
    );
    assert!(
        !upgrade.iter().any(|a| a.starts_with("--set")),
        "{upgrade:?}"
    );
    for name in ["cilium-values.yaml", "stack-values.yaml"] {
        let meta = std::fs::metadata(vd.join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
    assert_eq!(
        std::fs::metadata(&vd).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let text = std::fs::read_to_string(&cilium_file).unwrap();
    insta::assert_snapshot!("default_cilium_values_file", text);
    let text = std::fs::read_to_string(vd.join("stack-values.yaml")).unwrap();
    insta::assert_snapshot!("default_stack_values_file", text);
}

#[test]
fn yaml_output_is_the_json_document() {
    let out = bin()
        .args(["plan", "--dry-run", "-o", "yaml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let yaml: Value = ciliumon::yaml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(yaml, plan_json(&[]));
}

#[test]
fn examples_parse_and_plan_on_every_version_they_allow() {
    for name in ["blog.yaml", "minimal.yaml", "full-observability.yaml"] {
        let path = repo_root().join("examples").join(name);
        for version in ["1.16.19", "1.18.12", "1.20.0"] {
            let plan = plan_json(&[
                "--config",
                path.to_str().unwrap(),
                "--cilium-version",
                version,
            ]);
            assert_eq!(plan["ciliumVersion"], version, "{name}");
            assert!(!plan["steps"].as_array().unwrap().is_empty());
        }
    }
    let minimal = plan_json(&[
        "--config",
        repo_root().join("examples/minimal.yaml").to_str().unwrap(),
    ]);
    let kinds: Vec<&str> = minimal["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"stack-install"));
    assert!(!kinds.contains(&"wait-operator"));
}

#[test]
fn version_changes_pick_the_right_keys() {
    let plan = plan_json(&[
        "--cilium-version",
        "1.17.18",
        "--config",
        repo_root()
            .join("examples/full-observability.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        plan["values"]["cilium"]["hubble"]["export"]["fileMaxSizeMb"],
        50
    );
    let plan = plan_json(&[
        "--cilium-version",
        "1.18.0",
        "--config",
        repo_root()
            .join("examples/full-observability.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        plan["values"]["cilium"]["hubble"]["export"]["static"]["fileMaxSizeMb"],
        50
    );
    let plan = plan_json(&["--cilium-version", "1.14.19"]);
    assert!(plan["values"]["cilium"]["hubble"].get("export").is_none());
    assert!(
        plan["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("Flow export skipped"))
    );
}

/// Bad input: exit 2, a message naming the problem, and no program run (the stand-ins record).
/// `plan` without --dry-run would read the cluster, so a late check would show up as a call.
#[test]
fn bad_inputs_exit_2_name_the_problem_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let unknown_field = cfg("unknown.yaml", "hubble:\n  relays: true\n");
    let bad_metric_in_file = cfg("badmetric.yaml", "hubble:\n  metrics: [dns, dorp]\n");
    let bad_type = cfg("badtype.yaml", "hubble:\n  ui:\n    nodePort: lots\n");
    let bad_yaml = cfg("badyaml.yaml", "hubble: [unclosed\n");
    let bad_mode = cfg("badmode.yaml", "prometheusStack:\n  mode: maybe\n");
    let dup_key = cfg("dupkey.yaml", "hubble:\n  relay: true\n  relay: false\n");
    let bad_stack_version = cfg("stackver.yaml", "prometheusStack:\n  version: \"--evil\"\n");
    let bad_secret = cfg(
        "secret.yaml",
        "prometheusStack:\n  grafanaAdminPassword:\n    env: \"A B\"\n",
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--metric".into(), "dnss".into()],
            "unknown metric family 'dnss'",
        ),
        (vec!["--metric".into(), "dnss".into()], "did you mean 'dns'"),
        (
            vec!["--metric".into(), "dns:qeury".into()],
            "unknown option 'qeury'",
        ),
        (
            vec!["--metric".into(), "flow:sourceContext=podd".into()],
            "unknown context 'podd'",
        ),
        (
            vec![
                "--metric".into(),
                "flow:labelsContext=source_ip,src_pod".into(),
            ],
            "unknown labelsContext label 'src_pod'",
        ),
        (
            vec![
                "--metric".into(),
                "http".into(),
                "--metric".into(),
                "httpV2".into(),
            ],
            "conflicts with plugin",
        ),
        (
            vec![
                "--metric".into(),
                "drop".into(),
                "--metric".into(),
                "drop".into(),
            ],
            "given twice",
        ),
        (
            vec![
                "--metric".into(),
                "kafka".into(),
                "--cilium-version".into(),
                "1.20.0".into(),
            ],
            "not in Cilium 1.20.0",
        ),
        (
            vec![
                "--metric".into(),
                "sctp".into(),
                "--cilium-version".into(),
                "1.19.6".into(),
            ],
            "not in Cilium 1.19.6",
        ),
        (
            vec![
                "--metric".into(),
                "flow:labelsContext=source_workload_kind".into(),
                "--cilium-version".into(),
                "1.14.19".into(),
            ],
            "source_workload_kind",
        ),
        (
            vec!["--metric".into(), "flow:sourceContext=pod-short".into()],
            "pod-short",
        ),
        (
            vec![
                "--metric".into(),
                "httpV2:exemplars=true".into(),
                "--no-open-metrics".into(),
            ],
            "need OpenMetrics",
        ),
        (
            vec!["--metric".into(), "httpV2:exemplars=maybe".into()],
            "'maybe' is not a value",
        ),
        (
            vec!["--metric".into(), "dns:query=1".into()],
            "takes no value",
        ),
        (vec!["--metric".into(), "dns drop".into()], "whitespace"),
        (
            vec!["--metric".into(), "{dns,drop}".into()],
            "Helm --set list",
        ),
        (vec!["--metric".into(), "".into()], "empty metric name"),
        (
            vec!["--metric".into(), "flow:sourceContext=pod,ip".into()],
            "separated by '|'",
        ),
        (
            vec!["--metric".into(), "drop:exemplars=true".into()],
            "option of http",
        ),
        (vec!["--metric".into(), "dns:".into()], "nothing after ':'"),
        (
            vec!["--cilium-version".into(), "1.12.0".into()],
            "not a version ciliumon knows",
        ),
        (
            vec!["--cilium-version".into(), "banana".into()],
            "invalid Cilium version 'banana'",
        ),
        (
            vec!["--ui-node-port".into(), "8080".into()],
            "outside the Kubernetes NodePort range",
        ),
        (vec!["--ui-node-port".into(), "99999".into()], "99999"),
        (vec!["--no-relay".into()], "needs Hubble Relay"),
        (
            vec!["--stack".into(), "maybe".into()],
            "invalid value 'maybe'",
        ),
        (
            vec!["--stack-release".into(), "Bad_Name".into()],
            "'Bad_Name' is not a valid name",
        ),
        (
            vec!["-n".into(), "kube system".into()],
            "'kube system' is not a valid name",
        ),
        (
            vec!["--export-file-path".into(), "relative/path".into()],
            "absolute path",
        ),
        (
            vec![
                "--grafana-password-env".into(),
                "X".into(),
                "--stack".into(),
                "none".into(),
            ],
            "no stack is installed",
        ),
        (
            vec![
                "--grafana-password-env".into(),
                "X".into(),
                "--grafana-password-file".into(),
                "/f".into(),
            ],
            "cannot be used with",
        ),
        (
            vec![
                "--config".into(),
                dir.path().join("missing.yaml").display().to_string(),
            ],
            "cannot read config file",
        ),
        (vec!["--config".into(), unknown_field], "relays"),
        (
            vec!["--config".into(), bad_metric_in_file],
            "did you mean 'drop'",
        ),
        (vec!["--config".into(), bad_type], "nodePort"),
        (vec!["--config".into(), bad_yaml], "invalid config file"),
        (vec!["--config".into(), bad_mode], "maybe"),
        (vec!["--config".into(), dup_key], "relay"),
        (
            vec!["--config".into(), bad_stack_version],
            "not a chart version",
        ),
        (
            vec!["--config".into(), bad_secret],
            "not an environment variable name",
        ),
        (vec!["--output".into(), "xml".into()], "invalid value 'xml'"),
        (
            vec!["--values-dir".into(), "/proc/nope/values".into()],
            "cannot create directory",
        ),
    ];
    assert!(cases.len() >= 30);
    for (args, needle) in &cases {
        let rec = Recorder::new();
        let out = bin()
            .arg("plan")
            .args(args)
            .env("PATH", rec.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} should exit 2; stderr: {stderr}"
        );
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed a plan");
        assert!(rec.calls().is_empty(), "{args:?} ran {:?}", rec.calls());
    }
}

/// A spec the asked-for version lacks names that version, not the newest one.
#[test]
fn a_bad_spec_names_the_version_asked_for() {
    let out = crate::support::bin()
        .args(["plan", "--dry-run", "--cilium-version", "1.14.19"])
        .args(["--metric", "drop:sourceContext=pod-short"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("context 'pod-short' is not in Cilium 1.14.19"),
        "{err}"
    );
}

#[test]
fn dashboards_preset_fills_the_namespace_dashboards_and_the_estimate_is_in_json() {
    let v = plan_json(&[
        "--metrics-preset",
        "dashboards",
        "--cluster-label",
        "--estimate-nodes",
        "100",
        "--estimate-namespaces",
        "20",
        "--estimate-pods",
        "3000",
        "--estimate-workloads",
        "300",
    ]);
    let dash = v["dashboards"].as_array().unwrap();
    let by_uid = |title: &str| dash.iter().find(|d| d["title"] == title).unwrap().clone();
    for t in [
        "Hubble / DNS Overview (Namespace)",
        "Hubble / Network Overview (Namespace)",
        "Hubble L7 HTTP Metrics by Workload",
    ] {
        let d = by_uid(t);
        assert_eq!(d["empty"], 0, "{t}: {d:#}");
    }
    // The one panel no list can fill says why.
    let hubble = by_uid("Hubble Metrics and Monitoring");
    assert_eq!(hubble["empty"], 1);
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Hubble Metrics and Monitoring") && n.contains("the two conflict")),
        "{notes:#?}"
    );
    // The estimate: inputs, families, total, and the warning naming the costliest choice.
    let est = &v["estimate"];
    assert_eq!(est["inputs"]["nodes"], 100);
    assert_eq!(est["inputs"]["pods"], 3000);
    let fams = est["families"].as_array().unwrap();
    let sum: u64 = fams.iter().map(|f| f["series"].as_u64().unwrap()).sum();
    assert_eq!(est["total"].as_u64().unwrap(), sum);
    assert!(fams.iter().any(|f| f["family"] == "dns"));
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("warning: estimated") && n.contains("the costliest choice is")),
        "{notes:#?}"
    );
    assert_eq!(v["estimateSource"], "from the --estimate-* flags");
    // The cluster label rides on both ServiceMonitors' relabelings, after the node one.
    let rl = &v["values"]["cilium"]["hubble"]["metrics"]["serviceMonitor"]["relabelings"];
    assert_eq!(rl[0]["targetLabel"], "node");
    assert_eq!(rl[1]["targetLabel"], "cluster");
    assert_eq!(rl[1]["replacement"], "default");
    assert_eq!(
        v["values"]["cilium"]["prometheus"]["serviceMonitor"]["relabelings"],
        *rl
    );
}

#[test]
fn no_estimate_without_sizes_says_why() {
    let v = plan_json(&[]);
    assert!(v["estimate"].is_null());
    assert!(
        v["estimateSource"]
            .as_str()
            .unwrap()
            .contains("--estimate-nodes")
    );
    // --metric replaces the preset.
    let v = plan_json(&["--metrics-preset", "dashboards", "--metric", "drop"]);
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("Hubble metrics the agents will run: drop\""),
        "{notes}"
    );
}

#[test]
fn estimate_flags_all_or_none_and_preset_with_list_are_bad_input() {
    let out = bin()
        .args([
            "plan",
            "--dry-run",
            "--estimate-nodes",
            "10",
            "--estimate-pods",
            "100",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--estimate-namespaces") && err.contains("--estimate-workloads"),
        "{err}"
    );

    let out = bin()
        .args(["plan", "--dry-run", "--metrics-preset", "dashbords"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dashbords") && err.contains("blog, dashboards"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "hubble:\n  metrics: [drop]\n  metricsPreset: dashboards\n",
    )
    .unwrap();
    let out = bin()
        .args(["plan", "--dry-run", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hubble.metrics and hubble.metricsPreset"),
        "{err}"
    );
    // With the flag, --metric still replaces the file's preset.
    std::fs::write(&file, "hubble:\n  metricsPreset: dashboards\n").unwrap();
    let out = bin()
        .args(["plan", "--dry-run", "--metric", "drop", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn plan_text(args: &[&str]) -> String {
    let out = bin()
        .args(["plan", "--dry-run", "--cilium-version", "1.18.4"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The values file for GitOps: a comment header, then exactly the plan's Cilium values.
#[test]
fn values_output_is_one_commented_values_file() {
    let text = plan_text(&["--output", "values"]);
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    assert!(
        header[0].contains("Cilium and Hubble metrics for Cilium 1.18.4"),
        "{text}"
    );
    assert!(
        header
            .iter()
            .any(|l| l.contains("Hubble metrics the agents will run: dns drop tcp")),
        "{text}"
    );
    assert!(
        header
            .iter()
            .any(|l| l.contains("install it before these values are applied")),
        "the stack is not in the values file: {text}"
    );
    let values: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(
        values,
        plan_json(&["--cilium-version", "1.18.4"])["values"]["cilium"]
    );
    insta::assert_snapshot!("values_output", text);
}

#[test]
fn flux_and_argocd_outputs_carry_the_same_values() {
    let want = plan_json(&["--cilium-version", "1.18.4"])["values"]["cilium"].clone();
    let flux = plan_text(&["--output", "flux"]);
    let doc: Value = serde_saphyr::from_str(&flux).unwrap();
    assert_eq!(doc["apiVersion"], "helm.toolkit.fluxcd.io/v2");
    assert_eq!(doc["kind"], "HelmRelease");
    assert_eq!(doc["spec"]["values"], want);
    insta::assert_snapshot!("flux_output", flux);
    let argo = plan_text(&["--output", "argocd"]);
    let doc: Value = serde_saphyr::from_str(&argo).unwrap();
    assert_eq!(doc["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(doc["kind"], "Application");
    assert_eq!(doc["spec"]["source"]["helm"]["valuesObject"], want);
    insta::assert_snapshot!("argocd_output", argo);
}

#[test]
fn without_a_kubeconfig_plan_plans_offline() {
    let rec = Recorder::new();
    let home = rec.dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let out = bin()
        .args(["plan"])
        .env("PATH", rec.path())
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .current_dir(rec.dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("no kubeconfig"), "{err}");
    assert!(err.contains("planning offline"), "{err}");
    assert!(rec.calls().is_empty(), "{:?}", rec.calls());
}
