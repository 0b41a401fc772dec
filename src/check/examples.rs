//! Constructed probe results and reports for the unit tests: no sockets, no files.

use std::time::Duration;

use super::probe::{Outcome, Probe};
use super::scan::{Scan, Scanner};
use super::targets::{Plan, Post, Target};
use super::{Context, Expected, L7Policies, Mode, NodeRow, Report};
use crate::catalogue::Component;

pub const AGENT: &str = "# TYPE cilium_endpoint_state gauge\ncilium_endpoint_state{endpoint_state=\"ready\"} 12\ncilium_version{version=\"1.18.3\"} 1\n";
pub const OPERATOR: &str = "# TYPE cilium_operator_identity_gc_runs counter\ncilium_operator_identity_gc_runs{outcome=\"success\"} 3\n";
/// Hubble with no flow yet: only its gRPC server series.
pub const HUBBLE_FRESH: &str = "# TYPE grpc_server_handled_total counter\ngrpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\"} 2\n";
/// A Hubble endpoint that has been scraped and lost events but seen no flow: its own series
/// (`hubble_lost_events_total`, `hubble_metrics_http_handler_*`) and no family's.
pub const HUBBLE_STARTED: &str = "# TYPE grpc_server_handled_total counter\ngrpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\"} 2\n# TYPE hubble_lost_events_total counter\nhubble_lost_events_total{source=\"observer_events_queue\"} 3\n# TYPE hubble_metrics_http_handler_requests_total counter\nhubble_metrics_http_handler_requests_total{code=\"200\"} 1\n# TYPE hubble_metrics_http_handler_request_duration_seconds histogram\nhubble_metrics_http_handler_request_duration_seconds_bucket{code=\"200\",le=\"+Inf\"} 1\nhubble_metrics_http_handler_request_duration_seconds_sum{code=\"200\"} 0.002\nhubble_metrics_http_handler_request_duration_seconds_count{code=\"200\"} 1\n";
/// Hubble with drop and flow samples (and no dns).
pub const HUBBLE_BUSY: &str = "# TYPE grpc_server_handled_total counter\ngrpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\"} 2\n# TYPE hubble_drop_total counter\nhubble_drop_total{reason=\"POLICY_DENIED\",protocol=\"TCP\"} 4\n# TYPE hubble_flows_processed_total counter\nhubble_flows_processed_total{type=\"L3_L4\",verdict=\"FORWARDED\"} 100\nhubble_flows_processed_total{type=\"L7\",verdict=\"FORWARDED\"} 7\n";

pub fn scan(text: &str) -> Scan {
    let mut s = Scanner::new();
    s.push(text.as_bytes());
    s.finish()
}

pub fn probe(outcome: Outcome) -> Probe {
    Probe {
        outcome,
        elapsed: Duration::from_millis(12),
    }
}

/// A 200 in Prometheus text.
pub fn ok(text: &str) -> Probe {
    probe(Outcome::Http {
        status: 200,
        content_type: "text/plain; version=0.0.4".into(),
        scan: Some(Box::new(scan(text))),
        body_start: None,
        cut_short: None,
    })
}

pub fn http(status: u16, body: &str) -> Probe {
    probe(Outcome::Http {
        status,
        content_type: "text/plain".into(),
        scan: None,
        body_start: Some(body.into()),
        cut_short: None,
    })
}

/// A 200 whose body stopped.
pub fn cut(why: &str) -> Probe {
    probe(Outcome::Http {
        status: 200,
        content_type: "text/plain; version=0.0.4".into(),
        scan: None,
        body_start: None,
        cut_short: Some(why.into()),
    })
}

pub fn expected(specs: &[&str]) -> Vec<Expected> {
    Expected::from_agent_list(&specs.join(" ")).0
}

pub fn context(expected: Option<Vec<Expected>>) -> Context {
    Context {
        mode: Mode::Nodes,
        families_from: expected
            .as_ref()
            .map(|_| super::FROM_METRIC_FLAGS.to_string()),
        expected,
        strict: false,
        l7: L7Policies::Unknown {
            reason: "policies are listed in cluster mode only".into(),
        },
        openmetrics: None,
        restart_hint: "restart the agents: kubectl -n kube-system rollout restart ds/cilium".into(),
        timeout: Duration::from_secs(2),
        via_proxy: false,
        dynamic: false,
        configured: vec![],
        asked: None,
    }
}

/// A nodes-mode plan: `nodes` rows on 10.0.0.N, the three ports each.
pub fn plan(ctx: Context, nodes: usize) -> Plan {
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for i in 0..nodes {
        let ip = format!("10.0.0.{}", i + 1);
        rows.push(NodeRow::new(format!("node-{}", i + 1), Some(ip.clone())));
        for c in Component::ALL {
            let port = c.default_port();
            targets.push(Target {
                row: i,
                component: c,
                label: format!("{ip}:{port}"),
                request: super::probe::Request {
                    url: format!("http://{ip}:{port}/metrics"),
                    openmetrics: true,
                    group: None,
                },
            });
        }
    }
    Plan {
        ctx,
        rows,
        targets,
        fixed: Vec::new(),
        checks: Vec::new(),
        post: Post::OperatorSomewhere {
            port: Component::Operator.default_port(),
            none: super::Status::Fail,
        },
    }
}

/// Judge `plan` with one probe a target, in the plan's order (agent, operator, Hubble a node).
pub fn report(plan: &Plan, probes: Vec<Probe>) -> Report {
    assert_eq!(probes.len(), plan.targets.len());
    let probes: Vec<Option<Probe>> = probes.into_iter().map(Some).collect();
    super::judge::assemble(plan, &probes)
}
