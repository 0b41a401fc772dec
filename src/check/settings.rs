//! What the check is asked to do, as one value: built by `ciliumon check` from its flags and by
//! `setup` from its own settings. Node addresses are validated here, so both get the same errors.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::Expected;
use crate::catalogue::Component;
use crate::cluster::Kube;
use crate::exit::Failure;

/// Where the endpoints are.
#[derive(Debug, Clone)]
pub enum Source {
    /// This host, like `ss -tnlp`: its listening sockets, then each port's /metrics.
    Local,
    /// These node addresses (as given, and resolved), on the three ports.
    Nodes(Vec<(String, IpAddr)>),
    /// The Cilium pods the API server lists, through its pod proxy (or their host IPs when
    /// `direct`).
    Cluster { direct: bool },
}

/// Ports: agent, operator, Hubble, as given (None = the cluster's, or the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    pub agent: Option<u16>,
    pub operator: Option<u16>,
    pub hubble: Option<u16>,
}

impl Ports {
    /// The port of `c`: given, or the default.
    pub fn get(&self, c: Component) -> u16 {
        match c {
            Component::Agent => self.agent,
            Component::Operator => self.operator,
            Component::Hubble => self.hubble,
        }
        .unwrap_or(c.default_port())
    }

    /// These ports, with those not given taken from `other`.
    pub fn or(self, other: Ports) -> Ports {
        Ports {
            agent: self.agent.or(other.agent),
            operator: self.operator.or(other.operator),
            hubble: self.hubble.or(other.hubble),
        }
    }
}

/// Everything the check needs to know before it starts.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: Source,
    pub ports: Ports,
    /// The families that should be served, and where the list came from (`--metric`, a file);
    /// None: the cluster's `cilium-config` (cluster mode), or not checked.
    pub expected: Option<(Vec<Expected>, String)>,
    /// A family with no samples yet fails instead of waiting for traffic.
    pub strict: bool,
    /// Retry what fails until everything passes or this is up.
    pub wait: Option<Duration>,
    /// Each wait of a request; the whole check stops after twice this (or `wait`).
    pub timeout: Duration,
    /// Requests at once; None: 4096 straight to nodes, 256 through the API server.
    pub concurrency: Option<usize>,
    /// The Cilium namespace.
    pub namespace: String,
    /// The kube context and kubeconfig (cluster mode, and the restart hint).
    pub kube: Kube,
    /// Cluster mode: answer from kube-prometheus-stack's Prometheus alone (no agent scraped).
    pub from_prometheus: bool,
}

impl Settings {
    /// Bad values that no flag parser catches: a zero port, concurrency or timeout.
    pub fn validate(&self) -> Result<()> {
        for (flag, p) in [
            ("--agent-port", self.ports.agent),
            ("--operator-port", self.ports.operator),
            ("--hubble-port", self.ports.hubble),
        ] {
            if p == Some(0) {
                return Err(
                    Failure::bad_input(format!("invalid {flag} 0: a port is 1 to 65535")).into(),
                );
            }
        }
        if self.concurrency == Some(0) {
            return Err(Failure::bad_input("invalid --concurrency 0: must be at least 1").into());
        }
        if self.timeout.is_zero() {
            return Err(Failure::bad_input("invalid --timeout 0: must be more than zero").into());
        }
        Ok(())
    }

    /// The command that restarts the agents, for the stale-list hints.
    pub fn restart_hint(&self) -> Result<String> {
        let ns = &self.namespace;
        let ds = crate::catalogue::objects::agent_daemonset_short();
        let restart = match &self.kube.context {
            Some(c) => format!(
                "kubectl --context {} -n {ns} rollout restart {ds}",
                shlex::try_quote(c)?
            ),
            None => format!("kubectl -n {ns} rollout restart {ds}"),
        };
        Ok(format!("restart the agents: {restart}"))
    }
}

/// A node address: an IP literal (IPv6 with or without brackets) or a host name that resolves.
/// `source` names where it was given (`--node`, `FILE:LINE`) in the error.
pub fn parse_node(raw: &str, source: &str) -> Result<IpAddr> {
    let s = raw.trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return Ok(ip);
    }
    let bad = |why: &str| -> anyhow::Error {
        Failure::bad_input(format!(
            "invalid {source} address '{}': {why}",
            crate::escape::escape(raw)
        ))
            .hint("give an IP address or a host name, without a port (ports: --agent-port, --operator-port, --hubble-port)")
            .into()
    };
    let looks_like_name = !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && !s.starts_with(['-', '.']);
    if !looks_like_name {
        return Err(bad("not an IP address or host name"));
    }
    match (s, 0u16).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| bad("the name has no address")),
        Err(e) => Err(bad(&format!("cannot resolve it ({e})"))),
    }
}

/// The addresses of a nodes file: one a line, `#` starts a comment.
pub fn read_nodes_file(path: &Path) -> Result<Vec<(String, IpAddr)>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::bad_input(format!("cannot read --nodes-file {}: {e}", path.display()))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ip = parse_node(line, &format!("{}:{}", path.display(), i + 1))?;
        out.push((line.to_string(), ip));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses() {
        assert_eq!(
            parse_node("10.0.0.1", "--node").unwrap().to_string(),
            "10.0.0.1"
        );
        assert_eq!(parse_node("[::1]", "--node").unwrap().to_string(), "::1");
        assert_eq!(parse_node(" ::1 ", "--node").unwrap().to_string(), "::1");
        let e = parse_node("10.0.0.1:9962", "--node").unwrap_err();
        assert!(
            format!("{e:#}").contains("invalid --node address '10.0.0.1:9962'"),
            "{e:#}"
        );
    }

    #[test]
    fn ports_given_win_over_the_cluster_and_defaults_fill_in() {
        let given = Ports {
            agent: Some(1),
            ..Ports::default()
        };
        let cluster = Ports {
            agent: Some(2),
            hubble: Some(3),
            operator: None,
        };
        let p = given.or(cluster);
        assert_eq!(p.get(Component::Agent), 1);
        assert_eq!(p.get(Component::Hubble), 3);
        assert_eq!(
            p.get(Component::Operator),
            Component::Operator.default_port()
        );
    }
}
