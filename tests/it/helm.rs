//! Real Helm (3.17 and 4.1): the `--set` form and the values-file form of every plan give the
//! same values, validated by the real Cilium chart schema, and the values are the intended ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use ciliumon::config::Config;
use ciliumon::plan::{self, FileSource, Layout, Plan, StepKind, Target};
use ciliumon::render;
use ciliumon::version::Version;
use serde_json::{Value, json};

use crate::support::{fixtures_dir, helm_binaries};

/// The catalogued Cilium releases for which `keep` holds (the fixtures hold each one's chart).
fn releases(keep: impl Fn(&Version) -> bool) -> Vec<String> {
    ciliumon::catalogue::RELEASES
        .iter()
        .filter(|v| keep(v))
        .map(|v| v.to_string())
        .collect()
}

/// A chart of our own that prints `.Values` as JSON, with the real Cilium defaults and schema.
fn echo_chart(root: &Path, name: &str, fixture: &Path) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    )
    .unwrap();
    // The values are kept as JSON, which is YAML too.
    std::fs::copy(fixture.join("values.json"), dir.join("values.yaml")).unwrap();
    let schema = fixture.join("values.schema.json");
    if schema.exists() {
        std::fs::copy(&schema, dir.join("values.schema.json")).unwrap();
    }
    std::fs::write(dir.join("templates/values.json"), "{{ toJson .Values }}\n").unwrap();
    dir
}

fn template(helm: &Path, chart: &Path, args: &[String]) -> Value {
    let out = Command::new(helm)
        .args(["template", "x"])
        .arg(chart)
        .args(args)
        .env("HELM_CACHE_HOME", chart.join(".cache"))
        .env("HELM_CONFIG_HOME", chart.join(".config"))
        .env("HELM_DATA_HOME", chart.join(".data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} template {args:?} failed: {}",
        helm.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let body = text
        .lines()
        .filter(|l| !l.starts_with("---") && !l.starts_with('#'))
        .collect::<String>();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The `--set`/`--set-string` pairs of a step.
fn set_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--set" || a == "--set-string" || a == "--set-json" {
            out.push(a.clone());
            out.push(it.next().unwrap().clone());
        }
    }
    out
}

fn build(config: &Config, version: &str, values_dir: Option<&Path>) -> Plan {
    let mut c = config.clone();
    c.cilium.version = Some(version.into());
    let layout = Layout {
        values_dir: values_dir.map(Path::to_path_buf),
        ..Layout::default()
    };
    plan::build(&c, &Target::default(), &layout).unwrap()
}

fn file_values(plan: &Plan, name: &str) -> (PathBuf, Value) {
    let f = plan.files.iter().find(|f| f.path.ends_with(name)).unwrap();
    match &f.source {
        FileSource::Values { values } => (f.path.clone(), values.clone()),
        other => panic!("{other:?}"),
    }
}

fn configs() -> Vec<(&'static str, Config, Vec<String>)> {
    let all = releases(|_| true);
    let parse = |y: &str| -> Config { ciliumon::yaml::from_str(y).unwrap() };
    let with_metrics = |m: &[&str]| {
        let mut c = Config::default();
        c.hubble.metrics = m.iter().map(|s| (*s).into()).collect();
        c
    };
    let example =
        |n: &str| Config::load(&crate::support::repo_root().join("examples").join(n)).unwrap();
    vec![
        ("default", Config::default(), all.clone()),
        ("blog-example", example("blog.yaml"), all.clone()),
        ("minimal", example("minimal.yaml"), all.clone()),
        (
            "full-observability",
            example("full-observability.yaml"),
            releases(|v| v.at_least(1, 15)),
        ),
        (
            "every-option-until-1.19",
            with_metrics(&[
                "dns:query;ignoreAAAA;sourceContext=pod|ip;destinationContext=dns|ip",
                // `workload` is 1.15+: not in this list, which 1.14 takes too.
                "drop:sourceEgressContext=workload-name|reserved-identity;sourceIngressContext=identity;sourceContext=namespace",
                "tcp:destinationEgressContext=app|pod-name;destinationIngressContext=workload-name;destinationContext=namespace",
                "flow",
                "port-distribution",
                "icmp",
                "http:exemplars=true;labelsContext=source_ip,source_pod,source_namespace,source_workload,source_app,destination_ip,destination_pod,destination_namespace,destination_workload,destination_app,traffic_direction",
                "kafka:labelsContext=source_namespace",
                "policy:sourceContext=app|workload-name|pod|reserved-identity",
                "flows-to-world:any-drop;port;syn-only",
            ]),
            releases(|v| !v.at_least(1, 20)),
        ),
        (
            "sctp-and-workload-kind-1.20",
            with_metrics(&[
                "sctp:labelsContext=source_workload_kind,destination_workload_kind",
                "httpV2:exemplars=false;labelsContext=source_workload_kind,destination_workload_kind,traffic_direction",
            ]),
            releases(|v| v.at_least(1, 20)),
        ),
        (
            "yaml-1.1-lookalikes",
            parse(
                "cilium:\n  release: 'on'\n  namespace: 'no'\n\
                 hubble:\n  ui:\n    serviceType: ClusterIP\n  export:\n    filePath: /var/run/1_000/on\n    fileMaxSizeMb: 7\n\
                 prometheusStack:\n  release: 'yes'\n  namespace: 'y'\n",
            ),
            all.clone(),
        ),
        (
            // The relabelings are a list of maps: `--set` writes them by index.
            "dashboards-preset-with-cluster-label",
            parse("hubble:\n  metricsPreset: dashboards\n  clusterLabel: true\n"),
            all.clone(),
        ),
        (
            "reuse-stack-no-operator",
            parse(
                "metrics:\n  operator: false\nprometheusStack:\n  mode: reuse\n  release: kube-prometheus-stack\n",
            ),
            all.clone(),
        ),
    ]
}

