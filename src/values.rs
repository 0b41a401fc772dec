//! Helm values, as data: the Cilium values and the kube-prometheus-stack values ciliumon sets,
//! built from `templates/` and the configuration for one Cilium version. Never strings pasted
//! into YAML.

use serde_json::{Map, Value, json};

use crate::catalogue::{COMPONENTS, chart};
use crate::config::{Config, ServiceType, StackMode};
use crate::dynamic::{DynamicMetric, MetricsMode};
use crate::spec::MetricSpec;
use crate::version::Version;

const CILIUM_TEMPLATE: &str = include_str!("../templates/cilium-values.yaml");
const STACK_TEMPLATE: &str = include_str!("../templates/stack-values.yaml");

/// What the values builder needs besides the configuration.
#[derive(Debug, Clone)]
pub struct ValuesInput<'a> {
    pub config: &'a Config,
    pub specs: &'a [MetricSpec],
    pub version: &'a Version,
    pub open_metrics: bool,
    /// The release whose Prometheus should pick up Cilium's ServiceMonitors, if any.
    pub stack_release: Option<&'a str>,
    /// Where that stack (and so its Grafana) lives: the dashboards go there.
    pub stack_namespace: &'a str,
    /// How the agents get the Hubble list; with `Dynamic`, the file's content.
    pub metrics: MetricsValues<'a>,
}

/// The Hubble list's mode in the values, and what the release had.
#[derive(Debug, Clone, Copy)]
pub struct MetricsValues<'a> {
    pub mode: MetricsMode,
    /// The dynamic metrics file (dynamic mode).
    pub dynamic: &'a [DynamicMetric],
    /// The release has `hubble.metrics.dynamic.enabled=true` (static mode turns it off).
    pub release_dynamic: bool,
    /// The release has a static list (dynamic mode clears it).
    pub release_static: bool,
}

impl Default for MetricsValues<'_> {
    fn default() -> Self {
        MetricsValues {
            mode: MetricsMode::Static,
            dynamic: &[],
            release_dynamic: false,
            release_static: false,
        }
    }
}

/// Values and the notes about what was decided.
pub struct Built {
    pub values: Value,
    pub notes: Vec<String>,
}

fn template(text: &str) -> Value {
    crate::yaml::from_str(text).expect("templates/ are valid YAML (tested)")
}

/// Set `path` (dot-separated) to `v`, creating maps on the way.
pub fn set(root: &mut Value, path: &str, v: Value) {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur.as_object_mut()
                .expect("object")
                .insert(p.to_string(), Value::Object(Map::new()));
        }
        cur = cur.get_mut(*p).expect("just inserted");
    }
    cur.as_object_mut()
        .expect("object")
        .insert(parts[parts.len() - 1].to_string(), v);
}

/// Remove `path`, and any map left empty by that.
pub fn remove(root: &mut Value, path: &str) {
    fn rec(v: &mut Value, parts: &[&str]) {
        let Some(map) = v.as_object_mut() else { return };
        if parts.len() == 1 {
            map.remove(parts[0]);
            return;
        }
        if let Some(child) = map.get_mut(parts[0]) {
            rec(child, &parts[1..]);
            if child.as_object().is_some_and(Map::is_empty) {
                map.remove(parts[0]);
            }
        }
    }
    rec(root, &path.split('.').collect::<Vec<_>>());
}

