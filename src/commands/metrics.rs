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
        ReportOutput::Text => text(&version),
        ReportOutput::Json => serde_json::to_string_pretty(&document(&version))? + "\n",
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(Code::Ok)
}

fn option_syntax(kind: OptionKind, key: &str) -> String {
    match kind {
        OptionKind::Flag => key.to_string(),
        OptionKind::OneOf(values) => format!("{key}={}", values.join("|")),
    }
}

pub fn text(version: &Version) -> String {
    let bold = console::Style::new().bold();
    let dim = console::Style::new().dim();
    let mut s =
        format!("Hubble metric families in Cilium {version} (syntax: name[:option;option...])\n\n");
    for h in catalogue::handlers_for(version) {
        s.push_str(&format!("{}  {}", bold.apply_to(h.name), h.description));
        if let Some(d) = h.deprecated_in(version) {
            s.push_str(&format!(" (deprecated: {d})"));
        }
        s.push('\n');
        for o in h.options.iter().filter(|o| o.valid.contains(version)) {
            s.push_str(&format!(
                "    {:<22} {}\n",
                option_syntax(o.kind, o.key),
                o.description
            ));
        }
        for m in h.metrics {
            let kind = match m.kind {
                catalogue::MetricType::Counter => "counter",
                catalogue::MetricType::Histogram => "histogram",
            };
            s.push_str(&format!(
                "    {} {}\n",
                dim.apply_to("→"),
                format_args!("{} ({kind})", m.name)
            ));
        }
        if h.l7.is_some() {
            s.push_str("    needs traffic through the L7 proxy (a CiliumNetworkPolicy with DNS/HTTP rules)\n");
        }
        s.push('\n');
    }
    s.push_str("Context options (every family):\n");
    for k in catalogue::context_keys_for(version) {
        s.push_str(&format!("    {:<26} {}\n", k.key, k.description));
    }
    let values: Vec<&str> = catalogue::CONTEXT_VALUES
        .iter()
        .filter(|v| v.valid.contains(version))
        .map(|v| v.name)
        .collect();
    s.push_str(&format!(
        "  values, '|' for fallbacks: {}\n",
        values.join(", ")
    ));
    let labels: Vec<&str> = catalogue::LABELS
        .iter()
        .filter(|l| l.valid.contains(version))
        .map(|l| l.name)
        .collect();
    s.push_str(&format!(
        "  labelsContext labels, ',' separated: {}\n",
        labels.join(", ")
    ));
    s
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
