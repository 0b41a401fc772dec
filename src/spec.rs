//! Hubble metric specs in Cilium's own grammar, `name[:key=value;key=value...]`: parsed,
//! validated against the catalogue for one Cilium version, and normalised so that equal specs
//! compare equal and print the same.
//!
//! Grammar (cilium/cilium `pkg/hubble/metrics/api`): split on the first `:`; options split on
//! `;`; each option on its first `=`; a bare key is a flag; context identifiers are separated by
//! `|` (ordered fallbacks); only `labelsContext` takes `,`-separated labels. The agent splits the
//! whole list on whitespace, so a spec may not contain any.

use std::fmt;

use crate::catalogue::{self, Handler, OptionKind};
use crate::version::{Since, Version};

/// One parsed, validated and normalised entry of `hubble.metrics.enabled`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricSpec {
    pub handler: &'static Handler,
    /// In canonical order: the handler's own options in catalogue order, then context keys in
    /// catalogue order.
    pub options: Vec<SpecOption>,
}

impl PartialEq for Handler {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Handler {}
impl std::hash::Hash for Handler {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpecOption {
    /// A handler flag such as `query`.
    Flag(&'static str),
    /// A handler option with a value, `exemplars=true`.
    Value(&'static str, &'static str),
    /// `sourceContext=workload|ip`: fallbacks in order.
    Context(&'static str, Vec<&'static str>),
    /// `labelsContext=source_ip,...` in Cilium's emission order.
    Labels(Vec<&'static str>),
}

impl SpecOption {
    fn key(&self) -> &'static str {
        match self {
            SpecOption::Flag(k) | SpecOption::Value(k, _) | SpecOption::Context(k, _) => k,
            SpecOption::Labels(_) => "labelsContext",
        }
    }

    fn rank(&self, handler: &Handler) -> usize {
        let key = self.key();
        if let Some(i) = handler.options.iter().position(|o| o.key == key) {
            return i;
        }
        handler.options.len()
            + catalogue::CONTEXT_KEYS
                .iter()
                .position(|k| k.key == key)
                .unwrap_or(usize::MAX - 100)
    }
}

/// A rejected spec: which spec, which token in it, what is wrong and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub spec: String,
    pub token: String,
    pub problem: String,
    pub hint: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // What the user wrote is escaped: a spec with `\r` or an escape sequence is shown, not
        // played on the terminal.
        use crate::escape::escape;
        write!(
            f,
            "invalid metric '{}': {}",
            escape(&self.spec),
            escape(&self.problem)
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", escape(hint))?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

fn err(spec: &str, token: &str, problem: String, hint: Option<String>) -> SpecError {
    SpecError {
        spec: spec.to_string(),
        token: token.to_string(),
        problem,
        hint,
    }
}

fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}

fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    match catalogue::did_you_mean(input, candidates.iter().copied()) {
        Some(near) => format!("did you mean '{near}'? valid: {}", list(candidates)),
        None => format!("valid: {}", list(candidates)),
    }
}

impl MetricSpec {
    /// Parse one spec and validate it for Cilium `version`.
    pub fn parse(input: &str, version: &Version) -> Result<MetricSpec, SpecError> {
        let spec = input;
        if spec.is_empty() {
            return Err(err(
                spec,
                "",
                "empty metric name".into(),
                Some(handler_hint(version)),
            ));
        }
        if let Some(c) = spec.chars().find(|c| c.is_whitespace() || c.is_control()) {
            let what = if c.is_whitespace() {
                "whitespace"
            } else {
                "a control character"
            };
            return Err(err(
                spec,
                &c.escape_default().to_string(),
                format!(
                    "contains {what} ({:?}); the agent splits the metric list on whitespace",
                    c
                ),
                Some("give each metric as its own --metric or list item".into()),
            ));
        }
        let (name, rest) = match spec.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (spec, None),
        };
        if name.contains(['{', '}', ',']) {
            return Err(err(
                spec,
                name,
                format!("'{name}' looks like a Helm --set list; give one metric per --metric"),
                Some("--metric dns --metric drop (no braces, no escaped commas)".into()),
            ));
        }
        let handler = match catalogue::handler(name) {
            Some(h) => h,
            None => {
                return Err(err(
                    spec,
                    name,
                    format!("unknown metric family '{name}'"),
                    Some(suggest(
                        name,
                        catalogue::handlers_for(version).map(|h| h.name),
                    )),
                ));
            }
        };
        if !handler.valid.contains(version) {
            return Err(err(
                spec,
                name,
                format!(
                    "metric family '{}' is not in Cilium {} (available in {})",
                    handler.name,
                    version,
                    handler.valid.describe()
                ),
                Some(handler_hint(version)),
            ));
        }
        let mut options: Vec<SpecOption> = Vec::new();
        if let Some(rest) = rest {
            if rest.is_empty() {
                return Err(err(
                    spec,
                    ":",
                    format!("nothing after ':' in '{spec}'"),
                    Some(format!(
                        "drop the ':' or add options: {}",
                        option_names(handler, version)
                    )),
                ));
            }
            for raw in rest.split(';') {
                let opt = parse_option(spec, handler, raw, version)?;
                if options.iter().any(|o| o.key() == opt.key()) {
                    return Err(err(
                        spec,
                        raw,
                        format!("option '{}' is given twice", opt.key()),
                        None,
                    ));
                }
                options.push(opt);
            }
        }
        options.sort_by_key(|o| o.rank(handler));
        Ok(MetricSpec { handler, options })
    }

