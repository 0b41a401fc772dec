//! From a plan's probe results to the report, and what a `--wait` round probes again. Pure:
//! the probes are values (see `probe::Probe`), so every verdict is testable without sockets.

use super::probe::Probe;
use super::proc_net::Listener;
use super::targets::{Plan, Post, RowAgent};
use super::{Finding, NodeRow, Ports, Report, Status};
use crate::catalogue::{Component, objects};

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
    match &plan.post {
        Post::OperatorSomewhere { port, none } => {
            checks.extend(operator_somewhere(&mut rows, *port, *none));
        }
        Post::Cluster { namespace, agents } => at_fault(&mut rows, namespace, agents),
        Post::Nothing => {}
    }
    super::finish(ctx, rows, checks)
}

/// What the failure of an endpoint says when nothing answered on it.
fn unreachable(e: &super::Endpoint) -> bool {
    e.status == Status::Fail && matches!(e.summary.as_str(), "refused" | "no answer" | "no connect")
}

/// Cluster mode: a node at fault is reported as such. A node whose Node is not Ready, or whose
/// agent pod is not Ready, gets that as the reason of its failing endpoints (not "the agent
/// process may be stuck"). And a port refused on some nodes while others serve it is a problem
/// of those nodes, not of the configuration: no "enable the metrics" hint for them.
pub fn at_fault(rows: &mut [NodeRow], ns: &str, agents: &[RowAgent]) {
    let mut faulty = vec![false; rows.len()];
    for a in agents {
        let (why, hint) = match (&a.node_not_ready, &a.pod_not_ready) {
            (Some(cond), _) => (
                format!("node {} is NotReady ({cond})", a.node),
                format!(
                    "a problem of node {}, not of the metrics configuration: kubectl describe node {}",
                    a.node, a.node
                ),
            ),
            (None, Some(cond)) => (
                format!("agent pod {} is not Ready ({cond})", a.pod),
                format!(
                    "a problem of this agent, not of the metrics configuration: kubectl -n {ns} describe pod {} and kubectl -n {ns} logs {} -c {}",
                    a.pod,
                    a.pod,
                    objects::AGENT_CONTAINER
                ),
            ),
            (None, None) => continue,
        };
        let row = &mut rows[a.row];
        for e in [&mut row.agent, &mut row.hubble, &mut row.operator]
            .into_iter()
            .flatten()
            .filter(|e| unreachable(e))
        {
            e.detail.push_str(&format!("; {why}"));
            e.hint = Some(hint.clone());
        }
        if !row.notes.iter().any(|n| n.what == why) {
            row.notes.push(Finding::new(Status::Warn, why, Some(hint)));
        }
        faulty[a.row] = true;
    }
    for c in [Component::Agent, Component::Hubble] {
        let served = rows
            .iter()
            .filter(|r| endpoint(r, c).is_some_and(|e| e.status == Status::Pass))
            .count();
        let total = rows.iter().filter(|r| endpoint(r, c).is_some()).count();
        if served == 0 {
            continue;
        }
        for (i, row) in rows.iter_mut().enumerate() {
            if faulty[i] {
                continue;
            }
            let pod = agents.iter().find(|a| a.row == i).map(|a| a.pod.as_str());
            let Some(e) = slot(row, c)
                .as_mut()
                .filter(|e| e.status == Status::Fail && e.summary == "refused")
            else {
                continue;
            };
            let port = e.target.rsplit(':').next().unwrap_or_default().to_string();
            let look = match pod {
                Some(p) => format!(
                    "look at kubectl -n {ns} logs {p} -c {}, or restart it: kubectl -n {ns} delete pod {p}",
                    objects::AGENT_CONTAINER
                ),
                None => "look at this node's agent and its logs".into(),
            };
            e.hint = Some(format!(
                "{served} of {total} nodes serve {} metrics on port {port}, so the configuration has them on: a problem of this node's agent, which does not listen (still starting, restarting, or running an older configuration); {look}",
                c.name()
            ));
        }
    }
}

