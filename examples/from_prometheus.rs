//! `check --from-prometheus` end to end against a fake Prometheus describing N nodes on loopback
//! (client, parse, judge), run once and timed: `cargo run --release --example from_prometheus
//! [NODES]` (default 5000). The same call `benches/check.rs` makes, through the same fake.

#[path = "../tests/harness/prom.rs"]
mod fake_prom;

fn main() {
    let nodes: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 5000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: from_prometheus [NODES]: NODES is a positive whole number");
            std::process::exit(2);
        }
    };
    let (report, timings, total) = fake_prom::from_prometheus_once(nodes);
    println!(
        "{nodes} nodes from Prometheus: {} queries, ask + parse {:.1} ms, judge {:.1} ms, total (with the fake's start) {:.1} ms; status {:?}, {} nodes, {} families, {} panels ({} with data)",
        report.queries,
        timings.fetch.as_secs_f64() * 1e3,
        timings.judge.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        report.status,
        report.nodes.len(),
        report.families.len(),
        report.panels.len(),
        report
            .panels
            .iter()
            .filter(|p| p.state == ciliumon::check::prometheus::PanelState::Data)
            .count(),
    );
}
