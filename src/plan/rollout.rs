//! Whether the agents must be restarted, decided from what the cluster runs: pure.
//!
//! The agents read the Hubble metric list (`hubble-metrics` in `cilium-config`) only at
//! start-up. A `helm upgrade` that changes the agent DaemonSet's pod template (the first
//! enable adds container ports) already rolls every agent; a `kubectl rollout restart` after it
//! would roll them all a second time. When only the list changes, the pod template stays the
//! same, the upgrade rolls nothing, and the restart is what makes the agents load it.
//! [`compare`] decides it from the release's current manifest (`helm get manifest`) and the
//! upgrade's rendered one (`helm template` with the merged values); [`settle`] applies the
//! decision, and what the agents themselves run (pods started before the ConfigMap last
//! changed), to the plan's steps.

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::{Plan, StepKind};
use crate::catalogue::objects;

/// A workload's pod template in a manifest: `None` when the manifest does not have it.
fn pod_template<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .map(|d| &d["spec"]["template"])
}

/// The documents of a multi-document manifest (`---` separated, `# Source:` comments), the
/// empty ones left out.
pub fn parse_manifest(text: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the manifest is not YAML")?;
    Ok(docs.into_iter().filter(|d| d.is_object()).collect())
}

/// Whether a workload's pod template changes between two manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// It changes: the upgrade rolls the pods itself.
    Changes,
    /// It stays the same: the upgrade rolls nothing.
    Same,
    /// The workload is not in one of the manifests (not rendered by this chart, or not yet).
    Absent,
}

fn template_change(before: &[Value], after: &[Value], kind: &str, name: &str) -> Template {
    match (
        pod_template(before, kind, name),
        pod_template(after, kind, name),
    ) {
        (Some(b), Some(a)) if b == a => Template::Same,
        (Some(_), Some(_)) => Template::Changes,
        _ => Template::Absent,
    }
}

/// What the upgrade does to the agents' and the operator's pods, and to `cilium-config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comparison {
    pub agents: Template,
    pub operator: Template,
    /// The ConfigMap's `data` (what the agents read at start-up).
    pub config: Template,
}

fn config_change(before: &[Value], after: &[Value]) -> Template {
    let data = |docs: &[Value]| {
        docs.iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == objects::CONFIG_MAP)
            .map(|d| d["data"].clone())
    };
    match (data(before), data(after)) {
        (Some(b), Some(a)) if b == a => Template::Same,
        (Some(_), Some(_)) => Template::Changes,
        _ => Template::Absent,
    }
}

/// Compare the agent DaemonSet's and the operator Deployment's pod templates of the release's
/// current manifest and the upgrade's rendered one.
pub fn compare(before: &str, after: &str) -> Result<Comparison> {
    let before = parse_manifest(before).context("the release's current manifest")?;
    let after = parse_manifest(after).context("the upgrade's rendered manifest")?;
    Ok(Comparison {
        agents: template_change(&before, &after, "DaemonSet", objects::AGENT_DAEMONSET),
        operator: template_change(&before, &after, "Deployment", objects::OPERATOR_DEPLOYMENT),
        config: config_change(&before, &after),
    })
}

/// What the cluster says about the rollout, read in preflight and after the plan was built.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The release already has the plan's values (and the stack is there when it is to be
    /// installed): no upgrade is needed.
    pub values_applied: bool,
    /// Agent pods that started before `cilium-config` last changed: they run an older
    /// configuration than the ConfigMap's.
    pub stale_agents: Vec<String>,
    /// The pod templates compared, or why they could not be.
    pub comparison: Option<Result<Comparison, String>>,
}

/// The plan's decision about the restart, for people and for `-o json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "restart")]
pub enum Restart {
    /// No upgrade, no restart: the agents run the configuration.
    Nothing,
    /// The upgrade changes the agents' pod template, so it rolls them: no explicit restart.
    ByUpgrade { why: String },
    /// An explicit `kubectl rollout restart`.
    Explicit { why: String },
    /// The upgrade changes neither the agents' pod template nor what they read: no restart.
    NotNeeded { why: String },
}

