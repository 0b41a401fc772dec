//! Dynamic Hubble metrics (Cilium 1.17+): the metrics mode, the config file's entries with
//! filters, the filters' offline validation, the dynamic metrics file ciliumon renders, and
//! what a change to it does to running agents. Pure.
//!
//! Facts (cilium/cilium `pkg/hubble/metrics`): the agent polls the file every 10 s (md5 of the
//! bytes) and applies a new one without a restart; the watcher refuses the whole file when a
//! metric has no `name`, is given twice, or changes the `contextOptions` of a metric it has
//! loaded since it started ("label set cannot be changed without restarting Prometheus"; it
//! keeps every name it ever loaded, compares with `reflect.DeepEqual`, and keeps running the
//! old configuration). Static and dynamic lists must not be set together: 1.17 agents start no
//! metrics, 1.18+ agents fail config validation ("cannot configure both static and dynamic
//! Hubble metrics").

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::catalogue::chart;
use crate::catalogue::filters::{self, FilterValue, Scalar};
use crate::escape::escape;
use crate::exit::Failure;
use crate::spec::{MetricSpec, SpecOption};
use crate::version::Version;

/// How the agents get their Hubble metric list.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MetricsMode {
    /// The list in cilium-config (`hubble.metrics.enabled`), read by the agents at start-up
    Static,
    /// A ConfigMap the agents re-read every 10 s, with per-metric filters (Cilium 1.17+)
    Dynamic,
}

impl MetricsMode {
    pub fn name(self) -> &'static str {
        match self {
            MetricsMode::Static => "static",
            MetricsMode::Dynamic => "dynamic",
        }
    }

    /// One line for people (the wizard shows it next to the choice).
    pub fn explain(self) -> &'static str {
        match self {
            MetricsMode::Static => {
                "the list in cilium-config: every change needs a restart of the agents"
            }
            MetricsMode::Dynamic => {
                "a ConfigMap the agents re-read within about 10 s: adding or removing a metric and changing its filters need no restart; per-metric include/exclude filters (e.g. one namespace) keep cardinality down; changing a running metric's context options still needs a restart"
            }
        }
    }
}

