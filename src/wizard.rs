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
use crate::ui::Printer;
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
    let list = if from_cluster.is_empty() {
        &config.hubble.metrics
    } else {
        &from_cluster
    };
    list.iter()
        .filter_map(|s| MetricSpec::parse(s, version).ok())
        .collect()
}

/// The interview. Returns the configuration the answers make, or `None` on Esc.
pub fn interview(
    p: &mut dyn Prompter,
    mut config: Config,
    version: &Version,
    current: &Value,
    found_stack: Option<&StackRelease>,
) -> Result<Option<Config>> {
    let existing: HashMap<&str, MetricSpec> = starting_specs(&config, version, current)
        .into_iter()
        .map(|s| (s.handler.name, s))
        .collect();
    let chosen = answer!(ask_families(p, version, &existing));
    let specs = answer!(ask_specs(p, &chosen, &existing, version));
    config.hubble.metrics = specs.iter().map(MetricSpec::to_string).collect();
    answer!(ask_components(p, &mut config));
    answer!(ask_stack(p, &mut config, found_stack));
    config.validate()?;
    Ok(Some(config))
}

/// First, the metric families of `version`, pre-selected from what is on now.
fn ask_families(
    p: &mut dyn Prompter,
    version: &Version,
    existing: &HashMap<&str, MetricSpec>,
) -> Result<Option<Vec<&'static Handler>>> {
    let handlers: Vec<_> = catalogue::handlers_for(version).collect();
    let width = handlers.iter().map(|h| h.name.len()).max().unwrap_or(0);
    let items: Vec<(String, bool)> = handlers
        .iter()
        .map(|h| {
            let mut label = format!("{:<width$}  {}", h.name, h.description);
            if let Some(d) = h.deprecated {
                label.push_str(&format!(" (deprecated: {d})"));
            }
            (label, existing.contains_key(h.name))
        })
        .collect();
    let chosen = answer!(p.multi_select(
        &format!("Hubble metric families for Cilium {version} (space toggles, enter accepts)"),
        &items
    ));
    Ok(Some(chosen.into_iter().map(|i| handlers[i]).collect()))
}