    /// A spec from options that are already values of the catalogue for one version, each key
    /// at most once (the wizard's answers), in the canonical order `parse` gives: the same
    /// spec as parsing its text.
    pub fn from_options(handler: &'static Handler, mut options: Vec<SpecOption>) -> MetricSpec {
        for o in &mut options {
            if let SpecOption::Labels(labels) = o {
                labels.sort_by_key(|l| catalogue::LABELS.iter().position(|x| x.name == *l));
            }
        }
        options.sort_by_key(|o| o.rank(handler));
        MetricSpec { handler, options }
    }

    pub fn name(&self) -> &'static str {
        self.handler.name
    }

    /// `exemplars=true` on http/httpV2.
    pub fn exemplars(&self) -> bool {
        self.options
            .iter()
            .any(|o| matches!(o, SpecOption::Value("exemplars", "true")))
    }

    /// The same spec without `exemplars=...` (what the wizard offers when OpenMetrics is off).
    pub fn without_exemplars(&self) -> MetricSpec {
        MetricSpec::from_options(
            self.handler,
            self.options
                .iter()
                .filter(|o| !matches!(o, SpecOption::Value("exemplars", _)))
                .cloned()
                .collect(),
        )
    }

    /// Context choices that create one series per pod or address, for the wizard's warning.
    pub fn high_cardinality(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for o in &self.options {
            match o {
                SpecOption::Context(_, ids) => {
                    out.extend(ids.iter().filter(|i| {
                        catalogue::context_value(i).is_some_and(|v| v.high_cardinality)
                    }))
                }
                SpecOption::Labels(ls) => out.extend(
                    ls.iter()
                        .filter(|l| catalogue::label_named(l).is_some_and(|x| x.high_cardinality)),
                ),
                SpecOption::Flag("query") => out.push("query"),
                _ => {}
            }
        }
        out
    }

    /// The plain context key that an egress/ingress key here needs beside it on Cilium `v` to
    /// add its label at all (before 1.14.3, cilium/cilium#27717; the catalogue's `alone`).
    pub fn directional_without_plain(&self, v: &Version) -> Option<&'static str> {
        let keys: Vec<&str> = self.options.iter().map(|o| o.key()).collect();
        catalogue::CONTEXT_KEYS
            .iter()
            .filter(|k| keys.contains(&k.key) && !k.alone.contains(v))
            .filter_map(|k| k.refines)
            .find(|plain| !keys.contains(plain))
    }
}

fn handler_hint(version: &Version) -> String {
    format!(
        "metric families in Cilium {version}: {}",
        list(catalogue::handlers_for(version).map(|h| h.name))
    )
}

/// The options and context keys `handler` takes on Cilium `version`.
fn option_names(handler: &Handler, version: &Version) -> String {
    list(
        handler
            .options
            .iter()
            .filter(|o| o.valid.contains(version))
            .map(|o| o.key)
            .chain(catalogue::context_keys_for(version).map(|k| k.key)),
    )
}