impl fmt::Display for MetricsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The modes Cilium `v` has (for the wizard): static always, dynamic from 1.17 (except the
/// 1.17.2 and 1.17.3 charts, `chart::DYNAMIC_PATH_NEEDS_STATIC_LIST`).
pub fn modes_for(v: &Version) -> Vec<MetricsMode> {
    let mut m = vec![MetricsMode::Static];
    if check_mode(MetricsMode::Dynamic, v).is_ok() {
        m.push(MetricsMode::Dynamic);
    }
    m
}

/// Refuse dynamic mode before 1.17, and on the 1.17.2 and 1.17.3 charts (which point the agents
/// at no dynamic file when the static list is empty), naming the version.
pub fn check_mode(mode: MetricsMode, v: &Version) -> Result<(), Failure> {
    if mode == MetricsMode::Dynamic && chart::DYNAMIC_PATH_NEEDS_STATIC_LIST.contains(v) {
        return Err(Failure::bad_input(format!(
            "dynamic Hubble metrics do not work with the Cilium {v} chart: with the static list empty it does not set {} in {}, so the agents would serve no Hubble metric (cilium/cilium#38893, fixed in 1.17.4)",
            crate::catalogue::objects::CONFIG_MAP_DYNAMIC_PATH,
            crate::catalogue::objects::CONFIG_MAP
        ))
        .hint("use --metrics-mode static, or upgrade Cilium to 1.17.4+ first"));
    }
    if mode == MetricsMode::Dynamic && chart::dynamic_metrics(v).is_none() {
        let (a, b) = chart::DYNAMIC_METRICS_SINCE;
        return Err(Failure::bad_input(format!(
            "dynamic Hubble metrics need Cilium {a}.{b} or later; the target is Cilium {v}"
        ))
        .hint(format!(
            "use --metrics-mode static on {}.{}, or upgrade Cilium to {a}.{b}+ first",
            v.major, v.minor
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The config file's entries.

/// One entry of `hubble.metrics` in ciliumon.yaml: a spec in Cilium's grammar, or
/// `{spec, includeFilters, excludeFilters}` (filters only in dynamic mode).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricEntry {
    pub spec: String,
    pub include_filters: Vec<Value>,
    pub exclude_filters: Vec<Value>,
}

impl MetricEntry {
    pub fn has_filters(&self) -> bool {
        !self.include_filters.is_empty() || !self.exclude_filters.is_empty()
    }
}

/// Entries for `specs`, each keeping the filters the entry of its family had in `old` (the
/// wizard rewrites the specs; the filters stay with their family).
pub fn entries_for(specs: &[String], old: &[MetricEntry]) -> Vec<MetricEntry> {
    let family = |s: &str| s.split(':').next().unwrap_or(s).to_string();
    specs
        .iter()
        .map(|s| {
            let mut e = MetricEntry::from(s.as_str());
            if let Some(o) = old.iter().find(|o| family(&o.spec) == family(s)) {
                e.include_filters = o.include_filters.clone();
                e.exclude_filters = o.exclude_filters.clone();
            }
            e
        })
        .collect()
}

impl From<&str> for MetricEntry {
    fn from(s: &str) -> Self {
        MetricEntry {
            spec: s.to_string(),
            ..Default::default()
        }
    }
}

impl From<String> for MetricEntry {
    fn from(spec: String) -> Self {
        MetricEntry {
            spec,
            ..Default::default()
        }
    }
}

impl AsRef<str> for MetricEntry {
    fn as_ref(&self) -> &str {
        &self.spec
    }
}

impl PartialEq<&str> for MetricEntry {
    fn eq(&self, other: &&str) -> bool {
        !self.has_filters() && self.spec == *other
    }
}

impl PartialEq<String> for MetricEntry {
    fn eq(&self, other: &String) -> bool {
        !self.has_filters() && &self.spec == other
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EntryMap {
    spec: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    include_filters: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    exclude_filters: Vec<Value>,
}

impl Serialize for MetricEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.has_filters() {
            EntryMap {
                spec: self.spec.clone(),
                include_filters: self.include_filters.clone(),
                exclude_filters: self.exclude_filters.clone(),
            }
            .serialize(s)
        } else {
            s.serialize_str(&self.spec)
        }
    }
}

impl<'de> Deserialize<'de> for MetricEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = MetricEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a metric spec (\"flow:sourceContext=namespace\") or {spec, includeFilters, excludeFilters}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MetricEntry, E> {
                Ok(MetricEntry::from(s))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, m: A) -> Result<MetricEntry, A::Error> {
                let e = EntryMap::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(MetricEntry {
                    spec: e.spec,
                    include_filters: e.include_filters,
                    exclude_filters: e.exclude_filters,
                })
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Filters, validated offline.

fn bad(spec: &str, place: &str, problem: String, hint: Option<String>) -> Failure {
    let f = Failure::bad_input(format!(
        "invalid filter of metric '{}' at {place}: {problem}",
        escape(spec)
    ));
    match hint {
        Some(h) => f.hint(h),
        None => f.hint("a filter is a Hubble FlowFilter: {source_pod: [\"ns/\"]}, {destination_label: [\"k8s:app=web\"]}, {verdict: [DROPPED]}; the agent refuses the whole file for one bad field"),
    }
}

fn suggest_in<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let all: Vec<&str> = candidates.into_iter().collect();
    match crate::catalogue::did_you_mean(input, all.iter().copied()) {
        Some(near) => format!("did you mean '{near}'? valid: {}", all.join(", ")),
        None => format!("valid: {}", all.join(", ")),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn check_scalar(v: &Value, want: Scalar) -> Result<(), String> {
    let ok = match want {
        Scalar::String => v.is_string(),
        Scalar::Bool => v.is_boolean(),
        // protojson takes an integer as a number or a decimal string.
        Scalar::U32 => {
            v.as_u64().is_some_and(|n| n <= u32::MAX as u64)
                || v.as_str().is_some_and(|s| s.parse::<u32>().is_ok())
        }
        Scalar::I32 => {
            v.as_i64().is_some_and(|n| i32::try_from(n).is_ok())
                || v.as_str().is_some_and(|s| s.parse::<i32>().is_ok())
        }
    };
    if ok {
        Ok(())
    } else {
        let want = match want {
            Scalar::String => "a string",
            Scalar::Bool => "true or false",
            Scalar::U32 => "an unsigned 32-bit integer",
            Scalar::I32 => "a 32-bit integer",
        };
        Err(format!("{} is {}, not {want}", value_text(v), kind_of(v)))
    }
}

fn value_text(v: &Value) -> String {
    let t = v.to_string();
    let t = if t.chars().count() > 40 {
        format!("{}...", t.chars().take(40).collect::<String>())
    } else {
        t
    };
    escape(&t).into_owned()
}

/// Validate the filters of one metric for Cilium `v`. `which` is `includeFilters` or
/// `excludeFilters`.
pub fn validate_filters(
    spec: &str,
    which: &str,
    list: &[Value],
    v: &Version,
) -> Result<(), Failure> {
    for (i, filter) in list.iter().enumerate() {
        let place = format!("{which}[{i}]");
        let Some(map) = filter.as_object() else {
            return Err(bad(
                spec,
                &place,
                format!("a filter is a map of fields, not {}", kind_of(filter)),
                None,
            ));
        };
        if map.is_empty() {
            return Err(bad(
                spec,
                &place,
                "an empty filter matches every flow".into(),
                Some("drop it, or name a field such as source_pod".into()),
            ));
        }
        for (key, value) in map {
            let place = format!("{place}.{}", escape(key));
            let field = filters::filter_field(key)
                .filter(|f| f.since.contains(v))
                .ok_or_else(|| {
                    let known = filters::FILTER_FIELDS
                        .iter()
                        .filter(|f| f.since.contains(v))
                        .map(|f| f.name);
                    bad(
                        spec,
                        &place,
                        format!("unknown filter field '{}'", escape(key)),
                        Some(format!(
                            "{} (the agent refuses the whole file for an unknown field)",
                            suggest_in(key, known)
                        )),
                    )
                })?;
            let Some(items) = value.as_array() else {
                return Err(bad(
                    spec,
                    &place,
                    format!(
                        "{} takes a list ({}), not {}",
                        field.name,
                        field.help,
                        kind_of(value)
                    ),
                    Some(format!("write {}: [...]", field.name)),
                ));
            };
            for (j, item) in items.iter().enumerate() {
                let place = format!("{place}[{j}]");
                check_item(spec, &place, field, item)?;
            }
        }
    }
    Ok(())
}

fn check_item(
    spec: &str,
    place: &str,
    field: &filters::FilterField,
    item: &Value,
) -> Result<(), Failure> {
    let fail = |problem: String, hint: Option<String>| bad(spec, place, problem, hint);
    match field.value {
        FilterValue::Strings => {
            if !item.is_string() {
                return Err(fail(
                    format!(
                        "{} takes strings ({}); {} is {}",
                        field.name,
                        field.help,
                        value_text(item),
                        kind_of(item)
                    ),
                    Some(format!(
                        "quote it: {}: [\"{}\"]",
                        field.name,
                        item.to_string().trim_matches('"')
                    )),
                ));
            }
        }
        FilterValue::U32s => check_scalar(item, Scalar::U32)
            .map_err(|p| fail(format!("{}: {p}", field.name), None))?,
        FilterValue::Bools => check_scalar(item, Scalar::Bool)
            .map_err(|p| fail(format!("{}: {p}", field.name), None))?,
        FilterValue::Enum(values) => {
            let names = || values.iter().map(|(n, _)| *n);
            let ok = match item {
                Value::String(s) => values.iter().any(|(n, _)| n == s),
                Value::Number(n) => n
                    .as_i64()
                    .is_some_and(|n| values.iter().any(|(_, x)| i64::from(*x) == n)),
                _ => false,
            };
            if !ok {
                let shown = item
                    .as_str()
                    .map(|s| escape(s).into_owned())
                    .unwrap_or_else(|| value_text(item));
                return Err(fail(
                    format!("'{shown}' is not a value of {}", field.name),
                    Some(suggest_in(item.as_str().unwrap_or_default(), names())),
                ));
            }
        }
        FilterValue::Messages(fields) => {
            let Some(map) = item.as_object() else {
                return Err(fail(
                    format!(
                        "{} takes maps ({}); {} is {}",
                        field.name,
                        field.help,
                        value_text(item),
                        kind_of(item)
                    ),
                    None,
                ));
            };
            for (k, v) in map {
                let Some((_, want)) = fields.iter().find(|(n, _)| n == k || camel(n) == *k) else {
                    return Err(fail(
                        format!("unknown field '{}' in {}", escape(k), field.name),
                        Some(suggest_in(k, fields.iter().map(|(n, _)| *n))),
                    ));
                };
                check_scalar(v, *want)
                    .map_err(|p| fail(format!("{}.{}: {p}", field.name, escape(k)), None))?;
            }
        }
    }
    Ok(())
}

fn camel(name: &str) -> String {
    filters::json_name(name)
}

// ---------------------------------------------------------------------------------------------
// The dynamic metrics file.

/// One context option as the agent reads it. `values` keeps whether it was given (the agent
/// compares with `reflect.DeepEqual`, where absent and `[]` differ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextOption {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// One metric of `hubble.metrics.dynamic.config.content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicMetric {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_options: Option<Vec<ContextOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_filters: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_filters: Option<Vec<Value>>,
}

impl DynamicMetric {
    /// From a validated spec and the entry's filters. Options map as the agent's own static
    /// parser maps them: a flag has no values, `a|b` are two values, `labelsContext=a,b` two.
    pub fn from_spec(spec: &MetricSpec, entry: &MetricEntry) -> DynamicMetric {
        let options = spec
            .options
            .iter()
            .map(|o| match o {
                SpecOption::Flag(k) => ContextOption {
                    name: k.to_string(),
                    values: None,
                },
                SpecOption::Value(k, v) => ContextOption {
                    name: k.to_string(),
                    values: Some(vec![v.to_string()]),
                },
                SpecOption::Context(k, ids) => ContextOption {
                    name: k.to_string(),
                    values: Some(ids.iter().map(|s| s.to_string()).collect()),
                },
                SpecOption::Labels(ls) => ContextOption {
                    name: "labelsContext".into(),
                    values: Some(ls.iter().map(|s| s.to_string()).collect()),
                },
            })
            .collect();
        DynamicMetric {
            name: spec.handler.name.to_string(),
            context_options: Some(options),
            include_filters: Some(entry.include_filters.clone()),
            exclude_filters: Some(entry.exclude_filters.clone()),
        }
    }

    /// The context options compared by meaning: absent is empty, a flag's `[""]` is no values.
    fn options_meaning(&self) -> Vec<(String, Vec<String>)> {
        self.context_options
            .iter()
            .flatten()
            .map(|o| {
                let vals: Vec<String> = o
                    .values
                    .iter()
                    .flatten()
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .collect();
                (o.name.clone(), vals)
            })
            .collect()
    }

    /// The spec in Cilium's grammar (for notes and the check).
    pub fn spec_text(&self) -> String {
        let opts: Vec<String> = self
            .options_meaning()
            .into_iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k
                } else if k == "labelsContext" {
                    format!("{k}={}", v.join(","))
                } else {
                    format!("{k}={}", v.join("|"))
                }
            })
            .collect();
        if opts.is_empty() {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, opts.join(";"))
        }
    }

    fn filters_of(&self) -> (&[Value], &[Value]) {
        (
            self.include_filters.as_deref().unwrap_or_default(),
            self.exclude_filters.as_deref().unwrap_or_default(),
        )
    }
}

/// The metrics of a dynamic metrics file's `metrics:` list (or the chart's `content`), leniently:
/// entries that are not maps are skipped.
pub fn parse_content(content: &Value) -> Vec<DynamicMetric> {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| serde_json::from_value(m.clone()).ok())
        .collect()
}

/// The body of the `dynamic-metrics.yaml` key, as the agents read it (`metrics: [...]`).
pub fn parse_file(text: &str) -> Result<Vec<DynamicMetric>, String> {
    let doc: Value = crate::yaml::from_str(text)?;
    Ok(parse_content(doc.get("metrics").unwrap_or(&Value::Null)))
}

/// The metrics mode a release's user values set, and its dynamic content when dynamic.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseMetrics {
    /// `hubble.metrics.dynamic.enabled` is true.
    pub dynamic: bool,
    /// `hubble.metrics.enabled` is a non-empty list.
    pub static_list: bool,
    /// `hubble.metrics.dynamic.config.content`, when set.
    pub content: Option<Vec<DynamicMetric>>,
}

