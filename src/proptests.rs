//! No parser of user input panics, whatever the input, and those with a printed form give back
//! what they printed: property tests over durations, versions, names, metric specs, config
//! files, node addresses and the escaping of what is echoed.
//!
//! Why proptest and not cargo-fuzz: these run inside `cargo test` on stable Rust (cargo-fuzz
//! needs nightly and a separate, time-bounded CI step), with a bounded number of cases each, and
//! the strategies aim at the grammar (Go durations, semver, Cilium's spec syntax, YAML shapes)
//! rather than at raw bytes, so a few hundred cases reach the edges. A failure is shrunk to a
//! small input and its seed saved under `proptest-regressions/`, to be committed so that it is
//! replayed first from then on. `PROPTEST_CASES` raises the counts for a longer run.

use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;

use crate::config::Config;
use crate::version::Version;

fn cases(n: u32) -> ProptestConfig {
    // PROPTEST_CASES, when set, wins over the defaults here.
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases: n,
        ..ProptestConfig::default()
    }
}

/// Any text, weighted towards the characters that break parsers: controls, quotes, separators,
/// digits, non-ASCII.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[0-9.:;=,|+\\-a-zA-Z\\\\\"' \t\r\n\u{0}\u{1b}\u{202e}µé{}\\[\\]#&*!@$]{0,40}",
    ]
}

// ---- durations -----------------------------------------------------------------------------

fn duration_like() -> impl Strategy<Value = String> {
    prop_oneof![
        nasty(),
        "[0-9]{0,25}(\\.[0-9]{0,25})?(ns|us|µs|ms|s|m|h|x|)",
        "([0-9]{1,22}(\\.[0-9]{0,22})?(ns|us|µs|ms|s|m|h)){1,4}",
        "[0-9]{1,25}",
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn durations_never_panic(s in duration_like()) {
        let _ = crate::duration::parse(&s);
        let _ = crate::duration::step_timeout(&s);
        let _ = crate::duration::request_timeout(&s);
        let _ = crate::duration::wait(&s);
        if let Ok(d) = crate::duration::parse(&s) {
            prop_assert!(d <= crate::duration::GO_MAX);
        }
    }

    #[test]
    fn duration_display_parses_back(nanos in 0u64..=crate::duration::GO_MAX.as_nanos() as u64) {
        let d = Duration::from_nanos(nanos);
        let shown = crate::duration::to_go(d);
        prop_assert_eq!(crate::duration::parse(&shown), Ok(d), "{}", shown);
    }

    #[test]
    fn whole_seconds_display_parses_back(secs in 0u64..=9_223_372_036) {
        let d = Duration::from_secs(secs);
        prop_assert_eq!(crate::duration::parse(&crate::duration::to_go(d)), Ok(d));
    }
}

// ---- versions ------------------------------------------------------------------------------

fn identifier() -> impl Strategy<Value = String> {
    prop_oneof!["[1-9][0-9]{0,4}", "0", "[0-9]*[a-zA-Z-][0-9a-zA-Z-]{0,6}"]
}

fn pre_release() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(proptest::collection::vec(identifier(), 1..4).prop_map(|v| v.join(".")))
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn versions_never_panic(s in prop_oneof![nasty(), "v?[0-9]{1,12}(\\.[0-9]{0,12}){0,3}([-+][0-9a-zA-Z.$()-]{0,12}){0,2}"]) {
        let _ = s.parse::<Version>();
        let _ = crate::version::check_chart_version(&s);
    }

    #[test]
    fn version_display_parses_back(major in 0u32..40, minor: u32, patch: u32, pre in pre_release(), v in any::<bool>()) {
        let text = format!(
            "{}{major}.{minor}.{patch}{}",
            if v { "v" } else { "" },
            pre.as_ref().map(|p| format!("-{p}")).unwrap_or_default()
        );
        let parsed: Version = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(parsed.pre.clone(), pre);
        let again: Version = parsed.to_string().parse().unwrap();
        prop_assert_eq!(&again, &parsed);
        prop_assert_eq!(again.to_string(), parsed.to_string());
        prop_assert!(crate::version::check_chart_version(&text).is_ok(), "{}", text);
    }
}

