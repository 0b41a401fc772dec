//! From a plan's probe results to the report, and what a `--wait` round probes again. Pure:
//! the probes are values (see `probe::Probe`), so every verdict is testable without sockets.

use super::probe::Probe;
use super::proc_net::Listener;
use super::scan::Scan;
use super::targets::{Plan, Post, RowAgent};
use super::{Asked, AskedMetric, Finding, NodeRow, Ports, Report, Status};
use crate::catalogue::{Component, labels, objects};
use serde::Serialize;

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

/// One family whose served label names are not those the cluster asks for: the labels its
/// options control (context keys, `labelsContext`, handler flags), as served and as asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelSet {
    pub family: &'static str,
    /// The spec asked for, in Cilium's grammar.
    pub spec: String,
    pub served: Vec<String>,
    pub asked: Vec<String>,
}

/// Compare the label names each asked metric's series carry in `scan` (one Hubble body) with
/// those its options ask for. Only the labels options can add count: the family's own labels
/// and any other (a relabeling's, `le`) are left out, and so are those whose presence depends
/// on the patch release (`AskedLabels::unsure`). A family with no series yet says nothing.
pub fn label_sets(scan: &Scan, asked: &[AskedMetric]) -> Vec<LabelSet> {
    let mut out = Vec::new();
    for m in asked {
        let Some(served) =
            scan.label_names_where(|n| m.handler.metrics.iter().any(|x| x.matches_sample(n)))
        else {
            continue;
        };
        let controlled = labels::option_labels(m.handler);
        let counts = |l: &str| {
            !m.labels.unsure.contains(&l)
                && (controlled.contains(&l) || m.labels.labels.iter().any(|a| a == l))
        };
        let served: Vec<String> = served
            .into_iter()
            .filter(|l| counts(l))
            .map(str::to_string)
            .collect();
        let asked: Vec<String> = m
            .labels
            .labels
            .iter()
            .filter(|l| counts(l))
            .cloned()
            .collect();
        if served != asked {
            out.push(LabelSet {
                family: m.handler.name,
                spec: m.spec.clone(),
                served,
                asked,
            });
        }
    }
    out
}

fn list_or_none(labels: &[String]) -> String {
    if labels.is_empty() {
        "none".into()
    } else {
        labels.join(", ")
    }
}