/// Something a spec names from a catalogue list: its name and the versions where it holds.
trait Entry: Copy {
    fn name(&self) -> &'static str;
    fn valid(&self) -> Since;
}

impl Entry for &'static catalogue::Label {
    fn name(&self) -> &'static str {
        self.name
    }
    fn valid(&self) -> Since {
        self.valid
    }
}

impl Entry for &'static catalogue::ContextValue {
    fn name(&self) -> &'static str {
        self.name
    }
    fn valid(&self) -> Since {
        self.valid
    }
}

/// An option key: one of the handler's own, or a context option every handler shares.
#[derive(Debug, Clone, Copy)]
enum OptionEntry {
    Handler(&'static catalogue::HandlerOption),
    Context(&'static catalogue::ContextKey),
}

impl Entry for OptionEntry {
    fn name(&self) -> &'static str {
        match self {
            OptionEntry::Handler(o) => o.key,
            OptionEntry::Context(c) => c.key,
        }
    }
    fn valid(&self) -> Since {
        match self {
            OptionEntry::Handler(o) => o.valid,
            OptionEntry::Context(c) => c.valid,
        }
    }
}

/// What a failed lookup says, by kind of entry.
struct Say<'a, T> {
    /// The names offered by "did you mean" and "valid:".
    candidates: &'a [&'a str],
    /// The problem for a token that names nothing.
    unknown: &'a dyn Fn(&str) -> String,
    /// The problem and hint for an entry the version does not have.
    not_in: &'a dyn Fn(T) -> (String, Option<String>),
    /// The problem for an entry named twice.
    twice: Option<&'a dyn Fn(T) -> String>,
}

/// The one lookup of options, contexts and labels: `found` (what `token` names, if anything) must
/// be valid in `version` and (when `say.twice` is given) not among `taken`; otherwise the error
/// names `token`, with a "did you mean" among `say.candidates` when it names nothing.
fn look_up<T: Entry>(
    spec: &str,
    token: &str,
    version: &Version,
    found: Option<T>,
    taken: &[&str],
    say: &Say<T>,
) -> Result<T, SpecError> {
    let Some(entry) = found else {
        return Err(err(
            spec,
            token,
            (say.unknown)(token),
            Some(suggest(token, say.candidates.iter().copied())),
        ));
    };
    if !entry.valid().contains(version) {
        let (problem, hint) = (say.not_in)(entry);
        return Err(err(spec, token, problem, hint));
    }
    if let Some(twice) = say.twice
        && taken.contains(&entry.name())
    {
        return Err(err(spec, token, twice(entry), None));
    }
    Ok(entry)
}

/// Names of the entries of `items` valid in `version`: the "valid:" list of a hint.
fn valid_names<T: Entry>(
    items: impl IntoIterator<Item = T>,
    version: &Version,
) -> Vec<&'static str> {
    items
        .into_iter()
        .filter(|e| e.valid().contains(version))
        .map(|e| e.name())
        .collect()
}

/// A `sep`-separated list of entries (labels of `labelsContext`, fallbacks of a context
/// option), each looked up once, none twice.
fn look_up_list<T: Entry>(
    spec: &str,
    value: &str,
    sep: char,
    empty: &str,
    version: &Version,
    find: impl Fn(&str) -> Option<T>,
    say: &Say<T>,
) -> Result<Vec<&'static str>, SpecError> {
    let mut names: Vec<&'static str> = Vec::new();
    for token in value.split(sep) {
        if token.is_empty() {
            return Err(err(spec, &sep.to_string(), empty.to_string(), None));
        }
        let entry = look_up(spec, token, version, find(token), &names, say)?;
        names.push(entry.name());
    }
    Ok(names)
}

