//! The questions `ciliumon setup` asks on a terminal. The question model is pure and talks to a
//! `Prompter`: dialoguer on a terminal, a script in unit tests. Every list comes from the
//! catalogue. Esc at any question aborts with nothing changed (`None`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::catalogue::{self, Component, Handler, OptionKind};
use crate::cluster::{Preflight, StackRelease};
use crate::config::Config;
use crate::config::{ServiceType, StackMode};
use crate::spec::{MetricSpec, SpecOption};
use crate::ui::{Paint, Printer};
use crate::version::Version;

/// Asks one question; `Ok(None)` is Esc (abort).
pub trait Prompter {
    fn multi_select(
        &mut self,
        prompt: &str,
        items: &[(String, bool)],
    ) -> Result<Option<Vec<usize>>>;
    fn select(&mut self, prompt: &str, items: &[String], default: usize) -> Result<Option<usize>>;
    fn confirm(&mut self, prompt: &str, default: bool) -> Result<Option<bool>>;
    fn input(&mut self, prompt: &str, default: &str) -> Result<Option<String>>;
    /// Tell the user something (a warning, a decision).
    fn note(&mut self, text: &str);
}

/// `?` for answers: Esc anywhere returns `Ok(None)` from the interview.
macro_rules! answer {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

/// The metric specs that are on now: the release's `hubble.metrics.enabled`, else the config's.
fn starting_specs(config: &Config, version: &Version, current: &Value) -> Vec<MetricSpec> {
    let from_cluster: Vec<String> = current
        .pointer("/hubble/metrics/enabled")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let list: Vec<&str> = if from_cluster.is_empty() {
        config
            .hubble
            .metrics
            .iter()
            .map(|e| e.spec.as_str())
            .collect()
    } else {
        from_cluster.iter().map(String::as_str).collect()
    };
    list.iter()
        .filter_map(|s| MetricSpec::parse(s, version).ok())
        .collect()
}

/// A Prometheus (prometheus-operator's `Prometheus` object) found in the cluster, with the
/// labels its `serviceMonitorSelector.matchLabels` asks ServiceMonitors to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusFound {
    pub name: String,
    pub namespace: String,
    pub match_labels: Vec<(String, String)>,
}

/// What the questions start from and what the answers have made so far. Each question reads
/// and sets what it is about; the next one sees the answers before it.
pub struct Interview<'a> {
    pub config: Config,
    pub version: &'a Version,
    /// The release's user values (`helm get values`).
    pub current: &'a Value,
    pub found_stack: Option<&'a StackRelease>,
    /// Prometheus objects ciliumon could read (for "reuse one installed outside Helm").
    pub prometheuses: &'a [PrometheusFound],
    existing: HashMap<&'static str, MetricSpec>,
    chosen: Vec<&'static Handler>,
}

impl<'a> Interview<'a> {
    pub fn new(
        config: Config,
        version: &'a Version,
        current: &'a Value,
        found_stack: Option<&'a StackRelease>,
        prometheuses: &'a [PrometheusFound],
    ) -> Interview<'a> {
        let existing = starting_specs(&config, version, current)
            .into_iter()
            .map(|s| (s.handler.name, s))
            .collect();
        Interview {
            config,
            version,
            current,
            found_stack,
            prometheuses,
            existing,
            chosen: vec![],
        }
    }
}