impl ReleaseMetrics {
    pub fn read(values: &Value) -> ReleaseMetrics {
        let m = &values["hubble"]["metrics"];
        ReleaseMetrics {
            dynamic: m["dynamic"]["enabled"].as_bool() == Some(true),
            static_list: m["enabled"].as_array().is_some_and(|l| !l.is_empty()),
            content: m["dynamic"]["config"].get("content").map(parse_content),
        }
    }

    pub fn mode(&self) -> Option<MetricsMode> {
        if self.dynamic {
            Some(MetricsMode::Dynamic)
        } else if self.static_list {
            Some(MetricsMode::Static)
        } else {
            None
        }
    }
}

/// The file content for `specs` (in catalogue order) with their entries' filters. A metric the
/// release already runs with the same context options keeps their exact form, so that the
/// agent's `DeepEqual` sees no change where there is none.
pub fn content_for(
    specs: &[MetricSpec],
    entries: &[MetricEntry],
    current: Option<&[DynamicMetric]>,
) -> Vec<DynamicMetric> {
    specs
        .iter()
        .map(|s| {
            let entry = entries
                .iter()
                .find(|e| e.spec.split(':').next() == Some(s.handler.name))
                .cloned()
                .unwrap_or_default();
            let mut m = DynamicMetric::from_spec(s, &entry);
            if let Some(old) = current.into_iter().flatten().find(|o| o.name == m.name)
                && old.options_meaning() == m.options_meaning()
            {
                m.context_options = old.context_options.clone();
            }
            m
        })
        .collect()
}

