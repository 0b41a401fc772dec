//! The report as a compact terminal table (like `linkerd check`) or as one JSON document.

use std::fmt::Write as _;

use console::Style;

use super::{Endpoint, Report, Status};

fn style(status: Status, color: bool) -> Style {
    let s = match status {
        Status::Pass => Style::new().green(),
        Status::Warn => Style::new().yellow(),
        Status::Fail => Style::new().red().bold(),
        Status::Skip => Style::new().dim(),
    };
    s.force_styling(color)
}

fn cell(e: &Option<Endpoint>) -> (Status, String) {
    match e {
        Some(e) => (e.status, format!("{} {}", e.status.symbol(), e.summary)),
        None => (Status::Skip, "—".to_string()),
    }
}

fn pad(s: &str, width: usize) -> String {
    let w = console::measure_text_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// The terminal report. `color` adds ANSI colours.
pub fn text(report: &Report, color: bool) -> String {
    text_at(report, color, None)
}

/// `lead` then `text`, wrapped to `width` (when given) with the other lines indented by
/// `indent` columns; `paint` styles each piece of `text`.
fn put(
    out: &mut String,
    width: Option<usize>,
    lead: &str,
    text: &str,
    indent: usize,
    paint: &dyn Fn(&str) -> String,
) {
    let Some(width) = width else {
        let _ = writeln!(out, "{lead}{}", paint(text));
        return;
    };
    let first = console::measure_text_width(lead);
    for (i, line) in crate::ui::wrap(text, width, first, indent)
        .iter()
        .enumerate()
    {
        match i {
            0 => {
                let _ = writeln!(out, "{lead}{}", paint(line));
            }
            _ => {
                let _ = writeln!(out, "{}{}", " ".repeat(indent), paint(line));
            }
        }
    }
}

/// The terminal report, its messages wrapped to `width` columns when given (a terminal); the
/// table's rows are not (their columns must stay aligned).
pub fn text_at(report: &Report, color: bool, width: Option<usize>) -> String {
    let mut out = String::new();
    let dim = Style::new().dim().force_styling(color);
    let headers = ["NODE", "AGENT", "OPERATOR", "HUBBLE", "FAMILIES"];
    let mut rows: Vec<[(Status, String); 5]> = Vec::new();
    for n in &report.nodes {
        let fam = match super::family_counts(n) {
            Some((have, all)) => {
                let st = if have == all {
                    Status::Pass
                } else {
                    Status::Warn
                };
                (st, format!("{} {have}/{all}", st.symbol()))
            }
            None => (Status::Skip, "—".to_string()),
        };
        rows.push([
            (n.status(), n.node.clone()),
            cell(&n.agent),
            cell(&n.operator),
            cell(&n.hubble),
            fam,
        ]);
    }
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (i, (_, s)) in r.iter().enumerate() {
            widths[i] = widths[i].max(console::measure_text_width(s));
        }
    }
    let mut line = String::new();
    for (i, h) in headers.iter().enumerate() {
        line.push_str(&pad(h, widths[i] + 2));
    }
    let _ = writeln!(out, "{}", dim.apply_to(line.trim_end()));
    for (r, n) in rows.iter().zip(&report.nodes) {
        let mut line = String::new();
        for (i, (st, s)) in r.iter().enumerate() {
            let padded = pad(s, widths[i] + 2);
            if i == 0 {
                line.push_str(&padded);
            } else {
                line.push_str(&style(*st, color).apply_to(padded).to_string());
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for e in n.endpoints().filter(|e| e.status > Status::Pass) {
            let lead = format!("  {} ", style(e.status, color).apply_to(e.status.symbol()));
            let what = format!("{} {}: {}", e.component.name(), e.target, e.detail);
            put(&mut out, width, &lead, &what, 4, &|t| t.to_string());
            if let Some(h) = &e.hint {
                hint(&mut out, width, &dim, h);
            }
        }
        for f in n.notes.iter().filter(|f| f.status > Status::Pass) {
            let lead = format!("  {} ", style(f.status, color).apply_to(f.status.symbol()));
            put(&mut out, width, &lead, &f.what, 4, &|t| t.to_string());
            if let Some(h) = &f.hint {
                hint(&mut out, width, &dim, h);
            }
        }
    }
    if !report.families.is_empty() {
        let from = report
            .families_from
            .as_deref()
            .map(|f| format!(" (from {f})"))
            .unwrap_or_default();
        let _ = writeln!(out, "\nHubble families{from}");
        let w = report
            .families
            .iter()
            .map(|f| f.family.len())
            .max()
            .unwrap_or(0);
        for f in &report.families {
            let lead = format!(
                "  {} {}  ",
                style(f.status, color).apply_to(f.status.symbol()),
                pad(f.family, w)
            );
            put(&mut out, width, &lead, &f.detail, w + 6, &|t| t.to_string());
            if let Some(h) = &f.hint {
                hint(&mut out, width, &dim, h);
            }
        }
    } else if report.families_from.is_none() {
        let _ = writeln!(
            out,
            "\n{}",
            dim.apply_to("Hubble families not checked: give --metric or --config (cluster mode reads cilium-config)")
        );
    }
    if let Some(p) = &report.prometheus {
        prometheus_text(&mut out, p, color, width);
    }
    if !report.checks.is_empty() {
        let _ = writeln!(out, "\nOverall");
        for c in &report.checks {
            let lead = format!("  {} ", style(c.status, color).apply_to(c.status.symbol()));
            put(&mut out, width, &lead, &c.what, 4, &|t| t.to_string());
            if let Some(h) = &c.hint {
                hint(&mut out, width, &dim, h);
            }
        }
    }
    let c = report.counts;
    let verdict = if report.passed {
        style(Status::Pass, color).apply_to("all checks passed".to_string())
    } else {
        style(Status::Fail, color).apply_to(format!("{} failed", c.fail))
    };
    let counted =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(
        out,
        "\n{verdict}: {} ok, {}, {}",
        c.pass,
        counted(c.warn, "warning", "warnings"),
        counted(c.fail, "failure", "failures")
    );
    out
}

/// What Prometheus holds: the dashboards' empty panels with their reasons, then the series per
/// family side by side (Prometheus, the estimate, the scanner's counts).
fn prometheus_text(
    out: &mut String,
    p: &super::prometheus::PromReport,
    color: bool,
    width: Option<usize>,
) {
    use super::prometheus::PanelState;
    let dim = Style::new().dim().force_styling(color);
    if !p.panels.is_empty() {
        let filled = p
            .panels
            .iter()
            .filter(|a| a.state == PanelState::Data)
            .count();
        let _ = writeln!(
            out,
            "\nDashboards (panel queries against Prometheus): {filled} of {} panels show data",
            p.panels.len()
        );
        for a in p.panels.iter().filter(|a| a.state != PanelState::Data) {
            let lead = format!("  {} ", style(a.status, color).apply_to(a.status.symbol()));
            let what = format!(
                "{} / {}: {}",
                a.dashboard,
                a.panel,
                a.reason.as_deref().unwrap_or("no data")
            );
            put(out, width, &lead, &what, 4, &|t| t.to_string());
            if let Some(h) = &a.hint {
                hint(out, width, &dim, h);
            }
        }
    }
    if !p.series.is_empty() {
        let _ = writeln!(out, "\nSeries per family (Prometheus / estimate / scanned)");
        let w = p.series.iter().map(|s| s.family.len()).max().unwrap_or(0);
        let n = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
        for s in &p.series {
            let busiest = s
                .busiest_node
                .as_ref()
                .map(|(node, c)| format!(", at most {c} on {node}"))
                .unwrap_or_default();
            let scanned = match s.scanned {
                Some(c) => format!("{c} on {} nodes{busiest}", s.scanned_nodes),
                None => "—".into(),
            };
            let _ = writeln!(
                out,
                "  {}  {} / {} / {}",
                pad(s.family, w),
                n(s.prometheus),
                n(s.estimate),
                scanned
            );
        }
    }
}

/// `    hint: text`, dim, wrapped under its text.
fn hint(out: &mut String, width: Option<usize>, dim: &Style, h: &str) {
    put(out, width, "    ", &format!("hint: {h}"), 10, &|t| {
        dim.apply_to(t).to_string()
    });
}

/// The report as one pretty JSON document (with a final newline).
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::super::examples::{self, AGENT, HUBBLE_BUSY, HUBBLE_FRESH, OPERATOR, ok, probe};
    use super::super::probe::Outcome;
    use super::*;

    fn snap(name: &str, report: &Report) {
        insta::assert_snapshot!(format!("{name}_text"), text(report, false));
        insta::assert_snapshot!(format!("{name}_json"), json(report));
    }

    #[test]
    fn all_pass() {
        let ctx = examples::context(Some(examples::expected(&["drop", "flow"])));
        let plan = examples::plan(ctx, 2);
        let r = examples::report(
            &plan,
            vec![
                ok(AGENT),
                ok(OPERATOR),
                ok(HUBBLE_BUSY),
                ok(AGENT),
                probe(Outcome::Refused),
                ok(HUBBLE_BUSY),
            ],
        );
        assert!(r.passed);
        assert!(text(&r, false).ends_with("all checks passed: 7 ok, 0 warnings, 0 failures\n"));
        snap("all_pass", &r);
    }

    #[test]
    fn waiting_for_traffic() {
        let ctx = examples::context(Some(examples::expected(&["drop", "tcp"])));
        let plan = examples::plan(ctx, 1);
        let r = examples::report(&plan, vec![ok(AGENT), ok(OPERATOR), ok(HUBBLE_FRESH)]);
        assert!(r.passed);
        assert!(text(&r, false).contains("waiting for traffic"));
        snap("waiting_for_traffic", &r);
    }

    /// Three nodes: one healthy, one that does not answer or refuses, one cut short.
    fn failing() -> Report {
        let ctx = examples::context(Some(examples::expected(&["drop", "flow", "tcp"])));
        let plan = examples::plan(ctx, 3);
        examples::report(
            &plan,
            vec![
                ok(AGENT),
                ok(OPERATOR),
                ok(HUBBLE_BUSY),
                probe(Outcome::NoAnswer),
                probe(Outcome::Refused),
                examples::cut("connection reset after 4096 bytes"),
                probe(Outcome::Refused),
                probe(Outcome::Refused),
                ok(HUBBLE_BUSY),
            ],
        )
    }

    /// A missing family, a body cut short, an endpoint that does not answer, a refused port.
    #[test]
    fn failures() {
        let r = failing();
        assert!(!r.passed);
        let t = text(&r, false);
        assert!(t.contains("✗ cut short"), "{t}");
        assert!(t.contains("✗ no answer"), "{t}");
        assert!(
            t.ends_with("3 failed: 6 ok, 1 warning, 3 failures\n"),
            "{t}"
        );
        snap("failures", &r);
    }

    /// On a terminal the messages wrap to its width; the table's rows and every word stay.
    #[test]
    fn messages_wrap_to_the_terminal_and_lose_no_word() {
        let r = failing();
        let whole = text(&r, false);
        let table = whole.lines().take_while(|l| !l.starts_with("  ")).count();
        assert!(
            whole.lines().any(|l| console::measure_text_width(l) > 60),
            "{whole}"
        );
        let at = text_at(&r, false, Some(60));
        let long: Vec<&str> = at
            .lines()
            .skip(table)
            .filter(|l| console::measure_text_width(l) > 60)
            // The node table's rows are columns, not text.
            .filter(|l| !l.starts_with("10.") && !l.starts_with("NODE"))
            .collect();
        assert!(long.is_empty(), "{long:#?}\n{at}");
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&at), words(&whole));
        assert_eq!(text_at(&r, false, None), whole);
    }

    #[test]
    fn without_a_family_list_the_text_says_how_to_give_one() {
        let plan = examples::plan(examples::context(None), 1);
        let r = examples::report(&plan, vec![ok(AGENT), ok(OPERATOR), ok(HUBBLE_BUSY)]);
        assert!(text(&r, false).contains("Hubble families not checked: give --metric or --config"));
        assert!(r.families.is_empty());
    }

    #[test]
    fn color_only_when_asked() {
        let plan = examples::plan(examples::context(None), 1);
        let r = examples::report(
            &plan,
            vec![ok(AGENT), probe(Outcome::Refused), ok(HUBBLE_BUSY)],
        );
        assert!(!text(&r, false).contains('\u{1b}'));
        assert!(text(&r, true).contains('\u{1b}'));
    }
}