/// The values ciliumon sets on the Cilium release.
pub fn cilium(input: &ValuesInput) -> Built {
    let c = input.config;
    let v = input.version;
    let mut notes = Vec::new();
    let mut values = template(CILIUM_TEMPLATE);

    // Hubble, Relay, UI. ciliumon only turns things on: a feature the configuration leaves off
    // keeps whatever the cluster has.
    if !c.hubble.relay {
        remove(&mut values, "hubble.relay");
    }
    if c.hubble.ui.enabled {
        let t = c.hubble.ui.service_type.kube_name();
        set(&mut values, "hubble.ui.service.type", json!(t));
        if let (ServiceType::NodePort, Some(p)) = (c.hubble.ui.service_type, c.hubble.ui.node_port)
        {
            set(&mut values, "hubble.ui.service.nodePort", json!(p));
        }
    } else {
        remove(&mut values, "hubble.ui");
    }

    // Flow export: hubble.export.static from 1.15; size and backups moved under static in 1.18.
    let export = &c.hubble.export;
    match (export.enabled, chart::flow_export(v)) {
        (true, Some(keys)) => {
            set(&mut values, keys.file_path, json!(export.file_path));
            if let Some(mb) = export.file_max_size_mb {
                set(&mut values, keys.file_max_size_mb, json!(mb));
            }
            if let Some(n) = export.file_max_backups {
                set(&mut values, keys.file_max_backups, json!(n));
            }
        }
        (enabled, _) => {
            remove(&mut values, chart::FLOW_EXPORT);
            if enabled {
                notes.push(format!(
                    "Flow export skipped: the Cilium {}.{} chart has no hubble.export (it came in {}.{}).",
                    v.major,
                    v.minor,
                    chart::FLOW_EXPORT_SINCE.0,
                    chart::FLOW_EXPORT_SINCE.1
                ));
            }
        }
    }

    // Hubble metrics.
    let hubble_metrics = !input.specs.is_empty();
    if hubble_metrics {
        let keys = chart::DYNAMIC_METRICS;
        match input.metrics.mode {
            MetricsMode::Static => {
                let list: Vec<Value> = input.specs.iter().map(|s| json!(s.to_string())).collect();
                set(&mut values, chart::STATIC_METRICS, Value::Array(list));
                if input.metrics.release_dynamic {
                    // Never both: a 1.17 agent starts no metrics, 1.18+ fails validation.
                    set(&mut values, keys.enabled, json!(false));
                    notes.push(format!("Static Hubble metrics: {}=false, so the release's dynamic metrics are off (static and dynamic cannot be combined).", keys.enabled));
                }
            }
            MetricsMode::Dynamic => {
                // An explicit empty list: --reuse-values would keep the release's static list.
                set(&mut values, chart::STATIC_METRICS, json!([]));
                set(&mut values, keys.enabled, json!(true));
                set(
                    &mut values,
                    keys.content,
                    crate::dynamic::content_value(input.metrics.dynamic),
                );
                if input.metrics.release_static {
                    notes.push(format!("Dynamic Hubble metrics: {}=[] clears the release's static list (static and dynamic cannot be combined).", chart::STATIC_METRICS));
                }
                notes.push(format!(
                    "Dynamic Hubble metrics: ConfigMap {} (key {}) holds the list; the agents re-read it within about 10 s.",
                    crate::catalogue::objects::DYNAMIC_CONFIG_MAP,
                    crate::catalogue::objects::DYNAMIC_CONFIG_KEY
                ));
                if !chart::hubble_service_in_dynamic_mode(v) {
                    notes.push(format!(
                        "Cilium {v}: the chart renders the hubble-metrics Service and the hubble ServiceMonitor only with a static list (cilium/cilium#37474 came in 1.17.2 and 1.18.0), so Prometheus does not scrape :9965 through them in dynamic mode; ciliumon check still reads every agent."
                    ));
                }
            }
        }
        if input.open_metrics {
            set(&mut values, "hubble.metrics.enableOpenMetrics", json!(true));
        } else if c.hubble.open_metrics == Some(false) {
            // Asked off (`--no-open-metrics`, `hubble.openMetrics: false`): set, so that
            // --reuse-values does not keep a release's `true`.
            set(
                &mut values,
                "hubble.metrics.enableOpenMetrics",
                json!(false),
            );
        } else {
            remove(&mut values, "hubble.metrics.enableOpenMetrics");
        }
        for s in input.specs {
            if let Some(plain) = s.directional_without_plain(v) {
                notes.push(format!(
                    "'{s}': Cilium {v} adds the label only when {plain} is set too (cilium/cilium#27717, fixed in 1.14.3); add it.",
                ));
            }
        }
    } else {
        remove(&mut values, "hubble.metrics");
        notes.push(
            "No Hubble metrics configured: hubble.metrics is left as the cluster has it.".into(),
        );
    }

    if !c.metrics.agent {
        remove(&mut values, "prometheus");
        remove(&mut values, "dashboards");
    }
    if !c.metrics.operator {
        remove(&mut values, "operator");
    }

    // ServiceMonitors: only with a Prometheus stack to read them (without its CRDs the chart
    // refuses the upgrade).
    let monitors = c.service_monitors && input.stack_release.is_some();
    if c.service_monitors && !monitors {
        notes.push("ServiceMonitors skipped: no Prometheus stack (--stack none). With a prometheus-operator already in the cluster, use --stack reuse --stack-release NAME.".into());
    }
    let on = [c.metrics.agent, c.metrics.operator, hubble_metrics];
    let sm_paths = on
        .iter()
        .zip(&COMPONENTS)
        .map(|(on, f)| (*on, f.service_monitor_key));
    for (on, path) in sm_paths {
        match (on, input.stack_release) {
            (false, _) => {}
            (true, Some(release)) if monitors => set(
                &mut values,
                &format!("{path}.labels"),
                monitor_labels(c, release),
            ),
            (true, _) => remove(&mut values, path),
        }
    }
    if monitors && c.metrics.agent {
        notes.push("Cilium's ServiceMonitors are created although the chart cannot see the ServiceMonitor CRD when it renders: the stack's CRDs are in place before the Cilium upgrade (installed first, or already there) (prometheus.serviceMonitor.trustCRDsExist).".into());
    }
    if let (true, Some(release)) = (monitors, input.stack_release) {
        let labels = &c.prometheus_stack.service_monitor_labels;
        if labels.is_empty() {
            notes.push(format!(
                "ServiceMonitors carry the label release={release}, so that stack's Prometheus selects them even with its default selector."
            ));
        } else {
            let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            notes.push(format!(
                "ServiceMonitors carry the label {}, which your Prometheus' serviceMonitorSelector asks for.",
                shown.join(", ")
            ));
        }
    }

    // Dashboards, for the Grafana sidecar of the stack (label grafana_dashboard=1, all namespaces).
    let dash = c.dashboards && c.prometheus_stack.mode != StackMode::None;
    for (on, path) in on
        .iter()
        .zip(&COMPONENTS)
        .map(|(on, f)| (*on, f.dashboards_key))
    {
        if !on {
            continue;
        }
        if dash {
            set(
                &mut values,
                &format!("{path}.namespace"),
                json!(input.stack_namespace),
            );
        } else {
            remove(&mut values, path);
        }
    }
    Built { values, notes }
}

