//! Cluster mode: what the API server says about Cilium (agent and operator pods, the
//! `cilium-config` ConfigMap, L7 policies, kube-prometheus-stack's Prometheus), read with
//! `kubectl get --raw` (no discovery, JSON out) and one `kubectl proxy` on a loopback port that
//! carries every pod-proxy scrape.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use serde_json::Value;

use super::{Finding, L7Policies, Status};

/// How to run kubectl: which binary, kubeconfig and context. KUBECONFIG is inherited.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

impl Kubectl {
    fn args(&self, rest: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::new();
        if let Some(k) = &self.kubeconfig {
            v.push("--kubeconfig".into());
            v.push(k.into());
        }
        if let Some(c) = &self.context {
            v.push("--context".into());
            v.push(c.into());
        }
        v.extend(rest.iter().map(OsString::from));
        v
    }

    /// `kubectl get --raw PATH`, parsed as JSON. The error is kubectl's own message.
    pub fn get_raw(&self, path: &str) -> Result<Value> {
        let out = duct::cmd(
            &self.bin,
            self.args(&["get", "--raw", path, "--request-timeout=20s"]),
        )
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("could not run {}", self.bin.display()))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(anyhow!(
                "{}",
                if msg.is_empty() {
                    format!("kubectl exited with {}", out.status)
                } else {
                    msg
                }
            ));
        }
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("kubectl get --raw {path}: not JSON"))
    }

    /// Start `kubectl proxy --port=0` and wait for the port it chose.
    pub fn proxy(&self) -> Result<Proxy> {
        let handle = duct::cmd(
            &self.bin,
            self.args(&[
                "proxy",
                "--port=0",
                "--address=127.0.0.1",
                "--keepalive=30s",
            ]),
        )
        .stderr_to_stdout()
        .reader()
        .with_context(|| format!("could not start {} proxy", self.bin.display()))?;
        let handle = std::sync::Arc::new(handle);
        let (tx, rx) = mpsc::channel();
        let reader = handle.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(&*reader).lines();
            let mut seen = Vec::new();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("Starting to serve on ") {
                    let _ = tx.send(Ok(addr.trim().to_string()));
                    // Keep draining so kubectl never blocks on a full pipe.
                    for _ in lines.by_ref() {}
                    return;
                }
                seen.push(line);
            }
            let _ = tx.send(Err(seen.join("\n")));
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(addr)) => Ok(Proxy {
                base: format!("http://{addr}"),
                handle,
            }),
            Ok(Err(output)) => {
                let _ = handle.kill();
                Err(anyhow!("kubectl proxy exited: {}", output.trim()))
            }
            Err(_) => {
                let _ = handle.kill();
                Err(anyhow!("kubectl proxy did not report its port within 20s"))
            }
        }
    }
}

/// A running `kubectl proxy`; killed on drop.
pub struct Proxy {
    pub base: String,
    handle: std::sync::Arc<duct::ReaderHandle>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.handle.kill();
    }
}

/// A Cilium pod as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub node: String,
    pub host_ip: Option<String>,
    pub phase: String,
    pub start_time: Option<String>,
}

pub fn parse_pods(list: &Value) -> Vec<Pod> {
    let mut pods: Vec<Pod> = list["items"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| Pod {
            name: p["metadata"]["name"].as_str().unwrap_or("").to_string(),
            node: p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
            host_ip: p["status"]["hostIP"].as_str().map(str::to_string),
            phase: p["status"]["phase"]
                .as_str()
                .unwrap_or("Unknown")
                .to_string(),
            start_time: p["status"]["startTime"].as_str().map(str::to_string),
        })
        .collect();
    pods.sort_by(|a, b| a.node.cmp(&b.node).then(a.name.cmp(&b.name)));
    pods
}

/// What `cilium-config` says about metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiliumConfig {
    pub hubble_metrics: Option<String>,
    pub agent_port: Option<u16>,
    pub operator_port: Option<u16>,
    pub hubble_port: Option<u16>,
    pub openmetrics: bool,
    /// `hubble.metrics.tls.enabled`: :9965 speaks HTTPS.
    pub hubble_tls: bool,
    /// When the ConfigMap was last written (newest managedFields time), RFC 3339.
    pub changed: Option<String>,
}

fn port_of(addr: Option<&str>) -> Option<u16> {
    addr?
        .rsplit(':')
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p != 0)
}