// ---- names ---------------------------------------------------------------------------------

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn names_never_panic_and_follow_their_rule(s in prop_oneof![nasty(), "[a-z0-9.-]{0,70}"]) {
        let ns = crate::names::namespace_problem(&s).is_none();
        prop_assert_eq!(ns, is_label(&s) && s.len() <= 63, "namespace {:?}", s);
        let rel = crate::names::release_problem(&s).is_none();
        prop_assert_eq!(rel, s.split('.').all(is_label) && s.len() <= 53, "release {:?}", s);
        let ctx = crate::names::context_problem(&s).is_none();
        prop_assert_eq!(ctx, !s.is_empty() && !s.chars().any(crate::escape::is_unsafe));
        for p in [crate::names::namespace_problem(&s), crate::names::release_problem(&s), crate::names::context_problem(&s)].into_iter().flatten() {
            prop_assert!(!p.chars().any(crate::escape::is_unsafe), "{:?}", p);
        }
    }

    #[test]
    fn labels_of_63_are_namespaces(s in "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?") {
        prop_assert!(crate::names::namespace_problem(&s).is_none(), "{}", s);
    }

    #[test]
    fn escaping_leaves_nothing_unsafe(s in nasty()) {
        let once = crate::escape::escape(&s).into_owned();
        prop_assert!(!once.chars().any(crate::escape::is_unsafe));
        prop_assert_eq!(crate::escape::escape(&once).into_owned(), once.clone());
        let m = crate::escape::message(&s);
        prop_assert!(!m.chars().any(|c| c != '\n' && crate::escape::is_unsafe(c)));
        prop_assert_eq!(m.matches('\n').count(), s.matches('\n').count());
    }
}

// ---- metric specs --------------------------------------------------------------------------

/// Pieces of Cilium's spec grammar, right and wrong, so that generated lists reach deep into
/// the parser.
const WORDS: &[&str] = &[
    "dns",
    "drop",
    "tcp",
    "flow",
    "port-distribution",
    "icmp",
    "http",
    "httpV2",
    "kafka",
    "flows-to-world",
    "policy",
    "sctp",
    "DNS",
    "query",
    "ignoreAAAA",
    "exemplars",
    "true",
    "false",
    "labelsContext",
    "sourceContext",
    "destinationContext",
    "sourceEgressContext",
    "destinationIngressContext",
    "pod",
    "pod-name",
    "pod-short",
    "ip",
    "namespace",
    "workload",
    "workload-name",
    "reserved-identity",
    "dns",
    "identity",
    "source_ip",
    "source_namespace",
    "destination_workload",
    "traffic_direction",
    "source_workload_kind",
    "any-drop",
    "port",
    "syn-only",
    "bogus",
    "",
];
const SEPARATORS: &[&str] = &[":", ";", "=", ",", "|", "", " ", "{", "}", "\r", "\u{1b}"];

/// One option of `handler` in the spec grammar, from the catalogue's own vocabulary (and now
/// and then one that does not belong).
fn spec_option(handler: &'static crate::catalogue::Handler) -> impl Strategy<Value = String> {
    use crate::catalogue::{CONTEXT_KEYS, CONTEXT_VALUES, LABELS, OptionKind};
    let own: Vec<String> = handler
        .options
        .iter()
        .map(|o| match o.kind {
            OptionKind::Flag => o.key.to_string(),
            OptionKind::OneOf(values) => format!("{}={}", o.key, values[0]),
        })
        .chain(["exemplars=maybe".to_string(), "query".to_string()])
        .collect();
    let context_keys: Vec<&'static str> = CONTEXT_KEYS
        .iter()
        .filter(|k| !k.labels)
        .map(|k| k.key)
        .collect();
    let values: Vec<&'static str> = CONTEXT_VALUES.iter().map(|v| v.name).collect();
    let labels: Vec<&'static str> = LABELS.iter().map(|l| l.name).collect();
    prop_oneof![
        proptest::sample::select(own),
        (
            proptest::sample::select(context_keys),
            proptest::collection::vec(proptest::sample::select(values), 1..3)
        )
            .prop_map(|(k, v)| format!("{k}={}", v.join("|"))),
        proptest::collection::vec(proptest::sample::select(labels), 1..4)
            .prop_map(|l| format!("labelsContext={}", l.join(","))),
    ]
}

/// A spec: mostly well-formed from the catalogue's names (so that lists parse and the round
/// trip is exercised), some assembled from loose pieces, some any text.
fn spec_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..crate::catalogue::HANDLERS.len()).prop_flat_map(|i| {
            let h = &crate::catalogue::HANDLERS[i];
            proptest::collection::vec(spec_option(h), 0..3).prop_map(move |opts| {
                if opts.is_empty() {
                    h.name.to_string()
                } else {
                    format!("{}:{}", h.name, opts.join(";"))
                }
            })
        }),
        1 => proptest::collection::vec(
            (proptest::sample::select(WORDS), proptest::sample::select(SEPARATORS)),
            1..10
        )
        .prop_map(|parts| parts.into_iter().map(|(w, s)| format!("{w}{s}")).collect::<String>()),
        1 => nasty(),
    ]
}