/// The labels of Cilium's ServiceMonitors: the configured ones, else `release: <release>`.
fn monitor_labels(c: &Config, release: &str) -> Value {
    let labels = &c.prometheus_stack.service_monitor_labels;
    if labels.is_empty() {
        json!({ "release": release })
    } else {
        json!(labels)
    }
}

/// The values ciliumon sets on kube-prometheus-stack (password excluded: it never enters values).
pub fn stack(specs: &[MetricSpec]) -> Built {
    let mut values = template(STACK_TEMPLATE);
    let mut notes = vec![
        "kube-prometheus-stack's Prometheus picks up the ServiceMonitors and PodMonitors of every release, Cilium's included, not only its own (serviceMonitorSelectorNilUsesHelmValues and podMonitorSelectorNilUsesHelmValues: false).".to_string(),
    ];
    if let Some(s) = specs.iter().find(|s| s.exemplars()) {
        set(
            &mut values,
            "prometheus.prometheusSpec.enableFeatures",
            json!(["exemplar-storage"]),
        );
        notes.push(format!(
            "Prometheus stores exemplars, which {} asks for (enableFeatures: [exemplar-storage]).",
            s.handler.name
        ));
    }
    Built { values, notes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn build(c: &Config, version: &str, stack: Option<&str>) -> Built {
        let v: Version = version.parse().unwrap();
        let specs = c.metric_specs(&v).unwrap();
        let (open, _) = c.open_metrics(&specs).unwrap();
        cilium(&ValuesInput {
            config: c,
            specs: &specs,
            version: &v,
            open_metrics: open,
            stack_release: stack,
            stack_namespace: &c.prometheus_stack.namespace,
            metrics: MetricsValues::default(),
        })
    }

    #[test]
    fn templates_parse() {
        assert!(template(CILIUM_TEMPLATE).is_object());
        assert!(template(STACK_TEMPLATE).is_object());
    }

    #[test]
    fn blog_values_on_120() {
        let b = build(&Config::default(), "1.20.0", Some("prometheus"));
        let v = &b.values;
        assert_eq!(
            v["hubble"]["metrics"]["enabled"].as_array().unwrap().len(),
            7
        );
        assert_eq!(v["hubble"]["ui"]["service"]["nodePort"], 31234);
        assert_eq!(
            v["hubble"]["export"]["static"]["filePath"],
            "/var/run/cilium/hubble/events.log"
        );
        assert_eq!(
            v["prometheus"]["serviceMonitor"]["labels"]["release"],
            "prometheus"
        );
        assert_eq!(v["prometheus"]["serviceMonitor"]["trustCRDsExist"], true);
        assert_eq!(
            v["hubble"]["metrics"]["dashboards"]["namespace"],
            "monitoring"
        );
        assert_eq!(v["operator"]["prometheus"]["enabled"], true);
    }

    #[test]
    fn export_keys_follow_the_version() {
        let mut c = Config::default();
        c.hubble.export.file_max_size_mb = Some(20);
        let b = build(&c, "1.17.0", Some("prometheus"));
        assert_eq!(b.values["hubble"]["export"]["fileMaxSizeMb"], 20);
        let b = build(&c, "1.18.0", Some("prometheus"));
        assert_eq!(b.values["hubble"]["export"]["static"]["fileMaxSizeMb"], 20);
        assert!(b.values["hubble"]["export"].get("fileMaxSizeMb").is_none());
        let b = build(&c, "1.14.19", Some("prometheus"));
        assert!(b.values["hubble"].get("export").is_none());
        assert!(b.notes.iter().any(|n| n.contains("Flow export skipped")));
    }

    #[test]
    fn no_stack_no_dashboards() {
        let mut c = Config::default();
        c.prometheus_stack.mode = StackMode::None;
        c.service_monitors = false;
        let b = build(&c, "1.20.0", None);
        assert!(b.values["prometheus"].get("serviceMonitor").is_none());
        assert!(b.values.get("dashboards").is_none());
        assert!(b.values["hubble"]["metrics"].get("dashboards").is_none());
    }

    #[test]
    fn stack_exemplars() {
        let c = Config::default();
        let v: Version = "1.20.0".parse().unwrap();
        let b = stack(&c.metric_specs(&v).unwrap());
        assert_eq!(
            b.values["prometheus"]["prometheusSpec"]["enableFeatures"][0],
            "exemplar-storage"
        );
        let b = stack(&[]);
        assert!(
            b.values["prometheus"]["prometheusSpec"]
                .get("enableFeatures")
                .is_none()
        );
    }
}