pub fn content_value(metrics: &[DynamicMetric]) -> Value {
    serde_json::to_value(metrics).unwrap_or_else(|_| json!([]))
}

/// What a new dynamic configuration does to agents that run `current`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same context options, other filters: applied live.
    pub refiltered: Vec<String>,
    /// Other context options for a metric the agents run: the agent refuses the whole file.
    pub relabelled: Vec<String>,
}

impl Change {
    /// Nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.refiltered.is_empty()
            && self.relabelled.is_empty()
    }

    /// The agents must restart for the new file to take effect.
    pub fn needs_restart(&self) -> bool {
        !self.relabelled.is_empty()
    }

    /// For the plan's notes.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, names) in [
            ("adds", &self.added),
            ("removes", &self.removed),
            ("changes the filters of", &self.refiltered),
            ("changes the context options of", &self.relabelled),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        if parts.is_empty() {
            return "Dynamic Hubble metrics: no change to the metrics the agents run.".into();
        }
        let head = format!("Dynamic Hubble metrics: this {}.", parts.join("; "));
        if self.needs_restart() {
            format!(
                "{head} The agents refuse a new file that changes the context options of a metric they run (\"label set cannot be changed without restarting\") and keep the old one, so the agents are restarted."
            )
        } else {
            format!(
                "{head} The agents re-read the file within about 10 s (plus the kubelet's ConfigMap sync, up to a minute): no restart."
            )
        }
    }
}