pub fn parse_config(cm: &Value) -> CiliumConfig {
    let data = &cm["data"];
    let s = |k: &str| data[k].as_str();
    let changed = cm["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["time"].as_str())
        .chain(cm["metadata"]["creationTimestamp"].as_str())
        .max()
        .map(str::to_string);
    CiliumConfig {
        hubble_metrics: s("hubble-metrics")
            .map(str::to_string)
            .filter(|l| !l.trim().is_empty()),
        agent_port: port_of(s("prometheus-serve-addr")),
        operator_port: port_of(s("operator-prometheus-serve-addr")),
        hubble_port: port_of(s("hubble-metrics-server")),
        openmetrics: s("enable-hubble-open-metrics") == Some("true"),
        hubble_tls: s("hubble-metrics-server-enable-tls") == Some("true"),
        changed,
    }
}

/// Whether a pod started before the ConfigMap was last changed. API times are RFC 3339 in UTC
/// with second precision (`2025-01-02T03:04:05Z`), which compare as text.
pub fn started_before(start: &str, changed: &str) -> bool {
    let comparable = |t: &str| t.len() == 20 && t.ends_with('Z');
    comparable(start) && comparable(changed) && start < changed
}

/// Policies with L7 rules, by kind, from CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
/// lists.
pub fn l7_policies(lists: &[&Value]) -> L7Policies {
    let (mut dns, mut http, mut kafka) = (Vec::new(), Vec::new(), Vec::new());
    for list in lists {
        for p in list["items"].as_array().into_iter().flatten() {
            let name = match p["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", p["metadata"]["name"].as_str().unwrap_or("")),
                None => p["metadata"]["name"].as_str().unwrap_or("").to_string(),
            };
            let mut specs: Vec<&Value> = vec![&p["spec"]];
            specs.extend(p["specs"].as_array().into_iter().flatten());
            let (mut d, mut h, mut k) = (false, false, false);
            for spec in specs {
                for dir in ["ingress", "egress"] {
                    for rule in spec[dir].as_array().into_iter().flatten() {
                        for tp in rule["toPorts"].as_array().into_iter().flatten() {
                            let rules = &tp["rules"];
                            d |= rules["dns"].as_array().is_some_and(|a| !a.is_empty());
                            h |= rules["http"].as_array().is_some_and(|a| !a.is_empty());
                            k |= rules["kafka"].as_array().is_some_and(|a| !a.is_empty());
                        }
                    }
                }
            }
            if d {
                dns.push(name.clone());
            }
            if h {
                http.push(name.clone());
            }
            if k {
                kafka.push(name);
            }
        }
    }
    L7Policies::Known { dns, http, kafka }
}

/// The Prometheus of kube-prometheus-stack: the `prometheus-operated` service (label
/// `operated-prometheus=true`) and its web port.
pub fn prometheus_service(list: &Value) -> Option<(String, String, u16)> {
    let svc = list["items"].as_array()?.first()?;
    let ns = svc["metadata"]["namespace"].as_str()?.to_string();
    let name = svc["metadata"]["name"].as_str()?.to_string();
    let ports = svc["spec"]["ports"].as_array()?;
    let port = ports
        .iter()
        .find(|p| p["name"] == "web" || p["name"] == "http-web")
        .or_else(|| ports.first())?["port"]
        .as_u64()? as u16;
    Some((ns, name, port))
}

/// The three jobs a Cilium install creates ServiceMonitors for, the helm value that enables
/// each, and how to recognise its scrape pool.
const JOBS: [(&str, &str); 3] = [
    ("cilium-agent", "prometheus.serviceMonitor.enabled=true"),
    (
        "cilium-operator",
        "operator.prometheus.serviceMonitor.enabled=true",
    ),
    ("hubble", "hubble.metrics.serviceMonitor.enabled=true"),
];

fn target_matches(job: &str, t: &Value) -> bool {
    let pool = t["scrapePool"].as_str().unwrap_or("");
    let label = t["labels"]["job"].as_str().unwrap_or("");
    let hit = |s: &str| {
        let s = s.to_ascii_lowercase();
        if job == "hubble" {
            s.contains("hubble") && !s.contains("relay")
        } else {
            s.contains(job)
        }
    };
    hit(pool) || hit(label)
}

