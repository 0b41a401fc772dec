//! kubectl as ciliumon runs it, read-only: setup's preflight (the context, the cluster's
//! version) and check's cluster reads (`kubectl get --raw`, JSON out, no discovery) and its one
//! `kubectl proxy`. Always argv (never a shell), with the kubeconfig and context of the command
//! line; KUBECONFIG is inherited.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use serde_json::Value;

use crate::kube::{Kube, Tool};
use crate::run::{self, CaptureError, Limits};

/// kubectl's own limit on one API request in `get_raw`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Which kubectl, with which kubeconfig and context.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub bin: PathBuf,
    pub kube: Kube,
}

impl Kubectl {
    /// `rest`, then `--context` and `--kubeconfig` when given.
    pub fn argv(&self, rest: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = rest.iter().map(OsString::from).collect();
        v.extend(self.kube.os_args(Tool::Kubectl));
        v
    }

    /// Run `kubectl REST` to its end within `limits` (stdin closed, in its own process group,
    /// stopped with everything it started when the time is up): its stdout when it exits 0,
    /// else kubectl's own message, "no answer within", or "cannot start".
    pub fn run(&self, rest: &[&str], limits: Limits) -> Result<String, CaptureError> {
        run::capture(&self.bin, &self.argv(rest), limits)
    }

    /// `kubectl get --raw PATH`, parsed as JSON. The error is kubectl's own message.
    pub fn get_raw(&self, path: &str) -> Result<Value> {
        let timeout = format!("--request-timeout={}s", REQUEST_TIMEOUT.as_secs());
        let out = self.run(
            &["get", "--raw", path, &timeout],
            Limits::outside(REQUEST_TIMEOUT),
        )?;
        serde_json::from_str(&out).with_context(|| format!("kubectl get --raw {path}: not JSON"))
    }

    /// Start `kubectl proxy --port=0` and wait for the port it chose.
    pub fn proxy(&self) -> Result<Proxy> {
        let handle = duct::cmd(
            &self.bin,
            self.argv(&[
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
                _doomed: crate::run::kill_on_interrupt(
                    handle.pids().first().copied().unwrap_or(0) as i32,
                    false,
                ),
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
    _doomed: crate::run::KillOnInterrupt,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // duct's kill does not wait: reap it, so that no zombie (and no CPU time) is left over
        // when ciliumon goes on or exits. SIGKILL ends it at once; a second at most.
        let _ = self.handle.kill();
        let until = std::time::Instant::now() + Duration::from_secs(1);
        while matches!(self.handle.try_wait(), Ok(None)) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn kubectl(kube: Kube) -> Kubectl {
        Kubectl {
            bin: Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/helm4/kubectl"),
            kube,
        }
    }

    #[test]
    fn argv_puts_the_subcommand_first_then_context_and_kubeconfig() {
        let k = kubectl(Kube {
            context: Some("prod east".into()),
            kubeconfig: Some("/tmp/kc".into()),
        });
        assert_eq!(
            k.argv(&["get", "--raw", "/api"]),
            [
                "get",
                "--raw",
                "/api",
                "--context",
                "prod east",
                "--kubeconfig",
                "/tmp/kc"
            ]
            .map(OsString::from)
        );
        assert_eq!(
            kubectl(Kube::default()).argv(&["proxy"]),
            [OsString::from("proxy")]
        );
    }

    /// The real kubectl with a kubeconfig (written into `dir`) whose API server is a closed
    /// port on loopback.
    fn kubectl_to_closed_port(dir: &Path) -> Kubectl {
        let cfg = dir.join("kubeconfig");
        std::fs::write(
            &cfg,
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: test, context: {cluster: c, user: u}}]\ncurrent-context: test\n",
        )
        .unwrap();
        kubectl(Kube {
            context: Some("test".into()),
            kubeconfig: Some(cfg),
        })
    }

    #[test]
    fn get_raw_error_is_kubectls_own_message() {
        // A real kubectl against a closed port on loopback.
        let dir = crate::run::PrivateDir::create().unwrap();
        let k = kubectl_to_closed_port(dir.path());
        let err = k.get_raw("/api/v1/namespaces").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("127.0.0.1:1"), "{msg}");
        assert!(!msg.contains("not JSON"), "{msg}");
    }

    #[test]
    fn a_dropped_proxy_is_killed_and_reaped() {
        // kubectl proxy serves at once, whether or not its API server answers.
        let dir = crate::run::PrivateDir::create().unwrap();
        let k = kubectl_to_closed_port(dir.path());
        let proxy = k.proxy().unwrap();
        assert!(
            proxy.base.starts_with("http://127.0.0.1:"),
            "{}",
            proxy.base
        );
        let pid = proxy.handle.pids()[0];
        drop(proxy);
        // Gone from the process table: neither running nor a zombie waiting to be reaped.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "kubectl proxy {pid} was left behind"
        );
    }

    #[test]
    fn a_missing_kubectl_says_it_cannot_start() {
        let k = Kubectl {
            bin: "/nonexistent/kubectl".into(),
            kube: Kube::default(),
        };
        let err = k
            .run(&["version"], Limits::new(Duration::from_secs(5)))
            .unwrap_err();
        assert!(matches!(err, CaptureError::Start { .. }), "{err:?}");
        let msg = format!("{:#}", anyhow::Error::new(err));
        assert!(
            msg.starts_with("cannot start /nonexistent/kubectl: "),
            "{msg}"
        );
    }
}