#[test]
fn set_form_and_values_file_form_agree_on_real_helm_3_and_4() {
    let helms = helm_binaries();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = fixtures_dir();
    let mut compared = 0;
    for (name, config, versions) in configs() {
        for version in versions.iter() {
            let chart = echo_chart(
                tmp.path(),
                &format!("cilium-{version}"),
                &fixtures.join("cilium-chart").join(version),
            );
            let with_set = build(&config, version, None);
            let vd = tmp.path().join(format!("vals-{name}-{version}"));
            let with_files = build(&config, version, Some(&vd));
            ciliumon::commands::plan::write_values(&vd, &with_files).unwrap();
            let upgrade = with_set
                .steps
                .iter()
                .find(|s| s.kind == StepKind::CiliumUpgrade)
                .unwrap();
            let (file, intended) = file_values(&with_files, "cilium-values.yaml");
            for (hname, helm) in &helms {
                let a = template(helm, &chart, &set_args(&upgrade.args));
                let b = template(helm, &chart, &["-f".into(), file.display().to_string()]);
                assert_eq!(a, b, "{hname} {name} {version}: --set and -f disagree");
                // And both carry what ciliumon meant, not just the same mistake.
                assert_subset(&intended, &a, &format!("{hname} {name} {version}"));
                compared += 1;
            }
            // The agent reads the list as one space-separated string.
            let v: Version = version.parse().unwrap();
            let specs = config.metric_specs(&v).unwrap();
            let expected: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
            let set_list = template(&helms[0].1, &chart, &set_args(&upgrade.args));
            if !expected.is_empty() {
                assert_eq!(
                    set_list["hubble"]["metrics"]["enabled"],
                    json!(expected),
                    "{name} {version}"
                );
            }
        }
    }
    assert!(compared >= 2 * 6 * 4, "compared {compared}");
}

#[test]
fn stack_values_agree_on_real_helm() {
    let helms = helm_binaries();
    let tmp = tempfile::tempdir().unwrap();
    let chart = echo_chart(
        tmp.path(),
        "kps",
        &fixtures_dir().join("kube-prometheus-stack"),
    );
    for (name, config, versions) in configs() {
        let version = versions.last().unwrap();
        let with_set = build(&config, version, None);
        let Some(stack) = with_set
            .steps
            .iter()
            .find(|s| s.kind == StepKind::StackInstall)
        else {
            continue;
        };
        let vd = tmp.path().join(format!("stack-{name}"));
        let with_files = build(&config, version, Some(&vd));
        ciliumon::commands::plan::write_values(&vd, &with_files).unwrap();
        let (file, intended) = file_values(&with_files, "stack-values.yaml");
        for (hname, helm) in &helms {
            let a = template(helm, &chart, &set_args(&stack.args));
            let b = template(helm, &chart, &["-f".into(), file.display().to_string()]);
            assert_eq!(a, b, "{hname} {name}");
            assert_subset(&intended, &a, &format!("{hname} {name}"));
            assert_eq!(
                a["prometheus"]["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"],
                false
            );
        }
    }
}