fn parse_option(
    spec: &str,
    handler: &'static Handler,
    raw: &str,
    version: &Version,
) -> Result<SpecOption, SpecError> {
    if raw.is_empty() {
        return Err(err(spec, ";", "empty option (stray ';')".into(), None));
    }
    let (key, value) = match raw.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (raw, None),
    };
    let found = handler
        .option(key)
        .map(OptionEntry::Handler)
        .or_else(|| catalogue::context_key(key).map(OptionEntry::Context));
    let candidates: Vec<&str> = handler
        .options
        .iter()
        .filter(|o| o.valid.contains(version))
        .map(|o| o.key)
        .chain(catalogue::context_keys_for(version).map(|k| k.key))
        .collect();
    let say = Say {
        candidates: &candidates,
        // An option of another handler gets a sharper message.
        unknown: &|key| match catalogue::HANDLERS
            .iter()
            .find(|h| h.name != handler.name && h.option(key).is_some())
        {
            Some(h) => format!(
                "'{key}' is an option of {}, not of {}",
                h.name, handler.name
            ),
            None => format!("unknown option '{key}' for {}", handler.name),
        },
        not_in: &|o| match o {
            OptionEntry::Handler(opt) => (
                format!(
                    "option '{}' of {} is not in Cilium {version}",
                    opt.key, handler.name
                ),
                None,
            ),
            OptionEntry::Context(ctx) => (
                format!(
                    "option '{}' is not in Cilium {version} (available in {})",
                    ctx.key,
                    ctx.valid.describe()
                ),
                ctx.refines
                    .map(|plain| format!("use {plain} for both directions")),
            ),
        },
        // "Given twice" is judged on whole options, after their values (MetricSpec::parse).
        twice: None,
    };
    match look_up(spec, key, version, found, &[], &say)? {
        OptionEntry::Handler(opt) => handler_option(spec, handler, opt, raw, value),
        OptionEntry::Context(ctx) => context_option(spec, ctx, raw, value, version),
    }
}

/// A handler's own option with its value (`query`, `exemplars=true`).
fn handler_option(
    spec: &str,
    handler: &'static Handler,
    opt: &'static catalogue::HandlerOption,
    raw: &str,
    value: Option<&str>,
) -> Result<SpecOption, SpecError> {
    match (opt.kind, value) {
        (OptionKind::Flag, None) => Ok(SpecOption::Flag(opt.key)),
        (OptionKind::Flag, Some(v)) => Err(err(
            spec,
            raw,
            format!(
                "option '{}' of {} is a flag and takes no value (got '{v}')",
                opt.key, handler.name
            ),
            Some(format!("write '{}:{}'", handler.name, opt.key)),
        )),
        (OptionKind::OneOf(allowed), Some(v)) => {
            match allowed.iter().find(|a| a.eq_ignore_ascii_case(v)) {
                Some(a) => Ok(SpecOption::Value(opt.key, a)),
                None => Err(err(
                    spec,
                    v,
                    format!("'{v}' is not a value of option '{}'", opt.key),
                    Some(format!("valid: {}", list(allowed.iter().copied()))),
                )),
            }
        }
        (OptionKind::OneOf(allowed), None) => Err(err(
            spec,
            raw,
            format!("option '{}' needs a value", opt.key),
            Some(format!("write '{}={}'", opt.key, allowed[0])),
        )),
    }
}

/// A context option every handler shares, with its labels or its fallbacks.
fn context_option(
    spec: &str,
    ctx: &'static catalogue::ContextKey,
    raw: &str,
    value: Option<&str>,
    version: &Version,
) -> Result<SpecOption, SpecError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Err(err(
            spec,
            raw,
            format!("option '{}' needs a value", ctx.key),
            Some(if ctx.labels {
                "e.g. labelsContext=source_namespace,destination_namespace".into()
            } else {
                "e.g. sourceContext=workload-name|reserved-identity".into()
            }),
        ));
    };
    if ctx.labels {
        let mut labels = look_up_list(
            spec,
            value,
            ',',
            "empty label in labelsContext (stray ',')",
            version,
            catalogue::label_named,
            &Say {
                candidates: &valid_names(catalogue::LABELS, version),
                unknown: &|l| format!("unknown labelsContext label '{l}'"),
                not_in: &|label| {
                    (
                        format!(
                            "labelsContext label '{}' is not in Cilium {version} (available in {})",
                            label.name,
                            label.valid.describe()
                        ),
                        None,
                    )
                },
                twice: Some(&|label| format!("label '{}' is listed twice", label.name)),
            },
        )?;
        labels.sort_by_key(|l| catalogue::LABELS.iter().position(|x| x.name == *l));
        return Ok(SpecOption::Labels(labels));
    }
    if value.contains(',') {
        return Err(err(
            spec,
            value,
            format!("'{}' takes fallbacks separated by '|', not ','", ctx.key),
            Some(format!("write {}={}", ctx.key, value.replace(',', "|"))),
        ));
    }
    let ids = look_up_list(
        spec,
        value,
        '|',
        &format!("empty fallback in {} (stray '|')", ctx.key),
        version,
        catalogue::context_value,
        &Say {
            candidates: &valid_names(catalogue::CONTEXT_VALUES, version),
            unknown: &|id| format!("unknown context '{id}' in {}", ctx.key),
            not_in: &|cv| {
                (
                    format!(
                        "context '{}' is not in Cilium {version} (available in {})",
                        cv.name,
                        cv.valid.describe()
                    ),
                    Some(format!(
                        "use {} instead",
                        list(
                            ["pod-name", "workload-name", "workload"]
                                .into_iter()
                                .filter(|n| *n != cv.name)
                                .filter_map(catalogue::context_value)
                                .filter(|v| v.valid.contains(version))
                                .map(|v| v.name)
                        )
                    )),
                )
            },
            twice: Some(&|cv| format!("context '{}' is listed twice in {}", cv.name, ctx.key)),
        },
    )?;
    Ok(SpecOption::Context(ctx.key, ids))
}