fn pods(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// Decide the restart from what was observed.
pub fn decide(o: &Observed) -> Restart {
    let ds = objects::agent_daemonset_short();
    if o.values_applied {
        return if o.stale_agents.is_empty() {
            Restart::Nothing
        } else {
            Restart::Explicit {
                why: format!(
                    "the release already has these values, but {} agent pod(s) started before {} last changed ({}): they still run the old configuration (a run that stopped at the restart or the rollout wait leaves them so), so they are restarted",
                    o.stale_agents.len(),
                    objects::CONFIG_MAP,
                    pods(&o.stale_agents)
                ),
            }
        };
    }
    match &o.comparison {
        Some(Ok(c)) => match c.agents {
            Template::Changes => Restart::ByUpgrade {
                why: format!(
                    "the upgrade changes the pod template of {ds} (compared: the release's manifest and the upgrade's rendered one), so helm upgrade already rolls every agent{}; no extra restart",
                    match c.operator {
                        Template::Changes => " and the operator",
                        _ => "",
                    }
                ),
            },
            Template::Same if c.config == Template::Same && o.stale_agents.is_empty() => {
                Restart::NotNeeded {
                    why: format!(
                        "the upgrade changes neither the pod template of {ds} nor {}, and every agent started after it last changed",
                        objects::CONFIG_MAP
                    ),
                }
            }
            Template::Same => Restart::Explicit {
                why: format!(
                    "the upgrade leaves the pod template of {ds} as it is (only {} changes), so it rolls no agent: they are restarted to load the new list",
                    objects::CONFIG_MAP
                ),
            },
            Template::Absent => Restart::Explicit {
                why: format!(
                    "{ds} is not in both the release's manifest and the rendered one, so it cannot be told whether the upgrade rolls the agents: they are restarted to be sure"
                ),
            },
        },
        Some(Err(e)) => Restart::Explicit {
            why: format!(
                "could not compare the agents' pod template before and after ({e}): they are restarted to be sure"
            ),
        },
        None => Restart::Explicit {
            why: "the cluster was not read, so it cannot be told whether the upgrade rolls the agents: they are restarted to be sure (`ciliumon setup` decides it from the cluster)".into(),
        },
    }
}

/// Apply the decision to the plan's steps: nothing at all, the upgrade without the restart, the
/// restart alone, or everything. The note says which and why.
pub fn settle(plan: &mut Plan, o: &Observed) -> Restart {
    // A plan that restarts nothing already (dynamic metrics: the agents read the list while
    // they run) keeps its steps; with the values in place there is nothing to do.
    if !plan.steps.iter().any(|s| s.kind == StepKind::RestartAgents) {
        if o.values_applied {
            plan.steps.clear();
            if !o.stale_agents.is_empty() {
                plan.notes.push(format!(
                    "{} agent pod(s) started before {} last changed ({}); the Hubble metrics apply without a restart, so they are not restarted.",
                    o.stale_agents.len(),
                    objects::CONFIG_MAP,
                    pods(&o.stale_agents)
                ));
            }
            return Restart::Nothing;
        }
        return Restart::NotNeeded {
            why: "the plan's metrics mode needs no restart".into(),
        };
    }
    let restart = decide(o);
    match &restart {
        Restart::Nothing => {
            plan.steps.clear();
            plan.notes.push(format!(
                "Nothing to change: the release already has these values and every agent started after {} last changed.",
                objects::CONFIG_MAP
            ));
        }
        Restart::NotNeeded { why } => {
            plan.steps.retain(|s| s.kind != StepKind::RestartAgents);
            plan.notes.push(format!("No restart of the agents: {why}."));
        }
        Restart::ByUpgrade { why } => {
            plan.steps.retain(|s| s.kind != StepKind::RestartAgents);
            plan.notes.push(format!("No explicit restart: {why}."));
            for s in &mut plan.steps {
                if s.kind == StepKind::WaitAgents {
                    s.purpose =
                        "Wait until every agent, rolled by the upgrade, runs the new configuration"
                            .into();
                }
            }
        }
        Restart::Explicit { why } => {
            if o.values_applied {
                plan.steps.retain(|s| {
                    matches!(
                        s.kind,
                        StepKind::RestartAgents | StepKind::WaitAgents | StepKind::WaitOperator
                    )
                });
            }
            plan.notes.push(format!("Restart of the agents: {why}."));
        }
    }
    restart
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Layout, Target, build};

    /// A manifest as Helm prints it, with the agent's container ports and the ConfigMap's list.
    fn manifest(ports: &[u16], list: &str, operator_port: Option<u16>) -> String {
        let ports: String = ports
            .iter()
            .map(|p| format!("        - containerPort: {p}\n          protocol: TCP\n"))
            .collect();
        let op = operator_port
            .map(|p| format!("        ports:\n        - containerPort: {p}\n"))
            .unwrap_or_default();
        format!(
            "---\n# Source: cilium/templates/cilium-configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cilium-config\n  namespace: kube-system\ndata:\n  hubble-metrics: \"{list}\"\n\
             ---\n# Source: cilium/templates/cilium-agent/daemonset.yaml\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: cilium\n  namespace: kube-system\nspec:\n  template:\n    metadata:\n      labels:\n        k8s-app: cilium\n    spec:\n      containers:\n      - name: cilium-agent\n        image: quay.io/cilium/cilium:v1.18.4\n        ports:\n{ports}\
             ---\n# Source: cilium/templates/cilium-operator/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cilium-operator\nspec:\n  template:\n    spec:\n      containers:\n      - name: cilium-operator\n{op}---\n"
        )
    }

    #[test]
    fn first_enable_changes_the_template_a_list_change_does_not() {
        let off = manifest(&[4244], "", None);
        let on = manifest(&[4244, 9962, 9965], "dns drop", Some(9963));
        let more = manifest(&[4244, 9962, 9965], "dns drop tcp", Some(9963));
        let c = compare(&off, &on).unwrap();
        assert_eq!(c.agents, Template::Changes);
        assert_eq!(c.operator, Template::Changes);
        assert_eq!(c.config, Template::Changes);
        let c = compare(&on, &more).unwrap();
        assert_eq!(c.agents, Template::Same);
        assert_eq!(c.operator, Template::Same);
        assert_eq!(c.config, Template::Changes);
        let c = compare(&on, &on).unwrap();
        assert_eq!((c.agents, c.config), (Template::Same, Template::Same));
        // The ConfigMap differs, but the pod templates are the same documents.
        assert_ne!(on, more);
    }

    #[test]
    fn a_missing_workload_or_bad_yaml_is_told_apart() {
        let on = manifest(&[9962], "dns", None);
        let c = compare("---\n# nothing\n", &on).unwrap();
        assert_eq!(c.agents, Template::Absent);
        assert!(compare("a: [", &on).is_err());
        assert_eq!(parse_manifest(&on).unwrap().len(), 3);
    }

    fn observed(
        values_applied: bool,
        stale: &[&str],
        c: Option<Result<Comparison, String>>,
    ) -> Observed {
        Observed {
            values_applied,
            stale_agents: stale.iter().map(|s| s.to_string()).collect(),
            comparison: c,
        }
    }

    fn kinds(p: &Plan) -> Vec<StepKind> {
        p.steps.iter().map(|s| s.kind).collect()
    }

    fn plan() -> Plan {
        let t = Target {
            installed: Some(crate::version::Version::new(1, 18, 4)),
            existing_stack: Some(("kps".into(), "monitoring".into())),
            ..Target::default()
        };
        build(&crate::config::Config::default(), &t, &Layout::default()).unwrap()
    }

    #[test]
    fn settle_by_what_the_cluster_runs() {
        let changes = Comparison {
            agents: Template::Changes,
            operator: Template::Same,
            config: Template::Changes,
        };
        let same = Comparison {
            agents: Template::Same,
            operator: Template::Same,
            config: Template::Changes,
        };
        let untouched = Comparison {
            agents: Template::Same,
            operator: Template::Same,
            config: Template::Same,
        };
        use StepKind::*;
        let full = kinds(&plan());
        assert!(full.contains(&RestartAgents), "{full:?}");

        // First enable: the upgrade rolls the agents; no explicit restart, still the wait.
        let mut p = plan();
        let r = settle(&mut p, &observed(false, &[], Some(Ok(changes))));
        assert!(matches!(r, Restart::ByUpgrade { .. }), "{r:?}");
        assert_eq!(
            kinds(&p),
            full.iter()
                .copied()
                .filter(|k| *k != RestartAgents)
                .collect::<Vec<_>>()
        );
        assert!(p.notes.iter().any(|n| n.starts_with(
            "No explicit restart: the upgrade changes the pod template of ds/cilium"
        )));

        // A list-only change: the restart stays.
        let mut p = plan();
        let r = settle(&mut p, &observed(false, &[], Some(Ok(same))));
        assert!(matches!(r, Restart::Explicit { .. }));
        assert_eq!(kinds(&p), full);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("leaves the pod template of ds/cilium as it is"))
        );

        // Neither the pod template nor cilium-config changes (e.g. only the stack is new): no
        // restart, unless some agents run an older configuration.
        let mut p = plan();
        let r = settle(&mut p, &observed(false, &[], Some(Ok(untouched))));
        assert!(matches!(r, Restart::NotNeeded { .. }), "{r:?}");
        assert!(!kinds(&p).contains(&RestartAgents));
        assert!(kinds(&p).contains(&CiliumUpgrade));
        let mut p = plan();
        let r = settle(&mut p, &observed(false, &["cilium-x"], Some(Ok(untouched))));
        assert!(matches!(r, Restart::Explicit { .. }), "{r:?}");
        assert_eq!(kinds(&p), full);

        // Could not compare, or offline: restart to be sure.
        for c in [Some(Err("helm template failed".to_string())), None] {
            let mut p = plan();
            assert!(matches!(
                settle(&mut p, &observed(false, &[], c)),
                Restart::Explicit { .. }
            ));
            assert_eq!(kinds(&p), full);
            assert!(p.notes.iter().any(|n| n.contains("restarted to be sure")));
        }

        // Values in place and the agents run them: nothing.
        let mut p = plan();
        assert_eq!(settle(&mut p, &observed(true, &[], None)), Restart::Nothing);
        assert!(p.steps.is_empty());
        assert!(p.notes.iter().any(|n| n.starts_with("Nothing to change")));

        // Values in place, agents older than the ConfigMap: the restart and the waits only.
        let mut p = plan();
        let r = settle(
            &mut p,
            &observed(true, &["cilium-a", "cilium-b"], Some(Ok(same))),
        );
        let Restart::Explicit { why } = r else {
            panic!("{r:?}")
        };
        assert!(
            why.contains(
                "2 agent pod(s) started before cilium-config last changed (cilium-a, cilium-b)"
            ),
            "{why}"
        );
        assert_eq!(kinds(&p), [RestartAgents, WaitAgents, WaitOperator]);
    }

    #[test]
    fn a_plan_without_a_restart_gets_none() {
        let mut p = plan();
        p.steps.retain(|s| s.kind != StepKind::RestartAgents);
        let before = kinds(&p);
        let r = settle(&mut p, &observed(false, &["cilium-a"], None));
        assert!(matches!(r, Restart::NotNeeded { .. }), "{r:?}");
        assert_eq!(kinds(&p), before);
        let r = settle(&mut p, &observed(true, &["cilium-a"], None));
        assert_eq!(r, Restart::Nothing);
        assert!(p.steps.is_empty());
    }

    #[test]
    fn many_stale_pods_are_summed_up() {
        let names: Vec<String> = (0..8).map(|i| format!("cilium-{i}")).collect();
        assert_eq!(
            pods(&names),
            "cilium-0, cilium-1, cilium-2, cilium-3, cilium-4 and 3 more"
        );
    }
}
