//! The questions `ciliumon setup` asks on a terminal. The question model is pure and talks to a
//! `Prompter`: dialoguer on a terminal, a script in unit tests. Every list comes from the
//! catalogue. Esc at any question aborts with nothing changed (`None`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::catalogue::dashboards::{self, MetricsPreset};
use crate::catalogue::{self, Component, Handler, OptionKind};
use crate::cluster::{Preflight, StackRelease};
use crate::config::Config;
use crate::config::{ServiceType, StackMode};
use crate::dynamic::{MetricEntry, MetricsMode, ReleaseMetrics};
use crate::estimate::{self, Inventory};
use crate::plan::Sizes;
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

/// The list the release runs now: its static `hubble.metrics.enabled`, else (dynamic mode) the
/// metrics of its dynamic file with their filters. Empty when it runs none.
fn release_entries(current: &Value) -> Vec<MetricEntry> {
    let statics: Vec<MetricEntry> = current
        .pointer("/hubble/metrics/enabled")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(MetricEntry::from))
                .collect()
        })
        .unwrap_or_default();
    let release = ReleaseMetrics::read(current);
    if !statics.is_empty() || !release.dynamic {
        return statics;
    }
    release
        .content
        .unwrap_or_default()
        .iter()
        .map(|m| MetricEntry {
            spec: m.spec_text(),
            include_filters: m.include_filters.clone().unwrap_or_default(),
            exclude_filters: m.exclude_filters.clone().unwrap_or_default(),
        })
        .collect()
}

/// The specs of `list` Cilium `version` reads (the others are left out: the families question
/// then offers what is valid).
fn parse_specs<S: AsRef<str>>(list: &[S], version: &Version) -> Vec<MetricSpec> {
    list.iter()
        .filter_map(|s| MetricSpec::parse(s.as_ref(), version).ok())
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
    /// The cluster's size for the series estimate (preflight's count, or the `--estimate-*`
    /// flags'), or why there is none.
    pub sizes: Sizes,
    existing: HashMap<&'static str, MetricSpec>,
    chosen: Vec<&'static Handler>,
    /// The `dashboards` preset's list, when the answers started from it: kept unchanged, the
    /// configuration records the preset, not the list.
    preset: Option<Vec<String>>,
    /// The `cluster` label was offered already (with the preset).
    cluster_label_asked: bool,
}

impl<'a> Interview<'a> {
    pub fn new(
        config: Config,
        version: &'a Version,
        current: &'a Value,
        found_stack: Option<&'a StackRelease>,
        prometheuses: &'a [PrometheusFound],
    ) -> Interview<'a> {
        let mut iv = Interview {
            config,
            version,
            current,
            found_stack,
            prometheuses,
            sizes: Sizes::default(),
            existing: HashMap::new(),
            chosen: vec![],
            preset: None,
            cluster_label_asked: false,
        };
        let start = match release_entries(current) {
            l if l.is_empty() => iv.config.metric_list(version),
            l => l,
        };
        iv.start_from(&start);
        iv
    }

    /// The cluster's size for the estimate figures.
    pub fn with_sizes(mut self, sizes: Sizes) -> Interview<'a> {
        self.sizes = sizes;
        self
    }

    fn inventory(&self) -> Option<&Inventory> {
        match &self.sizes {
            Sizes::Known { inventory, .. } => Some(inventory),
            Sizes::Unknown { .. } => None,
        }
    }

    /// The families and options the following questions pre-select.
    fn start_from<S: AsRef<str>>(&mut self, list: &[S]) {
        self.existing = parse_specs(list, self.version)
            .into_iter()
            .map(|s| (s.handler.name, s))
            .collect();
    }
}

