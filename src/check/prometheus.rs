//! Prometheus as a source for the check (issue 12): the HTTP API's answers as types, the chart's
//! Grafana dashboards turned into queries, and the judges of what Prometheus holds (targets up
//! per node and component, series per family next to the estimate and the scanner's counts, each
//! dashboard panel's data). Everything here is pure except [`HttpApi`] and [`evaluate`], which
//! fetch the answers (a fixed handful of queries whatever the node count, plus one per dashboard
//! panel target) and hand them to [`judge`].
//!
//! Prometheus HTTP API (prometheus.io/docs/prometheus/latest/querying/api/): every answer is
//! `{"status": "success"|"error", "data": ..., "errorType", "error", "warnings"}`; a query's
//! `data` is `{"resultType": "vector"|"matrix"|"scalar"|"string", "result": ...}`, a vector's
//! samples `{"metric": {labels}, "value": [<unix time>, "<value>"]}`; `/api/v1/targets` gives
//! `{"activeTargets": [{"labels", "discoveredLabels", "scrapePool", "scrapeUrl", "health",
//! "lastError", ...}], "droppedTargets": [...]}`. Errors come with 400 (bad parameters), 422
//! (the expression cannot be executed) or 503 (timeout, aborted).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalogue::dashboards::DashboardFill;
use crate::catalogue::{self, Handler};
use crate::check::{Counts, Expected, FamilyRow, Finding, L7Policies, Status};
use crate::estimate::Estimate;

// ---------------------------------------------------------------------------------------------
// The API's answers.

/// The envelope of every answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub status: String,
    #[serde(default = "none")]
    pub data: Option<T>,
    #[serde(default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

fn none<T>() -> Option<T> {
    None
}

/// `/api/v1/query`'s `data`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData {
    Vector(Vec<Sample>),
    Matrix(Vec<RangeSeries>),
    Scalar(Point),
    String(Point),
}

impl QueryData {
    /// Series (or the one scalar) in the answer.
    pub fn len(&self) -> usize {
        match self {
            QueryData::Vector(v) => v.len(),
            QueryData::Matrix(m) => m.len(),
            QueryData::Scalar(_) | QueryData::String(_) => 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector's samples (none for other result types).
    pub fn samples(&self) -> &[Sample] {
        match self {
            QueryData::Vector(v) => v,
            _ => &[],
        }
    }
}

/// `[<unix time>, "<value>"]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Point(pub f64, pub String);

impl Point {
    /// The value as a number (`NaN`, `+Inf` as Prometheus spells them).
    pub fn number(&self) -> Option<f64> {
        match self.1.as_str() {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        }
    }
}

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Sample {
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    pub value: Point,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.metric.get(name).map(String::as_str)
    }

    /// The value as a whole count (`count by` answers), 0 if it is not a number.
    pub fn count(&self) -> u64 {
        self.value
            .number()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n as u64)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RangeSeries {
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    #[serde(default)]
    pub values: Vec<Point>,
}

/// `/api/v1/targets`'s `data`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsData {
    #[serde(default)]
    pub active_targets: Vec<Target>,
    #[serde(default)]
    pub dropped_targets: Vec<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(default)]
    pub discovered_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub scrape_pool: String,
    #[serde(default)]
    pub scrape_url: String,
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub last_error: String,
}

/// A failed API call: transport, HTTP status, an error envelope, or an answer that is not the
/// API's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// `bad_data`, `execution`, `timeout`, ... from the envelope; `http`, `transport` or `json`
    /// otherwise.
    pub kind: String,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

fn err(kind: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        kind: kind.into(),
        message: message.into(),
    }
}

/// Parse an answer of HTTP status `status`: its `data`, or the error it carries.
pub fn parse_answer<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &[u8],
) -> Result<T, ApiError> {
    let short = || {
        String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string()
    };
    let env: Envelope<Value> = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) if status == 200 => {
            return Err(err("json", format!("not a Prometheus API answer ({e})")));
        }
        Err(_) => return Err(err("http", format!("HTTP {status}: {}", short()))),
    };
    if env.status != "success" {
        return Err(err(
            env.error_type.as_deref().unwrap_or("error"),
            env.error
                .unwrap_or_else(|| format!("HTTP {status}, status {}", env.status)),
        ));
    }
    let data = env
        .data
        .ok_or_else(|| err("json", "a successful answer without data"))?;
    serde_json::from_value(data).map_err(|e| err("json", format!("unexpected data: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboards to queries.

/// The fixed window Grafana's interval variables become.
pub const WINDOW: &str = "5m";

/// One panel's queries, Grafana variables resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PanelQueries {
    pub title: String,
    pub queries: Vec<String>,
}

/// A Grafana dashboard as the chart ships it, reduced to its panels' queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrafanaDashboard {
    pub uid: String,
    pub title: String,
    pub panels: Vec<PanelQueries>,
}

/// A templating variable: how it resolves to match-all.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Variable {
    name: String,
    value: String,
    /// The value is a regex standing for every value (a query variable on "All").
    regex: bool,
}

