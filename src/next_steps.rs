//! What a user looks at after a successful setup, from what was actually configured: Grafana
//! (how to open it, its admin password, the dashboards installed), the Hubble UI, Prometheus'
//! targets, the check, and the way back. Pure: setup gathers the facts (a node address) and
//! prints the text; `-o json` carries the same as fields.

use serde::Serialize;

use crate::catalogue::{self, Component, objects};
use crate::config::{Config, SecretSource, ServiceType, StackMode};
use crate::plan::{Plan, StepKind};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextSteps {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grafana: Option<Grafana>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hubble_ui: Option<HubbleUi>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<Prometheus>,
    /// Re-run the metrics check.
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grafana {
    /// `kubectl port-forward ...`, then `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_forward: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How to read the admin password (a command, or where the one given comes from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The Cilium dashboards installed (ConfigMaps for Grafana's sidecar).
    pub dashboards: Vec<String>,
    /// Where the dashboards' ConfigMaps are.
    pub dashboards_namespace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HubbleUi {
    pub service_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_forward: Option<String>,
    /// For a LoadBalancer: how to find its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_command: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prometheus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_forward: Option<String>,
    /// Its targets page.
    pub targets: String,
    /// The jobs of Cilium's ServiceMonitors there.
    pub jobs: Vec<String>,
}

/// What setup knows when it prints the next steps.
pub struct Facts<'a> {
    pub config: &'a Config,
    pub plan: &'a Plan,
    /// `--context X` / `--kubeconfig Y` for kubectl, as the user gave them.
    pub kubectl_flags: Vec<String>,
    /// A node's address for a NodePort.
    pub node_address: Option<&'a str>,
    pub backup: Option<&'a str>,
    pub rollback: Option<&'a str>,
}

/// kube-prometheus-stack's name for its objects (`kube-prometheus-stack.fullname`): the
/// release when it contains the chart name, else `<release>-kube-prometheus-stack`, cut to 26
/// characters and a trailing `-`.
pub fn stack_fullname(release: &str) -> String {
    const CHART: &str = "kube-prometheus-stack";
    let full = if release.contains(CHART) {
        release.to_string()
    } else {
        format!("{release}-{CHART}")
    };
    full.chars()
        .take(26)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// The Grafana subchart's name for its Service: the release when it contains "grafana", else
/// `<release>-grafana` (at most 63 characters).
pub fn grafana_service(release: &str) -> String {
    let full = if release.contains("grafana") {
        release.to_string()
    } else {
        format!("{release}-grafana")
    };
    full.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

fn kubectl(flags: &[String], rest: &[&str]) -> String {
    let argv: Vec<&str> = std::iter::once("kubectl")
        .chain(flags.iter().map(String::as_str))
        .chain(rest.iter().copied())
        .collect();
    shlex::try_join(argv.iter().copied()).unwrap_or_else(|_| argv.join(" "))
}

impl NextSteps {
    pub fn from(f: &Facts<'_>) -> NextSteps {
        let c = f.config;
        let installed_stack = f
            .plan
            .steps
            .iter()
            .any(|s| s.kind == StepKind::StackInstall);
        let stack = &c.prometheus_stack;
        let ns = stack.namespace.as_str();
        // The stack ciliumon installed, or the kube-prometheus-stack release it reused (its
        // objects have the chart's names); a Prometheus outside Helm has names we do not know.
        let known_stack = installed_stack
            || (stack.mode != StackMode::None && stack.service_monitor_labels.is_empty());
        let release = stack.release.as_str();
        let version = &f.plan.cilium_version;
        let hubble = !c.hubble.metrics.is_empty();

        let grafana = (stack.mode != StackMode::None).then(|| {
            let dashboards = if c.dashboards {
                catalogue::DASHBOARDS
                    .iter()
                    .filter(|(comp, _, since)| {
                        since.contains(version)
                            && match comp {
                                Component::Agent => c.metrics.agent,
                                Component::Operator => c.metrics.operator,
                                Component::Hubble => hubble,
                            }
                    })
                    .map(|(_, name, _)| name.to_string())
                    .collect()
            } else {
                vec![]
            };
            let password = match (&stack.grafana_admin_password, installed_stack) {
                (Some(SecretSource::File(p)), _) => Some(format!("the one in {}", p.display())),
                (Some(SecretSource::Env(v)), _) => Some(format!("the one in ${v}")),
                (None, true) => Some(format!(
                    "{} | base64 -d",
                    kubectl(
                        &f.kubectl_flags,
                        &[
                            "get",
                            "secret",
                            "-n",
                            ns,
                            "-l",
                            "app.kubernetes.io/component=admin-secret",
                            "-o",
                            "jsonpath={.items[0].data.admin-password}",
                        ],
                    )
                )),
                (None, false) => None,
            };
            Grafana {
                port_forward: known_stack.then(|| {
                    kubectl(
                        &f.kubectl_flags,
                        &[
                            "port-forward",
                            "-n",
                            ns,
                            &format!("svc/{}", grafana_service(release)),
                            "3000:80",
                        ],
                    )
                }),
                url: known_stack.then(|| "http://localhost:3000".to_string()),
                password,
                dashboards,
                dashboards_namespace: ns.to_string(),
            }
        });

        let hubble_ui = c.hubble.ui.enabled.then(|| {
            let cilium_ns = c.cilium.namespace.as_str();
            let svc = format!("svc/{}", objects::HUBBLE_UI);
            let ui_port = format!("12000:{}", objects::HUBBLE_UI_PORT);
            match c.hubble.ui.service_type {
                ServiceType::NodePort => {
                    let port = c
                        .hubble
                        .ui
                        .node_port
                        .unwrap_or(objects::HUBBLE_UI_NODE_PORT);
                    HubbleUi {
                        service_type: "NodePort".into(),
                        url: Some(format!(
                            "http://{}:{port}",
                            f.node_address.unwrap_or("<node-address>")
                        )),
                        port_forward: None,
                        address_command: f
                            .node_address
                            .is_none()
                            .then(|| kubectl(&f.kubectl_flags, &["get", "nodes", "-o", "wide"])),
                    }
                }
                ServiceType::ClusterIP => HubbleUi {
                    service_type: "ClusterIP".into(),
                    url: Some("http://localhost:12000".into()),
                    port_forward: Some(kubectl(
                        &f.kubectl_flags,
                        &["port-forward", "-n", cilium_ns, &svc, &ui_port],
                    )),
                    address_command: None,
                },
                ServiceType::LoadBalancer => HubbleUi {
                    service_type: "LoadBalancer".into(),
                    url: None,
                    port_forward: None,
                    address_command: Some(kubectl(
                        &f.kubectl_flags,
                        &["get", "-n", cilium_ns, &svc],
                    )),
                },
            }
        });

        let monitors = c.service_monitors && stack.mode != StackMode::None;
        let prometheus = monitors.then(|| Prometheus {
            port_forward: known_stack.then(|| {
                kubectl(
                    &f.kubectl_flags,
                    &[
                        "port-forward",
                        "-n",
                        ns,
                        &format!("svc/{}-prometheus", stack_fullname(release)),
                        "9090",
                    ],
                )
            }),
            targets: if known_stack {
                "http://localhost:9090/targets".into()
            } else {
                "your Prometheus' /targets page".into()
            },
            jobs: catalogue::COMPONENTS
                .iter()
                .filter(|f| match f.component {
                    Component::Agent => c.metrics.agent,
                    Component::Operator => c.metrics.operator,
                    Component::Hubble => hubble,
                })
                .map(|f| f.prometheus_job.to_string())
                .collect(),
        });

        let mut check = vec!["ciliumon".to_string(), "check".into()];
        check.extend(
            f.kubectl_flags
                .iter()
                .map(|a| a.replace("--context", "--kube-context")),
        );
        if c.cilium.namespace != objects::NAMESPACE {
            check.extend(["-n".into(), c.cilium.namespace.clone()]);
        }
        let check =
            shlex::try_join(check.iter().map(String::as_str)).unwrap_or_else(|_| check.join(" "));
        NextSteps {
            grafana,
            hubble_ui,
            prometheus,
            check,
            backup: f.backup.map(str::to_string),
            rollback: f.rollback.map(str::to_string),
        }
    }

    /// For people, on stderr after "Done".
    pub fn to_text(&self) -> String {
        let mut s = String::from("\nNext:\n");
        if let Some(g) = &self.grafana {
            match (&g.port_forward, &g.url) {
                (Some(pf), Some(url)) => {
                    s.push_str(&format!("  Grafana:     {pf}\n               then {url}"));
                    s.push_str(" (user admin)\n");
                }
                _ => s.push_str("  Grafana:     open your Grafana\n"),
            }
            if let Some(p) = &g.password {
                s.push_str(&format!("    password:  {p}\n"));
            }
            if g.dashboards.is_empty() {
                s.push_str("    dashboards: none installed\n");
            } else {
                s.push_str(&format!(
                    "    dashboards: {} (ConfigMaps in '{}')\n",
                    g.dashboards.join(", "),
                    g.dashboards_namespace
                ));
            }
        }
        if let Some(u) = &self.hubble_ui {
            match (&u.port_forward, &u.url, &u.address_command) {
                (Some(pf), Some(url), _) => {
                    s.push_str(&format!("  Hubble UI:   {pf}\n               then {url}\n"))
                }
                (None, Some(url), None) => s.push_str(&format!("  Hubble UI:   {url}\n")),
                (None, Some(url), Some(cmd)) => {
                    s.push_str(&format!("  Hubble UI:   {url} (a node's address: {cmd})\n"))
                }
                (_, None, Some(cmd)) => {
                    s.push_str(&format!("  Hubble UI:   its LoadBalancer address: {cmd}\n"))
                }
                _ => {}
            }
        }
        if let Some(p) = &self.prometheus {
            let jobs = if p.jobs.is_empty() {
                String::new()
            } else {
                format!(" (jobs {})", p.jobs.join(", "))
            };
            match &p.port_forward {
                Some(pf) => s.push_str(&format!(
                    "  Prometheus:  {pf}\n               then {}{jobs}\n",
                    p.targets
                )),
                None => s.push_str(&format!("  Prometheus:  {}{jobs}\n", p.targets)),
            }
        }
        s.push_str(&format!("  Check again: {}\n", self.check));
        if let Some(b) = &self.backup {
            s.push_str(&format!("  Backup:      {b}\n"));
        }
        if let Some(r) = &self.rollback {
            s.push_str(&format!("  Go back:     {r}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Layout, Target};
    use crate::version::Version;

    fn plan(c: &Config, existing: Option<(&str, &str)>) -> Plan {
        let target = Target {
            installed: Some(Version::new(1, 18, 4)),
            existing_stack: existing.map(|(r, n)| (r.into(), n.into())),
            ..Default::default()
        };
        crate::plan::build(c, &target, &Layout::default()).unwrap()
    }

    fn facts<'a>(c: &'a Config, p: &'a Plan, node: Option<&'a str>) -> Facts<'a> {
        Facts {
            config: c,
            plan: p,
            kubectl_flags: vec!["--context".into(), "prod".into()],
            node_address: node,
            backup: Some("/b/ciliumon-backup.yaml"),
            rollback: Some("helm rollback cilium 3 -n kube-system"),
        }
    }

    #[test]
    fn names_follow_the_charts() {
        assert_eq!(stack_fullname("prometheus"), "prometheus-kube-prometheus");
        assert_eq!(
            stack_fullname("kube-prometheus-stack"),
            "kube-prometheus-stack"
        );
        assert_eq!(stack_fullname("mon"), "mon-kube-prometheus-stack");
        assert_eq!(grafana_service("prometheus"), "prometheus-grafana");
        assert_eq!(grafana_service("my-grafana"), "my-grafana");
    }

    #[test]
    fn the_blog_setup_says_how_to_open_everything() {
        let c = Config::default();
        let p = plan(&c, None);
        let n = NextSteps::from(&facts(&c, &p, Some("10.0.0.5")));
        let g = n.grafana.as_ref().unwrap();
        assert_eq!(
            g.port_forward.as_deref(),
            Some(
                "kubectl --context prod port-forward -n monitoring svc/prometheus-grafana 3000:80"
            )
        );
        assert!(g.password.as_deref().unwrap().contains("admin-secret"));
        assert_eq!(
            g.dashboards,
            [
                "cilium-dashboard",
                "cilium-operator-dashboard",
                "hubble-dashboard",
                "hubble-l7-http-metrics-by-workload",
                "hubble-dns-namespace",
                "hubble-network-overview-namespace"
            ]
        );
        let ui = n.hubble_ui.as_ref().unwrap();
        assert_eq!(ui.url.as_deref(), Some("http://10.0.0.5:31234"));
        let prom = n.prometheus.as_ref().unwrap();
        assert_eq!(
            prom.port_forward.as_deref(),
            Some(
                "kubectl --context prod port-forward -n monitoring svc/prometheus-kube-prometheus-prometheus 9090"
            )
        );
        assert_eq!(prom.jobs, ["cilium-agent", "cilium-operator", "hubble"]);
        assert_eq!(n.check, "ciliumon check --kube-context prod");
        assert_eq!(
            n.rollback.as_deref(),
            Some("helm rollback cilium 3 -n kube-system")
        );
        let text = n.to_text();
        for want in [
            "Grafana:",
            "password:",
            "dashboards: cilium-dashboard",
            "Hubble UI:   http://10.0.0.5:31234",
            "Prometheus:",
            "/targets",
            "Check again: ciliumon check",
            "Backup:      /b/ciliumon-backup.yaml",
            "Go back:     helm rollback cilium 3",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
    }

    #[test]
    fn what_was_not_configured_is_not_offered() {
        let mut c = Config::default();
        c.prometheus_stack.mode = StackMode::None;
        c.hubble.ui.enabled = false;
        let p = plan(&c, None);
        let n = NextSteps::from(&facts(&c, &p, None));
        assert!(n.grafana.is_none() && n.hubble_ui.is_none() && n.prometheus.is_none());
        let text = n.to_text();
        assert!(
            !text.contains("Grafana") && !text.contains("Hubble UI"),
            "{text}"
        );

        // A ClusterIP UI is reached by port-forward; without dashboards none are listed; a
        // password given by the user is not read back from the cluster.
        let mut c = Config::default();
        c.hubble.ui.service_type = ServiceType::ClusterIP;
        c.dashboards = false;
        c.prometheus_stack.grafana_admin_password = Some(SecretSource::Env("PW".into()));
        let p = plan(&c, None);
        let n = NextSteps::from(&facts(&c, &p, None));
        let ui = n.hubble_ui.as_ref().unwrap();
        assert_eq!(
            ui.port_forward.as_deref(),
            Some("kubectl --context prod port-forward -n kube-system svc/hubble-ui 12000:80")
        );
        let g = n.grafana.as_ref().unwrap();
        assert!(g.dashboards.is_empty());
        assert_eq!(g.password.as_deref(), Some("the one in $PW"));
    }

    #[test]
    fn a_nodeport_without_a_known_node_says_how_to_find_one() {
        let c = Config::default();
        let p = plan(&c, None);
        let n = NextSteps::from(&facts(&c, &p, None));
        let ui = n.hubble_ui.unwrap();
        assert_eq!(ui.url.as_deref(), Some("http://<node-address>:31234"));
        assert!(ui.address_command.unwrap().contains("get nodes -o wide"));
    }

    #[test]
    fn a_prometheus_outside_helm_has_no_port_forward_we_could_guess() {
        let mut c = Config::default();
        c.prometheus_stack.mode = StackMode::Reuse;
        c.prometheus_stack
            .service_monitor_labels
            .insert("team".into(), "platform".into());
        let p = plan(&c, None);
        let n = NextSteps::from(&facts(&c, &p, None));
        assert!(n.prometheus.as_ref().unwrap().port_forward.is_none());
        assert!(n.grafana.as_ref().unwrap().port_forward.is_none());
        assert!(n.grafana.as_ref().unwrap().password.is_none());
    }
}