/// One question (or a few that belong together): `Ok(None)` is Esc. After it, what it
/// answered is valid: a question that can produce a combination the plan refuses re-asks or
/// offers the fix itself.
pub type Question = fn(&mut dyn Prompter, &mut Interview<'_>) -> Result<Option<()>>;

/// The questions, in the order they are asked. A new question (a preset, an estimate, a
/// metrics mode) is a function here.
pub const QUESTIONS: &[(&str, Question)] = &[
    ("families", ask_families),
    ("options", ask_specs),
    ("components", ask_components),
    ("stack", ask_stack),
];

/// The interview. Returns the configuration the answers make, or `None` on Esc.
pub fn interview(
    p: &mut dyn Prompter,
    config: Config,
    version: &Version,
    current: &Value,
    found_stack: Option<&StackRelease>,
) -> Result<Option<Config>> {
    let mut iv = Interview::new(config, version, current, found_stack, &[]);
    let config = answer!(run_questions(p, &mut iv));
    config.validate()?;
    Ok(Some(config))
}

/// Ask every question of [`QUESTIONS`] in order.
pub fn run_questions(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<Config>> {
    for (_, question) in QUESTIONS {
        answer!(question(p, iv));
    }
    Ok(Some(iv.config.clone()))
}

/// The metric list the answers make, checked by Cilium's grammar for the version (`http` and
/// `httpV2` together, for one, are refused there).
fn check_metrics(iv: &Interview<'_>, specs: &[String]) -> Result<(), String> {
    crate::spec::parse_list(specs, iv.version)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// First, the metric families of `version`, pre-selected from what is on now. A choice Cilium
/// refuses (e.g. `http` with `httpV2`) is said at once and asked again.
fn ask_families(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let handlers: Vec<_> = catalogue::handlers_for(iv.version).collect();
    let width = handlers.iter().map(|h| h.name.len()).max().unwrap_or(0);
    let mut on: Vec<bool> = handlers
        .iter()
        .map(|h| iv.existing.contains_key(h.name))
        .collect();
    loop {
        let items: Vec<(String, bool)> = handlers
            .iter()
            .zip(&on)
            .map(|(h, on)| {
                let mut label = format!("{:<width$}  {}", h.name, h.description);
                if let Some(d) = h.deprecated_in(iv.version) {
                    label.push_str(&format!(" (deprecated: {d})"));
                }
                (label, *on)
            })
            .collect();
        let chosen = answer!(p.multi_select(
            &format!("Hubble metric families for Cilium {}", iv.version),
            &items
        ));
        let picked: Vec<&'static Handler> = chosen.iter().map(|&i| handlers[i]).collect();
        let names: Vec<String> = picked.iter().map(|h| h.name.to_string()).collect();
        match check_metrics(iv, &names) {
            Ok(()) => {
                iv.chosen = picked;
                return Ok(Some(()));
            }
            Err(e) => {
                p.note(&format!("warning: {e}"));
                p.note("Choose the families again.");
                on = (0..handlers.len()).map(|i| chosen.contains(&i)).collect();
            }
        }
    }
}

/// Then the options of the families the user picks to adjust (none: the current ones stay),
/// with one short warning per family whose choices multiply the series.
fn ask_specs(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let chosen = iv.chosen.clone();
    let adjust: Vec<usize> = if chosen.is_empty() {
        vec![]
    } else {
        let width = chosen.iter().map(|h| h.name.len()).max().unwrap_or(0);
        let items: Vec<(String, bool)> = chosen
            .iter()
            .map(|h| {
                let now = iv
                    .existing
                    .get(h.name)
                    .map(|s| s.to_string())
                    .and_then(|s| s.split_once(':').map(|(_, o)| o.to_string()))
                    .unwrap_or_else(|| "(no options set)".to_string());
                (format!("{:<width$}  {now}", h.name), false)
            })
            .collect();
        answer!(p.multi_select("Families whose options to adjust (none: keep them)", &items))
    };
    let mut specs = Vec::new();
    for (i, h) in chosen.iter().enumerate() {
        let start = iv
            .existing
            .get(h.name)
            .cloned()
            .unwrap_or_else(|| MetricSpec::from_options(h, vec![]));
        let spec = if adjust.contains(&i) {
            answer!(family_options(p, &start, iv.version))
        } else {
            start
        };
        if let Some(w) = cardinality_warning(&spec) {
            p.note(&format!("warning: {w}"));
        }
        if let Some(plain) = spec.directional_without_plain(iv.version) {
            p.note(&format!(
                "warning: {}: Cilium {} adds the egress/ingress label only when {plain} is set too (cilium/cilium#27717, fixed in 1.14.3); set {plain} as well",
                h.name, iv.version
            ));
        }
        specs.push(spec);
    }
    let specs: Vec<String> = specs.iter().map(MetricSpec::to_string).collect();
    iv.config.hubble.metrics = crate::dynamic::entries_for(&specs, &iv.config.hubble.metrics);
    // The answers are the list now: a preset would replace them.
    iv.config.hubble.metrics_preset = None;
    Ok(Some(()))
}

/// One line for a family whose labels or contexts create one series per pod or address:
/// the family and those choices, not the whole spec.
pub fn cardinality_warning(spec: &MetricSpec) -> Option<String> {
    let mut many = spec.high_cardinality();
    many.dedup();
    if many.is_empty() {
        return None;
    }
    Some(format!(
        "{}: {} {} the series (one per value)",
        spec.handler.name,
        many.join(", "),
        if many.len() == 1 {
            "multiplies"
        } else {
            "multiply"
        }
    ))
}

/// The release's value at `path` (a JSON pointer), when it is a boolean.
fn release_bool(current: &Value, path: &str) -> Option<bool> {
    current.pointer(path).and_then(Value::as_bool)
}

/// The chart keys the wizard reads to pre-select the components (the keys
/// `templates/cilium-values.yaml` sets), as JSON pointers.
fn pointer(key: &str) -> String {
    format!("/{}", key.replace('.', "/"))
}
const RELAY: &str = "/hubble/relay/enabled";
const UI: &str = "/hubble/ui/enabled";
const UI_SERVICE_TYPE: &str = "/hubble/ui/service/type";
const UI_NODE_PORT: &str = "/hubble/ui/service/nodePort";
const EXPORT: &str = "/hubble/export/static/enabled";

/// Whether a component is on now: the release's own value, else (for a release ciliumon
/// configured before: it has Hubble metrics, and ciliumon sets every key it turns on) off,
/// else the configuration's (the blog's) default.
fn component_now(current: &Value, path: &str, default: bool) -> bool {
    release_bool(current, path).unwrap_or_else(|| {
        let configured = current
            .pointer(&pointer(catalogue::chart::HUBBLE_METRICS_ENABLED))
            .and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty());
        if configured { false } else { default }
    })
}

/// Then the components: agent and operator metrics, OpenMetrics, Relay, the UI (and its
/// service type), export; pre-selected from the release. Exemplars without OpenMetrics and the
/// UI without Relay are refused by the plan: the fix is offered right here.
fn ask_components(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let cur = iv.current;
    let config = &mut iv.config;
    let agent = format!("Agent metrics (port {})", Component::Agent.default_port());
    let operator = format!(
        "Operator metrics (port {})",
        Component::Operator.default_port()
    );
    let comps = [
        (
            agent.as_str(),
            component_now(
                cur,
                &pointer(Component::Agent.facts().enable_keys[0]),
                config.metrics.agent,
            ),
        ),
        (
            operator.as_str(),
            component_now(
                cur,
                &pointer(Component::Operator.facts().enable_keys[0]),
                config.metrics.operator,
            ),
        ),
        (
            "OpenMetrics format (needed for exemplars)",
            component_now(
                cur,
                &pointer(catalogue::chart::HUBBLE_OPEN_METRICS),
                config.hubble.open_metrics.unwrap_or(false),
            ),
        ),
        (
            "Hubble Relay",
            component_now(cur, RELAY, config.hubble.relay),
        ),
        (
            "Hubble UI (needs Relay)",
            component_now(cur, UI, config.hubble.ui.enabled),
        ),
        (
            "Flow export to a file on each node",
            component_now(cur, EXPORT, config.hubble.export.enabled),
        ),
    ];
    let items: Vec<(String, bool)> = comps.iter().map(|(l, on)| (l.to_string(), *on)).collect();
    let on = answer!(p.multi_select("Components", &items));
    let has = |i: usize| on.contains(&i);
    config.metrics.agent = has(0);
    config.metrics.operator = has(1);
    config.hubble.open_metrics = Some(has(2));
    config.hubble.relay = has(3);
    config.hubble.ui.enabled = has(4);
    config.hubble.export.enabled = has(5);

    if config.hubble.ui.enabled && !config.hubble.relay {
        let fix = [
            "turn Relay on too".to_string(),
            "leave the Hubble UI off".to_string(),
        ];
        match answer!(p.select("The Hubble UI needs Hubble Relay", &fix, 0)) {
            0 => config.hubble.relay = true,
            _ => config.hubble.ui.enabled = false,
        }
    }
    if !has(2) {
        let specs = config.metric_specs(iv.version).unwrap_or_default();
        if let Some(s) = specs.iter().find(|s| s.exemplars()) {
            let family = s.handler.name;
            let fix = [
                "keep OpenMetrics on".to_string(),
                format!("drop exemplars from {family}"),
            ];
            let prompt = format!("{family} asks for exemplars, which need OpenMetrics");
            match answer!(p.select(&prompt, &fix, 0)) {
                0 => config.hubble.open_metrics = Some(true),
                _ => {
                    let specs: Vec<String> = specs
                        .iter()
                        .map(|s| s.without_exemplars().to_string())
                        .collect();
                    config.hubble.metrics =
                        crate::dynamic::entries_for(&specs, &config.hubble.metrics);
                    config.hubble.metrics_preset = None;
                }
            }
        }
    }
    if config.hubble.ui.enabled {
        let types = [
            ServiceType::ClusterIP,
            ServiceType::NodePort,
            ServiceType::LoadBalancer,
        ];
        let names: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
        let now = cur
            .pointer(UI_SERVICE_TYPE)
            .and_then(Value::as_str)
            .and_then(|t| names.iter().position(|n| n == t));
        let default = now
            .or_else(|| {
                types
                    .iter()
                    .position(|t| *t == config.hubble.ui.service_type)
            })
            .unwrap_or(0);
        config.hubble.ui.service_type =
            types[answer!(p.select("Service type of the Hubble UI", &names, default))];
        if let Some(port) = cur
            .pointer(UI_NODE_PORT)
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            config.hubble.ui.node_port = Some(port);
        }
    }
    Ok(Some(()))
}

/// A text answer checked by `check` as soon as it is given: an answer it refuses is said
/// with why, and asked again.
fn input_checked(
    p: &mut dyn Prompter,
    prompt: &str,
    default: &str,
    check: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>> {
    loop {
        let text = answer!(p.input(prompt, default));
        match check(&text) {
            None => return Ok(Some(text)),
            Some(why) => p.note(&format!("warning: {why}; try again")),
        }
    }
}

/// `key=value` as a Kubernetes label, or why not.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("'{}' is not key=value", crate::escape::escape(text)))?;
    let (k, v) = (k.trim(), v.trim());
    match crate::names::label_problem(k, v) {
        Some(why) => Err(why),
        None => Ok((k.to_string(), v.to_string())),
    }
}

/// Last, kube-prometheus-stack: reuse the one found (offered first), install one, reuse one
/// installed outside Helm, or none; then ServiceMonitors and dashboards.
fn ask_stack(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let found_stack = iv.found_stack;
    let config = &mut iv.config;
    let mut modes = vec![(
        StackMode::Install,
        "install kube-prometheus-stack".to_string(),
    )];
    if let Some(s) = found_stack {
        modes.insert(
            0,
            (
                StackMode::Reuse,
                format!("reuse '{}' in '{}' ({})", s.name, s.namespace, s.chart),
            ),
        );
    } else {
        modes.push((
            StackMode::Reuse,
            "reuse a Prometheus installed outside Helm".to_string(),
        ));
    }
    modes.push((
        StackMode::None,
        "none: no ServiceMonitors, no dashboards".to_string(),
    ));
    let default = if found_stack.is_some() {
        0
    } else {
        modes
            .iter()
            .position(|(m, _)| *m == config.prometheus_stack.mode)
            .unwrap_or(0)
    };
    let names: Vec<String> = modes.iter().map(|(_, n)| n.clone()).collect();
    let mode = modes[answer!(p.select("Prometheus and Grafana", &names, default))].0;
    config.prometheus_stack.mode = mode;
    let release_ok = |t: &str| crate::names::release_problem(t);
    let namespace_ok = |t: &str| crate::names::namespace_problem(t);
    match (mode, found_stack) {
        (StackMode::Reuse, Some(s)) => {
            config.prometheus_stack.release = s.name.clone();
            config.prometheus_stack.namespace = s.namespace.clone();
        }
        (StackMode::Install, _) => {
            config.prometheus_stack.release = answer!(input_checked(
                p,
                "Release name of kube-prometheus-stack",
                &config.prometheus_stack.release,
                release_ok
            ));
            config.prometheus_stack.namespace = answer!(input_checked(
                p,
                "Its namespace",
                &config.prometheus_stack.namespace,
                namespace_ok
            ));
        }
        (StackMode::Reuse, None) => {
            // What it takes is the label that Prometheus selects ServiceMonitors by: read from
            // its serviceMonitorSelector when ciliumon can see it.
            let seen = iv.prometheuses.iter().find(|p| !p.match_labels.is_empty());
            let default = config
                .prometheus_stack
                .service_monitor_labels
                .iter()
                .next()
                .map(|(k, v)| format!("{k}={v}"))
                .or_else(|| {
                    seen.and_then(|p| p.match_labels.first())
                        .map(|(k, v)| format!("{k}={v}"))
                })
                .unwrap_or_else(|| format!("release={}", config.prometheus_stack.release));
            if let Some(prom) = seen {
                let labels: Vec<String> = prom
                    .match_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                p.note(&format!(
                    "Prometheus '{}' in '{}' selects ServiceMonitors labelled {}",
                    prom.name,
                    prom.namespace,
                    labels.join(", ")
                ));
            } else if iv.prometheuses.is_empty() {
                p.note("No Prometheus object could be read here: give the label its serviceMonitorSelector asks for (kubectl get prometheus -A -o yaml)");
            }
            let label = answer!(input_checked(
                p,
                "Label your Prometheus selects ServiceMonitors by (key=value)",
                &default,
                |t| parse_label(t).err()
            ));
            let (k, v) = parse_label(&label).expect("checked");
            config.prometheus_stack.service_monitor_labels =
                std::collections::BTreeMap::from([(k, v)]);
            let ns_default = seen
                .map(|p| p.namespace.clone())
                .unwrap_or_else(|| config.prometheus_stack.namespace.clone());
            config.prometheus_stack.namespace = answer!(input_checked(
                p,
                "Namespace of its Grafana (for the dashboards)",
                &ns_default,
                namespace_ok
            ));
        }
        (StackMode::None, _) => {}
    }
    if mode != StackMode::None {
        config.service_monitors = answer!(p.confirm(
            "Create ServiceMonitors for the agent, operator and Hubble?",
            config.service_monitors
        ));
        config.dashboards =
            answer!(p.confirm("Install Cilium's Grafana dashboards?", config.dashboards));
    } else if config
        .prometheus_stack
        .grafana_admin_password
        .take()
        .is_some()
    {
        p.note("note: no stack is installed, so the Grafana admin password given is not used");
    }
    Ok(Some(()))
}

/// The options of one family: its own (flags, exemplars...), labelsContext, the source and
/// destination contexts and, when the user asks for them, their egress/ingress variants (only
/// those the catalogue has for `version`). Options the wizard does not ask about are kept.
///
/// Every answer is a catalogue value for `version`, and each key is set at most once, so the
/// options are collected as values and make the spec directly: there is no text to re-parse
/// and nothing that could fail.
fn family_options(
    p: &mut dyn Prompter,
    start: &MetricSpec,
    version: &Version,
) -> Result<Option<MetricSpec>> {
    let h = start.handler;
    let mut options = answer!(own_options(p, start, version));
    options.extend(answer!(labels_option(p, start, version)));
    options.extend(answer!(context_options(p, start, version)));
    Ok(Some(MetricSpec::from_options(h, options)))
}

/// The family's own options for `version`, pre-selected from `start`.
fn own_options(
    p: &mut dyn Prompter,
    start: &MetricSpec,
    version: &Version,
) -> Result<Option<Vec<SpecOption>>> {
    let h = start.handler;
    let own: Vec<_> = h
        .options
        .iter()
        .filter(|o| o.valid.contains(version))
        .collect();
    if own.is_empty() {
        return Ok(Some(vec![]));
    }
    let items: Vec<(String, bool)> = own
        .iter()
        .map(|o| {
            let on = start.options.iter().any(|s| match s {
                SpecOption::Flag(k) => *k == o.key,
                SpecOption::Value(k, v) => *k == o.key && *v != "false",
                _ => false,
            });
            (format!("{:<12}  {}", o.key, o.description), on)
        })
        .collect();
    let on = answer!(p.multi_select(&format!("{}: options", h.name), &items));
    Ok(Some(
        on.into_iter()
            .map(|i| {
                let o = own[i];
                match o.kind {
                    OptionKind::Flag => SpecOption::Flag(o.key),
                    OptionKind::OneOf(values) => SpecOption::Value(
                        o.key,
                        values
                            .iter()
                            .find(|v| **v == "true")
                            .or(values.first())
                            .copied()
                            .unwrap_or("true"),
                    ),
                }
            })
            .collect(),
    ))
}

/// `labelsContext`: the labels of `version`, pre-selected from `start`; `Some(None)` when none
/// is chosen.
fn labels_option(
    p: &mut dyn Prompter,
    start: &MetricSpec,
    version: &Version,
) -> Result<Option<Option<SpecOption>>> {
    let labels: Vec<_> = catalogue::LABELS
        .iter()
        .filter(|l| l.valid.contains(version))
        .collect();
    let had: Vec<&str> = start
        .options
        .iter()
        .find_map(|o| match o {
            SpecOption::Labels(l) => Some(l.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let items: Vec<(String, bool)> = labels
        .iter()
        .map(|l| {
            (
                format!(
                    "{}{}",
                    l.name,
                    if l.high_cardinality {
                        "  (many series: one per value)"
                    } else {
                        ""
                    }
                ),
                had.contains(&l.name),
            )
        })
        .collect();
    let on = answer!(p.multi_select(
        &format!("{}: labels to add (labelsContext)", start.handler.name),
        &items
    ));
    Ok(Some((!on.is_empty()).then(|| {
        SpecOption::Labels(on.iter().map(|i| labels[*i].name).collect())
    })))
}

/// sourceContext / destinationContext, then (on request) their egress/ingress variants.
/// Context options not asked about are kept as they were.
fn context_options(
    p: &mut dyn Prompter,
    start: &MetricSpec,
    version: &Version,
) -> Result<Option<Vec<SpecOption>>> {
    let family = start.handler.name;
    let values: Vec<_> = catalogue::CONTEXT_VALUES
        .iter()
        .filter(|v| v.valid.contains(version))
        .collect();
    let current = |key: &str| {
        start.options.iter().find_map(|o| match o {
            SpecOption::Context(k, ids) if *k == key => Some(ids.clone()),
            _ => None,
        })
    };
    let mut options = Vec::new();
    let mut asked: Vec<&str> = Vec::new();
    let plain: Vec<_> = catalogue::context_keys_for(version)
        .filter(|k| !k.labels && k.refines.is_none())
        .collect();
    for k in &plain {
        if let Some(ids) = answer!(context_question(p, family, k, current(k.key), &values)) {
            options.push(SpecOption::Context(k.key, ids));
        }
        asked.push(k.key);
    }
    let directional: Vec<_> = catalogue::context_keys_for(version)
        .filter(|k| k.refines.is_some())
        .collect();
    if !directional.is_empty() {
        let now: Vec<String> = directional
            .iter()
            .filter_map(|k| current(k.key).map(|ids| format!("{}={}", k.key, ids.join("|"))))
            .collect();
        let mut prompt = format!("{family}: set different contexts for egress/ingress flows?");
        if !now.is_empty() {
            prompt.push_str(&format!(" (no keeps {})", now.join(", ")));
        }
        if answer!(p.confirm(&prompt, false)) {
            for k in &directional {
                if let Some(ids) = answer!(context_question(p, family, k, current(k.key), &values))
                {
                    options.push(SpecOption::Context(k.key, ids));
                }
                asked.push(k.key);
            }
        }
    }
    for o in &start.options {
        if let SpecOption::Context(k, _) = o
            && !asked.contains(k)
        {
            options.push(o.clone());
        }
    }
    Ok(Some(options))
}

/// One context key: its first choice (pre-selected from `current`), then fallbacks, in order,
/// used when the value before is empty (e.g. `workload-name|reserved-identity`). The user's
/// fallbacks are kept when the first choice is unchanged. `Some(None)` is "(none)": the key is
/// not set; `None` is Esc.
fn context_question(
    p: &mut dyn Prompter,
    family: &str,
    k: &catalogue::ContextKey,
    current: Option<Vec<&'static str>>,
    values: &[&'static catalogue::ContextValue],
) -> Result<Option<Option<Vec<&'static str>>>> {
    let line = |v: &catalogue::ContextValue| {
        let many = if v.high_cardinality {
            " (many series)"
        } else {
            ""
        };
        format!("{:<22}  {}{many}", v.name, v.description)
    };
    let mut names = vec!["(none)".to_string()];
    names.extend(values.iter().map(|v| line(v)));
    let default = current
        .as_ref()
        .and_then(|ids| ids.first())
        .and_then(|first| values.iter().position(|v| v.name == *first))
        .map(|i| i + 1)
        .unwrap_or(0);
    let prompt = format!("{family}: {} ({})", k.key, k.description);
    let i = answer!(p.select(&prompt, &names, default));
    if i == 0 {
        return Ok(Some(None));
    }
    let first = values[i - 1].name;
    if let Some(ids) = current.filter(|ids| ids.first() == Some(&first)) {
        return Ok(Some(Some(ids)));
    }
    let mut chain = vec![first];
    loop {
        let rest: Vec<_> = values.iter().filter(|v| !chain.contains(&v.name)).collect();
        let mut names = vec!["(no fallback)".to_string()];
        names.extend(rest.iter().map(|v| line(v)));
        let prompt = format!(
            "{family}: {} fallback when '{}' is empty",
            k.key,
            chain[chain.len() - 1]
        );
        let j = answer!(p.select(&prompt, &names, 0));
        if j == 0 {
            break;
        }
        chain.push(rest[j - 1].name);
    }
    Ok(Some(Some(chain)))
}

/// dialoguer on stderr, through the [`Printer`]'s policy. Esc (or `q` in a list) at any
/// question is `None`. Only made when the printer says questions may be asked.
pub struct Terminal {
    theme: Marked,
    printer: Printer,
}

/// The hint every multi-select carries.
pub const MULTI_HINT: &str = "space toggles, enter accepts";

/// The columns a list row takes before its label (`❯ ✔ `), with a margin for wide glyphs.
const ROW_PREFIX: usize = 6;
/// The columns a question line takes besides its text (`? ` and ` › `).
const PROMPT_EXTRA: usize = 5;
/// What dialoguer adds to the question line of a list longer than the page (`[Page 1/2] `).
const PAGE_EXTRA: usize = 12;
/// The rows of a list shown at once.
const PAGE: usize = 14;

impl Terminal {
    pub fn new(printer: Printer) -> Terminal {
        Terminal {
            theme: Marked::new(printer.color()),
            printer,
        }
    }

    /// Rows fitted to the terminal: a row wider than the terminal wraps, and dialoguer then
    /// clears too few lines on each redraw, leaving copies of the list on screen.
    fn rows<'a>(&self, labels: impl Iterator<Item = &'a str>) -> Vec<String> {
        labels.map(|l| self.printer.fit(l, ROW_PREFIX)).collect()
    }

    fn prompt(&self, prompt: &str, extra: usize) -> String {
        self.printer.fit(prompt, PROMPT_EXTRA + extra)
    }

    /// `✔ prompt · answer`, in place of dialoguer's report (which repeats whole rows).
    fn echo(&self, prompt: &str, answer: &str) {
        let line = format!(
            "{} {} · {}",
            self.printer.paint(Paint::Ok, "✔"),
            self.printer.paint(Paint::Strong, prompt),
            answer
        );
        self.printer.say(&self.printer.fit(&line, 1));
    }
}

/// The name a row stands for: the text before its description (two spaces), else the row.
pub fn row_name(label: &str) -> &str {
    let name = label.split("  ").next().unwrap_or(label).trim();
    match name.split(" (").next().map(str::trim) {
        Some(short) if !short.is_empty() => short,
        _ => name,
    }
}

/// dialoguer's colourful theme with the focused row of a list marked by `❯` in every colour
/// mode: the colourful theme marks it only by colour in a multi-select, so with `NO_COLOR`
/// the row Space would toggle was invisible.
pub struct Marked {
    inner: dialoguer::theme::ColorfulTheme,
}

impl Marked {
    pub fn new(color: bool) -> Marked {
        let mut inner = dialoguer::theme::ColorfulTheme::default();
        if !color {
            // The checked and unchecked marks differ in shape, not only in colour.
            inner.checked_item_prefix = console::style("[x]".to_string()).for_stderr();
            inner.unchecked_item_prefix = console::style("[ ]".to_string()).for_stderr();
            inner.active_item_prefix = console::style("❯".to_string()).for_stderr();
        }
        Marked { inner }
    }
}

impl dialoguer::theme::Theme for Marked {
    fn format_prompt(&self, f: &mut dyn std::fmt::Write, prompt: &str) -> std::fmt::Result {
        self.inner.format_prompt(f, prompt)
    }
    fn format_error(&self, f: &mut dyn std::fmt::Write, err: &str) -> std::fmt::Result {
        self.inner.format_error(f, err)
    }
    fn format_confirm_prompt(
        &self,
        f: &mut dyn std::fmt::Write,
        prompt: &str,
        default: Option<bool>,
    ) -> std::fmt::Result {
        self.inner.format_confirm_prompt(f, prompt, default)
    }
    fn format_confirm_prompt_selection(
        &self,
        f: &mut dyn std::fmt::Write,
        prompt: &str,
        selection: Option<bool>,
    ) -> std::fmt::Result {
        self.inner
            .format_confirm_prompt_selection(f, prompt, selection)
    }
    fn format_input_prompt(
        &self,
        f: &mut dyn std::fmt::Write,
        prompt: &str,
        default: Option<&str>,
    ) -> std::fmt::Result {
        self.inner.format_input_prompt(f, prompt, default)
    }
    fn format_input_prompt_selection(
        &self,
        f: &mut dyn std::fmt::Write,
        prompt: &str,
        sel: &str,
    ) -> std::fmt::Result {
        self.inner.format_input_prompt_selection(f, prompt, sel)
    }
    fn format_select_prompt(&self, f: &mut dyn std::fmt::Write, prompt: &str) -> std::fmt::Result {
        self.inner.format_select_prompt(f, prompt)
    }
    fn format_select_prompt_item(
        &self,
        f: &mut dyn std::fmt::Write,
        text: &str,
        active: bool,
    ) -> std::fmt::Result {
        self.inner.format_select_prompt_item(f, text, active)
    }
    fn format_multi_select_prompt(
        &self,
        f: &mut dyn std::fmt::Write,
        prompt: &str,
    ) -> std::fmt::Result {
        self.inner.format_multi_select_prompt(f, prompt)
    }
    fn format_multi_select_prompt_item(
        &self,
        f: &mut dyn std::fmt::Write,
        text: &str,
        checked: bool,
        active: bool,
    ) -> std::fmt::Result {
        let i = &self.inner;
        let cursor = if active {
            &i.active_item_prefix
        } else {
            &i.inactive_item_prefix
        };
        let mark = if checked {
            &i.checked_item_prefix
        } else {
            &i.unchecked_item_prefix
        };
        let text = if active {
            i.active_item_style.apply_to(text)
        } else {
            i.inactive_item_style.apply_to(text)
        };
        write!(f, "{cursor} {mark} {text}")
    }
}

impl Prompter for Terminal {
    fn multi_select(
        &mut self,
        prompt: &str,
        items: &[(String, bool)],
    ) -> Result<Option<Vec<usize>>> {
        let hint = format!(" ({MULTI_HINT})");
        let paging = if items.len() > PAGE { PAGE_EXTRA } else { 0 };
        let shown = format!("{}{hint}", self.prompt(prompt, hint.len() + paging));
        let rows = self.rows(items.iter().map(|(l, _)| l.as_str()));
        let chosen = dialoguer::MultiSelect::with_theme(&self.theme)
            .with_prompt(shown)
            .items_checked(rows.iter().zip(items).map(|(r, (_, on))| (r.as_str(), *on)))
            .max_length(PAGE)
            .report(false)
            .interact_opt()
            .context("cannot ask")?;
        if let Some(sel) = &chosen {
            let names: Vec<&str> = sel.iter().map(|&i| row_name(&items[i].0)).collect();
            let answer = if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            };
            self.echo(prompt, &answer);
        }
        Ok(chosen)
    }

    fn select(&mut self, prompt: &str, items: &[String], default: usize) -> Result<Option<usize>> {
        let rows = self.rows(items.iter().map(String::as_str));
        let paging = if items.len() > PAGE { PAGE_EXTRA } else { 0 };
        let chosen = dialoguer::Select::with_theme(&self.theme)
            .with_prompt(self.prompt(prompt, paging))
            .items(&rows)
            .default(default)
            .max_length(PAGE)
            .report(false)
            .interact_opt()
            .context("cannot ask")?;
        if let Some(i) = chosen {
            self.echo(prompt, row_name(&items[i]));
        }
        Ok(chosen)
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<Option<bool>> {
        dialoguer::Confirm::with_theme(&self.theme)
            .with_prompt(self.prompt(prompt, 0))
            .default(default)
            .interact_opt()
            .context("cannot ask")
    }

    fn input(&mut self, prompt: &str, default: &str) -> Result<Option<String>> {
        read_line(&self.theme, &self.prompt(prompt, default.len()), default)
    }

    fn note(&mut self, text: &str) {
        match text.strip_prefix("warning: ") {
            Some(rest) => self.printer.warn(rest),
            None => self.printer.say(text),
        }
    }
}

/// A line of text with a default, where Esc aborts (dialoguer's `Input` has no Esc) and
/// Ctrl-C goes to the interrupt handler like everywhere else. Enter on an empty line takes the
/// default.
fn read_line(theme: &Marked, prompt: &str, default: &str) -> Result<Option<String>> {
    use dialoguer::theme::Theme;
    let term = console::Term::stderr();
    let mut head = String::new();
    theme
        .format_input_prompt(&mut head, prompt, Some(default))
        .ok();
    let mut text = String::new();
    let draw = |text: &str| -> std::io::Result<()> {
        term.clear_line()?;
        term.write_str(&head)?;
        term.write_str(text)?;
        term.flush()
    };
    draw(&text).context("cannot ask")?;
    loop {
        match term.read_key().context("cannot ask")? {
            console::Key::Escape => {
                term.clear_line().ok();
                return Ok(None);
            }
            console::Key::Enter => break,
            console::Key::Backspace => {
                text.pop();
            }
            console::Key::Char(c) if !c.is_control() => text.push(c),
            _ => continue,
        }
        draw(&text).context("cannot ask")?;
    }
    let answer = if text.trim().is_empty() {
        default.to_string()
    } else {
        text.trim().to_string()
    };
    let mut done = String::new();
    theme
        .format_input_prompt_selection(&mut done, prompt, &answer)
        .ok();
    term.clear_line().ok();
    term.write_line(&done).context("cannot ask")?;
    Ok(Some(answer))
}

/// Ask about the cluster `pf` found; `None` when the user aborted. The answers are planned
/// before they are returned: should the plan still refuse them (every question checks its own
/// answers, so this is a safety net), the user is told why and asked again, with the answers
/// given as the defaults, instead of losing them to an error.
pub fn ask(
    p: &mut dyn Prompter,
    config: Config,
    pf: &Preflight,
    prometheuses: &[PrometheusFound],
) -> Result<Option<Config>> {
    let version = crate::plan::target_version(&config, &pf.target())?.facts;
    let mut config = config;
    let mut current = pf.cilium.values.clone();
    loop {
        let mut iv = Interview::new(
            config.clone(),
            &version,
            &current,
            pf.stack.as_ref(),
            prometheuses,
        );
        let answers = answer!(run_questions(p, &mut iv));
        let planned = answers
            .validate()
            .and_then(|()| crate::plan::build(&answers, &pf.target(), &Default::default()));
        match planned {
            Ok(_) => return Ok(Some(answers)),
            Err(e) => {
                p.note(&format!("warning: these answers cannot be planned: {e:#}"));
                if !answer!(p.confirm("Answer the questions again (your answers are kept)?", true))
                {
                    return Ok(None);
                }
                // The metric list starts from the answers, not the release.
                if let Some(h) = current.pointer_mut("/hubble/metrics") {
                    *h = serde_json::json!({});
                }
                config = answers;
            }
        }
    }
}

/// Offer to save the answers as a ciliumon.yaml (`--save-config` saves without asking).
/// `None` on Esc.
pub fn offer_save(
    p: &mut dyn Prompter,
    config: &Config,
    save: Option<&Path>,
) -> Result<Option<Option<PathBuf>>> {
    let path = match save {
        Some(path) => path.to_path_buf(),
        None => {
            if !answer!(p.confirm(
                "Save these answers as a ciliumon.yaml that replays this setup in CI?",
                true
            )) {
                return Ok(Some(None));
            }
            PathBuf::from(answer!(p.input("File", "ciliumon.yaml")))
        }
    };
    save_config(config, &path)?;
    p.note(&format!(
        "Saved {}: replay with `ciliumon setup --yes --config {}`",
        path.display(),
        path.display()
    ));
    Ok(Some(Some(path)))
}

/// Write a ciliumon.yaml.
pub fn save_config(config: &Config, path: &Path) -> Result<()> {
    let text = config.to_yaml()?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone)]
    enum A {
        Multi(Option<Vec<usize>>),
        /// Accept the pre-selection.
        Keep,
        /// Select every item of a multi-select.
        All,
        Select(Option<usize>),
        /// Select the item whose first word is this.
        Pick(&'static str),
        Yes(Option<bool>),
        Text(&'static str),
    }

    /// Answers in order; records the prompts and items it was shown.
    struct Script {
        answers: Vec<A>,
        seen: Vec<(String, Vec<(String, bool)>)>,
        notes: Vec<String>,
    }

    impl Script {
        fn new(answers: Vec<A>) -> Script {
            Script {
                answers: answers.into_iter().rev().collect(),
                seen: vec![],
                notes: vec![],
            }
        }
        fn next(&mut self, prompt: &str) -> A {
            self.answers
                .pop()
                .unwrap_or_else(|| panic!("no answer scripted for {prompt:?}"))
        }
    }

    impl Prompter for Script {
        fn multi_select(
            &mut self,
            prompt: &str,
            items: &[(String, bool)],
        ) -> Result<Option<Vec<usize>>> {
            self.seen.push((prompt.into(), items.to_vec()));
            match self.next(prompt) {
                A::Multi(v) => Ok(v),
                A::All => Ok(Some((0..items.len()).collect())),
                A::Keep => Ok(Some(
                    items
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, on))| *on)
                        .map(|(i, _)| i)
                        .collect(),
                )),
                a => panic!("{prompt}: scripted {a:?}"),
            }
        }
        fn select(
            &mut self,
            prompt: &str,
            items: &[String],
            default: usize,
        ) -> Result<Option<usize>> {
            // For a select, the item marked is the pre-selected one.
            self.seen.push((
                prompt.into(),
                items
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.clone(), i == default))
                    .collect(),
            ));
            match self.next(prompt) {
                A::Select(v) => Ok(v),
                A::Pick(name) => Ok(Some(
                    items
                        .iter()
                        .position(|l| l.split_whitespace().next() == Some(name))
                        .unwrap_or_else(|| panic!("{prompt}: no item {name} in {items:?}")),
                )),
                A::Keep => Ok(Some(default)),
                a => panic!("{prompt}: scripted {a:?}"),
            }
        }
        fn confirm(&mut self, prompt: &str, default: bool) -> Result<Option<bool>> {
            self.seen.push((prompt.into(), vec![]));
            match self.next(prompt) {
                A::Yes(v) => Ok(v),
                A::Keep => Ok(Some(default)),
                a => panic!("{prompt}: scripted {a:?}"),
            }
        }
        fn input(&mut self, prompt: &str, default: &str) -> Result<Option<String>> {
            self.seen.push((prompt.into(), vec![]));
            match self.next(prompt) {
                A::Text(t) => Ok(Some(t.into())),
                A::Keep => Ok(Some(default.into())),
                a => panic!("{prompt}: scripted {a:?}"),
            }
        }
        fn note(&mut self, text: &str) {
            self.notes.push(text.into());
        }
    }

    fn v() -> Version {
        Version::new(1, 18, 4)
    }

    fn index_of(items: &[(String, bool)], name: &str) -> usize {
        items
            .iter()
            .position(|(l, _)| l.split_whitespace().next() == Some(name))
            .unwrap()
    }

    #[test]
    fn families_come_from_the_catalogue_preselected_from_the_cluster() {
        let current =
            serde_json::json!({"hubble": {"metrics": {"enabled": ["dns:query", "drop"]}}});
        let mut s = Script::new(vec![A::Keep; 9]);
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        let (_, items) = &s.seen[0];
        let names: Vec<&str> = items
            .iter()
            .map(|(l, _)| l.split_whitespace().next().unwrap())
            .collect();
        let catalogue: Vec<&str> = catalogue::handlers_for(&v()).map(|h| h.name).collect();
        assert_eq!(names, catalogue);
        let on: Vec<&str> = items
            .iter()
            .filter(|(_, on)| *on)
            .map(|(l, _)| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(on, ["dns", "drop"]);
        // Kept as they were, options included.
        assert_eq!(c.hubble.metrics, ["dns:query", "drop"]);
    }

    #[test]
    fn options_labels_and_contexts_build_a_valid_spec_and_warn_on_cardinality() {
        let current = serde_json::json!({});
        let mut config = Config::default();
        config.hubble.metrics = vec!["drop".into()];
        let mut s = Script::new(vec![A::Keep, A::All]);
        // Probe the items of the drop family's labels question by running once with Esc there.
        s.answers.insert(0, A::Multi(None));
        let r = interview(&mut s, config.clone(), &v(), &current, None).unwrap();
        assert!(r.is_none(), "Esc at a family question aborts");
        let labels = s.seen.last().unwrap().1.clone();
        let src_ip = index_of(&labels, "source_ip");
        let src_ns = index_of(&labels, "source_namespace");
        let mut s = Script::new(vec![
            A::Keep,                              // families: drop
            A::All,                               // adjust options
            A::Multi(Some(vec![src_ip, src_ns])), // labels
            A::Select(Some(0)),                   // sourceContext: none
            A::Select(Some(0)),                   // destinationContext: none
            A::Yes(Some(false)),                  // egress/ingress contexts: no
            A::Keep,
            A::Keep,
            A::Keep,
            A::Keep,
            A::Keep,
            A::Keep,
            A::Keep,
        ]);
        let c = interview(&mut s, config, &v(), &current, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            c.hubble.metrics,
            ["drop:labelsContext=source_ip,source_namespace"]
        );
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("warning") && n.contains("source_ip")),
            "{:?}",
            s.notes
        );
    }

    /// The question about `key` (not its fallbacks), with its items.
    fn question<'a>(s: &'a Script, family: &str, key: &str) -> Option<&'a Vec<(String, bool)>> {
        let start = format!("{family}: {key} (");
        s.seen
            .iter()
            .find(|(p, _)| p.starts_with(&start))
            .map(|(_, items)| items)
    }

    fn preselected(items: &[(String, bool)]) -> &str {
        let (label, _) = items.iter().find(|(_, on)| *on).expect("one pre-selected");
        label.split_whitespace().next().unwrap()
    }

    const EGRESS_INGRESS: &str = "set different contexts for egress/ingress flows?";

    #[test]
    fn egress_and_ingress_contexts_are_asked_set_and_rendered() {
        let mut config = Config::default();
        config.hubble.metrics = vec!["drop".into()];
        let mut s = Script::new(vec![
            A::Keep,                  // families: drop
            A::All,                   // adjust options
            A::Multi(Some(vec![])),   // labels: none
            A::Pick("namespace"),     // sourceContext
            A::Select(Some(0)),       //   no fallback
            A::Select(Some(0)),       // destinationContext: none
            A::Yes(Some(true)),       // egress/ingress contexts: yes
            A::Pick("workload-name"), // sourceEgressContext
            A::Pick("reserved-identity"),
            A::Select(Some(0)), //   no more fallbacks
            A::Pick("pod"),     // sourceIngressContext
            A::Select(Some(0)), //   no fallback
            A::Select(Some(0)), // destinationEgressContext: none
            A::Pick("ip"),      // destinationIngressContext
            A::Select(Some(0)), //   no fallback
            A::Keep,            // components
            A::Keep,            // UI service type
            A::Keep,            // stack: install
            A::Keep,            // its release
            A::Keep,            // its namespace
            A::Keep,            // ServiceMonitors
            A::Keep,            // dashboards
        ]);
        let c = interview(&mut s, config, &v(), &serde_json::json!({}), None)
            .unwrap()
            .unwrap();
        let spec = "drop:sourceContext=namespace;sourceEgressContext=workload-name|reserved-identity;sourceIngressContext=pod;destinationIngressContext=ip";
        assert_eq!(c.hubble.metrics, [spec]);

        // Offered once, default no; each variant asked with the catalogue's values for the version.
        let offers: Vec<_> = s
            .seen
            .iter()
            .filter(|(p, _)| p.contains(EGRESS_INGRESS))
            .collect();
        assert_eq!(offers.len(), 1, "{:?}", s.seen);
        let mut values = vec!["(none)"];
        values.extend(
            catalogue::CONTEXT_VALUES
                .iter()
                .filter(|x| x.valid.contains(&v()))
                .map(|x| x.name),
        );
        for k in catalogue::CONTEXT_KEYS
            .iter()
            .filter(|k| k.refines.is_some())
        {
            let items = question(&s, "drop", k.key).unwrap_or_else(|| panic!("{} asked", k.key));
            let shown: Vec<&str> = items
                .iter()
                .map(|(l, _)| l.split_whitespace().next().unwrap())
                .collect();
            assert_eq!(shown, values, "{}", k.key);
            assert_eq!(preselected(items), "(none)", "nothing set before");
        }
        let fallback = s
            .seen
            .iter()
            .find(|(p, _)| p == "drop: sourceEgressContext fallback when 'workload-name' is empty")
            .expect("fallbacks asked as for sourceContext");
        assert!(
            !fallback
                .1
                .iter()
                .any(|(l, _)| l.starts_with("workload-name "))
        );

        // High-cardinality choices warn, as for the other contexts: once for the family.
        assert_eq!(
            s.notes,
            ["warning: drop: pod, ip multiply the series (one per value)"]
        );
        for why in ["pod", "ip"] {
            assert!(
                s.notes.iter().any(|n| n.contains(why)),
                "{why}: {:?}",
                s.notes
            );
        }

        // Rendered: one item of hubble.metrics.enabled on --set (nothing to escape in `;|=`) and
        // in the values file.
        let target = crate::plan::Target {
            installed: Some(v()),
            ..Default::default()
        };
        let p = crate::plan::build(&c, &target, &crate::plan::Layout::default()).unwrap();
        let upgrade = p
            .steps
            .iter()
            .find(|st| st.kind == crate::plan::StepKind::CiliumUpgrade)
            .unwrap();
        let at = upgrade
            .args
            .iter()
            .position(|a| a.starts_with("hubble.metrics.enabled="))
            .expect("the metric list on --set");
        assert_eq!(upgrade.args[at - 1], "--set");
        assert_eq!(
            upgrade.args[at],
            format!("hubble.metrics.enabled={{{spec}}}")
        );
        let file = crate::render::values_file(&p.cilium_values, "Cilium values").unwrap();
        let back: Value = crate::yaml::from_str(&file).unwrap();
        assert_eq!(
            back.pointer("/hubble/metrics/enabled"),
            Some(&serde_json::json!([spec])),
            "{file}"
        );
    }

    #[test]
    fn egress_and_ingress_contexts_are_kept_when_declined_or_unchanged() {
        let before = "flow:sourceContext=pod;sourceEgressContext=workload|reserved-identity;destinationIngressContext=app";
        let current = serde_json::json!({"hubble": {"metrics": {"enabled": [before]}}});
        let start = [
            A::Keep, // families: flow, from the cluster
            A::All,  // adjust options
            A::Keep, // labels: none
            A::Keep, // sourceContext: pod
            A::Keep, // destinationContext: none
        ];
        let rest = vec![A::Keep; 7];

        // Declined (the default): kept as they were, and the question says what stays.
        let mut s = Script::new([&start[..], &[A::Keep], &rest[..]].concat());
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        assert_eq!(c.hubble.metrics, [before]);
        let offer = s
            .seen
            .iter()
            .find(|(p, _)| p.contains(EGRESS_INGRESS))
            .unwrap();
        assert!(
            offer.0.ends_with(
                "(no keeps sourceEgressContext=workload|reserved-identity, destinationIngressContext=app)"
            ),
            "{}",
            offer.0
        );
        assert!(question(&s, "flow", "sourceEgressContext").is_none());

        // Accepted, every answer left as pre-selected: the same spec, fallbacks included.
        let mut s = Script::new(
            [
                &start[..],
                &[A::Yes(Some(true)), A::Keep, A::Keep, A::Keep, A::Keep],
                &rest[..],
            ]
            .concat(),
        );
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        assert_eq!(c.hubble.metrics, [before]);
        for (key, on) in [
            ("sourceEgressContext", "workload"),
            ("sourceIngressContext", "(none)"),
            ("destinationEgressContext", "(none)"),
            ("destinationIngressContext", "app"),
        ] {
            assert_eq!(preselected(question(&s, "flow", key).unwrap()), on, "{key}");
        }
        assert!(
            !s.seen.iter().any(|(p, _)| p.contains("fallback")),
            "unchanged first choices keep their fallbacks without asking"
        );

        // Accepted, one changed and one removed; the others stay.
        let mut s = Script::new(
            [
                &start[..],
                &[
                    A::Yes(Some(true)),
                    A::Pick("namespace"), // sourceEgressContext
                    A::Select(Some(0)),   //   no fallback
                    A::Keep,
                    A::Keep,
                    A::Select(Some(0)), // destinationIngressContext: none
                ],
                &rest[..],
            ]
            .concat(),
        );
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            c.hubble.metrics,
            ["flow:sourceContext=pod;sourceEgressContext=namespace"]
        );
    }

    #[test]
    fn egress_and_ingress_contexts_are_not_offered_where_the_catalogue_has_none() {
        // The last minor line before the catalogue's egress/ingress keys.
        let since = catalogue::CONTEXT_KEYS
            .iter()
            .filter(|k| k.refines.is_some())
            .map(|k| k.valid.since)
            .min()
            .unwrap();
        let old = Version::new(since.0, since.1 - 1, 0);
        let mut config = Config::default();
        config.hubble.metrics = vec!["drop".into(), "flow".into()];
        let mut s = Script::new(vec![
            A::Keep,                // families: drop, flow
            A::All,                 // adjust options
            A::Multi(Some(vec![])), // drop: labels
            A::Select(Some(0)),     // drop: sourceContext
            A::Select(Some(0)),     // drop: destinationContext
            A::Multi(Some(vec![])), // flow: labels
            A::Select(Some(0)),     // flow: sourceContext
            A::Select(Some(0)),     // flow: destinationContext
            A::Multi(None),         // components: Esc
        ]);
        let r = interview(&mut s, config, &old, &serde_json::json!({}), None).unwrap();
        assert!(r.is_none());
        assert_eq!(s.seen.last().unwrap().0, "Components", "{:?}", s.seen);
        assert!(
            !s.seen
                .iter()
                .any(|(p, _)| p.contains("egress") || p.contains("Ingress")),
            "{:?}",
            s.seen
        );
        // The same questions on the first line that has them do offer them.
        let mut config = Config::default();
        config.hubble.metrics = vec!["drop".into()];
        let first = Version::new(since.0, since.1, 0);
        let mut s = Script::new(vec![
            A::Keep,
            A::All,
            A::Multi(Some(vec![])),
            A::Select(Some(0)),
            A::Select(Some(0)),
            A::Yes(None), // egress/ingress: Esc
        ]);
        assert!(
            interview(&mut s, config, &first, &serde_json::json!({}), None)
                .unwrap()
                .is_none()
        );
        assert!(s.seen.last().unwrap().0.contains(EGRESS_INGRESS));
    }

    #[test]
    fn an_egress_context_without_its_plain_key_warns_before_1_14_3_only() {
        let run = |version: &Version| {
            let mut config = Config::default();
            config.hubble.metrics = vec!["flow:sourceEgressContext=pod".into()];
            let mut s = Script::new(vec![
                A::Keep,        // families: flow
                A::Keep,        // adjust options: none
                A::Multi(None), // components: Esc
            ]);
            assert!(
                interview(&mut s, config, version, &serde_json::json!({}), None)
                    .unwrap()
                    .is_none()
            );
            s.notes
        };
        let notes = run(&Version::new(1, 14, 1));
        assert!(
            notes
                .iter()
                .any(|n| n.contains("#27717") && n.contains("set sourceContext as well")),
            "{notes:?}"
        );
        let notes = run(&Version::new(1, 14, 3));
        assert!(!notes.iter().any(|n| n.contains("#27717")), "{notes:?}");
        let notes = run(&Version::new(1, 15, 0));
        assert!(!notes.iter().any(|n| n.contains("#27717")), "{notes:?}");
    }

    #[test]
    fn kafka_is_offered_as_deprecated_from_1_18_3() {
        let kafka_label = |version: Version| {
            let mut s = Script::new(vec![A::Multi(None)]);
            assert!(
                interview(
                    &mut s,
                    Config::default(),
                    &version,
                    &serde_json::json!({}),
                    None
                )
                .unwrap()
                .is_none()
            );
            let (_, items) = &s.seen[0];
            items
                .iter()
                .find(|(l, _)| l.starts_with("kafka "))
                .unwrap()
                .0
                .clone()
        };
        assert!(!kafka_label(Version::new(1, 18, 2)).contains("deprecated"));
        assert!(kafka_label(Version::new(1, 18, 3)).contains("(deprecated: Kafka support"));
    }

    #[test]
    fn esc_at_later_questions_aborts() {
        let mut config = Config::default();
        config.hubble.metrics = vec!["dns".into()];
        // families, adjust?, components: Esc.
        let mut s = Script::new(vec![A::Keep, A::Keep, A::Multi(None)]);
        assert!(
            interview(&mut s, config.clone(), &v(), &serde_json::json!({}), None)
                .unwrap()
                .is_none()
        );
        assert_eq!(s.seen.len(), 3);
        // ..., UI service type, stack: Esc.
        let mut s = Script::new(vec![A::Keep, A::Keep, A::Keep, A::Keep, A::Select(None)]);
        assert!(
            interview(&mut s, config, &v(), &serde_json::json!({}), None)
                .unwrap()
                .is_none()
        );
        assert!(
            s.seen.last().unwrap().0.starts_with("Prometheus"),
            "{:?}",
            s.seen.last()
        );
    }

    #[test]
    fn an_existing_stack_is_offered_first_and_reused() {
        let found = StackRelease {
            name: "mon".into(),
            namespace: "observability".into(),
            chart: "kube-prometheus-stack-88.5.3".into(),
        };
        let mut s = Script::new(vec![A::Keep; 10]);
        let c = interview(
            &mut s,
            Config::default(),
            &v(),
            &serde_json::json!({}),
            Some(&found),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.prometheus_stack.mode, StackMode::Reuse);
        assert_eq!(c.prometheus_stack.release, "mon");
        assert_eq!(c.prometheus_stack.namespace, "observability");
        let stack_q = s
            .seen
            .iter()
            .find(|(p, _)| p.starts_with("Prometheus"))
            .unwrap();
        assert!(stack_q.1[0].0.contains("reuse 'mon'"));
    }

    /// Answers every question with as much as it offers: every option and label (labels in
    /// reverse order), the last context value with one fallback, the egress/ingress variants.
    #[derive(Default)]
    struct Everything {
        notes: Vec<String>,
        fallbacks: usize,
    }

    impl Prompter for Everything {
        fn multi_select(
            &mut self,
            _prompt: &str,
            items: &[(String, bool)],
        ) -> Result<Option<Vec<usize>>> {
            Ok(Some((0..items.len()).rev().collect()))
        }
        fn select(
            &mut self,
            prompt: &str,
            items: &[String],
            _default: usize,
        ) -> Result<Option<usize>> {
            if prompt.contains("fallback") {
                self.fallbacks += 1;
                return Ok(Some(usize::from(self.fallbacks == 1 && items.len() > 1)));
            }
            self.fallbacks = 0;
            Ok(Some(items.len() - 1))
        }
        fn confirm(&mut self, _prompt: &str, _default: bool) -> Result<Option<bool>> {
            Ok(Some(true))
        }
        fn input(&mut self, _prompt: &str, default: &str) -> Result<Option<String>> {
            Ok(Some(default.into()))
        }
        fn note(&mut self, text: &str) {
            self.notes.push(text.into());
        }
    }

    /// The options are collected as values and make the spec directly: on every release and
    /// family, the spec the answers make is the one Cilium's grammar reads back from its text,
    /// it holds every answer, and nothing is silently kept instead (no note).
    #[test]
    fn every_answer_makes_the_spec_its_text_parses_to() {
        for version in catalogue::RELEASES {
            let labels = catalogue::LABELS
                .iter()
                .filter(|l| l.valid.contains(version))
                .count();
            let contexts = catalogue::context_keys_for(version)
                .filter(|k| !k.labels)
                .count();
            for h in catalogue::handlers_for(version) {
                let own = h
                    .options
                    .iter()
                    .filter(|o| o.valid.contains(version))
                    .count();
                let mut p = Everything::default();
                let start = MetricSpec::from_options(h, vec![]);
                let spec = family_options(&mut p, &start, version).unwrap().unwrap();
                let text = spec.to_string();
                assert_eq!(
                    MetricSpec::parse(&text, version).as_ref(),
                    Ok(&spec),
                    "{version} {text}"
                );
                assert_eq!(spec.options.len(), own + 1 + contexts, "{version} {text}");
                let chosen = spec.options.iter().find_map(|o| match o {
                    SpecOption::Labels(l) => Some(l.len()),
                    _ => None,
                });
                assert_eq!(chosen, Some(labels), "{version} {text}");
                assert!(
                    spec.options
                        .iter()
                        .all(|o| !matches!(o, SpecOption::Context(_, ids) if ids.len() != 2)),
                    "{version} {text}"
                );
                assert!(p.notes.is_empty(), "{version} {text}: {:?}", p.notes);
            }
        }
    }

    /// The blog's httpV2 spec: one short warning naming the labels, not the whole spec twice.
    #[test]
    fn the_default_spec_warns_once_naming_the_labels() {
        let mut s = Script::new(vec![A::Keep, A::Keep, A::Multi(None)]);
        let r = interview(
            &mut s,
            Config::default(),
            &v(),
            &serde_json::json!({}),
            None,
        )
        .unwrap();
        assert!(r.is_none());
        assert_eq!(
            s.notes,
            ["warning: httpV2: source_ip, destination_ip multiply the series (one per value)"]
        );
        assert!(s.notes[0].len() < 100, "{}", s.notes[0]);
    }

    /// The context list marks `pod` (and the other per-pod/per-address values) as many series,
    /// as the warning after it does.
    #[test]
    fn the_context_list_marks_values_with_many_series() {
        let mut config = Config::default();
        config.hubble.metrics = vec!["drop".into()];
        let mut s = Script::new(vec![
            A::Keep,
            A::All,
            A::Multi(Some(vec![])),
            A::Select(None),
        ]);
        assert!(
            interview(&mut s, config, &v(), &serde_json::json!({}), None)
                .unwrap()
                .is_none()
        );
        let items = question(&s, "drop", "sourceContext").unwrap();
        for (label, _) in items {
            let name = label.split_whitespace().next().unwrap();
            let many = catalogue::context_value(name).is_some_and(|v| v.high_cardinality);
            assert_eq!(label.contains("many series"), many, "{label}");
        }
        assert!(
            items
                .iter()
                .any(|(l, _)| l.starts_with("pod ") && l.contains("many series"))
        );
    }

    /// Unticking OpenMetrics while httpV2 keeps exemplars: the fix is offered right there, and
    /// either answer makes a configuration the plan accepts.
    #[test]
    fn openmetrics_off_with_exemplars_offers_the_fix_and_plans() {
        let target = crate::plan::Target {
            installed: Some(v()),
            ..Default::default()
        };
        let components_without_openmetrics = A::Multi(Some(vec![0, 1, 3, 4, 5]));
        for (fix, om, exemplars) in [(0, true, true), (1, false, false)] {
            let mut s = Script::new(vec![
                A::Keep, // families
                A::Keep, // no options adjusted
                components_without_openmetrics.clone(),
                A::Select(Some(fix)),
                A::Keep, // UI service type
                A::Keep,
                A::Keep,
                A::Keep,
                A::Keep,
                A::Keep,
            ]);
            let c = interview(
                &mut s,
                Config::default(),
                &v(),
                &serde_json::json!({}),
                None,
            )
            .unwrap()
            .unwrap();
            let offer = s
                .seen
                .iter()
                .find(|(p, _)| p.contains("asks for exemplars, which need OpenMetrics"))
                .expect("the fix is offered");
            assert_eq!(offer.1[0].0, "keep OpenMetrics on");
            assert_eq!(offer.1[1].0, "drop exemplars from httpV2");
            assert_eq!(c.hubble.open_metrics, Some(om));
            assert_eq!(
                c.hubble
                    .metrics
                    .iter()
                    .any(|m| m.spec.contains("exemplars=true")),
                exemplars
            );
            crate::plan::build(&c, &target, &crate::plan::Layout::default())
                .expect("the answers plan");
        }
    }

    #[test]
    fn http_with_httpv2_is_refused_at_the_families_and_asked_again() {
        let mut s = Script::new(vec![A::All, A::Multi(None)]);
        let r = interview(
            &mut s,
            Config::default(),
            &v(),
            &serde_json::json!({}),
            None,
        )
        .unwrap();
        assert!(r.is_none());
        assert_eq!(s.seen.len(), 2, "{:?}", s.seen);
        assert!(
            s.seen[1].0.starts_with("Hubble metric families"),
            "asked again"
        );
        assert!(s.notes.iter().any(|n| n.contains("http")), "{:?}", s.notes);
        // Asked again with the user's choice, not the start.
        assert!(s.seen[1].1.iter().all(|(_, on)| *on));
    }

    #[test]
    fn components_start_from_the_release() {
        let run = |current: Value| {
            let mut s = Script::new(vec![A::Keep, A::Keep, A::Multi(None)]);
            assert!(
                interview(&mut s, Config::default(), &v(), &current, None)
                    .unwrap()
                    .is_none()
            );
            let (_, items) = s.seen.last().unwrap().clone();
            items
                .iter()
                .filter(|(_, on)| *on)
                .map(|(l, _)| l.split(" (").next().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        // Nothing set: the blog's defaults.
        assert_eq!(
            run(serde_json::json!({})),
            [
                "Agent metrics",
                "Operator metrics",
                "OpenMetrics format",
                "Hubble Relay",
                "Hubble UI",
                "Flow export to a file on each node"
            ]
        );
        // What the release sets wins.
        let on = run(serde_json::json!({
            "hubble": {"relay": {"enabled": false}, "ui": {"enabled": false}}
        }));
        assert!(!on.iter().any(|l| l.starts_with("Hubble")), "{on:?}");
        assert!(on.contains(&"Agent metrics".to_string()));
        // A release configured before (it has Hubble metrics): what it does not set is off.
        let on = run(serde_json::json!({
            "hubble": {"metrics": {"enabled": ["dns"]}, "relay": {"enabled": true}},
            "prometheus": {"enabled": true}
        }));
        assert_eq!(on, ["Agent metrics", "Hubble Relay"]);
    }

    #[test]
    fn only_the_families_picked_are_adjusted() {
        let mut config = Config::default();
        config.hubble.metrics = vec!["dns".into(), "drop".into(), "tcp".into()];
        let mut s = Script::new(vec![
            A::Keep,                 // families
            A::Multi(Some(vec![1])), // adjust: drop only
            A::Multi(Some(vec![])),  // drop: labels
            A::Select(None),         // drop: sourceContext: Esc
        ]);
        assert!(
            interview(&mut s, config, &v(), &serde_json::json!({}), None)
                .unwrap()
                .is_none()
        );
        let adjust = &s.seen[1];
        assert!(adjust.0.starts_with("Families whose options to adjust"));
        let names: Vec<&str> = adjust.1.iter().map(|(l, _)| row_name(l)).collect();
        assert_eq!(names, ["dns", "drop", "tcp"]);
        assert!(adjust.1.iter().all(|(_, on)| !on), "none pre-selected");
        assert!(
            !s.seen.iter().any(|(p, _)| p.starts_with("dns:")),
            "dns not adjusted: {:?}",
            s.seen
        );
        assert!(s.seen[2].0.starts_with("drop: labels"));
    }

    #[test]
    fn reuse_outside_helm_asks_for_the_selector_label_read_from_prometheus() {
        let proms = [PrometheusFound {
            name: "k8s".into(),
            namespace: "obs".into(),
            match_labels: vec![("team".into(), "platform".into())],
        }];
        let mut s = Script::new(vec![
            A::Keep,
            A::Keep,
            A::Keep,
            A::Keep,                    // UI service type
            A::Pick("reuse"),           // a Prometheus outside Helm
            A::Text("team=bad value!"), // refused, asked again
            A::Keep,                    // the default read from the object
            A::Keep,                    // Grafana's namespace: the Prometheus'
            A::Keep,
            A::Keep,
        ]);
        let v = v();
        let current = serde_json::json!({});
        let mut iv = Interview::new(Config::default(), &v, &current, None, &proms);
        let c = run_questions(&mut s, &mut iv).unwrap().unwrap();
        c.validate().unwrap();
        let asked: Vec<&str> = s
            .seen
            .iter()
            .filter(|(p, _)| p.starts_with("Label your Prometheus"))
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(asked.len(), 2);
        assert!(!s.seen.iter().any(|(p, _)| p.contains("Release name")));
        assert_eq!(c.prometheus_stack.mode, StackMode::Reuse);
        assert_eq!(
            c.prometheus_stack.service_monitor_labels,
            std::collections::BTreeMap::from([("team".to_string(), "platform".to_string())])
        );
        assert_eq!(c.prometheus_stack.namespace, "obs");
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("selects ServiceMonitors labelled team=platform"))
        );
        // The ServiceMonitors carry that label.
        let target = crate::plan::Target {
            installed: Some(v.clone()),
            ..Default::default()
        };
        let p = crate::plan::build(&c, &target, &crate::plan::Layout::default()).unwrap();
        assert_eq!(
            p.cilium_values.pointer("/prometheus/serviceMonitor/labels"),
            Some(&serde_json::json!({"team": "platform"}))
        );
    }

    #[test]
    fn rows_are_named_by_the_text_before_their_description() {
        assert_eq!(row_name("dns      DNS queries"), "dns");
        assert_eq!(
            row_name("install kube-prometheus-stack"),
            "install kube-prometheus-stack"
        );
        assert_eq!(row_name("source_ip  (many series)"), "source_ip");
        assert_eq!(row_name("Agent metrics (port 9962)"), "Agent metrics");
        assert_eq!(row_name("(none)"), "(none)");
    }

    #[test]
    fn saved_config_round_trips() {
        let dir = crate::run::PrivateDir::create().unwrap();
        let path = dir.path().join("ciliumon.yaml");
        let mut c = Config::default();
        c.hubble.metrics = vec!["dns:query".into()];
        let leaked: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let mut s = Script::new(vec![A::Yes(Some(true)), A::Text(leaked)]);
        let saved = offer_save(&mut s, &c, None).unwrap().unwrap().unwrap();
        assert_eq!(saved, path);
        let back = Config::load(&path).unwrap();
        assert_eq!(back.hubble.metrics, ["dns:query"]);
    }
}