fn variables(dash: &Value) -> Vec<Variable> {
    let list = dash["templating"]["list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    list.iter()
        .filter_map(|v| {
            let name = v["name"].as_str()?.to_string();
            let current = v["current"]["value"].as_str().filter(|c| {
                !c.is_empty() && *c != "$__all" && !c.contains('$') && !c.contains('{')
            });
            let (value, regex) = match v["type"].as_str().unwrap_or("query") {
                "interval" => (current.unwrap_or(WINDOW).to_string(), false),
                "constant" | "custom" | "textbox" => match current {
                    Some(c) => (c.to_string(), false),
                    None => (".*".to_string(), true),
                },
                // A query variable on "All": its allValue, or a regex every value matches.
                _ => (
                    v["allValue"]
                        .as_str()
                        .filter(|a| !a.is_empty())
                        .unwrap_or(".*")
                        .to_string(),
                    true,
                ),
            };
            Some(Variable { name, value, regex })
        })
        .collect()
}

/// Grafana's built-in interval variables, longest first.
const BUILTINS: &[(&str, &str)] = &[
    ("__rate_interval_ms", "300000"),
    ("__rate_interval", WINDOW),
    ("__interval_ms", "300000"),
    ("__interval", WINDOW),
    ("__range_ms", "300000"),
    ("__range_s", "300"),
    ("__range", WINDOW),
];

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replace Grafana variables in `expr`: `$var`, `${var}`, `${var:format}`, `[[var]]` with the
/// dashboard's match-all value (its `allValue`, else `.*`; a regex matcher `=~".*"` also matches
/// series without the label, so no matcher needs dropping; an exact matcher `="$var"` becomes
/// `=~".*"`, since `=".*"` would match only the two characters), the interval built-ins with
/// [`WINDOW`]. Anything else (`$1` in `label_replace`, unknown names) is left as written.
fn resolve(expr: &str, vars: &[Variable]) -> String {
    let lookup = |name: &str| -> Option<(String, bool)> {
        BUILTINS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (v.to_string(), false))
            .or_else(|| {
                vars.iter()
                    .find(|v| v.name == name)
                    .map(|v| (v.value.clone(), v.regex))
            })
    };
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, len) = if let Some(t) = tail.strip_prefix("${") {
            match t.find('}') {
                Some(end) => (t[..end].split(':').next().unwrap_or(""), end + 3),
                None => ("", 0),
            }
        } else if let Some(t) = tail.strip_prefix("[[") {
            match t.find("]]") {
                Some(end) => (t[..end].split(':').next().unwrap_or(""), end + 4),
                None => ("", 0),
            }
        } else if let Some(t) = tail.strip_prefix('$') {
            let end = t.find(|c: char| !is_name_char(c)).unwrap_or(t.len());
            (&t[..end], end + 1)
        } else {
            ("", 0)
        };
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        match (len, first_ok.then(|| lookup(name)).flatten()) {
            (l, Some((v, regex))) if l > 0 => {
                // `label="$var"` (a single-value variable in an exact matcher) with a
                // match-all regex: the matcher becomes a regex one, `=~` (`!=` becomes `!~`).
                if regex && out.ends_with("=\"") && !out.ends_with("~=\"") && !out.ends_with("==\"")
                {
                    out.truncate(out.len() - 1);
                    if out.ends_with("!=") {
                        out.pop();
                    }
                    out.push_str("~\"");
                }
                out.push_str(&v);
                rest = &tail[l..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn collect_panels(panels: &Value, vars: &[Variable], out: &mut Vec<PanelQueries>) {
    for p in panels.as_array().map(Vec::as_slice).unwrap_or_default() {
        // A collapsed row keeps its panels inside; an open row has an empty list.
        if p.get("panels").is_some() {
            collect_panels(&p["panels"], vars, out);
        }
        let queries: Vec<String> = p["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|t| t["hide"] != true)
            .filter_map(|t| t["expr"].as_str())
            .filter(|e| !e.trim().is_empty())
            .map(|e| resolve(e, vars))
            .collect();
        if !queries.is_empty() {
            out.push(PanelQueries {
                title: p["title"].as_str().unwrap_or("").to_string(),
                queries,
            });
        }
    }
}

/// A dashboard's JSON (as its ConfigMap carries it) reduced to its panels' queries, variables
/// resolved to match-all. Panels in rows (nested `panels`, or the old `rows[].panels`) count;
/// rows themselves and hidden targets do not.
pub fn dashboard_queries(json: &str) -> Result<GrafanaDashboard, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("not a Grafana dashboard: the JSON is not an object".into());
    }
    // Exported dashboards may be wrapped as {"dashboard": {...}}.
    let dash = if v.get("panels").is_none() && v["dashboard"].is_object() {
        &v["dashboard"]
    } else {
        &v
    };
    if dash.get("panels").is_none() && dash.get("rows").is_none() {
        return Err("not a Grafana dashboard: no panels or rows".into());
    }
    let vars = variables(dash);
    let mut panels = Vec::new();
    collect_panels(&dash["panels"], &vars, &mut panels);
    for row in dash["rows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        collect_panels(&row["panels"], &vars, &mut panels);
    }
    Ok(GrafanaDashboard {
        uid: dash["uid"].as_str().unwrap_or("").to_string(),
        title: dash["title"].as_str().unwrap_or("").to_string(),
        panels,
    })
}

/// Every dashboard in a ConfigMap or a ConfigMap list (`kubectl get configmap -l
/// grafana_dashboard=1 -o json`): each `data` entry, parsed, or why not (`namespace/name key: ...`).
pub fn dashboards_from_configmaps(v: &Value) -> Vec<Result<GrafanaDashboard, String>> {
    let items: Vec<&Value> = match v["items"].as_array() {
        Some(items) => items.iter().collect(),
        None => vec![v],
    };
    let mut out = Vec::new();
    for cm in items {
        let name = format!(
            "{}/{}",
            cm["metadata"]["namespace"].as_str().unwrap_or("?"),
            cm["metadata"]["name"].as_str().unwrap_or("?")
        );
        let Some(data) = cm["data"].as_object() else {
            continue;
        };
        for (key, json) in data {
            let Some(json) = json.as_str() else { continue };
            out.push(dashboard_queries(json).map_err(|e| format!("ConfigMap {name} {key}: {e}")));
        }
    }
    out
}

/// The metric names a query reads (`hubble_…`, `cilium_…`), in order of first appearance.
pub fn metrics_in(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in query.chars().chain([' ']) {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (is_name_char(c) || c == ':') {
            word.push(c);
            continue;
        }
        if (word.starts_with("hubble_") || word.starts_with("cilium_")) && !out.contains(&word) {
            out.push(word.clone());
        }
        word.clear();
    }
    out
}

/// The label names a query selects on or groups by, in order of first appearance: those of its
/// matchers (`{a="x", b=~"$var"}`, `__name__` left out) and of its `by`, `without`, `on`,
/// `ignoring`, `group_left` and `group_right` clauses. Quoted strings (label values,
/// `label_replace`'s arguments) are skipped. With the metrics ([`metrics_in`]) this is what a
/// panel requires of the series it reads.
pub fn labels_in(query: &str) -> Vec<String> {
    const CLAUSES: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let b = query.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !name.is_empty() && name != "__name__" && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    };
    let ident = |i: usize| -> usize {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
            j += 1;
        }
        j
    };
    let skip_blanks = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    // A quoted string from `i` (at its quote): the index after it.
    let skip_quoted = |i: usize| -> usize {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        (j + 1).min(b.len())
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_quoted(i);
        } else if c == b'{' {
            // Matchers: `name op "value"`, separated by commas, up to the closing brace.
            i += 1;
            loop {
                i = skip_blanks(i);
                if i >= b.len() {
                    break;
                }
                match b[i] {
                    b'}' => {
                        i += 1;
                        break;
                    }
                    b',' => i += 1,
                    b'"' | b'\'' | b'`' => i = skip_quoted(i),
                    _ => {
                        let j = ident(i);
                        if j == i {
                            i += 1;
                            continue;
                        }
                        let k = skip_blanks(j);
                        if k < b.len() && matches!(b[k], b'=' | b'!') {
                            add(&query[i..j]);
                        }
                        i = j;
                    }
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let j = ident(i);
            let word = &query[i..j];
            let k = skip_blanks(j);
            if CLAUSES.contains(&word) && k < b.len() && b[k] == b'(' {
                let end = query[k..].find(')').map_or(b.len(), |e| k + e);
                for name in query[k + 1..end].split(',') {
                    add(name.trim());
                }
                i = (end + 1).min(b.len());
            } else {
                i = j;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The families that emit a sample name, the expected ones first.
fn families_of(sample: &str, enabled: &[&'static str]) -> Vec<&'static Handler> {
    let mut hs: Vec<&'static Handler> = catalogue::HANDLERS
        .iter()
        .filter(|h| h.metrics.iter().any(|m| m.matches_sample(sample)))
        .collect();
    hs.sort_by_key(|h| !enabled.contains(&h.name));
    hs
}

/// The family a sample name is counted under: the expected family that emits it, else the first
/// in the catalogue (`hubble_http_requests_total` is `http` or `httpV2`).
pub fn family_of(sample: &str, enabled: &[&'static str]) -> Option<&'static str> {
    families_of(sample, enabled).first().map(|h| h.name)
}

// ---------------------------------------------------------------------------------------------
// Series per family.

/// Series Prometheus holds, per metric name.
pub const SERIES_QUERY: &str = r#"count by (__name__) ({__name__=~"hubble_.*"})"#;
/// Nodes (Hubble targets) holding each metric name.
pub const NODES_PER_NAME_QUERY: &str =
    r#"count by (__name__) (count by (__name__, instance) ({__name__=~"hubble_.*"}))"#;
/// Hubble series per node.
pub const NODE_SERIES_QUERY: &str = r#"count by (node, instance) ({__name__=~"hubble_.*"})"#;
/// Every target of the Cilium ServiceMonitors (agent, operator, Hubble; not relay).
pub const UP_QUERY: &str = r#"up{job=~".*(cilium|hubble).*",job!~".*relay.*"}"#;

/// Per family, from a `count by (__name__)` answer. Names of no family are left out.
pub fn series_by_family(
    samples: &[Sample],
    enabled: &[&'static str],
) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for s in samples {
        if let Some(f) = s.label("__name__").and_then(|n| family_of(n, enabled)) {
            *out.entry(f).or_insert(0) += s.count();
        }
    }
    out
}

/// The scanner's counts from a cluster-mode report's rows: node → family → samples (one sample
/// a series in a scrape), for [`series_table`].
pub fn scanned_from_rows(
    rows: &[crate::check::NodeRow],
) -> BTreeMap<String, BTreeMap<String, u64>> {
    rows.iter()
        .filter(|r| !r.families.is_empty())
        .map(|r| {
            let fams = r
                .families
                .iter()
                .map(|f| (f.family.to_string(), f.samples))
                .collect();
            (r.node.clone(), fams)
        })
        .collect()
}

/// The series one family has: in Prometheus, estimated, and scanned from the agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesRow {
    pub family: &'static str,
    pub prometheus: Option<u64>,
    pub estimate: Option<u64>,
    /// Summed over the scanned nodes.
    pub scanned: Option<u64>,
    pub scanned_nodes: usize,
    /// The largest count on one node, and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busiest_node: Option<(String, u64)>,
}

/// Side by side, per family (any of the three has it): the series Prometheus holds, the
/// estimate, and the scanner's counts (`scanned`: node → family → series).
pub fn series_table(
    prometheus: Option<&BTreeMap<&'static str, u64>>,
    estimate: Option<&Estimate>,
    scanned: Option<&BTreeMap<String, BTreeMap<String, u64>>>,
) -> Vec<SeriesRow> {
    let mut families: BTreeSet<&'static str> = BTreeSet::new();
    families.extend(prometheus.into_iter().flat_map(|m| m.keys().copied()));
    families.extend(
        estimate
            .into_iter()
            .flat_map(|e| e.families.iter().map(|f| f.family)),
    );
    for fams in scanned.into_iter().flat_map(|s| s.values()) {
        families.extend(
            fams.keys()
                .filter_map(|k| catalogue::handler(k).map(|h| h.name)),
        );
    }
    let mut rows: Vec<SeriesRow> = families
        .into_iter()
        .map(|family| {
            let mut scanned_sum = None;
            let mut nodes = 0;
            let mut busiest: Option<(String, u64)> = None;
            for (node, fams) in scanned.into_iter().flatten() {
                if let Some(&n) = fams.get(family) {
                    *scanned_sum.get_or_insert(0) += n;
                    nodes += 1;
                    if busiest.as_ref().is_none_or(|(_, b)| n > *b) {
                        busiest = Some((node.clone(), n));
                    }
                }
            }
            SeriesRow {
                family,
                prometheus: prometheus.map(|m| m.get(family).copied().unwrap_or(0)),
                estimate: estimate.and_then(|e| {
                    e.families
                        .iter()
                        .find(|f| f.family == family)
                        .map(|f| f.series)
                }),
                scanned: scanned_sum,
                scanned_nodes: nodes,
                busiest_node: busiest,
            }
        })
        .collect();
    rows.sort_by_key(|r| catalogue::handler_rank(r.family));
    rows
}

// ---------------------------------------------------------------------------------------------
// Panels.

/// What a panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelState {
    Data,
    Empty,
    /// Prometheus refused or failed every query of the panel.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PanelAnswer {
    pub dashboard_uid: String,
    pub dashboard: String,
    pub panel: String,
    pub state: PanelState,
    pub status: Status,
    /// Series in the answers, summed over the panel's queries.
    pub series: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What the panel judge knows besides the answers.
#[derive(Debug, Clone, Copy)]
pub struct PanelEvidence<'a> {
    /// The families asked for, if known (the ConfigMap's list, `--metric`).
    pub enabled: Option<&'a [&'static str]>,
    /// The fill analysis of the configured list (`dashboards::analyse`).
    pub fills: &'a [DashboardFill],
    /// Series held per family (Prometheus' count, or the scanner's): `0` or absent = no traffic.
    pub held: &'a BTreeMap<&'static str, u64>,
    pub l7: &'a L7Policies,
}

fn l7_reason(family: &str, l7: &L7Policies) -> (String, String) {
    let rule = match family {
        "dns" => "DNS rules (toPorts[].rules.dns)",
        "kafka" => "Kafka rules (toPorts[].rules.kafka)",
        _ => "HTTP rules (toPorts[].rules.http)",
    };
    let found = l7.for_rule(match family {
        "dns" => catalogue::L7Rule::Dns,
        "kafka" => catalogue::L7Rule::Kafka,
        _ => catalogue::L7Rule::Http,
    });
    match found {
        Some([]) => (
            format!("{family} is an L7 family and no CiliumNetworkPolicy has {rule}"),
            format!("add a policy with {rule} selecting the pods whose traffic the panel shows"),
        ),
        Some(list) => (
            format!(
                "no traffic through the L7 proxy yet ({family}); L7 policy present: {}",
                list.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
            "send some traffic the policy selects, then check again".into(),
        ),
        None => (
            format!("no {family} series: an L7 family counts only traffic through the L7 proxy"),
            format!(
                "{family} needs a CiliumNetworkPolicy with {rule}; cluster mode tells whether one exists"
            ),
        ),
    }
}

const PRESET_HINT: &str = "ciliumon plan --metrics-preset dashboards lists what fills it";

/// Judge one panel from its queries' answers: data, or empty with the reason it can tell (the
/// fill analysis: a family not enabled, a label missing; no traffic yet; an L7 family without an
/// L7 policy; else the series exist but the selectors match none). Data on a panel the fill
/// analysis says lacks a label is a warning: the match-all regex also matches series without it.
pub fn judge_panel(
    dashboard: &GrafanaDashboard,
    panel: &PanelQueries,
    answers: &[Result<QueryData, ApiError>],
    ev: &PanelEvidence,
) -> PanelAnswer {
    let series: usize = answers.iter().flatten().map(QueryData::len).sum();
    let mut a = PanelAnswer {
        dashboard_uid: dashboard.uid.clone(),
        dashboard: dashboard.title.clone(),
        panel: panel.title.clone(),
        state: PanelState::Data,
        status: Status::Pass,
        series,
        reason: None,
        hint: None,
    };
    let fill = ev
        .fills
        .iter()
        .find(|f| f.uid == dashboard.uid)
        .and_then(|f| {
            // A revision of the file may spell the title otherwise.
            let title = crate::catalogue::dashboards::catalogue_title(&dashboard.uid, &panel.title);
            f.panels.iter().find(|p| p.title == title)
        })
        .filter(|f| !f.fills);
    let fill_reasons = fill.map(|f| {
        f.missing
            .iter()
            .map(|m| m.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    });
    if series > 0 {
        // With every variable on match-all, a series without the label still matches: the
        // metric is there, but the panel's breakdown (and in Grafana its variables) is not.
        if let Some(r) = fill_reasons {
            a.status = Status::Warn;
            a.reason = Some(format!(
                "data with every variable on All, but a label it selects on is missing: {r}"
            ));
            a.hint = Some(PRESET_HINT.into());
        }
        return a;
    }
    if !answers.is_empty() && answers.iter().all(Result::is_err) {
        let e = answers.iter().find_map(|r| r.as_ref().err()).cloned();
        a.state = PanelState::Error;
        a.status = Status::Warn;
        a.reason = e.map(|e| format!("Prometheus refused the query: {e}"));
        a.hint = Some("the query as resolved is in -o json; run it in Prometheus' UI".into());
        return a;
    }
    a.state = PanelState::Empty;
    a.status = Status::Warn;
    // 1. The fill analysis for this dashboard and panel.
    if let Some(r) = fill_reasons {
        a.reason = Some(r);
        a.hint = Some(PRESET_HINT.into());
        return a;
    }
    // 2. Per metric read: its family enabled? holding series?
    let enabled = ev.enabled.unwrap_or_default();
    let metrics: Vec<String> = panel.queries.iter().flat_map(|q| metrics_in(q)).collect();
    for m in &metrics {
        let fams = families_of(m, enabled);
        let Some(fam) = fams.first() else { continue };
        if ev.enabled.is_some() && !enabled.contains(&fam.name) {
            let names: Vec<&str> = fams.iter().map(|h| h.name).collect();
            a.reason = Some(format!(
                "needs family {} for {m}, not enabled",
                names.join(" or ")
            ));
            return a;
        }
        if ev.held.get(fam.name).copied().unwrap_or(0) == 0 {
            if fam.l7.is_some() {
                let (r, h) = l7_reason(fam.name, ev.l7);
                a.reason = Some(r);
                a.hint = Some(h);
            } else {
                a.reason = Some(format!(
                    "no traffic yet: no {} series (Hubble creates series with the first matching flow)",
                    fam.name
                ));
                a.hint = Some("generate some traffic (or wait), then check again".into());
            }
            return a;
        }
    }
    a.reason = Some(if metrics.is_empty() {
        "the query returned no series".into()
    } else {
        format!(
            "{} has series, but none match the panel's selectors: a label it filters or groups on is missing, or no flow matched",
            metrics.join(", ")
        )
    });
    a
}

// ---------------------------------------------------------------------------------------------
// --from-prometheus.

/// Above this many nodes, `check --from-prometheus` is the better choice when a Prometheus
/// scrapes the agents. Cluster mode carries every agent's Hubble body (MBs each) through the API
/// server: 1,000 nodes through `kubectl proxy` took 3.1 s of the 4 s the default `--timeout 2s`
/// allows the whole check (README, benches/check.rs), so beyond 1,000 the default check runs
/// out of time and loads the API server with GBs; from Prometheus the check costs a fixed
/// handful of queries.
pub const FROM_PROMETHEUS_NODES: usize = 1000;

/// The advice cluster mode prints, if any.
pub fn prefer_from_prometheus(nodes: usize, prometheus_found: bool) -> Option<String> {
    if nodes <= FROM_PROMETHEUS_NODES {
        return None;
    }
    Some(if prometheus_found {
        format!(
            "{nodes} nodes: `ciliumon check --from-prometheus` answers the same from Prometheus in a few queries, without scraping every agent through the API server"
        )
    } else {
        format!(
            "{nodes} nodes: with a Prometheus scraping the agents (kube-prometheus-stack), `ciliumon check --from-prometheus` answers in a few queries instead of one scrape per node"
        )
    })
}

/// A component as Prometheus sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    Agent,
    Operator,
    Hubble,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Agent, Job::Operator, Job::Hubble];

    /// From a target's `job` label (the Service name through the ServiceMonitor) or scrape pool.
    pub fn of(job: &str) -> Option<Job> {
        let j = job.to_ascii_lowercase();
        if j.contains("relay") {
            None
        } else if j.contains("hubble") {
            Some(Job::Hubble)
        } else if j.contains("cilium-operator") {
            Some(Job::Operator)
        } else if j.contains("cilium-agent") || j == "cilium" {
            Some(Job::Agent)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Job::Agent => "cilium-agent",
            Job::Operator => "cilium-operator",
            Job::Hubble => "hubble",
        }
    }

    fn value(self) -> &'static str {
        match self {
            Job::Agent => "prometheus.serviceMonitor.enabled=true",
            Job::Operator => "operator.prometheus.serviceMonitor.enabled=true",
            Job::Hubble => "hubble.metrics.serviceMonitor.enabled=true",
        }
    }
}

/// One scrape target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetState {
    pub instance: String,
    pub up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One node: its agent and Hubble targets (the chart's relabeling gives them a `node` label;
/// without it, the pod or the instance stands for the node). `status`: fail if a target is
/// down, warn if the node lacks a target the other nodes have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromNode {
    pub node: String,
    pub status: Status,
    pub agent: Option<TargetState>,
    pub hubble: Option<TargetState>,
    pub hubble_series: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromReport {
    pub status: Status,
    pub passed: bool,
    pub nodes: Vec<PromNode>,
    pub operators: Vec<TargetState>,
    pub families: Vec<FamilyRow>,
    pub series: Vec<SeriesRow>,
    pub panels: Vec<PanelAnswer>,
    /// Targets per job, unreachable queries, advice.
    pub checks: Vec<Finding>,
    pub counts: Counts,
    /// Queries asked, for the record (and the benchmark).
    pub queries: usize,
}

/// One panel's answers, one per query.
pub type PanelResults = Vec<Result<QueryData, ApiError>>;

/// Every answer the judge needs, fetched by [`evaluate`] (or given by a test).
#[derive(Debug, Clone)]
pub struct Answers {
    pub up: Result<QueryData, ApiError>,
    pub series: Result<QueryData, ApiError>,
    pub nodes_per_name: Result<QueryData, ApiError>,
    pub node_series: Result<QueryData, ApiError>,
    /// `/api/v1/targets`, fetched only when some target is down (for its last error).
    pub targets: Option<Result<TargetsData, ApiError>>,
    /// Per dashboard, per panel, per query.
    pub panels: Vec<(GrafanaDashboard, Vec<PanelResults>)>,
}

/// What the judge needs besides the answers.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub expected: Option<Vec<Expected>>,
    pub dashboards: Vec<GrafanaDashboard>,
    pub fills: Vec<DashboardFill>,
    pub l7: L7Policies,
    pub estimate: Option<Estimate>,
    /// node → family → series, from a cluster-mode scan if one ran.
    pub scanned: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    pub strict: bool,
}

fn node_key(labels: &BTreeMap<String, String>) -> String {
    for k in ["node", "pod", "instance"] {
        if let Some(v) = labels.get(k).filter(|v| !v.is_empty()) {
            return v.clone();
        }
    }
    "?".into()
}

fn query_finding(what: &str, e: &ApiError) -> Finding {
    Finding::new(
        Status::Fail,
        format!("Prometheus could not answer {what}: {e}"),
        Some("check that Prometheus is up and reachable (kubectl proxy to its service)".into()),
    )
}

/// Judge everything Prometheus answered. Pure.
pub fn judge(answers: &Answers, inputs: &Inputs) -> PromReport {
    let mut checks = Vec::new();
    let enabled: Vec<&'static str> = inputs
        .expected
        .iter()
        .flatten()
        .map(|e| e.handler.name)
        .collect();
    // Last errors of down targets, by (job, instance).
    let mut last_errors: BTreeMap<(Job, String), String> = BTreeMap::new();
    if let Some(Ok(t)) = &answers.targets {
        for t in &t.active_targets {
            let job = t.labels.get("job").map(String::as_str).unwrap_or("");
            if let (Some(j), Some(i)) = (
                Job::of(job).or(Job::of(&t.scrape_pool)),
                t.labels.get("instance"),
            ) && t.health != "up"
                && !t.last_error.is_empty()
            {
                last_errors.insert((j, i.clone()), t.last_error.clone());
            }
        }
    }
    // Targets.
    let mut nodes: BTreeMap<String, PromNode> = BTreeMap::new();
    let mut operators = Vec::new();
    let mut per_job: BTreeMap<Job, (usize, usize)> = BTreeMap::new();
    match &answers.up {
        Err(e) => checks.push(query_finding("which targets are up", e)),
        Ok(up) => {
            for s in up.samples() {
                let Some(job) = s.label("job").and_then(Job::of) else {
                    continue;
                };
                let instance = s.label("instance").unwrap_or("?").to_string();
                let is_up = s.value.number() == Some(1.0);
                let t = TargetState {
                    last_error: last_errors.get(&(job, instance.clone())).cloned(),
                    instance,
                    up: is_up,
                };
                let e = per_job.entry(job).or_default();
                e.1 += 1;
                if is_up {
                    e.0 += 1;
                }
                if job == Job::Operator {
                    operators.push(t);
                    continue;
                }
                let key = node_key(&s.metric);
                let n = nodes.entry(key.clone()).or_insert_with(|| PromNode {
                    node: key,
                    status: Status::Pass,
                    agent: None,
                    hubble: None,
                    hubble_series: 0,
                });
                if !t.up {
                    n.status = Status::Fail;
                }
                match job {
                    Job::Agent => n.agent = Some(t),
                    _ => n.hubble = Some(t),
                }
            }
            for job in Job::ALL {
                match per_job.get(&job) {
                    None => checks.push(Finding::new(
                        Status::Warn,
                        format!("Prometheus has no {} target", job.name()),
                        Some(format!(
                            "no ServiceMonitor for {} selected by Prometheus: set helm value {} (plain `ciliumon check` explains the selectors)",
                            job.name(),
                            job.value()
                        )),
                    )),
                    Some(&(up, all)) if up == all => checks.push(Finding::new(
                        Status::Pass,
                        format!("Prometheus scrapes {}: {up}/{all} targets up", job.name()),
                        None,
                    )),
                    Some(&(up, all)) => checks.push(Finding::new(
                        Status::Fail,
                        format!("Prometheus scrapes {}: {up}/{all} targets up", job.name()),
                        Some("the nodes below say which; their last scrape error is from /api/v1/targets".into()),
                    )),
                }
            }
        }
    }
    // A node with one of the per-node components and not the other, where the other has targets
    // elsewhere: its pod or endpoint is missing from the ServiceMonitor's Service.
    for n in nodes.values_mut() {
        let lacks = (n.agent.is_none() && per_job.contains_key(&Job::Agent))
            || (n.hubble.is_none() && per_job.contains_key(&Job::Hubble));
        if lacks {
            n.status = n.status.max(Status::Warn);
        }
    }
    if let Ok(ns) = &answers.node_series {
        for s in ns.samples() {
            let key = node_key(&s.metric);
            if let Some(n) = nodes.get_mut(&key) {
                n.hubble_series += s.count();
            }
        }
    }
    // Families.
    let held: BTreeMap<&'static str, u64> = match &answers.series {
        Ok(d) => series_by_family(d.samples(), &enabled),
        Err(e) => {
            checks.push(query_finding("the series per family", e));
            BTreeMap::new()
        }
    };
    let mut nodes_with: BTreeMap<&'static str, usize> = BTreeMap::new();
    if let Ok(d) = &answers.nodes_per_name {
        for s in d.samples() {
            if let Some(f) = s.label("__name__").and_then(|n| family_of(n, &enabled)) {
                let e = nodes_with.entry(f).or_insert(0);
                *e = (*e).max(s.count() as usize);
            }
        }
    }
    let hubble_up = per_job.get(&Job::Hubble).map(|x| x.0).unwrap_or(0);
    let mut families = Vec::new();
    for ex in inputs.expected.iter().flatten() {
        let name = ex.handler.name;
        let series = held.get(name).copied().unwrap_or(0);
        let with = nodes_with.get(name).copied().unwrap_or(0);
        let waiting = if inputs.strict {
            Status::Fail
        } else {
            Status::Warn
        };
        let (status, detail, hint) = if answers.series.is_err() {
            (
                Status::Skip,
                "not checked: Prometheus did not answer".to_string(),
                None,
            )
        } else if series > 0 {
            (
                Status::Pass,
                format!("{series} series in Prometheus, from {with}/{hubble_up} Hubble targets"),
                None,
            )
        } else if ex.handler.l7.is_some() {
            let (r, h) = l7_reason(name, &inputs.l7);
            (waiting, r, Some(h))
        } else {
            (
                waiting,
                "waiting for traffic: Prometheus holds no series yet".to_string(),
                Some("generate some traffic (or wait), then check again with --wait".to_string()),
            )
        };
        families.push(FamilyRow {
            spec: ex.spec.clone(),
            family: name,
            status,
            nodes_with_samples: with,
            nodes: hubble_up,
            samples: series,
            exemplars: 0,
            detail,
            hint,
        });
    }
    let series = series_table(
        answers.series.is_ok().then_some(&held),
        inputs.estimate.as_ref(),
        inputs.scanned.as_ref(),
    );
    // Panels.
    let ev = PanelEvidence {
        enabled: inputs.expected.as_ref().map(|_| enabled.as_slice()),
        fills: &inputs.fills,
        held: &held,
        l7: &inputs.l7,
    };
    let mut panels = Vec::new();
    for (dash, per_panel) in &answers.panels {
        for (p, ans) in dash.panels.iter().zip(per_panel) {
            panels.push(judge_panel(dash, p, ans, &ev));
        }
    }
    let nodes: Vec<PromNode> = nodes.into_values().collect();
    let statuses = nodes
        .iter()
        .map(|n| n.status)
        .chain(families.iter().map(|f| f.status))
        .chain(panels.iter().map(|p| p.status))
        .chain(checks.iter().map(|c| c.status));
    let (counts, status) = Counts::tally(statuses);
    let queries = 4
        + usize::from(answers.targets.is_some())
        + answers
            .panels
            .iter()
            .map(|(_, p)| p.iter().map(Vec::len).sum::<usize>())
            .sum::<usize>();
    PromReport {
        status,
        passed: status != Status::Fail,
        nodes,
        operators,
        families,
        series,
        panels,
        checks,
        counts,
        queries,
    }
}

// ---------------------------------------------------------------------------------------------
// The edge: asking.

/// Percent-encode a query parameter (everything but RFC 3986's unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Prometheus' HTTP API at `base` (`http://127.0.0.1:PORT/api/v1/namespaces/NS/services/
/// prometheus-operated:9090/proxy` through kubectl proxy, or Prometheus itself).
#[derive(Debug, Clone)]
pub struct HttpApi {
    pub base: String,
    pub timeout: Duration,
    /// The largest answer read, in bytes.
    pub limit: usize,
}

impl HttpApi {
    pub fn new(base: impl Into<String>, timeout: Duration) -> HttpApi {
        HttpApi {
            base: base.into().trim_end_matches('/').to_string(),
            timeout,
            limit: 256 << 20,
        }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let (status, body) =
            crate::check::probe::fetch(&format!("{}{path}", self.base), self.timeout, self.limit)
                .map_err(|e| err("transport", format!("GET {path}: {e}")))?;
        parse_answer(status, &body)
    }

    /// `/api/v1/query?query=...`, an instant query at the server's now.
    pub fn query(&self, promql: &str) -> Result<QueryData, ApiError> {
        self.get(&format!("/api/v1/query?query={}", encode(promql)))
    }

    /// `/api/v1/targets?state=active`.
    pub fn targets(&self) -> Result<TargetsData, ApiError> {
        self.get("/api/v1/targets?state=active")
    }
}

/// Ask everything: the four fixed queries, the targets only if one is down, one query per
/// dashboard panel target. Queries go out a few at a time.
pub fn fetch_answers(api: &HttpApi, dashboards: &[GrafanaDashboard]) -> Answers {
    let fixed = [
        UP_QUERY,
        SERIES_QUERY,
        NODES_PER_NAME_QUERY,
        NODE_SERIES_QUERY,
    ];
    let panel_queries: Vec<&str> = dashboards
        .iter()
        .flat_map(|d| {
            d.panels
                .iter()
                .flat_map(|p| p.queries.iter().map(String::as_str))
        })
        .collect();
    let all: Vec<&str> = fixed.iter().copied().chain(panel_queries).collect();
    let results = parallel(&all, 4, |q| api.query(q));
    let mut it = results.into_iter();
    let mut next = || it.next().expect("one result a query");
    let up = next();
    let series = next();
    let nodes_per_name = next();
    let node_series = next();
    let panels = dashboards
        .iter()
        .map(|d| {
            let per_panel = d
                .panels
                .iter()
                .map(|p| p.queries.iter().map(|_| next()).collect())
                .collect();
            (d.clone(), per_panel)
        })
        .collect();
    let any_down = up
        .as_ref()
        .is_ok_and(|u| u.samples().iter().any(|s| s.value.number() != Some(1.0)));
    Answers {
        targets: any_down.then(|| api.targets()),
        up,
        series,
        nodes_per_name,
        node_series,
        panels,
    }
}

/// Map `f` over `items` on up to `workers` threads, in order.
fn parallel<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item was mapped")
        })
        .collect()
}

/// How long each part took.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timings {
    pub fetch: Duration,
    pub judge: Duration,
}