/// Decide from the release's current dynamic content and the new one. Pure.
pub fn decide(current: &[DynamicMetric], new: &[DynamicMetric]) -> Change {
    let mut c = Change::default();
    for n in new {
        match current.iter().find(|o| o.name == n.name) {
            None => c.added.push(n.name.clone()),
            Some(o) if o.context_options != n.context_options => c.relabelled.push(n.name.clone()),
            Some(o) if o.filters_of() != n.filters_of() => c.refiltered.push(n.name.clone()),
            Some(_) => {}
        }
    }
    for o in current {
        if !new.iter().any(|n| n.name == o.name) {
            c.removed.push(o.name.clone());
        }
    }
    c
}

/// Validate every entry's filters (and that filters are only used in dynamic mode).
pub fn validate_entries(
    entries: &[MetricEntry],
    mode: MetricsMode,
    v: &Version,
) -> Result<(), Failure> {
    for e in entries {
        if !e.has_filters() {
            continue;
        }
        if mode == MetricsMode::Static {
            return Err(Failure::bad_input(format!(
                "metric '{}' has filters, which only dynamic Hubble metrics take",
                escape(&e.spec)
            ))
            .hint("set hubble.metricsMode: dynamic (or --metrics-mode dynamic; Cilium 1.17+), or drop includeFilters/excludeFilters"));
        }
        validate_filters(&e.spec, "includeFilters", &e.include_filters, v)?;
        validate_filters(&e.spec, "excludeFilters", &e.exclude_filters, v)?;
    }
    Ok(())
}