fn some_release() -> impl Strategy<Value = Version> {
    proptest::sample::select(crate::catalogue::RELEASES)
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn specs_never_panic_and_round_trip(list in proptest::collection::vec(spec_text(), 0..4), v in some_release()) {
        let _ = crate::spec::parse_list_any_version(&list);
        if let Ok(specs) = crate::spec::parse_list(&list, &v) {
            let joined = crate::spec::join(&specs);
            let again: Vec<&str> = joined.split(' ').filter(|s| !s.is_empty()).collect();
            let reparsed = crate::spec::parse_list(&again, &v)
                .map_err(|e| TestCaseError::fail(format!("{joined}: {e}")))?;
            prop_assert_eq!(crate::spec::join(&reparsed), joined);
            prop_assert_eq!(reparsed, specs);
        } else if let Err(e) = crate::spec::parse_list(&list, &v) {
            let shown = e.to_string();
            prop_assert!(!shown.chars().any(|c| c != '\n' && crate::escape::is_unsafe(c)), "{:?}", shown);
        }
    }
}

// ---- config files --------------------------------------------------------------------------

const YAML_LINES: &[&str] = &[
    "hubble:",
    "  metrics: [dns, drop]",
    "  metrics:",
    "    - \"httpV2:exemplars=true\"",
    "  relay: false",
    "  relays: true",
    "  ui: {enabled: false}",
    "  ui:",
    "    nodePort: 99999",
    "cilium:",
    "  version: 1.18.4",
    "  version: \"1.18.12-$(id)\"",
    "  namespace: Kube",
    "  release: \"\"",
    "prometheusStack:",
    "  grafanaAdminPassword: {file: /run/pw}",
    "  grafanaAdminPassword:",
    "    env: PW",
    "  version: 80.4.1",
    "  mode: maybe",
    "&a [*a]",
    "- x",
    "? complex",
    "key: !!binary aGk=",
    "{",
    "\"\\u001b[31m\"",
    "",
    "---",
];

fn config_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(YAML_LINES), 0..10).prop_map(|l| l.join("\n")),
        1 => nasty(),
    ]
}

fn password() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!%^&*()_+=~]{8,24}"
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn config_files_never_panic(text in config_text()) {
        if let Ok(c) = crate::secret::config_from_str(&text, "c.yaml") {
            let _ = c.validate();
            // Written back, the file reads as the same configuration.
            let back = crate::secret::config_from_str(&c.to_yaml().unwrap(), "c.yaml").unwrap();
            prop_assert_eq!(back, c);
        }
    }

    #[test]
    fn config_round_trips_strings(release in nasty(), ns in nasty(), metrics in proptest::collection::vec(nasty(), 0..4), path in nasty()) {
        let mut c = Config::default();
        c.cilium.release = release;
        c.prometheus_stack.namespace = ns;
        c.hubble.metrics = metrics.into_iter().map(Into::into).collect();
        c.hubble.export.file_path = path;
        let text = c.to_yaml().unwrap();
        let back = crate::secret::config_from_str(&text, "c.yaml")
            .map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(back, c);
    }

    #[test]
    fn a_password_in_the_config_is_never_shown(pw in password(), shape in 0usize..6, other in proptest::sample::select(YAML_LINES)) {
        let value = match shape {
            0 => pw.clone(),
            1 => format!("\"{pw}\""),
            2 => format!("{{plain: {pw}}}"),
            3 => format!("\n    plain: {pw}"),
            4 => format!("[{pw}]"),
            _ => format!("|\n    {pw}"),
        };
        let text = format!("hubble:\n{other}\nprometheusStack:\n  grafanaAdminPassword: {value}\n  release: x\n");
        if let Err(e) = crate::secret::config_from_str(&text, "c.yaml") {
            prop_assert!(!e.contains(&pw), "{}\n{}", text, e);
        }
    }
}

// ---- node addresses ------------------------------------------------------------------------

/// Strings that `parse_node` will not try to resolve (no letters, or a character no host name
/// has): the property tests stay off the network.
fn not_a_host_name(s: &str) -> bool {
    let name_like = !s.trim().is_empty()
        && s.trim()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && s.trim().chars().any(|c| c.is_ascii_alphabetic());
    !name_like
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn node_addresses_never_panic(s in prop_oneof![nasty(), "\\[?[0-9a-fA-F:.%]{0,45}\\]?"]) {
        prop_assume!(not_a_host_name(&s));
        let _ = crate::check::settings::parse_node(&s, "--node");
    }

    #[test]
    fn ip_addresses_parse_back(ip in any::<IpAddr>(), brackets in any::<bool>()) {
        let text = match (ip, brackets) {
            (IpAddr::V6(v6), true) => format!("[{v6}]"),
            _ => ip.to_string(),
        };
        let parsed = crate::check::settings::parse_node(&text, "--node")
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(parsed, ip);
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn nodes_files_never_panic(lines in proptest::collection::vec(prop_oneof![nasty(), "[0-9.:# ]{0,20}"], 0..8)) {
        let lines: Vec<String> = lines
            .into_iter()
            .flat_map(|l| l.split('\n').map(str::to_string).collect::<Vec<_>>())
            .filter(|l| not_a_host_name(l.split('#').next().unwrap_or("")))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nodes");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let _ = crate::check::settings::read_nodes_file(&file);
    }
}