/// `check --from-prometheus`, end to end: ask, then judge.
pub fn evaluate(api: &HttpApi, inputs: &Inputs) -> (PromReport, Timings) {
    let t0 = Instant::now();
    let answers = fetch_answers(api, &inputs.dashboards);
    let fetch = t0.elapsed();
    let t1 = Instant::now();
    let report = judge(&answers, inputs);
    (
        report,
        Timings {
            fetch,
            judge: t1.elapsed(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::dashboards;
    use crate::spec::MetricSpec;
    use crate::version::Version;
    use serde_json::json;

    const HUBBLE_MINI: &str = include_str!("../../tests/fixtures/dashboards/hubble-mini.json");
    const NAMESPACE_MINI: &str =
        include_str!("../../tests/fixtures/dashboards/namespace-mini.json");
    const L7_MINI: &str = include_str!("../../tests/fixtures/dashboards/l7-mini.json");

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn specs(list: &[&str], ver: &Version) -> Vec<MetricSpec> {
        list.iter()
            .map(|s| MetricSpec::parse(s, ver).unwrap())
            .collect()
    }

    fn vector(samples: Value) -> QueryData {
        parse_answer(
            200,
            json!({"status": "success", "data": {"resultType": "vector", "result": samples}})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    fn no_l7() -> L7Policies {
        L7Policies::Known {
            by_rule: catalogue::L7Rule::ALL
                .iter()
                .map(|r| (*r, vec![]))
                .collect(),
        }
    }

    #[test]
    fn answers_parse_by_result_type() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"hubble-metrics","instance":"10.0.0.1:9965"},"value":[1435781451.781,"1"]},
            {"metric":{},"value":[1435781451.781,"NaN"]}]}}"#;
        let d: QueryData = parse_answer(200, body).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.samples()[0].label("job"), Some("hubble-metrics"));
        assert_eq!(d.samples()[0].count(), 1);
        assert_eq!(d.samples()[1].count(), 0, "NaN is no count");
        let s: QueryData = parse_answer(
            200,
            br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"42"]}}"#,
        )
        .unwrap();
        assert_eq!(s, QueryData::Scalar(Point(1.5, "42".into())));
        let m: QueryData = parse_answer(
            200,
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"1"],[2,"2"]]}]}}"#,
        )
        .unwrap();
        assert_eq!(m.len(), 1);
        assert!(m.samples().is_empty(), "a matrix has no instant samples");
        let w: Envelope<Value> = serde_json::from_slice(
            br#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["partial"]}"#,
        )
        .unwrap();
        assert_eq!(w.warnings, ["partial"]);
    }

    #[test]
    fn errors_name_their_kind() {
        let e = parse_answer::<QueryData>(
            400,
            br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, "bad_data");
        assert!(e.message.contains("parse error"), "{e}");
        let e = parse_answer::<QueryData>(503, b"<html>Service Unavailable</html>").unwrap_err();
        assert_eq!(e.kind, "http");
        assert!(
            e.message.contains("503") && e.message.contains("Service Unavailable"),
            "{e}"
        );
        let e = parse_answer::<QueryData>(200, b"not json").unwrap_err();
        assert_eq!(e.kind, "json");
        let e = parse_answer::<QueryData>(200, br#"{"status":"success"}"#).unwrap_err();
        assert!(e.message.contains("without data"), "{e}");
        let e = parse_answer::<QueryData>(
            200,
            br#"{"status":"success","data":{"resultType":"weird","result":1}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("unexpected data"), "{e}");
    }

    #[test]
    fn targets_parse() {
        let t: TargetsData = parse_answer(
            200,
            br#"{"status":"success","data":{"activeTargets":[{"discoveredLabels":{"__meta_kubernetes_pod_node_name":"n1"},
            "labels":{"job":"cilium-agent","instance":"10.0.0.1:9962","node":"n1"},"scrapePool":"serviceMonitor/kube-system/cilium-agent/0",
            "scrapeUrl":"http://10.0.0.1:9962/metrics","health":"down","lastError":"connection refused","lastScrape":"2024-01-01T00:00:00Z"}],
            "droppedTargets":[{"discoveredLabels":{}}]}}"#,
        )
        .unwrap();
        assert_eq!(t.active_targets.len(), 1);
        assert_eq!(t.active_targets[0].health, "down");
        assert_eq!(t.active_targets[0].last_error, "connection refused");
        assert_eq!(
            t.active_targets[0].discovered_labels["__meta_kubernetes_pod_node_name"],
            "n1"
        );
        assert_eq!(t.dropped_targets.len(), 1);
    }

    #[test]
    fn panels_in_rows_count_and_rows_hidden_targets_and_text_panels_do_not() {
        let d = dashboard_queries(HUBBLE_MINI).unwrap();
        assert_eq!(d.uid, "5HftnJAWz");
        let titles: Vec<&str> = d.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Flows processed Per Node",
                "Drop Reason",
                "HTTP Requests",
                "HTTP responses",
                "HTTP Request/Response Latency (p99)",
                "DNS Requests"
            ]
        );
        assert_eq!(d.panels[0].queries.len(), 2);
        assert_eq!(
            d.panels[1].queries,
            ["sum(rate(hubble_drop_total[1m])) by (pod, reason)"]
        );
    }

    #[test]
    fn variables_resolve_to_match_all_and_intervals_to_the_window() {
        let d = dashboard_queries(NAMESPACE_MINI).unwrap();
        assert_eq!(d.panels.len(), 2);
        assert_eq!(
            d.panels[0].queries[0],
            r#"sum(rate(hubble_dns_queries_total{cluster=~".*", source_namespace=~".*", destination_namespace=~".+"}[5m])) by (source) > 0"#
        );
        // [[var]], ${var:format}, $__range; label_replace's "$1" stays.
        assert_eq!(
            d.panels[1].queries[0],
            r#"round(sum(rate(hubble_dns_queries_total{cluster=~".*", source_namespace=~".*"}[5m])) by (source) - sum(label_replace(sum(rate(hubble_dns_responses_total{cluster=~".*"}[5m])) by (destination), "source", "$1", "destination", "(.*)")) without (destination), 0.001) > 0"#
        );
    }

    #[test]
    fn the_l7_dashboards_exact_reporter_matcher_becomes_match_all() {
        let d = dashboard_queries(L7_MINI).unwrap();
        assert_eq!(d.uid, "3g264CZVz");
        assert_eq!(d.panels.len(), 3);
        assert_eq!(d.panels[1].queries.len(), 2);
        assert_eq!(
            d.panels[1].queries[0],
            r#"histogram_quantile(0.50, sum(rate(hubble_http_request_duration_seconds_bucket{cluster=~".*", reporter=~".*"}[5m])) by (le))"#
        );
        assert_eq!(
            d.panels[2].queries[0],
            "sum(rate(hubble_http_requests_total{cluster=~\".*\", reporter=~\".*\", source_namespace=~\".*\", status!~\"5.*\"}[5m])) by (cluster, source_namespace)\n/\nsum(rate(hubble_http_requests_total{cluster=~\".*\", reporter=~\".*\", source_namespace=~\".*\"}[5m])) by (cluster, source_namespace)"
        );
        for p in &d.panels {
            for q in &p.queries {
                assert!(!q.contains('$'), "unresolved: {q}");
            }
        }
    }

    #[test]
    fn resolving_leaves_unknown_and_broken_references() {
        let vars = [
            Variable {
                name: "ns".into(),
                value: ".*".into(),
                regex: true,
            },
            Variable {
                name: "k".into(),
                value: "v1".into(),
                regex: false,
            },
        ];
        // Exact matchers on a match-all variable become regex ones; a fixed value stays exact.
        assert_eq!(
            resolve(
                r#"a{r="$ns", s!="${ns}", t=~"$ns", u!~"$ns", w="$k", x="p-$ns"}"#,
                &vars
            ),
            r#"a{r=~".*", s!~".*", t=~".*", u!~".*", w="v1", x="p-.*"}"#
        );
        assert_eq!(
            resolve("a{x=~\"$ns\"} $nsx ${ns", &vars),
            "a{x=~\".*\"} $nsx ${ns"
        );
        assert_eq!(resolve("[[ns]] [[ns $ $$ [", &vars), ".* [[ns $ $$ [");
        assert_eq!(resolve("x[$__interval_ms]", &[]), "x[300000]");
    }

    #[test]
    fn bad_dashboards_are_errors_not_panics() {
        assert!(dashboard_queries("{").unwrap_err().contains("not JSON"));
        assert!(
            dashboard_queries("[1]")
                .unwrap_err()
                .contains("not an object")
        );
        assert!(
            dashboard_queries("{\"title\":1}")
                .unwrap_err()
                .contains("no panels")
        );
        let wrapped = format!("{{\"dashboard\": {HUBBLE_MINI}}}");
        assert_eq!(dashboard_queries(&wrapped).unwrap().panels.len(), 6);
        // Panels of the wrong shape are skipped.
        let odd = r#"{"panels":[{"targets":"x"},{"targets":[{"expr":3}]},{"panels":5}]}"#;
        assert!(dashboard_queries(odd).unwrap().panels.is_empty());
    }

    #[test]
    fn configmaps_give_every_dashboard_or_say_which_is_bad() {
        let list = json!({"items": [
            {"metadata": {"namespace": "monitoring", "name": "hubble-dashboard"},
             "data": {"hubble-dashboard.json": HUBBLE_MINI}},
            {"metadata": {"namespace": "monitoring", "name": "broken"},
             "data": {"x.json": "{nope"}},
            {"metadata": {"namespace": "monitoring", "name": "binary-only"}}
        ]});
        let out = dashboards_from_configmaps(&list);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].as_ref().unwrap().title,
            "Hubble Metrics and Monitoring"
        );
        let e = out[1].as_ref().unwrap_err();
        assert!(
            e.starts_with("ConfigMap monitoring/broken x.json: not JSON"),
            "{e}"
        );
        let one = json!({"metadata": {"name": "a"}, "data": {"a.json": NAMESPACE_MINI}});
        assert_eq!(dashboards_from_configmaps(&one).len(), 1);
    }

    #[test]
    fn metric_names_in_a_query() {
        assert_eq!(
            metrics_in(
                r#"sum(rate(hubble_dns_queries_total{rcode!="hubble_x"}[5m])) - on() hubble_dns_responses_total / cilium_version"#
            ),
            [
                "hubble_dns_queries_total",
                "hubble_dns_responses_total",
                "cilium_version"
            ]
        );
        assert!(metrics_in("up").is_empty());
        assert_eq!(
            labels_in(
                r#"round(sum(rate(hubble_dns_queries_total{cluster=~".*", source_namespace=~"a,b"}[5m])) by (source) - sum(label_replace(sum(rate(hubble_dns_responses_total{rcode!="No Error",__name__!=""}[5m])) by(destination), "source", "$1", "destination", "(.*)")) without (destination), 0.001) > 0"#
            ),
            [
                "cluster",
                "source_namespace",
                "source",
                "rcode",
                "destination"
            ]
        );
        assert_eq!(
            labels_in(
                "sum(a{x=\"}\\\" by (y)\"} * on(namespace, pod) group_left(workload) b) by (le)"
            ),
            ["x", "namespace", "pod", "workload", "le"]
        );
        assert!(labels_in("histogram_quantile(0.5, rate(x_bucket[1m]))").is_empty());
        assert!(labels_in("{ unterminated").is_empty());
    }

    #[test]
    fn series_go_to_the_enabled_family() {
        let d = vector(json!([
            {"metric": {"__name__": "hubble_http_requests_total"}, "value": [0, "120"]},
            {"metric": {"__name__": "hubble_http_request_duration_seconds_bucket"}, "value": [0, "300"]},
            {"metric": {"__name__": "hubble_http_request_duration_seconds_sum"}, "value": [0, "30"]},
            {"metric": {"__name__": "hubble_drop_total"}, "value": [0, "7"]},
            {"metric": {"__name__": "hubble_not_a_metric"}, "value": [0, "9"]}
        ]));
        let with_v2 = series_by_family(d.samples(), &["httpV2", "drop"]);
        assert_eq!(with_v2.get("httpV2"), Some(&450));
        assert_eq!(with_v2.get("drop"), Some(&7));
        assert_eq!(with_v2.len(), 2, "{with_v2:?}");
        let with_v1 = series_by_family(d.samples(), &["http"]);
        assert_eq!(with_v1.get("http"), Some(&450));
        assert_eq!(family_of("hubble_http_requests_total", &[]), Some("http"));
    }

    #[test]
    fn series_side_by_side() {
        let ver = v("1.18.0");
        let inv = crate::estimate::Inventory {
            nodes: 10,
            namespaces: 5,
            pods: 100,
            workloads: 20,
        };
        let est = crate::estimate::estimate(&inv, &specs(&["drop", "dns"], &ver));
        let prom = BTreeMap::from([("drop", 40u64), ("tcp", 3u64)]);
        let scanned = BTreeMap::from([
            (
                "n1".to_string(),
                BTreeMap::from([("drop".to_string(), 25u64)]),
            ),
            (
                "n2".to_string(),
                BTreeMap::from([("drop".to_string(), 15u64), ("dns".to_string(), 2)]),
            ),
        ]);
        let rows = series_table(Some(&prom), Some(&est), Some(&scanned));
        let fams: Vec<&str> = rows.iter().map(|r| r.family).collect();
        assert!(fams.contains(&"drop") && fams.contains(&"dns") && fams.contains(&"tcp"));
        let drop = rows.iter().find(|r| r.family == "drop").unwrap();
        assert_eq!(drop.prometheus, Some(40));
        assert_eq!(drop.scanned, Some(40));
        assert_eq!(drop.scanned_nodes, 2);
        assert_eq!(drop.busiest_node, Some(("n1".into(), 25)));
        let est_drop = est
            .families
            .iter()
            .find(|f| f.family == "drop")
            .unwrap()
            .series;
        assert_eq!(drop.estimate, Some(est_drop));
        let dns = rows.iter().find(|r| r.family == "dns").unwrap();
        assert_eq!(dns.prometheus, Some(0), "asked and answered: none held");
        let tcp = rows.iter().find(|r| r.family == "tcp").unwrap();
        assert_eq!((tcp.estimate, tcp.scanned), (None, None));
        // From cluster-mode rows.
        let mut row = crate::check::NodeRow::new("n1", None);
        row.families.push(crate::check::NodeFamily {
            family: "drop",
            samples: 25,
            exemplars: 0,
        });
        let rows = [row, crate::check::NodeRow::new("n9", None)];
        let from_rows = scanned_from_rows(&rows);
        assert_eq!(from_rows.len(), 1, "a node without families is not scanned");
        assert_eq!(from_rows["n1"]["drop"], 25);
        let none = series_table(None, None, None);
        assert!(none.is_empty());
    }

    fn panel_of<'a>(d: &'a GrafanaDashboard, title: &str) -> &'a PanelQueries {
        d.panels.iter().find(|p| p.title == title).unwrap()
    }

    #[test]
    fn panel_verdicts_say_why() {
        let ver = v("1.18.0");
        let list = specs(&["dns", "drop", "flow", "httpV2"], &ver);
        let fills = dashboards::analyse(&ver, &list, &[]);
        let d = dashboard_queries(HUBBLE_MINI).unwrap();
        let enabled = ["dns", "drop", "flow", "httpV2"];
        let held = BTreeMap::from([("drop", 10u64), ("flow", 5u64)]);
        let l7 = no_l7();
        let ev = PanelEvidence {
            enabled: Some(&enabled),
            fills: &fills,
            held: &held,
            l7: &l7,
        };
        let empty = || vec![Ok(QueryData::Vector(vec![]))];
        let data = vector(json!([{"metric": {"pod": "a"}, "value": [0, "1"]}]));

        let a = judge_panel(&d, panel_of(&d, "Drop Reason"), &[Ok(data.clone())], &ev);
        assert_eq!(
            (a.state, a.status, a.series),
            (PanelState::Data, Status::Pass, 1)
        );

        // The fill analysis knows: httpV2 emits no hubble_http_responses_total.
        let a = judge_panel(&d, panel_of(&d, "HTTP responses"), &empty(), &ev);
        assert_eq!(a.state, PanelState::Empty);
        let r = a.reason.as_deref().unwrap();
        assert!(
            r.contains("needs family http for hubble_http_responses_total"),
            "{r}"
        );
        assert!(r.contains("conflict"), "{r}");

        // Enabled, fills, no series: L7 without an L7 policy.
        let a = judge_panel(&d, panel_of(&d, "HTTP Requests"), &empty(), &ev);
        assert!(
            a.reason
                .as_deref()
                .unwrap()
                .contains("no CiliumNetworkPolicy has HTTP rules"),
            "{a:?}"
        );
        let with_policy = L7Policies::Known {
            by_rule: [
                (catalogue::L7Rule::Dns, vec![]),
                (catalogue::L7Rule::Http, vec!["shop/l7".to_string()]),
                (catalogue::L7Rule::Kafka, vec![]),
            ]
            .into_iter()
            .collect(),
        };
        let ev2 = PanelEvidence {
            l7: &with_policy,
            ..ev
        };
        let a = judge_panel(&d, panel_of(&d, "HTTP Requests"), &empty(), &ev2);
        assert!(a.reason.as_deref().unwrap().contains("shop/l7"), "{a:?}");

        // Series held but the selectors match none.
        let a = judge_panel(
            &d,
            panel_of(&d, "Flows processed Per Node"),
            &[Ok(QueryData::Vector(vec![])), Ok(QueryData::Vector(vec![]))],
            &ev,
        );
        assert!(
            a.reason
                .as_deref()
                .unwrap()
                .contains("none match the panel's selectors"),
            "{a:?}"
        );

        // Not enabled, with no fill analysis to ask.
        let ev3 = PanelEvidence {
            fills: &[],
            enabled: Some(&["drop"]),
            ..ev
        };
        let a = judge_panel(&d, panel_of(&d, "DNS Requests"), &empty(), &ev3);
        assert_eq!(
            a.reason.as_deref(),
            Some("needs family dns for hubble_dns_queries_total, not enabled")
        );

        // Non-L7 enabled family with nothing held: no traffic yet.
        let held0 = BTreeMap::new();
        let ev4 = PanelEvidence {
            fills: &[],
            held: &held0,
            ..ev
        };
        let a = judge_panel(&d, panel_of(&d, "Drop Reason"), &empty(), &ev4);
        assert!(
            a.reason
                .as_deref()
                .unwrap()
                .starts_with("no traffic yet: no drop series"),
            "{a:?}"
        );

        // Data, but the fill analysis says a label is missing (match-all also matches series
        // without it): a warning naming the label.
        let ns = dashboard_queries(NAMESPACE_MINI).unwrap();
        let a = judge_panel(&ns, panel_of(&ns, "DNS queries"), &[Ok(data)], &ev);
        assert_eq!((a.state, a.status), (PanelState::Data, Status::Warn));
        let r = a.reason.as_deref().unwrap();
        assert!(r.starts_with("data with every variable on All, but"), "{r}");
        assert!(r.contains("source_namespace"), "{r}");

        // Every query refused.
        let refused = vec![Err(err("bad_data", "parse error"))];
        let a = judge_panel(&d, panel_of(&d, "Drop Reason"), &refused, &ev);
        assert_eq!((a.state, a.status), (PanelState::Error, Status::Warn));
        assert!(
            a.reason
                .as_deref()
                .unwrap()
                .contains("bad_data: parse error")
        );
    }

    #[test]
    fn a_panel_spelled_otherwise_in_its_revision_gets_the_fill_analysis() {
        // cilium/cilium 32f7e5942d spells "Missing ICMP Echo Replies" what the catalogue (and
        // other revisions) call "Missing ICMP Echo Replys".
        let ver = v("1.18.0");
        let list = specs(&["icmp"], &ver);
        let fills = dashboards::analyse(&ver, &list, &[]);
        let json = json!({"uid": "nlsO8tYVz", "title": "Hubble / Network Overview (Namespace)", "panels": [
            {"title": "Missing ICMP Echo Replies", "targets": [{"expr": "sum(rate(hubble_icmp_total{type=\"EchoRequest\"}[5m])) by (source)"}]}
        ]});
        let d = dashboard_queries(&json.to_string()).unwrap();
        let held = BTreeMap::from([("icmp", 3u64)]);
        let l7 = no_l7();
        let ev = PanelEvidence {
            enabled: Some(&["icmp"]),
            fills: &fills,
            held: &held,
            l7: &l7,
        };
        let a = judge_panel(&d, &d.panels[0], &[Ok(QueryData::Vector(vec![]))], &ev);
        let r = a.reason.as_deref().unwrap();
        assert!(r.contains("needs sourceContext on icmp"), "{r}");
    }

    fn up(job: &str, node: Option<&str>, instance: &str, value: &str) -> Value {
        let mut m = json!({"__name__": "up", "job": job, "instance": instance});
        if let Some(n) = node {
            m["node"] = json!(n);
        }
        json!({"metric": m, "value": [0, value]})
    }

    #[test]
    fn the_whole_judgement_from_literal_answers() {
        let ver = v("1.18.0");
        let list = specs(&["drop", "tcp", "httpV2"], &ver);
        let expected: Vec<Expected> = list.iter().map(Expected::from_spec).collect();
        let answers = Answers {
            up: Ok(vector(json!([
                up("cilium-agent", Some("n1"), "10.0.0.1:9962", "1"),
                up("hubble-metrics", Some("n1"), "10.0.0.1:9965", "1"),
                up("cilium-agent", Some("n2"), "10.0.0.2:9962", "0"),
                up("hubble-metrics", Some("n2"), "10.0.0.2:9965", "1"),
                up("cilium-operator", None, "10.0.1.1:9963", "1"),
                up("hubble-relay", None, "10.0.1.2:9966", "1"),
            ]))),
            series: Ok(vector(json!([
                {"metric": {"__name__": "hubble_drop_total"}, "value": [0, "12"]},
                {"metric": {"__name__": "hubble_tcp_flags_total"}, "value": [0, "4"]}
            ]))),
            nodes_per_name: Ok(vector(json!([
                {"metric": {"__name__": "hubble_drop_total"}, "value": [0, "2"]},
                {"metric": {"__name__": "hubble_tcp_flags_total"}, "value": [0, "1"]}
            ]))),
            node_series: Ok(vector(json!([
                {"metric": {"node": "n1", "instance": "10.0.0.1:9965"}, "value": [0, "10"]},
                {"metric": {"node": "n2", "instance": "10.0.0.2:9965"}, "value": [0, "6"]}
            ]))),
            targets: Some(Ok(TargetsData {
                active_targets: vec![Target {
                    labels: BTreeMap::from([
                        ("job".into(), "cilium-agent".into()),
                        ("instance".into(), "10.0.0.2:9962".into()),
                    ]),
                    health: "down".into(),
                    last_error: "connection refused".into(),
                    ..Target::default()
                }],
                dropped_targets: vec![],
            })),
            panels: vec![],
        };
        let inputs = Inputs {
            expected: Some(expected),
            dashboards: vec![],
            fills: vec![],
            l7: no_l7(),
            estimate: None,
            scanned: None,
            strict: false,
        };
        let r = judge(&answers, &inputs);
        assert_eq!(r.nodes.len(), 2, "relay is not a node: {:?}", r.nodes);
        let n2 = &r.nodes[1];
        assert_eq!((n2.node.as_str(), n2.status), ("n2", Status::Fail));
        assert_eq!(
            n2.agent.as_ref().unwrap().last_error.as_deref(),
            Some("connection refused")
        );
        assert_eq!(n2.hubble_series, 6);
        assert_eq!(r.operators.len(), 1);
        let what: Vec<&str> = r.checks.iter().map(|c| c.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "Prometheus scrapes cilium-agent: 1/2 targets up",
                "Prometheus scrapes cilium-operator: 1/1 targets up",
                "Prometheus scrapes hubble: 2/2 targets up"
            ]
        );
        let fam = |n: &str| r.families.iter().find(|f| f.family == n).unwrap();
        assert_eq!(
            (
                fam("drop").status,
                fam("drop").samples,
                fam("drop").nodes_with_samples
            ),
            (Status::Pass, 12, 2)
        );
        assert_eq!(fam("httpV2").status, Status::Warn);
        assert!(
            fam("httpV2").detail.contains("no CiliumNetworkPolicy"),
            "{:?}",
            fam("httpV2")
        );
        assert_eq!(r.status, Status::Fail);
        assert!(!r.passed);
        assert_eq!(r.queries, 5);

        // A node without the Hubble target the others have.
        let mut partial = answers.clone();
        partial.up = Ok(vector(json!([
            up("cilium-agent", Some("n1"), "10.0.0.1:9962", "1"),
            up("hubble-metrics", Some("n1"), "10.0.0.1:9965", "1"),
            up("cilium-agent", Some("n3"), "10.0.0.3:9962", "1"),
        ])));
        let r3 = judge(&partial, &inputs);
        let st: Vec<(&str, Status)> = r3
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.status))
            .collect();
        assert_eq!(st, [("n1", Status::Pass), ("n3", Status::Warn)]);

        // Prometheus down: every query fails, the report says so and nothing passes.
        let down = || Err(err("transport", "connection refused"));
        let none = Answers {
            up: down(),
            series: down(),
            nodes_per_name: down(),
            node_series: down(),
            targets: None,
            panels: vec![],
        };
        let r = judge(&none, &inputs);
        assert!(r.nodes.is_empty());
        assert_eq!(r.status, Status::Fail);
        assert!(r.families.iter().all(|f| f.status == Status::Skip));
        assert!(
            r.checks[0]
                .what
                .contains("could not answer which targets are up")
        );
    }

    #[test]
    fn no_target_for_a_component_is_a_warning_with_the_value() {
        let answers = Answers {
            up: Ok(vector(json!([up(
                "cilium-agent",
                Some("n1"),
                "a:9962",
                "1"
            )]))),
            series: Ok(QueryData::Vector(vec![])),
            nodes_per_name: Ok(QueryData::Vector(vec![])),
            node_series: Ok(QueryData::Vector(vec![])),
            targets: None,
            panels: vec![],
        };
        let inputs = Inputs {
            expected: None,
            dashboards: vec![],
            fills: vec![],
            l7: no_l7(),
            estimate: None,
            scanned: None,
            strict: false,
        };
        let r = judge(&answers, &inputs);
        assert_eq!(
            r.nodes[0].status,
            Status::Pass,
            "no Hubble target anywhere: nothing lacks"
        );
        let hubble = r
            .checks
            .iter()
            .find(|c| c.what == "Prometheus has no hubble target")
            .unwrap();
        assert!(
            hubble
                .hint
                .as_deref()
                .unwrap()
                .contains("hubble.metrics.serviceMonitor.enabled=true")
        );
        assert_eq!(r.status, Status::Warn);
        assert!(r.passed);
    }

    #[test]
    fn the_rule_for_from_prometheus() {
        assert_eq!(prefer_from_prometheus(FROM_PROMETHEUS_NODES, true), None);
        assert_eq!(prefer_from_prometheus(10, true), None);
        let s = prefer_from_prometheus(FROM_PROMETHEUS_NODES + 1, true).unwrap();
        assert!(
            s.contains("--from-prometheus") && s.contains("1001 nodes"),
            "{s}"
        );
        assert!(
            prefer_from_prometheus(5000, false)
                .unwrap()
                .contains("kube-prometheus-stack")
        );
    }

    #[test]
    fn jobs_and_encoding() {
        assert_eq!(Job::of("hubble-metrics"), Some(Job::Hubble));
        assert_eq!(Job::of("hubble-relay"), None);
        assert_eq!(Job::of("cilium-operator"), Some(Job::Operator));
        assert_eq!(Job::of("cilium-agent"), Some(Job::Agent));
        assert_eq!(Job::of("node-exporter"), None);
        assert_eq!(encode(r#"up{a=~".*"} 5"#), "up%7Ba%3D~%22.%2A%22%7D%205");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn parallel_keeps_order() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(
            parallel(&items, 4, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert!(parallel(&Vec::<u32>::new(), 4, |x| *x).is_empty());
    }
}