/// Then their options, when the user wants to adjust them (else the current ones), with a
/// warning for each choice that multiplies the series or needs another key on `version`.
fn ask_specs(
    p: &mut dyn Prompter,
    chosen: &[&'static Handler],
    existing: &HashMap<&str, MetricSpec>,
    version: &Version,
) -> Result<Option<Vec<MetricSpec>>> {
    let adjust = !chosen.is_empty()
        && answer!(p.confirm(
            "Adjust the options of each family? (no keeps the current ones)",
            false
        ));
    let mut specs = Vec::new();
    for h in chosen {
        let start = existing
            .get(h.name)
            .cloned()
            .unwrap_or_else(|| MetricSpec::from_options(h, vec![]));
        let spec = if adjust {
            answer!(family_options(p, &start, version))
        } else {
            start
        };
        for why in spec.high_cardinality() {
            p.note(&format!("warning: {spec}: {why} multiplies the series (one per value); keep it for small clusters"));
        }
        if let Some(plain) = spec.directional_without_plain(version) {
            p.note(&format!(
                "warning: {spec}: Cilium {}.{} adds the egress/ingress label only when {plain} is set too (cilium/cilium#27717); set {plain} as well",
                version.major, version.minor
            ));
        }
        specs.push(spec);
    }
    Ok(Some(specs))
}

/// Then the components: agent and operator metrics, OpenMetrics, Relay, the UI (and its service type), export.
fn ask_components(p: &mut dyn Prompter, config: &mut Config) -> Result<Option<()>> {
    let agent = format!("Agent metrics (port {})", Component::Agent.default_port());
    let operator = format!(
        "Operator metrics (port {})",
        Component::Operator.default_port()
    );
    let comps = [
        (agent.as_str(), config.metrics.agent),
        (operator.as_str(), config.metrics.operator),
        (
            "OpenMetrics format (needed for exemplars)",
            config.hubble.open_metrics.unwrap_or(false),
        ),
        ("Hubble Relay", config.hubble.relay),
        ("Hubble UI (needs Relay)", config.hubble.ui.enabled),
        (
            "Flow export to a file on each node",
            config.hubble.export.enabled,
        ),
    ];
    let items: Vec<(String, bool)> = comps.iter().map(|(l, on)| (l.to_string(), *on)).collect();
    let on = answer!(p.multi_select("Components", &items));
    let has = |i: usize| on.contains(&i);
    config.metrics.agent = has(0);
    config.metrics.operator = has(1);
    config.hubble.open_metrics = Some(has(2));
    config.hubble.relay = has(3);
    config.hubble.ui.enabled = has(4) && has(3);
    if has(4) && !has(3) {
        p.note("note: the Hubble UI needs Relay; the UI stays off");
    }
    config.hubble.export.enabled = has(5);
    if config.hubble.ui.enabled {
        let types = [
            ServiceType::ClusterIP,
            ServiceType::NodePort,
            ServiceType::LoadBalancer,
        ];
        let names: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
        let default = types
            .iter()
            .position(|t| *t == config.hubble.ui.service_type)
            .unwrap_or(0);
        config.hubble.ui.service_type =
            types[answer!(p.select("Service type of the Hubble UI", &names, default))];
    }
    Ok(Some(()))
}

/// Last, kube-prometheus-stack: reuse the one found (offered first), install one, or none;
/// then ServiceMonitors and dashboards.
fn ask_stack(
    p: &mut dyn Prompter,
    config: &mut Config,
    found_stack: Option<&StackRelease>,
) -> Result<Option<()>> {
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
            "reuse one installed outside Helm".to_string(),
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
    match (mode, found_stack) {
        (StackMode::Reuse, Some(s)) => {
            config.prometheus_stack.release = s.name.clone();
            config.prometheus_stack.namespace = s.namespace.clone();
        }
        (StackMode::Install, _) | (StackMode::Reuse, None) => {
            config.prometheus_stack.release = answer!(p.input(
                "Release name of kube-prometheus-stack",
                &config.prometheus_stack.release
            ));
            config.prometheus_stack.namespace =
                answer!(p.input("Its namespace", &config.prometheus_stack.namespace));
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
                        "  (one series per value: many)"
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
    let line = |v: &catalogue::ContextValue| format!("{:<22} {}", v.name, v.description);
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

/// dialoguer on stderr. Esc/q → `None`. Only made when the [`Printer`] says questions may be
/// asked.
pub struct Terminal {
    theme: dialoguer::theme::ColorfulTheme,
    printer: Printer,
}

impl Terminal {
    pub fn new(printer: Printer) -> Terminal {
        Terminal {
            theme: dialoguer::theme::ColorfulTheme::default(),
            printer,
        }
    }
}

impl Prompter for Terminal {
    fn multi_select(
        &mut self,
        prompt: &str,
        items: &[(String, bool)],
    ) -> Result<Option<Vec<usize>>> {
        let chosen = dialoguer::MultiSelect::with_theme(&self.theme)
            .with_prompt(prompt)
            .items_checked(items.iter().map(|(l, on)| (l.as_str(), *on)))
            .max_length(14)
            .report(false)
            .interact_opt()
            .context("cannot ask")?;
        // dialoguer's own report repeats whole labels; name only the chosen items.
        if let Some(sel) = &chosen {
            let names: Vec<&str> = sel
                .iter()
                .map(|&i| items[i].0.split("  ").next().unwrap_or_default().trim())
                .collect();
            let shown = if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            };
            self.printer.say(&format!(
                "{} {} {}",
                console::style("✔").green().for_stderr(),
                console::style(prompt).bold().for_stderr(),
                shown
            ));
        }
        Ok(chosen)
    }

    fn select(&mut self, prompt: &str, items: &[String], default: usize) -> Result<Option<usize>> {
        dialoguer::Select::with_theme(&self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .max_length(14)
            .interact_opt()
            .context("cannot ask")
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<Option<bool>> {
        dialoguer::Confirm::with_theme(&self.theme)
            .with_prompt(prompt)
            .default(default)
            .interact_opt()
            .context("cannot ask")
    }

    fn input(&mut self, prompt: &str, default: &str) -> Result<Option<String>> {
        // dialoguer's Input has no Esc; Ctrl-C exits through the handler (cursor restored).
        let s: String = dialoguer::Input::with_theme(&self.theme)
            .with_prompt(prompt)
            .default(default.to_string())
            .interact_text()
            .context("cannot ask")?;
        Ok(Some(s))
    }

    fn note(&mut self, text: &str) {
        self.printer.say(text);
    }
}

/// Ask about the cluster `pf` found; `None` when the user aborted.
pub fn ask(p: &mut dyn Prompter, config: Config, pf: &Preflight) -> Result<Option<Config>> {
    let version = crate::plan::target_version(&config, &pf.target())?;
    interview(p, config, &version, &pf.cilium.values, pf.stack.as_ref())
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
        let mut s = Script::new(vec![A::Keep, A::Yes(Some(true))]);
        // Probe the items of the drop family's labels question by running once with Esc there.
        s.answers.insert(0, A::Multi(None));
        let r = interview(&mut s, config.clone(), &v(), &current, None).unwrap();
        assert!(r.is_none(), "Esc at a family question aborts");
        let labels = s.seen.last().unwrap().1.clone();
        let src_ip = index_of(&labels, "source_ip");
        let src_ns = index_of(&labels, "source_namespace");
        let mut s = Script::new(vec![
            A::Keep,                              // families: drop
            A::Yes(Some(true)),                   // adjust options
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
            A::Yes(Some(true)),       // adjust options
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

        // High-cardinality choices warn, as for the other contexts.
        for why in ["pod", "ip"] {
            assert!(
                s.notes.iter().any(
                    |n| n.starts_with("warning:") && n.contains(&format!(": {why} multiplies"))
                ),
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
            A::Keep,            // families: flow, from the cluster
            A::Yes(Some(true)), // adjust options
            A::Keep,            // labels: none
            A::Keep,            // sourceContext: pod
            A::Keep,            // destinationContext: none
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
            A::Yes(Some(true)),     // adjust options
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
            A::Yes(Some(true)),
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
    fn an_egress_context_without_its_plain_key_warns_on_1_14_only() {
        let run = |version: &Version| {
            let mut config = Config::default();
            config.hubble.metrics = vec!["flow:sourceEgressContext=pod".into()];
            let mut s = Script::new(vec![
                A::Keep,             // families: flow
                A::Yes(Some(false)), // adjust options: no
                A::Multi(None),      // components: Esc
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
        let notes = run(&Version::new(1, 15, 0));
        assert!(!notes.iter().any(|n| n.contains("#27717")), "{notes:?}");
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
