//! `ciliumon::check::prometheus` against the fake Prometheus API over loopback: the from-prometheus
//! evaluation end to end (client, parse, judge), the dashboard queries and the series counts.

use std::time::Duration;

use ciliumon::check::Status;
use ciliumon::check::prometheus::{self, HttpApi, PanelState};

use crate::fake_prom::{FakeProm, Fleet, inputs};

const LIST: &[&str] = &["dns", "drop", "tcp", "flow", "httpV2"];

fn api(fake: &FakeProm) -> HttpApi {
    HttpApi::new(&fake.base, Duration::from_secs(5))
}

#[test]
fn a_fleet_answered_from_prometheus() {
    let fleet = Fleet::typical(250);
    let fake = FakeProm::start(fleet.clone(), 100, Duration::from_secs(60));
    let (r, _) = prometheus::evaluate(&api(&fake), &inputs(LIST));

    assert_eq!(r.nodes.len(), 250);
    let down: Vec<&str> = r
        .nodes
        .iter()
        .filter(|n| n.status == Status::Fail)
        .map(|n| n.node.as_str())
        .collect();
    assert_eq!(down, ["node-00000", "node-00100", "node-00200"]);
    assert_eq!(down.len(), fleet.agents_down());
    let n0 = &r.nodes[0];
    assert!(
        n0.agent
            .as_ref()
            .unwrap()
            .last_error
            .as_deref()
            .unwrap()
            .contains("connection refused"),
        "the down target's error comes from /api/v1/targets: {n0:?}"
    );
    assert!(n0.hubble.as_ref().unwrap().up);
    assert_eq!(n0.hubble_series, 5 + 10 + 20 + 8 + 30 + 14);
    assert_eq!(r.operators.len(), 1);
    let checks: Vec<(Status, &str)> = r
        .checks
        .iter()
        .map(|c| (c.status, c.what.as_str()))
        .collect();
    assert_eq!(
        checks,
        [
            (
                Status::Fail,
                "Prometheus scrapes cilium-agent: 247/250 targets up"
            ),
            (
                Status::Pass,
                "Prometheus scrapes cilium-operator: 1/1 targets up"
            ),
            (
                Status::Pass,
                "Prometheus scrapes hubble: 250/250 targets up"
            ),
        ]
    );

    // Families present with their series, and the same numbers in the series table.
    let fam = |n: &str| r.families.iter().find(|f| f.family == n).unwrap();
    for (name, per_node) in [
        ("dns", 8),
        ("drop", 5),
        ("tcp", 10),
        ("flow", 20),
        ("httpV2", 44),
    ] {
        assert_eq!(fam(name).status, Status::Pass, "{:?}", fam(name));
        assert_eq!(fam(name).samples, per_node * 250, "{name}");
        assert_eq!(fam(name).nodes_with_samples, 250, "{name}");
        let row = r.series.iter().find(|s| s.family == name).unwrap();
        assert_eq!(row.prometheus, Some(per_node * 250));
    }

    // Panels: data where the fleet holds the metric and the labels; empty with the reason.
    let panel = |d: &str, t: &str| {
        r.panels
            .iter()
            .find(|p| p.dashboard_uid == d && p.panel == t)
            .unwrap_or_else(|| panic!("{d} {t}"))
    };
    for t in [
        "Flows processed Per Node",
        "Drop Reason",
        "HTTP Requests",
        "DNS Requests",
        "HTTP Request/Response Latency (p99)",
    ] {
        assert_eq!(panel("5HftnJAWz", t).state, PanelState::Data, "{t}");
    }
    let resp = panel("5HftnJAWz", "HTTP responses");
    assert_eq!(resp.state, PanelState::Empty);
    assert!(
        resp.reason
            .as_deref()
            .unwrap()
            .contains("needs family http"),
        "{resp:?}"
    );
    let ns = panel("_f0DUpY4k", "DNS queries");
    assert_eq!(ns.state, PanelState::Empty);
    assert!(
        ns.reason.as_deref().unwrap().contains("source_namespace"),
        "{ns:?}"
    );
    // The L7 dashboard: match-all matchers also match series without source_namespace, so
    // Prometheus has data; where the panel selects on a label httpV2 without labelsContext does
    // not give (the fill analysis), the data comes with a warning naming it.
    // Every L7 panel selects on the destination namespace and workload (the upstream files).
    let vol = panel("3g264CZVz", "Incoming Request Volume");
    assert_eq!(
        (vol.state, vol.status),
        (PanelState::Data, Status::Warn),
        "{vol:?}"
    );
    assert!(
        vol.reason
            .as_deref()
            .unwrap()
            .contains("needs labelsContext destination_namespace on httpV2"),
        "{vol:?}"
    );
    let by_src = panel(
        "3g264CZVz",
        "Incoming Request Success Rate (non-5xx responses) By Source",
    );
    assert_eq!(
        (by_src.state, by_src.status),
        (PanelState::Data, Status::Warn),
        "{by_src:?}"
    );
    assert!(
        by_src
            .reason
            .as_deref()
            .unwrap()
            .contains("source_namespace"),
        "{by_src:?}"
    );
    assert_eq!(r.panels.len(), 11);

    // Four fixed queries, the targets (some are down), one per panel query.
    assert_eq!(r.queries, 4 + 1 + 13);
    assert_eq!(fake.requests(), r.queries);
    assert_eq!(r.status, Status::Fail);
}