/// Across a chart version change on Helm < 3.14 the current values travel in a file: strings
/// that YAML 1.1 would turn into booleans or numbers must come back as the same strings.
#[test]
fn saved_current_values_round_trip_through_real_helm() {
    let helms = helm_binaries();
    let tmp = tempfile::tempdir().unwrap();
    let current = json!({
        "cluster": {"name": "on", "id": 7},
        "ipam": {"mode": "kubernetes"},
        "weird": {"a": "yes", "b": "n", "c": "1_000", "d": "0x10", "e": "1.20", "f": "2024-01-01", "g": "~", "h": "null", "i": "Off", "j": "", "k": "a: b", "l": "#x", "m": "multi\nline"},
        "on": {"y": "no"},
        "list": ["on", "1e3", "017"]
    });
    let target = Target {
        installed: Some("1.19.6".parse().unwrap()),
        helm: Some((3, 13)),
        existing_stack: None,
        current_values: Some(current.clone()),
        service_monitor_crd: None,
        sizes: Default::default(),
    };
    let mut config = Config::default();
    config.cilium.version = Some("1.20.0".into());
    let vd = tmp.path().join("vals");
    let plan = plan::build(
        &config,
        &target,
        &Layout {
            values_dir: Some(vd.clone()),
            ..Layout::default()
        },
    )
    .unwrap();
    ciliumon::commands::plan::write_values(&vd, &plan).unwrap();
    let upgrade = plan
        .steps
        .iter()
        .find(|s| s.kind == StepKind::CiliumUpgrade)
        .unwrap();
    assert!(
        upgrade.args.contains(&"--reset-values".to_string()),
        "{:?}",
        upgrade.args
    );
    let (file, _) = file_values(&plan, "cilium-current-values.yaml");
    let chart = tmp.path().join("plain");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: plain\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/values.json"),
        "{{ toJson .Values }}\n",
    )
    .unwrap();
    for (hname, helm) in &helms {
        let got = template(helm, &chart, &["-f".into(), file.display().to_string()]);
        assert_eq!(got, current, "{hname}");
    }
}

/// `plan` with a Helm 3.14+ across versions uses --reset-then-reuse-values; same version reuses.
#[test]
fn chart_version_change_picks_the_values_strategy() {
    let mut config = Config::default();
    config.cilium.version = Some("1.20.0".into());
    let mut target = Target {
        installed: Some("1.19.6".parse().unwrap()),
        ..Target::default()
    };
    let args = |p: &Plan| {
        p.steps
            .iter()
            .find(|s| s.kind == StepKind::CiliumUpgrade)
            .unwrap()
            .args
            .clone()
    };
    let p = plan::build(&config, &target, &Layout::default()).unwrap();
    assert!(args(&p).contains(&"--reset-then-reuse-values".to_string()));
    assert!(!args(&p).contains(&"--reuse-values".to_string()));
    target.installed = Some("1.20.0".parse().unwrap());
    let p = plan::build(&config, &target, &Layout::default()).unwrap();
    assert!(args(&p).contains(&"--reuse-values".to_string()));
    let _ = render::json(&p).unwrap();
}

fn assert_subset(want: &Value, got: &Value, ctx: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let gv = g.get(k).unwrap_or_else(|| panic!("{ctx}: key {k} missing"));
                assert_subset(v, gv, &format!("{ctx}.{k}"));
            }
        }
        _ => assert_eq!(want, got, "{ctx}"),
    }
}