/// One question (or a few that belong together): `Ok(None)` is Esc. After it, what it
/// answered is valid: a question that can produce a combination the plan refuses re-asks or
/// offers the fix itself.
pub type Question = fn(&mut dyn Prompter, &mut Interview<'_>) -> Result<Option<()>>;

/// The questions, in the order they are asked. A new question (a preset, an estimate, a
/// metrics mode) is a function here.
pub const QUESTIONS: &[(&str, Question)] = &[
    ("start", ask_start),
    ("families", ask_families),
    ("options", ask_specs),
    ("mode", ask_mode),
    ("filters", ask_filters),
    ("components", ask_components),
    ("stack", ask_stack),
    ("cluster label", ask_cluster_label),
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

/// The lists the first question offers to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// What the release runs now.
    Release,
    /// The list from `--config` or `--metric`.
    Given,
    /// The `dashboards` preset for the version.
    Dashboards,
    /// The blog post's list (the default).
    Blog,
    /// Nothing pre-selected.
    Manual,
}

/// The family names of a list, for a row.
fn family_names<S: AsRef<str>>(list: &[S]) -> String {
    let names: Vec<&str> = list
        .iter()
        .map(|s| s.as_ref().split(':').next().unwrap_or_default())
        .collect();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// The starting lists for the interview, with their rows, and the one pre-selected: the preset
/// the configuration names, else the list it was given, else the release's, else the blog's.
fn starting_lists(
    iv: &Interview<'_>,
    preset: &dashboards::Preset,
) -> (Vec<(Start, String)>, usize) {
    let release = release_entries(iv.current);
    let given = &iv.config.hubble.metrics;
    let is_given =
        iv.config.hubble.metrics_preset.is_none() && *given != crate::config::BLOG_METRICS;
    // The preset first (the issue's "offered first"); the default is what is chosen already.
    let mut rows = Vec::new();
    let cannot = match preset.unfillable.len() {
        0 => "every panel".to_string(),
        n => format!("all but {n} panel{}", if n == 1 { "" } else { "s" }),
    };
    rows.push((
        Start::Dashboards,
        format!("dashboards  the smallest list that fills the dashboards ({cannot})"),
    ));
    if !release.is_empty() {
        let names = family_names(&release);
        rows.push((
            Start::Release,
            format!("release     what the release runs now: {names}"),
        ));
    }
    if is_given {
        let names = family_names(given);
        rows.push((
            Start::Given,
            format!("given       the list given (--config, --metric): {names}"),
        ));
    }
    let blog = family_names(crate::config::BLOG_METRICS);
    rows.push((
        Start::Blog,
        format!("blog        the default (the blog post's): {blog}"),
    ));
    rows.push((
        Start::Manual,
        "manual      choose the families by hand, none pre-selected".to_string(),
    ));
    let wanted = match iv.config.hubble.metrics_preset {
        Some(MetricsPreset::Dashboards) => Start::Dashboards,
        Some(MetricsPreset::Blog) => Start::Blog,
        None if is_given => Start::Given,
        None if !release.is_empty() => Start::Release,
        None => Start::Blog,
    };
    let default = rows.iter().position(|(s, _)| *s == wanted).unwrap_or(0);
    (rows, default)
}

/// First, the list to start from: the `dashboards` preset, the blog's, what the release runs
/// now, the list given, or none. The following questions pre-select its families and options.
fn ask_start(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let preset = dashboards::preset(iv.version);
    let (lists, default) = starting_lists(iv, &preset);
    let rows: Vec<String> = lists.iter().map(|(_, r)| r.clone()).collect();
    let start = lists[answer!(p.select("Metric list to start from", &rows, default))].0;
    iv.preset = None;
    match start {
        Start::Release => {
            // With its filters (dynamic mode), kept with their families.
            let release = release_entries(iv.current);
            iv.start_from(&release);
            iv.config.hubble.metrics = release;
        }
        Start::Given => {
            let given = iv.config.hubble.metrics.clone();
            iv.start_from(&given);
        }
        Start::Dashboards => {
            iv.start_from(&preset.metrics);
            iv.preset = Some(preset.metrics.clone());
            answer!(preset_cluster_label(p, iv, &preset));
        }
        Start::Blog => iv.start_from(crate::config::BLOG_METRICS),
        Start::Manual => iv.start_from::<&str>(&[]),
    }
    Ok(Some(()))
}

/// With the preset: offer the `cluster` label its dashboards select on (the ServiceMonitors'
/// relabelings, from the chart's `cluster.name`), then say what its list fills and what it
/// cannot (the plan's dashboard notes, from the catalogue).
fn preset_cluster_label(
    p: &mut dyn Prompter,
    iv: &mut Interview<'_>,
    preset: &dashboards::Preset,
) -> Result<Option<()>> {
    if preset.relabelings.contains(&"cluster") && !iv.config.hubble.cluster_label {
        p.note("Some of the dashboards' panels select on a cluster label, which nothing adds by default: the ServiceMonitors' relabelings can add it (from the chart's cluster.name).");
        answer!(confirm_cluster_label(p, iv));
    }
    let relabeled: &[&str] = if iv.config.hubble.cluster_label {
        &["cluster"]
    } else {
        &[]
    };
    let specs = parse_specs(&preset.metrics, iv.version);
    for line in dashboards::notes(&dashboards::analyse(iv.version, &specs, relabeled)) {
        p.note(&line);
    }
    Ok(Some(()))
}

/// Ask whether the ServiceMonitors' relabelings add `cluster=<the release's cluster.name>`.
fn confirm_cluster_label(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let name = iv
        .current
        .pointer("/cluster/name")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let prompt = format!(
        "Add cluster={} to the series for the dashboards?",
        crate::escape::escape(name)
    );
    iv.config.hubble.cluster_label = answer!(p.confirm(&prompt, true));
    iv.cluster_label_asked = true;
    Ok(Some(()))
}

/// Last, outside the preset (which offers it itself): when dashboards and ServiceMonitors will
/// be installed and a `cluster` label would fill panels the chosen list leaves empty, say how
/// many and offer it.
fn ask_cluster_label(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let c = &iv.config;
    let installs = c.dashboards && c.service_monitors && c.prometheus_stack.mode != StackMode::None;
    if !installs || c.hubble.cluster_label || iv.cluster_label_asked {
        return Ok(Some(()));
    }
    let list: Vec<String> = c
        .metric_list(iv.version)
        .into_iter()
        .map(|e| e.spec)
        .collect();
    let specs = parse_specs(&list, iv.version);
    let filled = |relabeled: &[&str]| -> usize {
        dashboards::analyse(iv.version, &specs, relabeled)
            .iter()
            .map(|d| d.filled)
            .sum()
    };
    let more = filled(&["cluster"]).saturating_sub(filled(&[]));
    if more == 0 {
        return Ok(Some(()));
    }
    p.note(&format!(
        "{more} more dashboard panel{} fill with a cluster label, which nothing adds by default: the ServiceMonitors' relabelings can add it (from the chart's cluster.name).",
        if more == 1 { "" } else { "s" }
    ));
    confirm_cluster_label(p, iv)
}

/// `~1.2k`: a count in a few characters.
pub fn short_count(n: u64) -> String {
    const UNITS: [(u64, &str); 6] = [
        (1_000_000_000_000_000_000, "E"),
        (1_000_000_000_000_000, "P"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    for (unit, name) in UNITS {
        if n >= unit {
            let whole = n / unit;
            return if whole < 10 {
                format!("~{whole}.{}{name}", (n % unit) / (unit / 10))
            } else {
                format!("~{whole}{name}")
            };
        }
    }
    format!("~{n}")
}

/// `~1.2k series`: what `spec` creates on the interview's cluster.
fn series_text(inv: &Inventory, spec: &MetricSpec) -> String {
    format!("{} series", short_count(estimate::family_series(spec, inv)))
}

/// `~60k series (its filters keep ~10% of ~600k)`, or `~600k series` without filters.
fn filtered_text(f: &estimate::FamilySeries) -> String {
    let series = format!("{} series", short_count(f.series));
    match &f.filters {
        None => series,
        Some(x) => format!(
            "{series} (its filters keep ~{}% of {})",
            x.kept_percent,
            short_count(x.unfiltered)
        ),
    }
}

/// The estimate column of a row (`  ~1.2k series  `), blank when there is no figure; nothing
/// at all without an estimate.
fn figure_column(inv: Option<&Inventory>, figure: Option<String>) -> String {
    match inv {
        Some(_) => format!("{:>12}  ", figure.unwrap_or_default()),
        None => String::new(),
    }
}

/// The estimate columns of a list's rows: none when no row has a figure.
fn figure_columns(figures: Vec<Option<String>>) -> Vec<String> {
    let any = figures.iter().any(Option::is_some);
    figures
        .into_iter()
        .map(|f| match any {
            true => format!("{:>12}  ", f.unwrap_or_default()),
            false => String::new(),
        })
        .collect()
}

/// The figure of a choice that multiplies the series: `with` (the choice made) when it creates
/// more than `without`.
fn choice_figure(
    inv: Option<&Inventory>,
    with: &MetricSpec,
    without: &MetricSpec,
) -> Option<String> {
    let inv = inv?;
    (estimate::family_series(with, inv) > estimate::family_series(without, inv))
        .then(|| series_text(inv, with))
}

/// An option's key (`labelsContext` for the labels).
fn option_key(o: &SpecOption) -> &'static str {
    match o {
        SpecOption::Flag(k) | SpecOption::Value(k, _) | SpecOption::Context(k, _) => k,
        SpecOption::Labels(_) => "labelsContext",
    }
}

/// `spec` with the option of `key` replaced by `o` (or removed, with `None`).
fn with_option(spec: &MetricSpec, key: &str, o: Option<SpecOption>) -> MetricSpec {
    let mut s = spec.clone();
    s.options.retain(|x| option_key(x) != key);
    s.options.extend(o);
    s
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
    if let Sizes::Unknown { reason } = &iv.sizes {
        p.note(&format!("No series estimate: {reason}"));
    }
    let inv = iv.inventory().copied();
    loop {
        let items: Vec<(String, bool)> = handlers
            .iter()
            .zip(&on)
            .map(|(h, on)| {
                let spec = iv
                    .existing
                    .get(h.name)
                    .cloned()
                    .unwrap_or_else(|| MetricSpec::from_options(h, vec![]));
                let figure = inv.map(|inv| series_text(&inv, &spec));
                let column = figure_column(inv.as_ref(), figure);
                let mut label = format!("{:<width$}  {column}{}", h.name, h.description);
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
    let inv = iv.inventory().copied();
    let adjust: Vec<usize> = if chosen.is_empty() {
        vec![]
    } else {
        let width = chosen.iter().map(|h| h.name.len()).max().unwrap_or(0);
        let items: Vec<(String, bool)> = chosen
            .iter()
            .map(|h| {
                let spec = iv
                    .existing
                    .get(h.name)
                    .cloned()
                    .unwrap_or_else(|| MetricSpec::from_options(h, vec![]));
                let now = spec
                    .to_string()
                    .split_once(':')
                    .map(|(_, o)| o.to_string())
                    .unwrap_or_else(|| "(no options set)".to_string());
                let column = figure_column(inv.as_ref(), inv.map(|i| series_text(&i, &spec)));
                (format!("{:<width$}  {column}{now}", h.name), false)
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
            answer!(family_options(p, &start, iv.version, inv.as_ref()))
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
    estimate_total(p, iv, &specs);
    let specs: Vec<String> = specs.iter().map(MetricSpec::to_string).collect();
    iv.config.hubble.metrics = crate::dynamic::entries_for(&specs, &iv.config.hubble.metrics);
    // The answers are the list now, unless they are the preset's unchanged: then the
    // configuration records the preset (resolved for the target version by the plan).
    let kept = iv.preset.as_ref() == Some(&specs)
        && !iv
            .config
            .hubble
            .metrics
            .iter()
            .any(MetricEntry::has_filters);
    iv.config.hubble.metrics_preset = kept.then_some(MetricsPreset::Dashboards);
    Ok(Some(()))
}

/// After the options: the estimate's inputs and total, and the plan's warning naming the
/// costliest choice when the total is above the threshold.
fn estimate_total(p: &mut dyn Prompter, iv: &Interview<'_>, specs: &[MetricSpec]) {
    let Sizes::Known {
        inventory: inv,
        source,
    } = &iv.sizes
    else {
        return;
    };
    let est = estimate::estimate(inv, specs);
    p.note(&format!(
        "Series estimate for {} nodes, {} namespaces, {} pods, {} workloads ({source}): {} series in total ({})",
        inv.nodes,
        inv.namespaces,
        inv.pods,
        inv.workloads,
        short_count(est.total),
        est.total
    ));
    if let Some(w) = estimate::warning(inv, specs) {
        p.note(&format!("warning: {w}"));
    }
}

/// Then, where Cilium has both (1.17+), the metrics mode: static or dynamic, explained, starting
/// from the configuration's, else what the release runs. Static mode drops the filters (only
/// dynamic metrics take them), and says so.
fn ask_mode(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    let modes = crate::dynamic::modes_for(iv.version);
    if modes.len() < 2 {
        return Ok(Some(()));
    }
    let runs = ReleaseMetrics::read(iv.current).mode();
    let wanted = iv
        .config
        .hubble
        .metrics_mode
        .or(runs)
        .unwrap_or(MetricsMode::Static);
    for m in &modes {
        p.note(&format!("{m}: {}", m.explain()));
    }
    let rows: Vec<String> = modes
        .iter()
        .map(|m| match Some(*m) == runs {
            true => format!("{m}  (what the release runs now)"),
            false => m.to_string(),
        })
        .collect();
    let default = modes.iter().position(|m| *m == wanted).unwrap_or(0);
    let prompt = format!("Hubble metrics mode for Cilium {}", iv.version);
    let mode = modes[answer!(p.select(&prompt, &rows, default))];
    iv.config.hubble.metrics_mode = Some(mode);
    let filtered: Vec<&str> = iv
        .config
        .hubble
        .metrics
        .iter()
        .filter(|e| e.has_filters())
        .map(|e| e.spec.split(':').next().unwrap_or_default())
        .collect();
    if mode == MetricsMode::Static && !filtered.is_empty() {
        p.note(&format!(
            "warning: static mode: the filters of {} are dropped (only dynamic Hubble metrics take filters)",
            filtered.join(", ")
        ));
        for e in &mut iv.config.hubble.metrics {
            e.include_filters.clear();
            e.exclude_filters.clear();
        }
    }
    Ok(Some(()))
}

/// The namespaces of an `includeFilters` list the wizard makes (`[{source_pod: [ns/...]},
/// {destination_pod: [ns/...]}]`): empty for no filters, `None` for other filters.
fn namespaces_in(filters: &[Value]) -> Option<Vec<String>> {
    if filters.is_empty() {
        return Some(vec![]);
    }
    let side = |f: &Value, key: &str| -> Option<Vec<String>> {
        let map = f.as_object().filter(|m| m.len() == 1)?;
        map.get(key)?
            .as_array()?
            .iter()
            .map(|v| v.as_str()?.strip_suffix('/').map(str::to_string))
            .collect()
    };
    match filters {
        [a, b] => {
            let from = side(a, "source_pod")?;
            (side(b, "destination_pod")? == from).then_some(from)
        }
        _ => None,
    }
}

/// `includeFilters` that count only the flows from or to pods of `text`'s namespaces
/// (comma-separated; none: no filter), checked as the agent checks them for Cilium `v`.
pub fn namespace_filter(text: &str, spec: &str, v: &Version) -> Result<Vec<Value>, String> {
    let names: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(vec![]);
    }
    // The problem names the namespace.
    if let Some(why) = names
        .iter()
        .find_map(|n| crate::names::namespace_problem(n))
    {
        return Err(why);
    }
    let pods: Vec<Value> = names.iter().map(|n| Value::from(format!("{n}/"))).collect();
    let list = vec![
        serde_json::json!({ "source_pod": pods }),
        serde_json::json!({ "destination_pod": pods }),
    ];
    crate::dynamic::validate_filters(spec, "includeFilters", &list, v)
        .map_err(|e| e.to_string())?;
    Ok(list)
}

/// In dynamic mode, the offer to count only some namespaces' flows for some families
/// (`includeFilters` on `source_pod`/`destination_pod` `ns/`), each with what it keeps of the
/// family's series (the estimate takes pods as spread evenly over the namespaces).
fn ask_filters(p: &mut dyn Prompter, iv: &mut Interview<'_>) -> Result<Option<()>> {
    if iv.config.hubble.metrics_mode != Some(MetricsMode::Dynamic) {
        return Ok(Some(()));
    }
    let mut entries = iv.config.metric_list(iv.version);
    if entries.is_empty() {
        return Ok(Some(()));
    }
    let family = |e: &MetricEntry| e.spec.split(':').next().unwrap_or_default().to_string();
    let filtered: Vec<String> = entries
        .iter()
        .filter(|e| e.has_filters())
        .map(family)
        .collect();
    if !filtered.is_empty() {
        p.note(&format!(
            "Filters now: {} (answering no keeps them)",
            filtered.join(", ")
        ));
    }
    let prompt = "Count only some namespaces' flows for some families?";
    if !answer!(p.confirm(prompt, false)) {
        return Ok(Some(()));
    }
    let rows = filter_rows(iv, &entries);
    let picked = answer!(p.multi_select(
        "Families to filter by namespace (the others keep theirs)",
        &rows
    ));
    for i in picked {
        let e = &mut entries[i];
        let now = namespaces_in(&e.include_filters);
        let mut prompt = format!("{}: count the namespaces (a,b; empty: all)", family(e));
        if now.is_none() {
            prompt.push_str(", replacing its filters");
        }
        let default = now.unwrap_or_default().join(",");
        let (spec, v) = (e.spec.clone(), iv.version);
        let text = answer!(input_checked(p, &prompt, &default, |t| namespace_filter(
            t, &spec, v
        )
        .err()));
        e.include_filters = namespace_filter(&text, &spec, v).expect("checked");
        if let (Some(inv), Ok(s)) = (iv.inventory(), MetricSpec::parse(&spec, v)) {
            let f = estimate::filtered_series(&s, Some(e), inv);
            if f.filters.is_some() {
                p.note(&format!(
                    "{}: {} with the filter (pods taken as spread evenly over the {} namespaces)",
                    f.family,
                    filtered_text(&f),
                    inv.namespaces
                ));
            }
        }
    }
    if iv.config.hubble.metrics_preset.is_some() && entries.iter().any(MetricEntry::has_filters) {
        p.note("The list is saved rather than the dashboards preset: a preset carries no filters");
        iv.config.hubble.metrics_preset = None;
    }
    iv.config.hubble.metrics = entries;
    Ok(Some(()))
}

/// The families' rows for the filters: what each counts now, and its series unfiltered (a
/// filter's saving is not estimated).
fn filter_rows(iv: &Interview<'_>, entries: &[MetricEntry]) -> Vec<(String, bool)> {
    let width = entries
        .iter()
        .map(|e| e.spec.split(':').next().unwrap_or_default().len())
        .max()
        .unwrap_or(0);
    entries
        .iter()
        .map(|e| {
            let name = e.spec.split(':').next().unwrap_or_default();
            let now = match namespaces_in(&e.include_filters) {
                Some(ns) if ns.is_empty() => "every flow".to_string(),
                Some(ns) => ns.join(", "),
                None => "its includeFilters".to_string(),
            };
            let figure = iv.inventory().and_then(|inv| {
                let spec = MetricSpec::parse(&e.spec, iv.version).ok()?;
                Some(format!(
                    "  {}",
                    filtered_text(&estimate::filtered_series(&spec, Some(e), inv))
                ))
            });
            (
                format!("{name:<width$}  now: {now}{}", figure.unwrap_or_default()),
                false,
            )
        })
        .collect()
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
    inv: Option<&Inventory>,
) -> Result<Option<MetricSpec>> {
    let h = start.handler;
    let mut options = answer!(own_options(p, start, version, inv));
    // Each question's figures count the answers before it (the keys it asks about are
    // untouched, so its pre-selection is the same).
    let mut so_far = start.clone();
    so_far
        .options
        .retain(|o| !h.options.iter().any(|x| x.key == option_key(o)));
    so_far.options.extend(options.iter().cloned());
    let labels = answer!(labels_option(p, &so_far, version, inv));
    so_far = with_option(&so_far, "labelsContext", labels.clone());
    options.extend(labels);
    options.extend(answer!(context_options(p, &so_far, version, inv)));
    Ok(Some(MetricSpec::from_options(h, options)))
}

/// The option the wizard sets for `o` when it is ticked.
fn ticked(o: &catalogue::HandlerOption) -> SpecOption {
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
}

/// The family's own options for `version`, pre-selected from `start`, with the series of those
/// that multiply them (`dns:query`, `flows-to-world:port`).
fn own_options(
    p: &mut dyn Prompter,
    start: &MetricSpec,
    version: &Version,
    inv: Option<&Inventory>,
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
    let columns = figure_columns(
        own.iter()
            .map(|o| {
                let with = with_option(start, o.key, Some(ticked(o)));
                choice_figure(inv, &with, &with_option(start, o.key, None))
            })
            .collect(),
    );
    let items: Vec<(String, bool)> = own
        .iter()
        .zip(&columns)
        .map(|(o, column)| {
            let on = start.options.iter().any(|s| match s {
                SpecOption::Flag(k) => *k == o.key,
                SpecOption::Value(k, v) => *k == o.key && *v != "false",
                _ => false,
            });
            (format!("{:<12}  {column}{}", o.key, o.description), on)
        })
        .collect();
    let on = answer!(p.multi_select(&format!("{}: options", h.name), &items));
    Ok(Some(on.into_iter().map(|i| ticked(own[i])).collect()))
}

/// `labelsContext`: the labels of `version`, pre-selected from `start`, each with the series the
/// family has with it (when it multiplies them); `Some(None)` when none is chosen.
fn labels_option(
    p: &mut dyn Prompter,
    start: &MetricSpec,
    version: &Version,
    inv: Option<&Inventory>,
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
    let set = |with: bool, name: &'static str| {
        let mut ls: Vec<&'static str> = had.iter().copied().filter(|l| *l != name).collect();
        if with {
            ls.push(name);
        }
        with_option(
            start,
            "labelsContext",
            (!ls.is_empty()).then_some(SpecOption::Labels(ls)),
        )
    };
    let columns = figure_columns(
        labels
            .iter()
            .map(|l| choice_figure(inv, &set(true, l.name), &set(false, l.name)))
            .collect(),
    );
    // Aligned when there are figures; `name  (many series...)` otherwise.
    let width = match columns.iter().any(|c| !c.is_empty()) {
        true => labels.iter().map(|l| l.name.len()).max().unwrap_or(0),
        false => 0,
    };
    let items: Vec<(String, bool)> = labels
        .iter()
        .zip(&columns)
        .map(|(l, column)| {
            let many = if l.high_cardinality {
                "(many series: one per value)"
            } else {
                ""
            };
            let label = format!("{:<width$}  {column}{many}", l.name);
            (label.trim_end().to_string(), had.contains(&l.name))
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
    inv: Option<&Inventory>,
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
    let ask =
        |p: &mut dyn Prompter, k: &catalogue::ContextKey, current: Option<Vec<&'static str>>| {
            context_question(p, Asked { start, key: k, inv }, current, &values)
        };
    let mut options = Vec::new();
    let mut asked: Vec<&str> = Vec::new();
    let plain: Vec<_> = catalogue::context_keys_for(version)
        .filter(|k| !k.labels && k.refines.is_none())
        .collect();
    for k in &plain {
        if let Some(ids) = answer!(ask(p, k, current(k.key))) {
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
                if let Some(ids) = answer!(ask(p, k, current(k.key))) {
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

/// The context key asked about, in the family `start`, and the cluster's size for the figures.
#[derive(Clone, Copy)]
struct Asked<'a> {
    start: &'a MetricSpec,
    key: &'a catalogue::ContextKey,
    inv: Option<&'a Inventory>,
}

/// One context key: its first choice (pre-selected from `current`), then fallbacks, in order,
/// used when the value before is empty (e.g. `workload-name|reserved-identity`). The user's
/// fallbacks are kept when the first choice is unchanged. `Some(None)` is "(none)": the key is
/// not set; `None` is Esc.
fn context_question(
    p: &mut dyn Prompter,
    asked: Asked<'_>,
    current: Option<Vec<&'static str>>,
    values: &[&'static catalogue::ContextValue],
) -> Result<Option<Option<Vec<&'static str>>>> {
    let Asked { start, key: k, inv } = asked;
    let family = start.handler.name;
    // Each value with the series of the family when it is added to `chain` (when it multiplies
    // them).
    let lines = |values: &[&catalogue::ContextValue], chain: &[&'static str]| {
        let spec = |v: &catalogue::ContextValue, with: bool| {
            let mut ids = chain.to_vec();
            if with {
                ids.push(v.name);
            }
            let o = (!ids.is_empty()).then_some(SpecOption::Context(k.key, ids));
            with_option(start, k.key, o)
        };
        let figures = values
            .iter()
            .map(|v| choice_figure(inv, &spec(v, true), &spec(v, false)))
            .collect();
        let rows = values
            .iter()
            .zip(figure_columns(figures))
            .map(|(v, column)| {
                let many = if v.high_cardinality {
                    " (many series)"
                } else {
                    ""
                };
                format!("{:<22}  {column}{}{many}", v.name, v.description)
            });
        rows.collect::<Vec<String>>()
    };
    let mut names = vec!["(none)".to_string()];
    names.extend(lines(values, &[]));
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
        let rest: Vec<&catalogue::ContextValue> = values
            .iter()
            .copied()
            .filter(|v| !chain.contains(&v.name))
            .collect();
        let mut names = vec!["(no fallback)".to_string()];
        names.extend(lines(&rest, &chain));
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
            // Room for ` (y/n) › yes`.
            .with_prompt(self.prompt(prompt, 12))
            .default(default)
            .interact_opt()
            .context("cannot ask")
    }

    fn input(&mut self, prompt: &str, default: &str) -> Result<Option<String>> {
        read_line(&self.theme, &self.prompt(prompt, default.len()), default)
    }

    /// Wrapped to the terminal's width (continuation lines indented), so that nothing is
    /// wider than the screen.
    fn note(&mut self, text: &str) {
        let (warn, rest) = match text.strip_prefix("warning: ") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let first = if warn { "warning: ".len() } else { 0 };
        for (i, line) in crate::ui::wrap(rest, self.printer.columns(), first, 2)
            .iter()
            .enumerate()
        {
            match (i, warn) {
                (0, true) => self.printer.warn(line),
                (0, false) => self.printer.say(line),
                _ => self.printer.say(&format!("  {line}")),
            }
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
    // No `()` for an empty default.
    let shown = (!default.is_empty()).then_some(default);
    theme.format_input_prompt(&mut head, prompt, shown).ok();
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
        )
        .with_sizes(pf.sizes.clone());
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

/// Write a ciliumon.yaml. With a preset, the file names the preset and no list (a file with
/// both is refused when it is read).
pub fn save_config(config: &Config, path: &Path) -> Result<()> {
    let mut text = config.to_yaml()?;
    if config.hubble.metrics_preset.is_some() {
        let mut doc = serde_json::to_value(config)?;
        if let Some(h) = doc.get_mut("hubble").and_then(Value::as_object_mut) {
            h.remove("metrics");
        }
        let header = text.lines().next().unwrap_or_default().to_string();
        text = format!("{header}\n{}", crate::yaml::to_string(&doc)?);
    }
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
        /// Esc, whatever the question.
        Esc,
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
                A::Esc => Ok(None),
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
                A::Esc => Ok(None),
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
                A::Esc => Ok(None),
                A::Yes(v) => Ok(v),
                A::Keep => Ok(Some(default)),
                a => panic!("{prompt}: scripted {a:?}"),
            }
        }
        fn input(&mut self, prompt: &str, default: &str) -> Result<Option<String>> {
            self.seen.push((prompt.into(), vec![]));
            match self.next(prompt) {
                A::Esc => Ok(None),
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

    /// The estimate tests' cluster.
    const SAMPLE: Inventory = Inventory {
        nodes: 100,
        namespaces: 20,
        pods: 2000,
        workloads: 300,
    };

    fn known(inventory: Inventory) -> Sizes {
        Sizes::Known {
            inventory,
            source: "from the --estimate-* flags".into(),
        }
    }

    /// The warnings among the notes (the others say what the questions are about).
    fn warnings(s: &Script) -> Vec<&str> {
        s.notes
            .iter()
            .map(String::as_str)
            .filter(|n| n.starts_with("warning: "))
            .collect()
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
        let mut s = Script::new(vec![A::Keep; 11]);
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        let (_, items) = &s.seen[1];
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
        let mut s = Script::new(vec![A::Keep, A::Keep, A::All]);
        // Probe the items of the drop family's labels question by running once with Esc there.
        s.answers.insert(0, A::Multi(None));
        let r = interview(&mut s, config.clone(), &v(), &current, None).unwrap();
        assert!(r.is_none(), "Esc at a family question aborts");
        let labels = s.seen.last().unwrap().1.clone();
        let src_ip = index_of(&labels, "source_ip");
        let src_ns = index_of(&labels, "source_namespace");
        let mut s = Script::new(vec![
            A::Keep,                              // start: the list given
            A::Keep,                              // families: drop
            A::All,                               // adjust options
            A::Multi(Some(vec![src_ip, src_ns])), // labels
            A::Select(Some(0)),                   // sourceContext: none
            A::Select(Some(0)),                   // destinationContext: none
            A::Yes(Some(false)),                  // egress/ingress contexts: no
            A::Keep,                              // metrics mode: static
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
            A::Keep,                  // start: the list given
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
            A::Keep,            // metrics mode: static
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
            warnings(&s),
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
            A::Keep, // start: what the release runs
            A::Keep, // families: flow, from the cluster
            A::All,  // adjust options
            A::Keep, // labels: none
            A::Keep, // sourceContext: pod
            A::Keep, // destinationContext: none
        ];
        let rest = vec![A::Keep; 8];

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
            A::Keep,                // start: the list given
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
                A::Keep,        // start: the list given
                A::Keep,        // families: flow
                A::Keep,        // adjust options: none
                A::Multi(None), // components: Esc (no metrics mode before 1.17)
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
            let mut s = Script::new(vec![A::Keep, A::Multi(None)]);
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
            let (_, items) = &s.seen[1];
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
        // start, families, adjust?, mode, components: Esc.
        let mut s = Script::new(vec![A::Keep, A::Keep, A::Keep, A::Keep, A::Multi(None)]);
        assert!(
            interview(&mut s, config.clone(), &v(), &serde_json::json!({}), None)
                .unwrap()
                .is_none()
        );
        assert_eq!(s.seen.len(), 5);
        // ..., UI service type, stack: Esc.
        let mut s = Script::new([vec![A::Keep; 6], vec![A::Select(None)]].concat());
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
        let mut s = Script::new(vec![A::Keep; 12]);
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
                let spec = family_options(&mut p, &start, version, None)
                    .unwrap()
                    .unwrap();
                // The figures change no answer.
                let mut q = Everything::default();
                let with_figures = family_options(&mut q, &start, version, Some(&SAMPLE));
                assert_eq!(with_figures.unwrap().as_ref(), Some(&spec), "{version}");
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
        let mut s = Script::new(vec![A::Keep, A::Keep, A::Keep, A::Keep, A::Multi(None)]);
        let r = interview(
            &mut s,
            Config::default(),
            &v(),
            &serde_json::json!({}),
            None,
        )
        .unwrap();
        assert!(r.is_none());
        let warned = warnings(&s);
        assert_eq!(
            warned,
            ["warning: httpV2: source_ip, destination_ip multiply the series (one per value)"]
        );
        assert!(warned[0].len() < 100, "{}", warned[0]);
    }

    /// The context list marks `pod` (and the other per-pod/per-address values) as many series,
    /// as the warning after it does.
    #[test]
    fn the_context_list_marks_values_with_many_series() {
        let mut config = Config::default();
        config.hubble.metrics = vec!["drop".into()];
        let mut s = Script::new(vec![
            A::Keep,
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
                A::Keep, // start: the blog's list
                A::Keep, // families
                A::Keep, // no options adjusted
                A::Keep, // metrics mode: static
                components_without_openmetrics.clone(),
                A::Select(Some(fix)),
                A::Keep, // UI service type
                A::Keep,
                A::Keep,
                A::Keep,
                A::Keep,
                A::Keep,
                A::Keep, // the cluster label
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
        let mut s = Script::new(vec![A::Keep, A::All, A::Multi(None)]);
        let r = interview(
            &mut s,
            Config::default(),
            &v(),
            &serde_json::json!({}),
            None,
        )
        .unwrap();
        assert!(r.is_none());
        assert_eq!(s.seen.len(), 3, "{:?}", s.seen);
        assert!(
            s.seen[2].0.starts_with("Hubble metric families"),
            "asked again"
        );
        assert!(s.notes.iter().any(|n| n.contains("http")), "{:?}", s.notes);
        // Asked again with the user's choice, not the start.
        assert!(s.seen[2].1.iter().all(|(_, on)| *on));
    }

    #[test]
    fn components_start_from_the_release() {
        let run = |current: Value| {
            let mut s = Script::new(vec![A::Keep, A::Keep, A::Keep, A::Keep, A::Multi(None)]);
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
            A::Keep,                 // start: the list given
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
        let adjust = &s.seen[2];
        assert!(adjust.0.starts_with("Families whose options to adjust"));
        let names: Vec<&str> = adjust.1.iter().map(|(l, _)| row_name(l)).collect();
        assert_eq!(names, ["dns", "drop", "tcp"]);
        assert!(adjust.1.iter().all(|(_, on)| !on), "none pre-selected");
        assert!(
            !s.seen.iter().any(|(p, _)| p.starts_with("dns:")),
            "dns not adjusted: {:?}",
            s.seen
        );
        assert!(s.seen[3].0.starts_with("drop: labels"));
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
            A::Keep, // metrics mode
            A::Keep,
            A::Keep,                    // UI service type
            A::Pick("reuse"),           // a Prometheus outside Helm
            A::Text("team=bad value!"), // refused, asked again
            A::Keep,                    // the default read from the object
            A::Keep,                    // Grafana's namespace: the Prometheus'
            A::Keep,
            A::Keep,
            A::Keep, // the cluster label
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

    fn target(version: &Version, current: Value) -> crate::plan::Target {
        crate::plan::Target {
            installed: Some(version.clone()),
            current_values: Some(current),
            ..Default::default()
        }
    }

    /// The first question offers the preset, the blog's list, the release's (when it runs
    /// one) and none; the preset kept unchanged is saved as the preset, not as its list, and
    /// the file replays it.
    #[test]
    fn the_preset_chosen_and_kept_is_saved_as_the_preset() {
        let current = serde_json::json!({"hubble": {"metrics": {"enabled": ["dns"]}}});
        let preset = dashboards::preset(&v());
        let mut s = Script::new(
            [
                vec![A::Pick("dashboards"), A::Keep], // the preset, the cluster label
                vec![A::Keep; 11],
            ]
            .concat(),
        );
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        let (prompt, starts) = &s.seen[0];
        assert_eq!(prompt, "Metric list to start from");
        let names: Vec<&str> = starts.iter().map(|(l, _)| row_name(l)).collect();
        assert_eq!(names, ["dashboards", "release", "blog", "manual"]);
        assert!(starts[1].1, "the release's list is the default");
        assert!(starts[1].0.ends_with("what the release runs now: dns"));
        assert!(starts[0].0.contains("(all but 1 panel)"), "{}", starts[0].0);
        // The preset's families and options are pre-selected.
        let families = &s.seen[2].1;
        let on: Vec<&str> = families
            .iter()
            .filter(|(_, on)| *on)
            .map(|(l, _)| row_name(l))
            .collect();
        let preset_names: Vec<&str> = preset
            .metrics
            .iter()
            .map(|m| m.split(':').next().unwrap())
            .collect();
        assert_eq!(on, preset_names);
        assert_eq!(c.hubble.metrics_preset, Some(MetricsPreset::Dashboards));
        assert!(
            c.hubble.cluster_label,
            "the cluster label was offered and taken"
        );
        // What it cannot fill is said, in the plan's words.
        assert!(
            s.notes.iter().any(|n| n.contains("32 of 33 panels fill")
                && n.contains("family http for hubble_http_responses_total")),
            "{:?}",
            s.notes
        );
        // Saved: the preset, no list; read back, it plans the preset's list.
        let dir = crate::run::PrivateDir::create().unwrap();
        let path = dir.path().join("ciliumon.yaml");
        save_config(&c, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("metricsPreset: dashboards"), "{text}");
        assert!(!text.contains("  metrics:"), "{text}");
        let back = Config::load(&path).unwrap();
        assert_eq!(back.hubble.metrics_preset, Some(MetricsPreset::Dashboards));
        let plan = crate::plan::build(&back, &target(&v(), current), &Default::default()).unwrap();
        assert_eq!(
            plan.cilium_values.pointer("/hubble/metrics/enabled"),
            Some(&serde_json::json!(preset.metrics))
        );
    }

    /// Started from the preset, then adjusted: the list is saved, not the preset.
    #[test]
    fn the_preset_adjusted_is_saved_as_the_list() {
        let preset = dashboards::preset(&v());
        let mut s = Script::new(vec![
            A::Pick("dashboards"),
            A::Yes(Some(false)), // no cluster label
            A::Keep,             // families: the preset's
            A::Multi(None),      // probe the adjust question
        ]);
        assert!(
            interview(
                &mut s,
                Config::default(),
                &v(),
                &serde_json::json!({}),
                None
            )
            .unwrap()
            .is_none()
        );
        let adjust = s.seen.last().unwrap().1.clone();
        let drop = index_of(&adjust, "drop");
        // The preset's notes without the label say which panels need it.
        assert!(
            s.notes.iter().any(|n| n.contains("label cluster")),
            "{:?}",
            s.notes
        );
        let mut s = Script::new(
            [
                vec![
                    A::Pick("dashboards"),
                    A::Yes(Some(false)),
                    A::Keep,                    // families
                    A::Multi(Some(vec![drop])), // adjust drop
                    A::Keep,                    // drop: labels as they are
                    A::Pick("namespace"),       // sourceContext changed
                    A::Select(Some(0)),         //   no fallback
                    A::Keep,                    // destinationContext
                    A::Yes(Some(false)),        // egress/ingress
                ],
                vec![A::Keep; 8],
            ]
            .concat(),
        );
        let c = interview(
            &mut s,
            Config::default(),
            &v(),
            &serde_json::json!({}),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.hubble.metrics_preset, None);
        assert!(!c.hubble.cluster_label);
        let list: Vec<&str> = c.hubble.metrics.iter().map(|e| e.spec.as_str()).collect();
        assert_ne!(list, preset.metrics);
        assert_eq!(list.len(), preset.metrics.len());
        let drop_spec = list.iter().find(|m| m.starts_with("drop")).unwrap();
        assert!(drop_spec.contains("sourceContext=namespace"), "{drop_spec}");
        let dir = crate::run::PrivateDir::create().unwrap();
        let path = dir.path().join("ciliumon.yaml");
        save_config(&c, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("metricsPreset"), "{text}");
        assert_eq!(
            Config::load(&path).unwrap().hubble.metrics,
            c.hubble.metrics
        );
    }

    #[test]
    fn manual_starts_from_nothing_and_blog_from_the_default() {
        let current = serde_json::json!({"hubble": {"metrics": {"enabled": ["dns"]}}});
        for (start, on) in [
            ("manual", vec![]),
            (
                "blog",
                vec![
                    "dns",
                    "drop",
                    "tcp",
                    "flow",
                    "port-distribution",
                    "icmp",
                    "httpV2",
                ],
            ),
        ] {
            let mut s = Script::new(vec![A::Pick(start), A::Multi(None)]);
            assert!(
                interview(&mut s, Config::default(), &v(), &current, None)
                    .unwrap()
                    .is_none()
            );
            let ticked: Vec<&str> = s.seen[1]
                .1
                .iter()
                .filter(|(_, on)| *on)
                .map(|(l, _)| row_name(l))
                .collect();
            assert_eq!(ticked, on, "{start}");
        }
    }

    /// The figures next to the families, the options and each choice that multiplies the
    /// series are estimate::family_series on the interview's inventory; the total and the
    /// plan's warning follow the options.
    #[test]
    fn estimate_figures_are_the_estimates() {
        let v = v();
        let current = serde_json::json!({"hubble": {"metrics": {"enabled": ["dns", "flow"]}}});
        let mut s = Script::new(
            [
                vec![
                    A::Keep,                 // start: the release's
                    A::Keep,                 // families: dns, flow
                    A::Multi(Some(vec![1])), // adjust flow
                    A::Keep,                 // flow: labels
                    A::Pick("pod"),          // sourceContext
                    A::Select(Some(0)),      //   no fallback
                    A::Keep,                 // destinationContext
                    A::Yes(Some(false)),     // egress/ingress
                ],
                vec![A::Keep; 8],
            ]
            .concat(),
        );
        let mut iv =
            Interview::new(Config::default(), &v, &current, None, &[]).with_sizes(known(SAMPLE));
        let c = run_questions(&mut s, &mut iv).unwrap().unwrap();
        assert_eq!(c.hubble.metrics, ["dns", "flow:sourceContext=pod"]);
        let series =
            |spec: &str| estimate::family_series(&MetricSpec::parse(spec, &v).unwrap(), &SAMPLE);
        let shown = |items: &[(String, bool)], name: &str| {
            items
                .iter()
                .find(|(l, _)| row_name(l) == name)
                .unwrap_or_else(|| panic!("{name}: {items:?}"))
                .0
                .clone()
        };
        // Families: each with its spec's estimate (the bare family when not on).
        let families = &s.seen[1].1;
        for h in catalogue::handlers_for(&v) {
            let want = format!("{} series", short_count(series(h.name)));
            assert!(
                shown(families, h.name).contains(&want),
                "{want}: {families:?}"
            );
        }
        assert_eq!(short_count(series("flow")), "~2.0k");
        // Options: the family's figure now.
        let adjust = &s.seen[2].1;
        assert!(shown(adjust, "dns").contains(&short_count(series("dns"))));
        // Labels: those that multiply the series carry the family's figure with them.
        let labels = &question_items(&s, "flow: labels to add").unwrap();
        let ip = shown(labels, "source_ip");
        let want = short_count(series("flow:labelsContext=source_ip"));
        assert!(ip.contains(&format!("{want} series")), "{ip}");
        assert!(series("flow:labelsContext=source_ip") > series("flow"));
        // Contexts: each value with its figure; `pod` is the costly one.
        let contexts = question(&s, "flow", "sourceContext").unwrap();
        let pod = shown(contexts, "pod");
        let want = short_count(series("flow:sourceContext=pod"));
        assert!(pod.contains(&format!("{want} series")), "{pod}");
        assert!(!shown(contexts, "(none)").contains("series"));
        // The total after the options, with the inputs.
        let total = series("dns") + series("flow:sourceContext=pod");
        let line = s
            .notes
            .iter()
            .find(|n| n.starts_with("Series estimate for 100 nodes"))
            .unwrap_or_else(|| panic!("{:?}", s.notes));
        assert!(
            line.ends_with(&format!("{} series in total ({total})", short_count(total))),
            "{line}"
        );
        assert!(!s.notes.iter().any(|n| n.starts_with("No series estimate")));
        // At 80 columns the rows are cut to fit, after their figure.
        for (label, _) in families.iter().chain(adjust).chain(labels).chain(contexts) {
            if let Some(end) = label.find(" series") {
                let end = end + " series".len();
                assert!(end <= 80 - ROW_PREFIX, "{label}");
            }
        }
    }

    #[test]
    fn above_the_threshold_the_costliest_choice_is_named_and_without_sizes_it_says_so() {
        let v = v();
        let current = serde_json::json!({});
        // The blog's list on the sample cluster is above a million series.
        let mut s = Script::new(vec![A::Keep; 12]);
        let mut iv =
            Interview::new(Config::default(), &v, &current, None, &[]).with_sizes(known(SAMPLE));
        run_questions(&mut s, &mut iv).unwrap().unwrap();
        let specs = crate::spec::parse_list(crate::config::BLOG_METRICS, &v).unwrap();
        let want = format!("warning: {}", estimate::warning(&SAMPLE, &specs).unwrap());
        assert!(want.contains("the costliest choice is labelsContext=source_ip"));
        assert!(s.notes.contains(&want), "{:?}", s.notes);
        // No sizes: said once, no figures.
        let mut s = Script::new(vec![A::Keep; 12]);
        let mut iv = Interview::new(Config::default(), &v, &current, None, &[]);
        run_questions(&mut s, &mut iv).unwrap().unwrap();
        let said: Vec<&String> = s.notes.iter().filter(|n| n.contains("estimate")).collect();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("No series estimate: no cluster was read"));
        assert!(!s.seen[1].1.iter().any(|(l, _)| l.contains("series")));
    }

    #[test]
    fn short_counts() {
        let cases = [
            (0, "~0"),
            (999, "~999"),
            (1_000, "~1.0k"),
            (1_250, "~1.2k"),
            (44_000, "~44k"),
            (1_448_200, "~1.4M"),
            (u64::MAX, "~18E"),
        ];
        for (n, want) in cases {
            assert_eq!(short_count(n), want);
        }
    }

    #[test]
    fn the_cluster_label_is_offered_where_it_fills_panels_and_only_then() {
        let current = serde_json::json!({"cluster": {"name": "prod-eu"}});
        // The blog's list on 1.18: the L7 dashboard selects on `cluster` in 8 of its 9 panels.
        let defaults = || vec![A::Keep; 11]; // start .. dashboards, every default
        let mut s = Script::new([defaults(), vec![A::Keep]].concat());
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        let (prompt, _) = s.seen.last().unwrap();
        assert_eq!(
            prompt,
            "Add cluster=prod-eu to the series for the dashboards?"
        );
        assert!(c.hubble.cluster_label);
        let note = s
            .notes
            .iter()
            .find(|n| n.contains("cluster label"))
            .unwrap();
        assert!(note.starts_with("8 more dashboard panels fill"), "{note}");
        // The plan relabels with the release's cluster.name (nothing else puts it in the values).
        let target = crate::plan::Target {
            installed: Some(v()),
            current_values: Some(current.clone()),
            ..Default::default()
        };
        let layout = crate::plan::Layout::default();
        let plan = crate::plan::build(&c, &target, &layout).unwrap();
        let hubble_monitor = &plan.cilium_values["hubble"]["metrics"]["serviceMonitor"];
        assert!(
            hubble_monitor["relabelings"]
                .to_string()
                .contains("prod-eu"),
            "{hubble_monitor}"
        );

        // Declined: the plan adds none.
        let mut s = Script::new([defaults(), vec![A::Yes(Some(false))]].concat());
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        assert!(!c.hubble.cluster_label);

        // No dashboards: not asked (the script has no answer for it).
        let mut answers = defaults();
        answers[10] = A::Yes(Some(false));
        let mut s = Script::new(answers);
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        assert!(!c.dashboards && !c.hubble.cluster_label);
        assert!(!s.seen.iter().any(|(p, _)| p.contains("cluster=")));

        // A list whose panels need no cluster label (dns and drop): not asked.
        let mut s = Script::new(
            vec![A::Pick("manual"), A::Multi(Some(vec![0, 1]))]
                .into_iter()
                .chain(vec![A::Keep; 9])
                .collect(),
        );
        let c = interview(&mut s, Config::default(), &v(), &current, None)
            .unwrap()
            .unwrap();
        assert!(
            !s.seen.iter().any(|(p, _)| p.contains("cluster=")),
            "{:?}",
            c.hubble.metrics
        );
    }

    /// The items of the question whose prompt starts with `start`.
    fn question_items(s: &Script, start: &str) -> Option<Vec<(String, bool)>> {
        s.seen
            .iter()
            .find(|(p, _)| p.starts_with(start))
            .map(|(_, items)| items.clone())
    }

    const MODE: &str = "Hubble metrics mode for Cilium";

    /// Asked where Cilium has both modes (1.17+), explained, defaulting to the release's; not
    /// asked before.
    #[test]
    fn the_metrics_mode_is_asked_from_1_17_only() {
        let asked = |version: Version, current: Value| {
            // Esc at the mode question (1.17+), at the components before.
            let mut s = Script::new(vec![A::Keep, A::Keep, A::Keep, A::Esc]);
            let r = interview(&mut s, Config::default(), &version, &current, None).unwrap();
            assert!(r.is_none());
            (question_items(&s, MODE), s.notes)
        };
        let (none, _) = asked(Version::new(1, 16, 9), serde_json::json!({}));
        assert!(none.is_none());
        // Asked exactly where the catalogue has both modes (not on 1.17.2–1.17.3, whose chart
        // breaks dynamic mode).
        for version in catalogue::RELEASES {
            let (items, _) = asked(version.clone(), serde_json::json!({}));
            let both = crate::dynamic::modes_for(version).len() == 2;
            assert_eq!(items.is_some(), both, "{version}");
        }
        assert!(
            asked(Version::new(1, 17, 3), serde_json::json!({}))
                .0
                .is_none()
        );
        let (items, notes) = asked(Version::new(1, 17, 0), serde_json::json!({}));
        let items = items.expect("asked on 1.17");
        let names: Vec<&str> = items.iter().map(|(l, _)| row_name(l)).collect();
        assert_eq!(names, ["static", "dynamic"]);
        assert!(items[0].1, "static by default");
        for m in [MetricsMode::Static, MetricsMode::Dynamic] {
            assert!(
                notes.contains(&format!("{m}: {}", m.explain())),
                "{notes:?}"
            );
        }
        let dynamic = serde_json::json!({"hubble": {"metrics": {"enabled": [], "dynamic": {
            "enabled": true,
            "config": {"content": [{"name": "drop"}]}
        }}}});
        let (items, _) = asked(v(), dynamic);
        let items = items.unwrap();
        assert!(items[1].1, "the release's mode: {items:?}");
        assert_eq!(items[1].0, "dynamic  (what the release runs now)");
    }

    /// Dynamic mode with a namespace filter: the filter is checked as the agent would, and the
    /// answers plan: the dynamic file with the filter, and no static list.
    #[test]
    fn dynamic_mode_with_a_namespace_filter_plans() {
        let v = v();
        let mut config = Config::default();
        config.hubble.metrics = vec!["drop".into(), "flow".into()];
        let mut s = Script::new(
            [
                vec![
                    A::Keep,                 // start: the list given
                    A::Keep,                 // families
                    A::Keep,                 // adjust none
                    A::Pick("dynamic"),      // mode
                    A::Yes(Some(true)),      // filters
                    A::Multi(Some(vec![1])), // flow
                    A::Text("shop, Bad_NS"), // refused, asked again
                    A::Text("shop, web"),
                ],
                vec![A::Keep; 7],
            ]
            .concat(),
        );
        let current = serde_json::json!({"hubble": {"metrics": {"enabled": ["dns"]}}});
        let mut iv = Interview::new(config, &v, &current, None, &[]).with_sizes(known(SAMPLE));
        let c = run_questions(&mut s, &mut iv).unwrap().unwrap();
        c.validate().unwrap();
        assert_eq!(c.hubble.metrics_mode, Some(MetricsMode::Dynamic));
        let flow = &c.hubble.metrics[1];
        assert_eq!(
            flow.include_filters,
            [
                serde_json::json!({"source_pod": ["shop/", "web/"]}),
                serde_json::json!({"destination_pod": ["shop/", "web/"]})
            ]
        );
        assert!(
            s.notes.iter().any(|n| n.contains("'Bad_NS'")),
            "{:?}",
            s.notes
        );
        let rows = question_items(&s, "Families to filter by namespace").unwrap();
        assert!(rows[1].0.contains("now: every flow"), "{rows:?}");
        assert!(rows[1].0.contains(" series"), "{rows:?}");
        // Two of the sample's 20 namespaces, on either side: 1 - (1 - 2/20)² = 19% of flow's.
        let spec = MetricSpec::parse(&flow.spec, &v).unwrap();
        let all = estimate::family_series(&spec, &SAMPLE);
        let note = s
            .notes
            .iter()
            .find(|n| n.contains("with the filter"))
            .unwrap();
        let want = format!(
            "flow: {} series (its filters keep ~19% of {}) with the filter",
            short_count((all as f64 * 0.19).ceil() as u64),
            short_count(all)
        );
        assert!(note.starts_with(&want), "{note} / {want}");
        let plan =
            crate::plan::build(&c, &target(&v, current.clone()), &Default::default()).unwrap();
        assert_eq!(
            plan.cilium_values.pointer("/hubble/metrics/enabled"),
            Some(&serde_json::json!([]))
        );
        assert_eq!(
            plan.cilium_values
                .pointer("/hubble/metrics/dynamic/enabled"),
            Some(&serde_json::json!(true))
        );
        let content = plan
            .cilium_values
            .pointer("/hubble/metrics/dynamic/config/content")
            .unwrap();
        assert_eq!(content[1]["name"], "flow");
        assert_eq!(content[1]["includeFilters"][0]["source_pod"][1], "web/");
        // The filters are offered again with what they count now.
        let mut s = Script::new(vec![
            A::Keep,
            A::Keep,
            A::Keep,
            A::Keep, // mode: dynamic, the configuration's
            A::Yes(Some(true)),
            A::Multi(Some(vec![1])),
            A::Keep,        // the namespaces as they are
            A::Multi(None), // components: Esc
        ]);
        let mut iv = Interview::new(c.clone(), &v, &current, None, &[]);
        assert!(run_questions(&mut s, &mut iv).unwrap().is_none());
        assert_eq!(iv.config.hubble.metrics, c.hubble.metrics);
        let rows = question_items(&s, "Families to filter by namespace").unwrap();
        assert!(rows[1].0.contains("now: shop, web"), "{rows:?}");
        assert!(
            s.notes
                .iter()
                .any(|n| n == "Filters now: flow (answering no keeps them)"),
            "{:?}",
            s.notes
        );
    }

    /// Static mode on a release that runs dynamic metrics with filters: the filters are
    /// dropped (said), and the answers plan the static list with dynamic mode off.
    #[test]
    fn switching_to_static_drops_the_filters_and_plans() {
        let v = v();
        let current = serde_json::json!({"hubble": {"metrics": {"enabled": [], "dynamic": {
            "enabled": true,
            "config": {"content": [
                {"name": "drop"},
                {"name": "flow", "includeFilters": [{"source_pod": ["shop/"]}]}
            ]}
        }}}});
        let mut s = Script::new(
            [
                vec![A::Keep, A::Keep, A::Keep, A::Pick("static")],
                vec![A::Keep; 7],
            ]
            .concat(),
        );
        let mut iv = Interview::new(Config::default(), &v, &current, None, &[]);
        let c = run_questions(&mut s, &mut iv).unwrap().unwrap();
        c.validate().unwrap();
        assert_eq!(c.hubble.metrics, ["drop", "flow"]);
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("the filters of flow are dropped")),
            "{:?}",
            s.notes
        );
        let plan =
            crate::plan::build(&c, &target(&v, current.clone()), &Default::default()).unwrap();
        assert_eq!(
            plan.cilium_values.pointer("/hubble/metrics/enabled"),
            Some(&serde_json::json!(["drop", "flow"]))
        );
        assert_eq!(
            plan.cilium_values
                .pointer("/hubble/metrics/dynamic/enabled"),
            Some(&serde_json::json!(false))
        );
        // Kept dynamic (the default, the release's): its filters stay with their family.
        let mut s = Script::new(
            [
                vec![A::Keep; 4],
                vec![A::Yes(Some(false))],
                vec![A::Keep; 7],
            ]
            .concat(),
        );
        let mut iv = Interview::new(Config::default(), &v, &current, None, &[]);
        let c = run_questions(&mut s, &mut iv).unwrap().unwrap();
        assert_eq!(c.hubble.metrics_mode, Some(MetricsMode::Dynamic));
        assert_eq!(
            c.hubble.metrics[1].include_filters,
            [serde_json::json!({"source_pod": ["shop/"]})]
        );
        crate::plan::build(&c, &target(&v, current), &Default::default()).unwrap();
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