#[test]
fn a_quiet_fleet_is_waiting_for_traffic() {
    let mut fleet = Fleet::typical(20);
    fleet.quiet_nodes = 20;
    fleet.agent_down_every = 0;
    let fake = FakeProm::start(fleet, 100, Duration::from_secs(60));
    let (r, _) = prometheus::evaluate(&api(&fake), &inputs(LIST));
    assert_eq!(r.queries, 4 + 13, "nothing down: no /api/v1/targets");
    assert!(
        r.nodes
            .iter()
            .all(|n| n.status == Status::Pass && n.hubble_series == 0)
    );
    let fam = |n: &str| r.families.iter().find(|f| f.family == n).unwrap();
    assert_eq!(fam("drop").status, Status::Warn);
    assert!(
        fam("drop").detail.starts_with("waiting for traffic"),
        "{:?}",
        fam("drop")
    );
    assert!(
        fam("dns")
            .detail
            .contains("L7 policy present: kube-system/dns-visibility"),
        "{:?}",
        fam("dns")
    );
    assert!(
        fam("httpV2")
            .detail
            .contains("no CiliumNetworkPolicy has HTTP rules"),
        "{:?}",
        fam("httpV2")
    );
    let drop = r.panels.iter().find(|p| p.panel == "Drop Reason").unwrap();
    assert_eq!(drop.state, PanelState::Empty);
    assert!(
        drop.reason
            .as_deref()
            .unwrap()
            .starts_with("no traffic yet: no drop series"),
        "{drop:?}"
    );
    assert_eq!(r.status, Status::Warn);
    assert!(r.passed);
}

#[test]
fn refusals_and_a_gone_prometheus_are_reported() {
    let fake = FakeProm::start(Fleet::typical(3), 2, Duration::from_secs(30));
    let a = api(&fake);
    let e = a.query("up").unwrap_err();
    assert_eq!(e.kind, "bad_data", "{e}");
    assert_eq!(a.query(prometheus::SERIES_QUERY).unwrap().len(), 8);
    // The fake stops by itself after its 2 requests.
    let e = a.query(prometheus::SERIES_QUERY).unwrap_err();
    assert_eq!(e.kind, "transport", "{e}");
    let (r, _) = prometheus::evaluate(&a, &inputs(LIST));
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.checks[0]
            .what
            .starts_with("Prometheus could not answer which targets are up"),
        "{:?}",
        r.checks
    );
    assert!(r.panels.iter().all(|p| p.state == PanelState::Error));
}

/// Run once by hand for the report (not a timed test):
/// `cargo test --release --test it prometheus::five_thousand -- --ignored --nocapture`.
#[test]
#[ignore]
fn five_thousand_nodes_once() {
    let (r, t, total) = crate::fake_prom::from_prometheus_once(5000);
    assert_eq!(r.nodes.len(), 5000);
    // The answers' sizes, for the record.
    let fake = FakeProm::start(Fleet::typical(5000), 10, Duration::from_secs(60));
    for (what, path) in [
        (
            "up",
            format!(
                "/api/v1/query?query={}",
                prometheus::encode(prometheus::UP_QUERY)
            ),
        ),
        (
            "series",
            format!(
                "/api/v1/query?query={}",
                prometheus::encode(prometheus::SERIES_QUERY)
            ),
        ),
        (
            "node series",
            format!(
                "/api/v1/query?query={}",
                prometheus::encode(prometheus::NODE_SERIES_QUERY)
            ),
        ),
        ("targets", "/api/v1/targets?state=active".to_string()),
    ] {
        let (status, body) = ciliumon::check::probe::fetch(
            &format!("{}{path}", fake.base),
            Duration::from_secs(10),
            256 << 20,
        )
        .unwrap();
        println!("{what}: HTTP {status}, {} bytes", body.len());
    }
    println!(
        "5000 nodes from Prometheus: {} queries, fetch+parse {:?}, judge {:?}, total with the fake's start {:?}",
        r.queries, t.fetch, t.judge, total
    );
}