/// Every key ciliumon sets exists in that version's real chart defaults (the schema does not
/// reject unknown keys, so a misspelt or moved key would otherwise be silently ignored). Keys
/// under a map the chart leaves empty (`labels: {}`) are free-form.
#[test]
fn every_key_set_exists_in_the_real_chart() {
    let fixtures = fixtures_dir();
    let kps: Value = ciliumon::yaml::from_str(
        &std::fs::read_to_string(fixtures.join("kube-prometheus-stack/values.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for (name, config, versions) in configs() {
        for version in versions.iter() {
            let text = std::fs::read_to_string(
                fixtures
                    .join("cilium-chart")
                    .join(version)
                    .join("values.json"),
            )
            .unwrap();
            let defaults: Value = ciliumon::yaml::from_str(&text).unwrap();
            let plan = build(&config, version, None);
            checked += assert_keys_exist(
                &plan.cilium_values,
                &defaults,
                &format!("{name} {version}:"),
            );
            if let Some(stack) = &plan.stack_values {
                checked +=
                    assert_keys_exist(stack, &kps, &format!("{name} kube-prometheus-stack:"));
            }
        }
    }
    assert!(checked > 500, "checked {checked} keys");
}

fn assert_keys_exist(ours: &Value, chart: &Value, ctx: &str) -> usize {
    let Value::Object(map) = ours else { return 1 };
    let mut n = 0;
    for (k, v) in map {
        match chart.get(k) {
            Some(c) => n += assert_keys_exist(v, c, &format!("{ctx}.{k}")),
            None if chart.as_object().is_some_and(|m| m.is_empty()) => n += 1,
            None => panic!("{ctx}.{k} is not a key of the chart"),
        }
    }
    n
}

/// The test chart with the real defaults and schema, and templates that render, as the real
/// chart's do (`cilium-dynamic-metrics-configmap.yaml`, `cilium-configmap.yaml`), the dynamic
/// metrics ConfigMap and the two keys of cilium-config that say which list the agents read.
fn dynamic_chart(root: &Path, version: &str) -> PathBuf {
    let dir = echo_chart(
        root,
        &format!("cilium-dyn-{version}"),
        &fixtures_dir().join("cilium-chart").join(version),
    );
    std::fs::remove_file(dir.join("templates/values.json")).unwrap();
    std::fs::write(
        dir.join("templates/dynamic.yaml"),
        r#"{{- $d := .Values.hubble.metrics.dynamic }}
{{- if and $d.enabled $d.config.createConfigMap }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $d.config.configMapName }}
data:
  dynamic-metrics.yaml: |
    metrics:
{{ toYaml $d.config.content | indent 4 }}
{{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cilium-config
data:
  marker: "1"
{{- if .Values.hubble.metrics.enabled }}
  hubble-metrics: {{ join " " .Values.hubble.metrics.enabled | quote }}
{{- end }}
{{- if $d.enabled }}
  hubble-dynamic-metrics-config-path: /dynamic-metrics-config/dynamic-metrics.yaml
{{- end }}
"#,
    )
    .unwrap();
    dir
}

/// The rendered objects, by name.
fn render_objects(
    helm: &Path,
    chart: &Path,
    args: &[String],
) -> std::collections::BTreeMap<String, Value> {
    let out = Command::new(helm)
        .args(["template", "x"])
        .arg(chart)
        .args(args)
        .env("HELM_CACHE_HOME", chart.join(".cache"))
        .env("HELM_CONFIG_HOME", chart.join(".config"))
        .env("HELM_DATA_HOME", chart.join(".data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} template {args:?} failed: {}",
        helm.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut objects = std::collections::BTreeMap::new();
    for doc in text.split("\n---") {
        let body: String = doc
            .lines()
            .filter(|l| !l.starts_with('#') && *l != "---")
            .map(|l| format!("{l}\n"))
            .collect();
        if body.trim().is_empty() {
            continue;
        }
        let v: Value = ciliumon::yaml::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        objects.insert(v["metadata"]["name"].as_str().unwrap().to_string(), v);
    }
    objects
}

fn dynamic_config() -> Config {
    let text = [
        "hubble:",
        "  metricsMode: dynamic",
        "  metrics:",
        "    - 'dns:query;ignoreAAAA'",
        "    - spec: 'flow:sourceContext=namespace;destinationContext=namespace'",
        "      includeFilters:",
        "        - source_pod: ['shop/']",
        "          verdict: [FORWARDED, DROPPED]",
        "      excludeFilters:",
        "        - destination_port: ['53']",
        "    - 'httpV2:exemplars=true;labelsContext=source_namespace,destination_namespace'",
    ]
    .join("\n");
    ciliumon::yaml::from_str(&text).unwrap()
}

/// Dynamic mode on real Helm 3 and 4, for every chart 1.17–1.20, over a release that has a
/// static list (given first with -f, as `--reuse-values` keeps it): the dynamic ConfigMap holds
/// exactly the entries asked for, filters included, and no static list survives, in the --set
/// form and the values-file form alike.
#[test]
fn dynamic_configmap_on_real_helm_3_and_4() {
    let helms = helm_binaries();
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("release-values.yaml");
    std::fs::write(&old, "hubble:\n  metrics:\n    enabled: [dns, drop, tcp]\n").unwrap();
    let versions = releases(|v| v.at_least(1, 17));
    assert_eq!(versions.len(), 4);
    for version in &versions {
        let chart = dynamic_chart(tmp.path(), version);
        let config = dynamic_config();
        let with_set = build(&config, version, None);
        let vd = tmp.path().join(format!("dyn-{version}"));
        let with_files = build(&config, version, Some(&vd));
        ciliumon::commands::plan::write_values(&vd, &with_files).unwrap();
        let upgrade = with_set
            .steps
            .iter()
            .find(|s| s.kind == StepKind::CiliumUpgrade)
            .unwrap();
        let (file, _) = file_values(&with_files, "cilium-values.yaml");
        let expected = json!([
            {"name": "dns", "contextOptions": [{"name": "query"}, {"name": "ignoreAAAA"}],
             "includeFilters": [], "excludeFilters": []},
            {"name": "flow", "contextOptions": [
                {"name": "sourceContext", "values": ["namespace"]},
                {"name": "destinationContext", "values": ["namespace"]}],
             "includeFilters": [{"source_pod": ["shop/"], "verdict": ["FORWARDED", "DROPPED"]}],
             "excludeFilters": [{"destination_port": ["53"]}]},
            {"name": "httpV2", "contextOptions": [
                {"name": "exemplars", "values": ["true"]},
                {"name": "labelsContext", "values": ["source_namespace", "destination_namespace"]}],
             "includeFilters": [], "excludeFilters": []}
        ]);
        for (hname, helm) in &helms {
            let mut set_form = vec!["-f".to_string(), old.display().to_string()];
            set_form.extend(set_args(&upgrade.args));
            let file_form = vec![
                "-f".to_string(),
                old.display().to_string(),
                "-f".into(),
                file.display().to_string(),
            ];
            for (form, args) in [("--set", set_form), ("-f", file_form)] {
                let objects = render_objects(helm, &chart, &args);
                let ctx = format!("{hname} {version} {form}");
                let cm = objects
                    .get("cilium-dynamic-metrics-config")
                    .unwrap_or_else(|| panic!("{ctx}: no dynamic ConfigMap in {objects:?}"));
                let body = cm["data"]["dynamic-metrics.yaml"].as_str().unwrap();
                let file: Value = ciliumon::yaml::from_str(body).unwrap();
                assert_eq!(file["metrics"], expected, "{ctx}");
                let parsed = ciliumon::dynamic::parse_file(body).unwrap();
                assert_eq!(parsed.len(), 3, "{ctx}");
                let data = &objects["cilium-config"]["data"];
                assert!(
                    data.get("hubble-metrics").is_none(),
                    "{ctx}: static list survived: {data}"
                );
                assert_eq!(
                    data["hubble-dynamic-metrics-config-path"],
                    "/dynamic-metrics-config/dynamic-metrics.yaml",
                    "{ctx}"
                );
            }
        }
    }
}

/// Switching both ways on real Helm: static → dynamic clears the static list (above); a release
/// in dynamic mode planned with --metrics-mode static gets its static list and dynamic off.
#[test]
fn dynamic_to_static_on_real_helm() {
    let helms = helm_binaries();
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("release-values.yaml");
    let release = json!({"hubble": {"metrics": {"enabled": [], "dynamic": {"enabled": true,
        "config": {"content": [{"name": "drop"}]}}}}});
    std::fs::write(&old, release.to_string()).unwrap();
    let mut config = Config::default();
    config.hubble.metrics_mode = Some(ciliumon::dynamic::MetricsMode::Static);
    config.hubble.metrics = vec!["drop".into(), "flow".into()];
    config.cilium.version = Some("1.18.12".into());
    let target = Target {
        installed: Some("1.18.12".parse().unwrap()),
        current_values: Some(release.clone()),
        ..Target::default()
    };
    let plan = plan::build(&config, &target, &Layout::default()).unwrap();
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("from dynamic to static")),
        "{:?}",
        plan.notes
    );
    let upgrade = plan
        .steps
        .iter()
        .find(|s| s.kind == StepKind::CiliumUpgrade)
        .unwrap();
    let chart = dynamic_chart(tmp.path(), "1.18.12");
    for (hname, helm) in &helms {
        let mut args = vec!["-f".to_string(), old.display().to_string()];
        args.extend(set_args(&upgrade.args));
        let objects = render_objects(helm, &chart, &args);
        assert!(
            !objects.contains_key("cilium-dynamic-metrics-config"),
            "{hname}"
        );
        let data = &objects["cilium-config"]["data"];
        assert_eq!(data["hubble-metrics"], "drop flow", "{hname}");
        assert!(
            data.get("hubble-dynamic-metrics-config-path").is_none(),
            "{hname}"
        );
    }
    // Without --metrics-mode the plan follows the release: dynamic, no static list.
    config.hubble.metrics_mode = None;
    let plan = plan::build(&config, &target, &Layout::default()).unwrap();
    assert_eq!(
        plan.cilium_values["hubble"]["metrics"]["enabled"],
        json!([])
    );
    assert_eq!(
        plan.cilium_values["hubble"]["metrics"]["dynamic"]["enabled"],
        true
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("stays in dynamic mode")),
        "{:?}",
        plan.notes
    );
}
