//! `ciliumon metrics`: the catalogue for one Cilium version.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::json;

use crate::catalogue::{self, OptionKind};
use crate::cli::{MetricsArgs, ReportOutput};
use crate::exit::Code;
use crate::version::Version;

pub fn run(args: &MetricsArgs) -> Result<Code> {
    let version = catalogue::resolve_version(
        args.cilium_version.as_deref(),
        None,
        catalogue::VersionUse::Facts,
    )?
    .facts;
    let text = match args.output {
        ReportOutput::Text => text(&version, width()),
        ReportOutput::Json => serde_json::to_string_pretty(&document(&version))? + "\n",
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(Code::Ok)
}

/// The width the text is wrapped to: stdout's terminal, at most 100 columns (long lines are
/// hard to read), else 80.
fn width() -> usize {
    use std::io::IsTerminal;
    let term = std::io::stdout()
        .is_terminal()
        .then(|| console::Term::stdout().size_checked().map(|(_, w)| w))
        .flatten();
    term.map_or(usize::from(crate::ui::DEFAULT_COLUMNS), |w| {
        usize::from(w).min(100)
    })
}

fn option_syntax(kind: OptionKind, key: &str) -> String {
    match kind {
        OptionKind::Flag => key.to_string(),
        OptionKind::OneOf(values) => format!("{key}={}", values.join("|")),
    }
}

/// The catalogue for `version` as text, wrapped to `width` columns (at 80 and more, no word is
/// cut: the longest metric name is shorter than a line).
pub fn text(version: &Version, width: usize) -> String {
    let bold = console::Style::new().bold();
    let dim = console::Style::new().dim();
    let line = |text: &str, first: &str, rest: &str| indented(text, width, first, rest);
    let mut s = line(
        &format!("Hubble metric families in Cilium {version} (syntax: name[:option;option...])"),
        "",
        "  ",
    );
    s.push('\n');
    for h in catalogue::handlers_for(version) {
        let mut about = h.description.to_string();
        if let Some(d) = h.deprecated_in(version) {
            about.push_str(&format!(" (deprecated: {d})"));
        }
        s.push_str(&line(
            &about,
            &format!("{}  ", bold.apply_to(h.name)),
            "    ",
        ));
        for o in h.options.iter().filter(|o| o.valid.contains(version)) {
            let first = format!("    {:<22} ", option_syntax(o.kind, o.key));
            s.push_str(&line(o.description, &first, &" ".repeat(27)));
        }
        for m in h.metrics {
            let kind = match m.kind {
                catalogue::MetricType::Counter => "counter",
                catalogue::MetricType::Histogram => "histogram",
            };
            s.push_str(&format!("    {} {} ({kind})\n", dim.apply_to("→"), m.name));
        }
        if h.l7.is_some() {
            s.push_str(&line(
                "needs traffic through the L7 proxy (a CiliumNetworkPolicy with DNS/HTTP rules)",
                "    ",
                "      ",
            ));
        }
        s.push('\n');
    }
    s.push_str("Context options (every family):\n");
    for k in catalogue::context_keys_for(version) {
        let first = format!("    {:<26} ", k.key);
        s.push_str(&line(k.description, &first, &" ".repeat(31)));
    }
    let values: Vec<&str> = catalogue::CONTEXT_VALUES
        .iter()
        .filter(|v| v.valid.contains(version))
        .map(|v| v.name)
        .collect();
    s.push_str(&line(
        &format!("values, '|' for fallbacks: {}", values.join(", ")),
        "  ",
        "    ",
    ));
    let labels: Vec<&str> = catalogue::LABELS
        .iter()
        .filter(|l| l.valid.contains(version))
        .map(|l| l.name)
        .collect();
    s.push_str(&line(
        &format!("labelsContext labels, ',' separated: {}", labels.join(", ")),
        "  ",
        "    ",
    ));
    s
}

/// `text` wrapped to `width` after `first` on its first line and `rest` on the others.
fn indented(text: &str, width: usize, first: &str, rest: &str) -> String {
    let columns = console::measure_text_width;
    let mut out = String::new();
    for (i, l) in crate::ui::wrap(text, width, columns(first), columns(rest))
        .iter()
        .enumerate()
    {
        out.push_str(if i == 0 { first } else { rest });
        out.push_str(l);
        out.push('\n');
    }
    out
}

pub fn document(version: &Version) -> serde_json::Value {
    json!({
        "ciliumVersion": version,
        "families": catalogue::handlers_for(version).map(|h| json!({
            "name": h.name,
            "description": h.description,
            "deprecated": h.deprecated_in(version),
            "l7": h.l7.is_some(),
            "conflicts": h.conflicts,
            "options": h.options.iter().filter(|o| o.valid.contains(version)).map(|o| json!({
                "key": o.key,
                "syntax": option_syntax(o.kind, o.key),
                "description": o.description,
            })).collect::<Vec<_>>(),
            "metrics": h.metrics,
        })).collect::<Vec<_>>(),
        "contextOptions": catalogue::context_keys_for(version).map(|k| k.key).collect::<Vec<_>>(),
        "contextValues": catalogue::CONTEXT_VALUES.iter().filter(|v| v.valid.contains(version)).map(|v| json!({"name": v.name, "description": v.description})).collect::<Vec<_>>(),
        "labels": catalogue::LABELS.iter().filter(|l| l.valid.contains(version)).map(|l| l.name).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fits_the_width_and_loses_no_word() {
        for v in ["1.14.19", "1.17.18", "1.20.0"] {
            let version: Version = v.parse().unwrap();
            let wide = text(&version, 10_000);
            for width in [80, 120] {
                let out = text(&version, width);
                for l in out.lines() {
                    // Only a word on its own line may be wider.
                    let w = console::measure_text_width(l);
                    assert!(
                        w <= width || !l.trim().contains(' '),
                        "{v} at {width}: {l:?}"
                    );
                }
                let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
                assert_eq!(words(&out), words(&wide), "{v} at {width}");
            }
        }
    }
}