/// The node note for its families whose label sets differ, with the fix: restart the agents.
pub fn label_note(node: &str, sets: &[LabelSet], asked: &Asked, restart_hint: &str) -> Finding {
    let each: Vec<String> = sets
        .iter()
        .map(|s| {
            format!(
                "{} with labels {} where {} asks for {} ({})",
                s.family,
                list_or_none(&s.served),
                asked.from,
                list_or_none(&s.asked),
                s.spec
            )
        })
        .collect();
    let why = if asked.dynamic {
        "this agent refused the changed contextOptions (it logs \"label set cannot be changed without restarting\" and keeps its previous configuration), and only a restart loads them"
    } else {
        "this agent runs an older list (the agents read it when they start)"
    };
    Finding::new(
        Status::Warn,
        format!("on {node}, Hubble serves {}: {why}", each.join("; ")),
        Some(restart_hint.to_string()),
    )
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
    use super::super::Asked;
    use super::super::examples::{self, AGENT, HUBBLE_BUSY, OPERATOR, ok, probe};
    use super::super::probe::Outcome;
    use super::*;

    /// A Hubble body with flow series carrying `labels` (besides the family's own), and drop.
    fn flows_with(labels: &[(&str, &str)]) -> String {
        let extra: String = labels
            .iter()
            .map(|(k, v)| format!(",{k}=\"{v}\""))
            .collect();
        format!(
            "# TYPE hubble_flows_processed_total counter\nhubble_flows_processed_total{{protocol=\"TCP\",subtype=\"to-endpoint\",type=\"Trace\",verdict=\"FORWARDED\"{extra}}} 7\n# TYPE hubble_drop_total counter\nhubble_drop_total{{protocol=\"TCP\",reason=\"POLICY_DENIED\"}} 2\n"
        )
    }

    fn dynamic_file(yaml: &str) -> Asked {
        Asked::from_dynamic(
            objects::DYNAMIC_CONFIG_MAP.into(),
            &crate::dynamic::parse_file(yaml).unwrap(),
        )
    }

    #[test]
    fn a_refused_context_change_is_the_label_set_served_not_the_one_asked() {
        // The agent started with sourceContext=namespace; the file now asks for labelsContext.
        let served = examples::scan(&flows_with(&[("source", "shop")]));
        let asked = dynamic_file(
            "metrics:\n- name: flow\n  contextOptions:\n  - name: labelsContext\n    values: [source_namespace, destination_namespace]\n- name: drop\n",
        );
        let sets = label_sets(&served, &asked.metrics);
        assert_eq!(
            sets,
            [LabelSet {
                family: "flow",
                spec: "flow:labelsContext=source_namespace,destination_namespace".into(),
                served: vec!["source".into()],
                asked: vec!["destination_namespace".into(), "source_namespace".into()],
            }]
        );
        let note = label_note(
            "node-2",
            &sets,
            &asked,
            "restart the agents: kubectl --context prod -n cilium rollout restart ds/cilium",
        );
        assert_eq!(note.status, Status::Warn);
        assert_eq!(
            note.what,
            "on node-2, Hubble serves flow with labels source where cilium-dynamic-metrics-config asks for destination_namespace, source_namespace (flow:labelsContext=source_namespace,destination_namespace): this agent refused the changed contextOptions (it logs \"label set cannot be changed without restarting\" and keeps its previous configuration), and only a restart loads them"
        );
        assert_eq!(
            note.hint.as_deref(),
            Some("restart the agents: kubectl --context prod -n cilium rollout restart ds/cilium")
        );
        // Options removed (the file asks for none): the old labels still served are the verdict.
        let asked = dynamic_file("metrics:\n- name: flow\n- name: drop\n");
        let sets = label_sets(&served, &asked.metrics);
        assert_eq!(
            (sets[0].served.as_slice(), sets[0].asked.len()),
            (["source".to_string()].as_slice(), 0)
        );
        // Static mode: the same comparison, another reason.
        let asked = Asked::from_agent_list(
            "cilium-config hubble-metrics".into(),
            "flow:sourceContext=pod drop",
        );
        let sets = label_sets(&examples::scan(&flows_with(&[])), &asked.metrics);
        assert_eq!(sets.len(), 1);
        let note = label_note("node-1", &sets, &asked, "restart");
        assert!(note.what.contains("flow with labels none where cilium-config hubble-metrics asks for source (flow:sourceContext=pod): this agent runs an older list"), "{}", note.what);
    }

    #[test]
    fn an_accepted_change_says_nothing() {
        let asked = dynamic_file(
            "metrics:\n- name: flow\n  contextOptions:\n  - name: sourceContext\n    values: [workload-name, reserved-identity]\n  - name: labelsContext\n    values: [source_namespace]\n- name: drop\n  contextOptions:\n  - name: exemplars\n",
        );
        let served = examples::scan(&flows_with(&[
            ("source", "shop/api"),
            ("source_namespace", "shop"),
        ]));
        assert!(label_sets(&served, &asked.metrics).is_empty());
        // Asked for, so counted even when ciliumon does not know the label.
        let asked = dynamic_file(
            "metrics:\n- name: flow\n  contextOptions:\n  - name: labelsContext\n    values: [source_zone]\n",
        );
        let served = examples::scan(&flows_with(&[("source_zone", "a")]));
        assert!(label_sets(&served, &asked.metrics).is_empty());
        assert_eq!(
            label_sets(&examples::scan(&flows_with(&[])), &asked.metrics)[0]
                .served
                .len(),
            0
        );
    }

    #[test]
    fn a_family_with_no_series_yet_says_nothing() {
        let asked = dynamic_file(
            "metrics:\n- name: dns\n  contextOptions:\n  - name: query\n- name: httpV2\n  contextOptions:\n  - name: labelsContext\n    values: [source_namespace]\n",
        );
        // No dns and no http series: nothing to compare (and no panic on a fresh Hubble).
        for body in [
            flows_with(&[("source", "x")]),
            examples::HUBBLE_FRESH.to_string(),
        ] {
            assert!(
                label_sets(&examples::scan(&body), &asked.metrics).is_empty(),
                "{body}"
            );
        }
    }

    #[test]
    fn labels_no_option_adds_are_left_out() {
        // A relabeling's labels (cluster, node, instance), the family's own, `le`: not compared.
        let asked = dynamic_file(
            "metrics:\n- name: flow\n  contextOptions:\n  - name: sourceContext\n    values: [namespace]\n- name: httpV2\n",
        );
        let served = examples::scan(&format!(
            "{}hubble_http_request_duration_seconds_bucket{{method=\"GET\",reporter=\"server\",le=\"0.1\",cluster=\"c1\"}} 1\n",
            flows_with(&[
                ("source", "shop"),
                ("cluster", "c1"),
                ("node", "n1"),
                ("instance", "10.0.0.1:9965")
            ])
        ));
        assert!(label_sets(&served, &asked.metrics).is_empty());
        // An egress form alone adds `source` only from 1.14.3: with or without it, no verdict.
        let asked = dynamic_file(
            "metrics:\n- name: flow\n  contextOptions:\n  - name: sourceEgressContext\n    values: [pod]\n",
        );
        for body in [flows_with(&[("source", "a/b")]), flows_with(&[])] {
            assert!(label_sets(&examples::scan(&body), &asked.metrics).is_empty());
        }
    }

    #[test]
    fn the_report_puts_the_verdict_on_the_node() {
        let mut ctx = examples::context(Some(examples::expected(&["flow", "drop"])));
        ctx.asked = Some(dynamic_file(
            "metrics:\n- name: flow\n  contextOptions:\n  - name: destinationContext\n    values: [pod]\n- name: drop\n",
        ));
        let plan = examples::plan(ctx, 2);
        let old = flows_with(&[]);
        let new = flows_with(&[("destination", "shop/api-1")]);
        let r = examples::report(
            &plan,
            vec![
                ok(AGENT),
                ok(OPERATOR),
                ok(&old),
                ok(AGENT),
                probe(Outcome::Refused),
                ok(&new),
            ],
        );
        assert_eq!(r.nodes[0].label_sets.len(), 1);
        assert_eq!(r.nodes[0].label_sets[0].asked, ["destination"]);
        assert!(
            r.nodes[0].notes[0]
                .what
                .starts_with("on node-1, Hubble serves flow with labels none where"),
            "{:?}",
            r.nodes[0].notes
        );
        assert!(
            r.nodes[1].label_sets.is_empty() && r.nodes[1].notes.is_empty(),
            "{:?}",
            r.nodes[1].notes
        );
        assert_eq!(r.status, Status::Warn);
        assert!(r.passed);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["nodes"][0]["label_sets"][0]["served"],
            serde_json::json!([])
        );
        assert!(json["nodes"][1].get("label_sets").is_none());
    }

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