/// A map entry for tests and callers that build values by hand.
pub fn filter(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn spec(s: &str) -> MetricSpec {
        MetricSpec::parse(s, &v("1.20.0")).unwrap()
    }

    fn check(filters: Value) -> Result<(), Failure> {
        let list = filters.as_array().unwrap().clone();
        validate_filters("flow", "includeFilters", &list, &v("1.20.0"))
    }

    #[test]
    fn modes_by_version() {
        assert_eq!(modes_for(&v("1.16.19")), [MetricsMode::Static]);
        assert_eq!(
            modes_for(&v("1.17.0")),
            [MetricsMode::Static, MetricsMode::Dynamic]
        );
        let e = check_mode(MetricsMode::Dynamic, &v("1.16.19")).unwrap_err();
        assert!(e.message.contains("Cilium 1.17 or later"), "{}", e.message);
        assert!(e.message.contains("1.16.19"), "{}", e.message);
        assert_eq!(e.code, crate::exit::Code::BadInput);
        assert!(check_mode(MetricsMode::Static, &v("1.14.19")).is_ok());
        // The 1.17.2 and 1.17.3 charts set no dynamic path with an empty static list.
        for bad in ["1.17.2", "1.17.3"] {
            assert_eq!(modes_for(&v(bad)), [MetricsMode::Static], "{bad}");
            let e = check_mode(MetricsMode::Dynamic, &v(bad)).unwrap_err();
            assert!(e.message.contains(bad), "{}", e.message);
            assert!(
                e.message.contains("hubble-dynamic-metrics-config-path"),
                "{}",
                e.message
            );
            assert!(e.hint.as_deref().unwrap_or("").contains("1.17.4"), "{e:?}");
            assert_eq!(e.code, crate::exit::Code::BadInput);
            assert!(check_mode(MetricsMode::Static, &v(bad)).is_ok());
        }
        for good in ["1.17.1", "1.17.4", "1.17.18", "1.18.0"] {
            assert!(check_mode(MetricsMode::Dynamic, &v(good)).is_ok(), "{good}");
        }
        assert!(MetricsMode::Dynamic.explain().contains("no restart"));
    }

    #[test]
    fn entries_from_yaml() {
        let text = "- dns\n- spec: 'flow:sourceContext=namespace'\n  includeFilters:\n    - source_pod: ['app/']\n";
        let entries: Vec<MetricEntry> = crate::yaml::from_str(text).unwrap();
        assert_eq!(entries[0], "dns");
        assert_eq!(entries[1].spec, "flow:sourceContext=namespace");
        assert_eq!(entries[1].include_filters[0]["source_pod"][0], "app/");
        let back = crate::yaml::to_string(&entries).unwrap();
        let again: Vec<MetricEntry> = crate::yaml::from_str(&back).unwrap();
        assert_eq!(again, entries);
        let err = crate::yaml::from_str::<Vec<MetricEntry>>("- spec: dns\n  includeFilter: []\n")
            .unwrap_err();
        assert!(err.contains("includeFilter"), "{err}");
    }

    #[test]
    fn filter_typos_and_types() {
        assert!(
            check(json!([{"source_pod": ["ns/"], "verdict": ["DROPPED"], "sourceLabel": ["k8s:app=a"]}]))
                .is_ok()
        );
        assert!(check(json!([{"verdict": [2], "source_identity": ["42", 7]}])).is_ok());
        assert!(
            check(json!([{"source_workload": [{"name": "web", "kind": "Deployment"}]}])).is_ok()
        );

        let e = check(json!([{"source_pods": ["ns/"]}])).unwrap_err();
        assert!(
            e.message.contains("unknown filter field 'source_pods'"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("includeFilters[0].source_pods"),
            "{}",
            e.message
        );
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .contains("did you mean 'source_pod'")
        );

        let e = check(json!([{"verdict": ["DROPED"]}])).unwrap_err();
        assert!(
            e.message.contains("'DROPED' is not a value of verdict"),
            "{}",
            e.message
        );
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .contains("did you mean 'DROPPED'")
        );

        let e = check(json!([{"destination_port": [53]}])).unwrap_err();
        assert!(e.message.contains("takes strings"), "{}", e.message);
        assert!(e.hint.as_deref().unwrap().contains("[\"53\"]"));

        let e = check(json!([{"source_pod": "ns/"}])).unwrap_err();
        assert!(e.message.contains("takes a list"), "{}", e.message);

        let e = check(json!([{"tcp_flags": [{"SYM": true}]}])).unwrap_err();
        assert!(e.hint.as_deref().unwrap().contains("did you mean 'SYN'"));

        let e = check(json!([{"reply": ["yes"]}])).unwrap_err();
        assert!(e.message.contains("not true or false"), "{}", e.message);

        assert!(check(json!(["source_pod"])).is_err());
        assert!(check(json!([{}])).is_err());
    }

    #[test]
    fn filters_need_dynamic_mode() {
        let e = MetricEntry {
            spec: "flow".into(),
            include_filters: vec![json!({"source_pod": ["a/"]})],
            ..Default::default()
        };
        let err = validate_entries(std::slice::from_ref(&e), MetricsMode::Static, &v("1.20.0"))
            .unwrap_err();
        assert!(err.message.contains("only dynamic"), "{}", err.message);
        assert!(validate_entries(&[e], MetricsMode::Dynamic, &v("1.20.0")).is_ok());
    }

    #[test]
    fn specs_map_to_context_options() {
        let m = DynamicMetric::from_spec(
            &spec(
                "flow:sourceContext=workload-name|reserved-identity;destinationContext=namespace",
            ),
            &MetricEntry::default(),
        );
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(
            j,
            json!({"name": "flow", "contextOptions": [
                {"name": "sourceContext", "values": ["workload-name", "reserved-identity"]},
                {"name": "destinationContext", "values": ["namespace"]}],
                "includeFilters": [], "excludeFilters": []})
        );
        let m = DynamicMetric::from_spec(&spec("dns:query;ignoreAAAA"), &MetricEntry::default());
        assert_eq!(
            serde_json::to_value(&m.context_options).unwrap(),
            json!([{"name": "query"}, {"name": "ignoreAAAA"}])
        );
        assert_eq!(m.spec_text(), "dns:query;ignoreAAAA");
        let m = DynamicMetric::from_spec(
            &spec("httpV2:labelsContext=source_namespace,destination_namespace"),
            &MetricEntry::default(),
        );
        assert_eq!(
            m.spec_text(),
            "httpV2:labelsContext=source_namespace,destination_namespace"
        );
    }

    fn metric(name: &str, opts: Value, include: Value) -> DynamicMetric {
        serde_json::from_value(
            json!({"name": name, "contextOptions": opts, "includeFilters": include}),
        )
        .unwrap()
    }

    #[test]
    fn live_or_restart_for_each_kind_of_change() {
        let ns = json!([{"name": "sourceContext", "values": ["namespace"]}]);
        let pod = json!([{"name": "sourceContext", "values": ["pod"]}]);
        let current = vec![
            metric("flow", ns.clone(), json!([])),
            metric("drop", json!([]), json!([])),
        ];
        // Nothing changes.
        let c = decide(&current, &current);
        assert!(c.is_empty() && !c.needs_restart());
        // A metric added: live.
        let mut new = current.clone();
        new.push(metric("dns", json!([{"name": "query"}]), json!([])));
        let c = decide(&current, &new);
        assert_eq!(c.added, ["dns"]);
        assert!(!c.needs_restart());
        assert!(c.describe().contains("no restart"));
        // A metric removed: live.
        let c = decide(&current, &current[..1]);
        assert_eq!(c.removed, ["drop"]);
        assert!(!c.needs_restart());
        // Filters changed: live.
        let new = vec![
            metric("flow", ns.clone(), json!([{"source_pod": ["app/"]}])),
            current[1].clone(),
        ];
        let c = decide(&current, &new);
        assert_eq!(c.refiltered, ["flow"]);
        assert!(!c.needs_restart());
        // Context options changed: refused by the agent, so a restart.
        let new = vec![metric("flow", pod, json!([])), current[1].clone()];
        let c = decide(&current, &new);
        assert_eq!(c.relabelled, ["flow"]);
        assert!(c.needs_restart());
        assert!(c.describe().contains("label set cannot be changed"));
    }

    #[test]
    fn same_options_keep_their_written_form() {
        // The release wrote `dns` without contextOptions; the new render has `[]`: the agent's
        // DeepEqual would see a change, so the old form is kept.
        let current: Vec<DynamicMetric> = parse_content(
            &json!([{"name": "drop"}, {"name": "dns", "contextOptions": [{"name": "query", "values": [""]}]}]),
        );
        let specs = vec![spec("dns:query"), spec("drop")];
        let entries: Vec<MetricEntry> = vec!["dns:query".into(), "drop".into()];
        let new = content_for(&specs, &entries, Some(&current));
        let c = decide(&current, &new);
        assert!(!c.needs_restart(), "{c:?}");
        assert!(c.relabelled.is_empty());
    }

    #[test]
    fn release_mode() {
        let r = ReleaseMetrics::read(
            &json!({"hubble": {"metrics": {"dynamic": {"enabled": true, "config": {"content": [{"name": "dns"}]}}}}}),
        );
        assert_eq!(r.mode(), Some(MetricsMode::Dynamic));
        assert_eq!(r.content.unwrap()[0].name, "dns");
        let r = ReleaseMetrics::read(&json!({"hubble": {"metrics": {"enabled": ["dns"]}}}));
        assert_eq!(r.mode(), Some(MetricsMode::Static));
        assert_eq!(ReleaseMetrics::read(&json!({})).mode(), None);
        let r = ReleaseMetrics::read(&json!({"hubble": {"metrics": {"enabled": []}}}));
        assert_eq!(r.mode(), None);
    }

    #[test]
    fn file_body() {
        let m = parse_file("metrics:\n- name: flow\n  includeFilters:\n  - source_pod: [a/]\n")
            .unwrap();
        assert_eq!(m[0].name, "flow");
        assert!(parse_file("metrics: [").is_err());
    }
}
