//! From a plan's probe results to the report, and what a `--wait` round probes again. Pure:
//! the probes are values (see `probe::Probe`), so every verdict is testable without sockets.

use super::probe::Probe;
use super::proc_net::Listener;
use super::targets::{Plan, Post};
use super::{Finding, NodeRow, Ports, Report, Status};
use crate::catalogue::Component;

fn slot(row: &mut NodeRow, c: Component) -> &mut Option<super::Endpoint> {
    match c {
        Component::Agent => &mut row.agent,
        Component::Operator => &mut row.operator,
        Component::Hubble => &mut row.hubble,
    }
}

/// The report from the plan and each target's probe (`probes[i]` for `plan.targets[i]`; None:
/// not probed).
pub fn assemble(plan: &Plan, probes: &[Option<Probe>]) -> Report {
    let ctx = &plan.ctx;
    let mut rows = plan.rows.clone();
    for (t, p) in plan.targets.iter().zip(probes) {
        let Some(p) = p else { continue };
        let e = super::judge_endpoint(t.component, t.label.clone(), p, ctx);
        *slot(&mut rows[t.row], t.component) = Some(e);
    }
    for f in &plan.fixed {
        *slot(&mut rows[f.row], f.endpoint.component) = Some(f.endpoint.clone());
    }
    let mut checks = plan.checks.clone();
    if let Post::OperatorSomewhere { port, none } = plan.post {
        checks.extend(operator_somewhere(&mut rows, port, none));
    }
    super::finish(ctx, rows, checks)
}

/// The operator runs as one or two replicas, not on every node: a refused operator port on a
/// node is "not here", and only no operator anywhere is a problem.
pub fn operator_somewhere(rows: &mut [NodeRow], port: u16, none_status: Status) -> Vec<Finding> {
    let mut any = false;
    for row in rows.iter_mut() {
        if let Some(op) = &mut row.operator {
            if op.status == Status::Pass {
                any = true;
            } else if op.summary == "refused" {
                op.status = Status::Skip;
                op.summary = "not here".into();
                op.hint = None;
            }
        }
    }
    if any {
        return Vec::new();
    }
    let hint = format!(
        "the operator runs on one or two nodes; check those, or enable its metrics: helm value {}=true",
        Component::Operator.facts().enable_keys.join("=true, ")
    );
    vec![Finding::new(
        none_status,
        format!("no node serves the operator metrics on port {port}"),
        Some(hint),
    )]
}

/// The targets a `--wait` round probes again: those that failed, every Hubble endpoint while a
/// family fails, and the operators while a cluster-wide check fails.
pub fn to_retry(plan: &Plan, report: &Report) -> Vec<usize> {
    let families_fail = report.families.iter().any(|f| f.status == Status::Fail);
    let checks_fail = report.checks.iter().any(|c| c.status == Status::Fail);
    (0..plan.targets.len())
        .filter(|&i| {
            let t = &plan.targets[i];
            let row = &report.nodes[t.row];
            let e = match t.component {
                Component::Agent => &row.agent,
                Component::Operator => &row.operator,
                Component::Hubble => &row.hubble,
            };
            e.as_ref().is_some_and(|e| e.status == Status::Fail)
                || (families_fail && t.component == Component::Hubble)
                || (t.component == Component::Operator && checks_fail)
        })
        .collect()
}

/// `--local`: what `ss -tnlp` would have shown, on each endpoint's detail.
pub fn annotate_local(report: &mut Report, ports: Ports, listeners: &[Listener]) {
    let Some(row) = report.nodes.first_mut() else {
        return;
    };
    for e in [&mut row.agent, &mut row.operator, &mut row.hubble]
        .into_iter()
        .flatten()
    {
        let port = ports.get(e.component);
        let socks: Vec<String> = listeners
            .iter()
            .filter(|l| l.addr.port() == port)
            .map(|l| match &l.process {
                Some(p) => format!("{} ({} pid {})", l.addr, p.name, p.pid),
                None => l.addr.to_string(),
            })
            .collect();
        if socks.is_empty() {
            e.detail
                .push_str(&format!("; /proc/net/tcp: nothing listens on {port}"));
        } else {
            e.detail
                .push_str(&format!("; listening on {}", socks.join(", ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::examples::{self, AGENT, HUBBLE_BUSY, OPERATOR, ok, probe};
    use super::super::probe::Outcome;
    use super::*;

    #[test]
    fn a_refused_operator_is_not_here_when_another_node_serves_it() {
        let plan = examples::plan(examples::context(None), 2);
        let r = examples::report(
            &plan,
            vec![
                ok(AGENT),
                probe(Outcome::Refused),
                ok(HUBBLE_BUSY),
                ok(AGENT),
                ok(OPERATOR),
                ok(HUBBLE_BUSY),
            ],
        );
        let op = r.nodes[0].operator.as_ref().unwrap();
        assert_eq!((op.status, op.summary.as_str()), (Status::Skip, "not here"));
        assert!(op.hint.is_none());
        assert!(r.checks.is_empty());
        assert!(r.passed);
    }

    #[test]
    fn no_operator_anywhere_is_the_plans_status() {
        let mut plan = examples::plan(examples::context(None), 1);
        let probes = vec![ok(AGENT), probe(Outcome::Refused), ok(HUBBLE_BUSY)];
        let r = examples::report(&plan, probes.clone());
        assert_eq!(r.checks[0].status, Status::Fail);
        assert_eq!(
            r.checks[0].what,
            "no node serves the operator metrics on port 9963"
        );
        plan.post = Post::OperatorSomewhere {
            port: 9963,
            none: Status::Warn,
        };
        assert!(examples::report(&plan, probes.clone()).passed);
        plan.post = Post::Nothing;
        let r = examples::report(&plan, probes);
        assert!(r.checks.is_empty());
        assert_eq!(r.nodes[0].operator.as_ref().unwrap().status, Status::Fail);
    }

    #[test]
    fn a_wait_round_retries_what_failed_and_hubble_while_a_family_fails() {
        let mut ctx = examples::context(Some(examples::expected(&["drop", "tcp"])));
        ctx.strict = true;
        let plan = examples::plan(ctx, 2);
        let r = examples::report(
            &plan,
            vec![
                ok(AGENT),
                ok(OPERATOR),
                ok(HUBBLE_BUSY),
                probe(Outcome::NoAnswer),
                probe(Outcome::Refused),
                ok(HUBBLE_BUSY),
            ],
        );
        // Targets: 0..3 node-1 (agent, operator, hubble), 3..6 node-2. The refused operator on
        // node-2 is "not here"; tcp fails (strict), so both Hubble endpoints are asked again.
        assert_eq!(to_retry(&plan, &r), vec![2, 3, 5]);
        let plan = examples::plan(examples::context(None), 1);
        let r = examples::report(&plan, vec![ok(AGENT), ok(OPERATOR), ok(HUBBLE_BUSY)]);
        assert!(to_retry(&plan, &r).is_empty());
    }
}