impl fmt::Display for MetricSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.handler.name)?;
        for (i, o) in self.options.iter().enumerate() {
            f.write_str(if i == 0 { ":" } else { ";" })?;
            match o {
                SpecOption::Flag(k) => f.write_str(k)?,
                SpecOption::Value(k, v) => write!(f, "{k}={v}")?,
                SpecOption::Context(k, ids) => write!(f, "{k}={}", ids.join("|"))?,
                SpecOption::Labels(ls) => write!(f, "labelsContext={}", ls.join(","))?,
            }
        }
        Ok(())
    }
}

/// Parse and validate a whole list: each spec, then the rules between them (duplicates,
/// conflicts). The result is in catalogue order.
pub fn parse_list<S: AsRef<str>>(
    specs: &[S],
    version: &Version,
) -> Result<Vec<MetricSpec>, SpecError> {
    let mut out: Vec<MetricSpec> = Vec::with_capacity(specs.len());
    for s in specs {
        let s = s.as_ref();
        let spec = MetricSpec::parse(s, version)?;
        if let Some(prev) = out.iter().find(|p| p.handler.name == spec.handler.name) {
            return Err(err(
                s,
                spec.handler.name,
                format!(
                    "metric family '{}' is given twice (also as '{prev}')",
                    spec.handler.name
                ),
                Some("merge the options into one entry".into()),
            ));
        }
        if let Some(other) = out
            .iter()
            .find(|p| spec.handler.conflicts.contains(&p.handler.name))
        {
            return Err(err(
                s,
                spec.handler.name,
                format!(
                    "'{}' cannot be enabled together with '{}' (plugin {} conflicts with plugin {})",
                    spec.handler.name, other.handler.name, other.handler.name, spec.handler.name
                ),
                Some("keep httpV2; http is its older form".into()),
            ));
        }
        out.push(spec);
    }
    out.sort_by_key(|s| catalogue::handler_rank(s.handler.name));
    Ok(out)
}