/// Judge Prometheus' `/api/v1/targets` answer; `monitors` (ServiceMonitor list) and `selector`
/// (Prometheus' `serviceMonitorSelector.matchLabels`) explain absent targets.
pub fn judge_targets(
    targets: &Value,
    monitors: Option<&Value>,
    selector: Option<&serde_json::Map<String, Value>>,
) -> Vec<Finding> {
    let active = targets["data"]["activeTargets"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (job, value) in JOBS {
        let mine: Vec<&Value> = active.iter().filter(|t| target_matches(job, t)).collect();
        if mine.is_empty() {
            let monitor = monitors.and_then(|m| {
                m["items"].as_array()?.iter().find(|sm| {
                    let n = sm["metadata"]["name"].as_str().unwrap_or("");
                    if job == "hubble" {
                        n.contains("hubble") && !n.contains("relay")
                    } else {
                        n.contains(job)
                    }
                })
            });
            let hint = match (monitor, selector) {
                (None, _) => format!("no ServiceMonitor for {job}: set helm value {value}"),
                (Some(sm), Some(sel)) => {
                    let labels = &sm["metadata"]["labels"];
                    let missing: Vec<String> = sel
                        .iter()
                        .filter(|(k, v)| &labels[k.as_str()] != *v)
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect();
                    let name = sm["metadata"]["name"].as_str().unwrap_or(job);
                    if missing.is_empty() {
                        format!(
                            "ServiceMonitor {name} exists and matches the selector; check serviceMonitorNamespaceSelector and the Service's labels"
                        )
                    } else {
                        format!(
                            "ServiceMonitor {name} lacks the label {} that Prometheus' serviceMonitorSelector requires",
                            missing.join(", ")
                        )
                    }
                }
                (Some(sm), None) => format!(
                    "ServiceMonitor {} exists; check that Prometheus' serviceMonitorSelector selects it",
                    sm["metadata"]["name"].as_str().unwrap_or(job)
                ),
            };
            out.push(Finding::new(
                Status::Warn,
                format!("Prometheus has no {job} target"),
                Some(hint),
            ));
            continue;
        }
        let up = mine.iter().filter(|t| t["health"] == "up").count();
        if up == mine.len() {
            out.push(Finding::new(
                Status::Pass,
                format!("Prometheus scrapes {job}: {up}/{} targets up", mine.len()),
                None,
            ));
        } else {
            let err = mine
                .iter()
                .find(|t| t["health"] != "up")
                .and_then(|t| t["lastError"].as_str())
                .unwrap_or("")
                .to_string();
            out.push(Finding::new(
                Status::Fail,
                format!(
                    "Prometheus scrapes {job}: {up}/{} targets up; {err}",
                    mine.len()
                ),
                Some("look at the failing targets in Prometheus' Targets page".into()),
            ));
        }
    }
    out
}

/// GET a JSON document through the kubectl proxy.
pub fn proxy_json(agent: &ureq::Agent, base: &str, path: &str, timeout: Duration) -> Result<Value> {
    let mut resp = agent
        .get(format!("{base}{path}"))
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .with_context(|| format!("GET {path} through kubectl proxy"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading {path}"))?;
    if status != 200 {
        return Err(anyhow!(
            "GET {path}: HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    serde_json::from_str(&body).with_context(|| format!("GET {path}: not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_ports_and_time() {
        let cm = json!({
            "metadata": {"creationTimestamp": "2025-01-01T00:00:00Z", "managedFields": [
                {"time": "2025-01-02T00:00:00Z"}, {"time": "2025-03-04T05:06:07Z"}]},
            "data": {"hubble-metrics": "dns drop", "prometheus-serve-addr": ":9990",
                     "operator-prometheus-serve-addr": ":9963", "hubble-metrics-server": "[::]:9965",
                     "enable-hubble-open-metrics": "true"}});
        let c = parse_config(&cm);
        assert_eq!(c.agent_port, Some(9990));
        assert_eq!(c.hubble_port, Some(9965));
        assert!(c.openmetrics);
        assert_eq!(c.changed.as_deref(), Some("2025-03-04T05:06:07Z"));
        assert!(started_before(
            "2025-03-04T05:06:06Z",
            "2025-03-04T05:06:07Z"
        ));
        assert!(!started_before(
            "2025-03-04T05:06:07Z",
            "2025-03-04T05:06:07Z"
        ));
    }

    #[test]
    fn l7_rules_are_found_in_spec_and_specs() {
        let cnp = json!({"items": [
            {"metadata": {"namespace": "a", "name": "dns-only"}, "spec": {"egress": [{"toPorts": [{"rules": {"dns": [{"matchPattern": "*"}]}}]}]}},
            {"metadata": {"namespace": "b", "name": "l4"}, "spec": {"ingress": [{"toPorts": [{"ports": [{"port": "80"}]}]}]}},
            {"metadata": {"namespace": "c", "name": "multi"}, "specs": [{"ingress": [{"toPorts": [{"rules": {"http": [{"method": "GET"}]}}]}]}]}
        ]});
        let ccnp = json!({"items": []});
        let L7Policies::Known { dns, http, kafka } = l7_policies(&[&cnp, &ccnp]) else {
            panic!()
        };
        assert_eq!(dns, vec!["a/dns-only"]);
        assert_eq!(http, vec!["c/multi"]);
        assert!(kafka.is_empty());
    }

    #[test]
    fn targets_up_down_absent() {
        let t = json!({"data": {"activeTargets": [
            {"scrapePool": "serviceMonitor/kube-system/cilium-agent/0", "health": "up"},
            {"scrapePool": "serviceMonitor/kube-system/cilium-operator/0", "health": "down", "lastError": "connection refused"},
            {"scrapePool": "serviceMonitor/kube-system/hubble-relay/0", "health": "up"}]}});
        let sm = json!({"items": [{"metadata": {"name": "hubble", "labels": {"app": "x"}}}]});
        let sel = json!({"release": "kps"});
        let f = judge_targets(&t, Some(&sm), sel.as_object());
        assert_eq!(f[0].status, Status::Pass);
        assert_eq!(f[1].status, Status::Fail);
        assert!(f[1].what.contains("connection refused"));
        assert_eq!(f[2].status, Status::Warn);
        assert!(
            f[2].hint.as_ref().unwrap().contains("release=kps"),
            "{:?}",
            f[2].hint
        );
    }
}
