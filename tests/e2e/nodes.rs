//! Fake Nodes in groups: Node objects with host IPs in 198.18.<group>.0/24, made Ready by kwok
//! (or left to nobody: NotReady), and their metrics endpoints served in the test's network
//! namespace. A group is pinned by a label that the test's Cilium release selects with its
//! `nodeSelector` values, so tests never share nodes or host ports.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::cluster::Cluster;
use crate::net::{self, Endpoint, Log, Servers};
use crate::support::{fixture, kubectl_as};

pub const GROUP_LABEL: &str = "e2e.ciliumon.io/group";

#[derive(Clone, Debug)]
pub struct Node {
    pub agent: Endpoint,
    pub operator: Endpoint,
    pub hubble: Endpoint,
    /// Managed by kwok (Ready, its pods run); otherwise no kubelet ever reports: NotReady.
    pub ready: bool,
}

pub fn payload(name: &str) -> Arc<Vec<u8>> {
    Arc::new(std::fs::read(fixture(&format!("metrics/{name}"))).unwrap())
}

impl Node {
    /// Real payloads on all three ports.
    pub fn ok() -> Node {
        Node {
            agent: Endpoint::Serve {
                text: payload("agent-datadog.txt"),
                openmetrics: None,
            },
            operator: Endpoint::Serve {
                text: payload("operator-datadog.txt"),
                openmetrics: None,
            },
            hubble: Endpoint::Serve {
                text: payload("hubble-busy.txt"),
                openmetrics: Some(payload("hubble-openmetrics.txt")),
            },
            ready: true,
        }
    }
}

/// The metric names of each Hubble family in the fixtures (Cilium's handlers; `dns` and
/// `httpV2` have several).
const FAMILY_METRICS: [(&str, &str); 7] = [
    ("dns", "hubble_dns_"),
    ("drop", "hubble_drop_total"),
    ("flow", "hubble_flows_processed_total"),
    ("tcp", "hubble_tcp_flags_total"),
    ("icmp", "hubble_icmp_total"),
    ("port-distribution", "hubble_port_distribution_total"),
    ("httpV2", "hubble_http_"),
];

/// What an agent serves on 9965 that runs exactly these Hubble families: the busy node's
/// payload with the other families' metrics left out (Hubble's own metrics and gRPC stay).
pub fn hubble_serving(families: &[&str]) -> Endpoint {
    let all = std::fs::read_to_string(fixture("metrics/hubble-busy.txt")).unwrap();
    let mut out = String::new();
    let mut keep = true;
    for line in all.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        let name = name.split([' ', '{']).next().unwrap_or("");
        if line.starts_with("# HELP ") {
            keep = match FAMILY_METRICS.iter().find(|(_, m)| name.starts_with(m)) {
                Some((f, _)) => families.contains(f),
                None => true,
            };
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    for f in families {
        let (_, m) = FAMILY_METRICS
            .iter()
            .find(|(n, _)| n == f)
            .unwrap_or_else(|| panic!("no metrics of {f} in the fixtures"));
        assert!(
            out.contains(&format!("\n{m}")),
            "no {m} series in hubble-busy.txt"
        );
    }
    Endpoint::Serve {
        text: Arc::new(out.into_bytes()),
        openmetrics: None,
    }
}

pub struct Fleet {
    pub group: String,
    pub names: Vec<String>,
    pub ips: Vec<Ipv4Addr>,
    pub log: Log,
    kubeconfig: std::path::PathBuf,
    _servers: Servers,
}

static NEXT_GROUP: AtomicU8 = AtomicU8::new(1);

impl Fleet {
    pub fn create(c: &Cluster, group: &str, nodes: &[Node]) -> Fleet {
        let g = NEXT_GROUP.fetch_add(1, Ordering::SeqCst);
        assert!(g < 255, "too many node groups");
        let k = |args: &[&str]| kubectl_as(&c.admin_kubeconfig, args);
        let mut names = Vec::new();
        let mut ips = Vec::new();
        let mut endpoints = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let name = format!("e2e-{group}-{i}");
            let addr = Ipv4Addr::new(198, 18, g, i as u8 + 1);
            net::add_addr(addr);
            let manifest = format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{{\"name\":\"{name}\",\"labels\":{{\"kubernetes.io/os\":\"linux\",\"kubernetes.io/hostname\":\"{name}\",\"{GROUP_LABEL}\":\"{group}\"}}}}}}"
            );
            let file = c.dir.join(format!("node-{name}.json"));
            std::fs::write(&file, manifest).unwrap();
            k(&["create", "-f", file.to_str().unwrap()]);
            // The address before kwok sees the node: kwok keeps addresses that are set.
            k(&[
                "patch",
                "node",
                &name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &format!(
                    "{{\"status\":{{\"addresses\":[{{\"type\":\"InternalIP\",\"address\":\"{addr}\"}},{{\"type\":\"Hostname\",\"address\":\"{name}\"}}]}}}}"
                ),
            ]);
            if n.ready {
                k(&["label", "node", &name, &format!("{}=true", c.kwok_label)]);
            }
            for (port, ep) in [(9962, &n.agent), (9963, &n.operator), (9965, &n.hubble)] {
                endpoints.push((SocketAddr::from((addr, port)), ep.clone()));
            }
            names.push(name);
            ips.push(addr);
        }
        let log: Log = Default::default();
        let servers = net::serve(endpoints, log.clone());
        Fleet {
            group: group.into(),
            names,
            ips,
            log,
            kubeconfig: c.admin_kubeconfig.clone(),
            _servers: servers,
        }
    }

    /// The values that pin a Cilium release's agents and operator to this group.
    pub fn node_selector_values(&self) -> String {
        format!(
            "nodeSelector:\n  {GROUP_LABEL}: {g}\noperator:\n  nodeSelector:\n    {GROUP_LABEL}: {g}\n",
            g = self.group
        )
    }
}

impl Fleet {
    /// A node whose kubelet dies: kwok lets go of it, so its lease is no longer renewed, and
    /// the node lifecycle controller marks it NotReady (Ready=Unknown) and its pods not Ready.
    pub fn make_not_ready(&self, i: usize, c: &Cluster) {
        kubectl_as(
            &c.admin_kubeconfig,
            &[
                "label",
                "node",
                &self.names[i],
                &format!("{}-", c.kwok_label),
            ],
        );
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = std::process::Command::new(crate::support::kubectl())
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(["delete", "node", n, "--wait=false", "--ignore-not-found"])
                .output();
        }
        for ip in &self.ips {
            net::del_addr(*ip);
        }
    }
}