/// Validate a list against every Cilium release ciliumon knows: the error of the newest release
/// when no release accepts it. Used before the cluster's version is known.
pub fn parse_list_any_version<S: AsRef<str>>(specs: &[S]) -> Result<(), SpecError> {
    let mut first_err = None;
    for v in catalogue::RELEASES.iter().rev() {
        match parse_list(specs, v) {
            Ok(_) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.expect("RELEASES is not empty"))
}

/// The list as the agent reads it (`hubble-metrics`, space separated).
pub fn join(specs: &[MetricSpec]) -> String {
    specs
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn ok(s: &str) -> String {
        MetricSpec::parse(s, &v("1.20.0")).unwrap().to_string()
    }

    fn bad(s: &str, version: &str) -> SpecError {
        MetricSpec::parse(s, &v(version)).unwrap_err()
    }

    #[test]
    fn blog_list_round_trips() {
        let blog = [
            "dns",
            "drop",
            "tcp",
            "flow",
            "port-distribution",
            "icmp",
            "httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction",
        ];
        for version in ["1.14.0", "1.16.3", "1.20.0"] {
            let specs = parse_list(&blog, &v(version)).unwrap();
            let printed: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
            assert_eq!(printed, blog, "{version}");
            assert!(specs[6].exemplars());
        }
    }

    #[test]
    fn normalises_case_and_order() {
        assert_eq!(ok("DNS:ignoreaaaa;QUERY"), "dns:query;ignoreAAAA");
        assert_eq!(
            ok("httpv2:labelsContext=traffic_direction,source_ip;exemplars=TRUE"),
            "httpV2:exemplars=true;labelsContext=source_ip,traffic_direction"
        );
        assert_eq!(
            ok("flow:destinationContext=IP;sourcecontext=Workload-Name|reserved-identity"),
            "flow:sourceContext=workload-name|reserved-identity;destinationContext=ip"
        );
        assert_eq!(
            MetricSpec::parse("dns:ignoreAAAA;query", &v("1.20")).unwrap(),
            MetricSpec::parse("dns:query;ignoreAAAA", &v("1.20")).unwrap()
        );
    }

    #[test]
    fn context_fallback_order_is_kept() {
        assert_eq!(ok("drop:sourceContext=ip|pod"), "drop:sourceContext=ip|pod");
        assert_eq!(ok("drop:sourceContext=pod|ip"), "drop:sourceContext=pod|ip");
    }

    #[test]
    fn unknown_handler_with_suggestion() {
        let e = bad("dnss", "1.20");
        assert_eq!(e.token, "dnss");
        assert!(e.problem.contains("unknown metric family 'dnss'"));
        assert!(e.hint.as_ref().unwrap().contains("did you mean 'dns'?"));
        assert!(e.hint.as_ref().unwrap().contains("port-distribution"));
    }

    #[test]
    fn unknown_option_and_foreign_option() {
        let e = bad("dns:qeury", "1.20");
        assert!(e.problem.contains("unknown option 'qeury' for dns"), "{e}");
        assert!(e.hint.unwrap().contains("did you mean 'query'?"));
        let e = bad("drop:exemplars=true", "1.20");
        assert!(
            e.problem
                .contains("'exemplars' is an option of http, not of drop"),
            "{e}"
        );
    }

    #[test]
    fn bad_context_values_and_labels() {
        let e = bad("flow:sourceContext=podd", "1.20");
        assert_eq!(e.token, "podd");
        assert!(e.hint.unwrap().contains("did you mean 'pod'?"));
        let e = bad("flow:labelsContext=source_ip,source_namespac", "1.20");
        assert_eq!(e.token, "source_namespac");
        assert!(e.hint.unwrap().contains("did you mean 'source_namespace'?"));
        let e = bad("flow:sourceContext=pod,ip", "1.20");
        assert!(e.problem.contains("separated by '|'"), "{e}");
        let e = bad("flow:labelsContext=source_ip,source_ip", "1.20");
        assert!(e.problem.contains("listed twice"));
        let e = bad("flow:sourceContext=pod||ip", "1.20");
        assert!(e.problem.contains("stray '|'"));
        let e = bad("flow:sourceContext=", "1.20");
        assert!(e.problem.contains("needs a value"));
    }

    #[test]
    fn version_bound() {
        let e = bad("kafka", "1.20.0");
        assert!(e.problem.contains("not in Cilium 1.20.0"), "{e}");
        assert!(MetricSpec::parse("kafka", &v("1.19.6")).is_ok());
        let e = bad("sctp", "1.19.6");
        assert!(e.problem.contains("Cilium 1.20 and later"), "{e}");
        let e = bad("flow:sourceContext=pod-short", "1.14.0");
        assert_eq!(e.token, "pod-short");
        assert!(e.problem.contains("Cilium before 1.14"), "{e}");
        let e = bad("flow:labelsContext=source_workload_kind", "1.14.19");
        assert!(e.problem.contains("Cilium 1.15 and later"), "{e}");
        assert!(
            MetricSpec::parse("flow:labelsContext=destination_workload_kind", &v("1.15.0")).is_ok()
        );
    }

    #[test]
    fn flags_and_values() {
        let e = bad("dns:query=yes", "1.20");
        assert!(e.problem.contains("is a flag and takes no value"));
        let e = bad("httpV2:exemplars=maybe", "1.20");
        assert_eq!(e.token, "maybe");
        assert!(e.hint.unwrap().contains("true, false"));
        let e = bad("httpV2:exemplars", "1.20");
        assert!(e.problem.contains("needs a value"));
        let e = bad("dns:query;query", "1.20");
        assert!(e.problem.contains("given twice"));
        let e = bad("dns:", "1.20");
        assert!(e.problem.contains("nothing after ':'"));
        let e = bad("dns:query;", "1.20");
        assert!(e.problem.contains("stray ';'"));
    }

    #[test]
    fn whitespace_and_braces() {
        let e = bad("dns drop", "1.20");
        assert!(e.problem.contains("whitespace"));
        let e = bad("{dns,drop}", "1.20");
        assert!(e.problem.contains("Helm --set list"));
        let e = bad("", "1.20");
        assert!(e.problem.contains("empty metric name"));
    }

    #[test]
    fn list_rules() {
        let e = parse_list(&["http", "httpV2"], &v("1.20")).unwrap_err();
        assert!(
            e.problem
                .contains("plugin http conflicts with plugin httpV2"),
            "{e}"
        );
        let e = parse_list(&["dns", "drop", "dns:query"], &v("1.20")).unwrap_err();
        assert!(e.problem.contains("given twice"));
        let sorted =
            parse_list(&["icmp", "dns", "flows-to-world:port;any-drop"], &v("1.20")).unwrap();
        assert_eq!(join(&sorted), "dns icmp flows-to-world:any-drop;port");
    }

    #[test]
    fn workload_context_is_not_in_1_14() {
        let e = bad("flow:sourceContext=workload", "1.14.19").to_string();
        assert!(
            e.contains("context 'workload' is not in Cilium 1.14.19"),
            "{e}"
        );
        assert!(e.contains("Cilium 1.15 and later"), "{e}");
        assert!(!e.contains("or workload instead"), "{e}");
        assert!(MetricSpec::parse("flow:sourceContext=workload", &v("1.15.0")).is_ok());
    }

    #[test]
    fn cardinality_and_directional() {
        let s = MetricSpec::parse(
            "flow:sourceContext=pod;labelsContext=source_ip,source_namespace",
            &v("1.20"),
        )
        .unwrap();
        assert_eq!(s.high_cardinality(), vec!["pod", "source_ip"]);
        // 1.14.0-1.14.2 need the plain key beside an egress/ingress one; from 1.14.3 (#27792
        // backported) they do not.
        let old = v("1.14.1");
        let s = MetricSpec::parse("flow:sourceEgressContext=pod", &old).unwrap();
        assert_eq!(s.directional_without_plain(&old), Some("sourceContext"));
        assert_eq!(
            s.directional_without_plain(&v("1.14.2")),
            Some("sourceContext")
        );
        assert_eq!(s.directional_without_plain(&v("1.14.3")), None);
        assert_eq!(s.directional_without_plain(&v("1.15.0")), None);
        assert_eq!(s.directional_without_plain(&v("1.20")), None);
        let s = MetricSpec::parse(
            "flow:sourceContext=pod;sourceIngressContext=ip;destinationIngressContext=ip",
            &old,
        )
        .unwrap();
        assert_eq!(
            s.directional_without_plain(&old),
            Some("destinationContext")
        );
        let s = MetricSpec::parse(
            "flow:sourceContext=pod;destinationContext=ip;destinationEgressContext=dns",
            &old,
        )
        .unwrap();
        assert_eq!(s.directional_without_plain(&old), None);
    }

    #[test]
    fn directional_contexts_are_version_bound() {
        let e = bad("flow:sourceEgressContext=pod", "1.13.4");
        assert_eq!(e.token, "sourceEgressContext");
        assert!(e.problem.contains("Cilium 1.14 and later"), "{e}");
        assert!(e.hint.unwrap().contains("sourceContext"));
        assert!(MetricSpec::parse("flow:sourceContext=pod", &v("1.13.4")).is_ok());
        assert!(MetricSpec::parse("flow:destinationIngressContext=pod", &v("1.14.0")).is_ok());
    }
}