fn endpoint(row: &NodeRow, c: Component) -> Option<&super::Endpoint> {
    match c {
        Component::Agent => row.agent.as_ref(),
        Component::Operator => row.operator.as_ref(),
        Component::Hubble => row.hubble.as_ref(),
    }
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

    /// A cluster-mode plan of `n` nodes (operator on node-1 only, as `examples::plan` probes
    /// it), with the API server's view of each node: `(node NotReady, pod not Ready)`.
    fn cluster_plan(faults: &[(Option<&str>, Option<&str>)]) -> Plan {
        let mut plan = examples::plan(examples::context(None), faults.len());
        plan.post = Post::Cluster {
            namespace: "kube-system".into(),
            agents: faults
                .iter()
                .enumerate()
                .map(|(i, (node, pod))| RowAgent {
                    row: i,
                    pod: format!("cilium-{}", i + 1),
                    node: format!("node-{}", i + 1),
                    node_not_ready: node.map(str::to_string),
                    pod_not_ready: pod.map(str::to_string),
                })
                .collect(),
        };
        plan
    }

    #[test]
    fn a_port_refused_on_some_nodes_while_the_rest_serve_is_those_nodes_problem() {
        let plan = cluster_plan(&[(None, None); 3]);
        let r = examples::report(
            &plan,
            vec![
                ok(AGENT),
                ok(OPERATOR),
                ok(HUBBLE_BUSY),
                ok(AGENT),
                probe(Outcome::Refused),
                probe(Outcome::Refused),
                ok(AGENT),
                probe(Outcome::Refused),
                ok(HUBBLE_BUSY),
            ],
        );
        let h = r.nodes[1].hubble.as_ref().unwrap();
        assert_eq!((h.status, h.summary.as_str()), (Status::Fail, "refused"));
        let hint = h.hint.as_deref().unwrap();
        assert!(!hint.contains("enable Hubble metrics"), "{hint}");
        assert!(
            hint.starts_with("2 of 3 nodes serve hubble metrics on port 9965")
                && hint.contains("kubectl -n kube-system logs cilium-2 -c cilium-agent"),
            "{hint}"
        );
        // Refused everywhere: the configuration, and the hint says how to turn it on.
        let r = examples::report(
            &plan,
            vec![
                ok(AGENT),
                ok(OPERATOR),
                probe(Outcome::Refused),
                ok(AGENT),
                probe(Outcome::Refused),
                probe(Outcome::Refused),
                ok(AGENT),
                probe(Outcome::Refused),
                probe(Outcome::Refused),
            ],
        );
        for n in &r.nodes {
            let hint = n.hubble.as_ref().unwrap().hint.as_deref().unwrap();
            assert!(hint.starts_with("enable Hubble metrics"), "{hint}");
        }
    }

    #[test]
    fn a_not_ready_node_or_agent_is_reported_as_such() {
        let plan = cluster_plan(&[
            (None, None),
            (
                Some("Ready=Unknown, NodeStatusUnknown, Kubelet stopped posting node status."),
                None,
            ),
            (
                None,
                Some(
                    "Ready=False, ContainersNotReady, containers with unready status: [cilium-agent]",
                ),
            ),
        ]);
        let r = examples::report(
            &plan,
            vec![
                ok(AGENT),
                ok(OPERATOR),
                ok(HUBBLE_BUSY),
                probe(Outcome::NoAnswer),
                probe(Outcome::Refused),
                probe(Outcome::NoAnswer),
                probe(Outcome::Refused),
                probe(Outcome::Refused),
                probe(Outcome::Refused),
            ],
        );
        let node2 = &r.nodes[1];
        for e in [
            node2.agent.as_ref().unwrap(),
            node2.hubble.as_ref().unwrap(),
        ] {
            assert_eq!(e.summary, "no answer");
            assert!(e.detail.ends_with("; node node-2 is NotReady (Ready=Unknown, NodeStatusUnknown, Kubelet stopped posting node status.)"), "{}", e.detail);
            let hint = e.hint.as_deref().unwrap();
            assert!(!hint.contains("may be stuck"), "{hint}");
            assert_eq!(
                hint,
                "a problem of node node-2, not of the metrics configuration: kubectl describe node node-2"
            );
        }
        assert_eq!(
            node2.notes[0].what,
            "node node-2 is NotReady (Ready=Unknown, NodeStatusUnknown, Kubelet stopped posting node status.)"
        );
        let node3 = &r.nodes[2];
        let e = node3.agent.as_ref().unwrap();
        assert!(
            e.detail
                .contains("agent pod cilium-3 is not Ready (Ready=False, ContainersNotReady"),
            "{}",
            e.detail
        );
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .contains("kubectl -n kube-system describe pod cilium-3")
        );
        assert!(!e.hint.as_deref().unwrap().contains("enable"));
        // The healthy node has no note; the failing ones fail the check.
        assert!(r.nodes[0].notes.is_empty());
        assert!(!r.passed);
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
