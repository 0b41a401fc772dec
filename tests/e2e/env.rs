//! One test's world: a Helm of a given major version with its own homes, the cluster's
//! kubeconfig, a namespace for its Cilium release and one for its kube-prometheus-stack, a node
//! group, and `ciliumon` run through its binary with that helm first on PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::charts;
use crate::cluster::Cluster;
use crate::nodes::{Fleet, Node};
use crate::support::{helm, kubectl, kubectl_as, tools};

pub struct Env {
    pub major: u8,
    pub ns: String,
    pub stack_ns: String,
    pub tmp: tempfile::TempDir,
    pub fleet: Fleet,
    pub kubeconfig: PathBuf,
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Env {
    pub fn new(c: &'static Cluster, name: &str, major: u8, nodes: &[Node]) -> Env {
        let ns = format!("e2e-{name}");
        let stack_ns = format!("mon-{name}");
        let tmp = tempfile::tempdir().unwrap();
        let fleet = Fleet::create(c, name, nodes);
        let env = Env {
            major,
            ns,
            stack_ns,
            tmp,
            fleet,
            kubeconfig: c.admin_kubeconfig.clone(),
        };
        // A test that used the same name and failed may have left its namespace terminating
        // (deleted with --wait=false): wait for it to go, bounded, before creating it again.
        let start = std::time::Instant::now();
        while !env
            .k(&[
                "get",
                "namespace",
                &env.ns,
                "--ignore-not-found",
                "-o",
                "name",
            ])
            .trim()
            .is_empty()
        {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(120),
                "namespace {} still terminating after 120 s",
                env.ns
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        env.k(&["create", "namespace", &env.ns]);
        let repo = &charts::repo().url;
        env.helm_ok(&["repo", "add", "e2e-cilium", repo]);
        env.helm_ok(&["repo", "add", "e2e-prometheus", repo]);
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn helm_env(&self, cmd: &mut Command) {
        let h = self.tmp.path().join("helm");
        cmd.env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_DATA_HOME", h.join("data"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.tmp.path())
            .stdin(Stdio::null());
    }

    pub fn helm(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(helm(self.major));
        cmd.args(args);
        self.helm_env(&mut cmd);
        cmd.output().unwrap()
    }

    pub fn helm_ok(&self, args: &[&str]) -> String {
        let o = self.helm(args);
        assert!(
            o.status.success(),
            "helm{} {args:?}: {}",
            self.major,
            text(&o)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    pub fn helm_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.helm_ok(&a)).unwrap()
    }

    pub fn k(&self, args: &[&str]) -> String {
        kubectl_as(&self.kubeconfig, args)
    }

    pub fn k_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.k(&a)).unwrap()
    }

    /// The release's user values written to a file: the node group pinning, plus `extra`.
    pub fn values_file(&self, name: &str, extra: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(
            &p,
            format!(
                "{}hubble:\n  relay:\n    nodeSelector:\n      {}: {}\n{extra}",
                self.fleet.node_selector_values(),
                crate::nodes::GROUP_LABEL,
                self.fleet.group
            ),
        )
        .unwrap();
        p
    }

    /// `helm upgrade --install` of the Cilium test chart with these values files and args.
    pub fn install_cilium(&self, files: &[&Path], args: &[&str]) {
        let mut a = vec![
            "upgrade",
            "--install",
            "cilium",
            "e2e-cilium/cilium",
            "--version",
            "1.18.12",
            "-n",
            &self.ns,
        ];
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        for f in &files {
            a.extend(["-f", f]);
        }
        a.extend(args);
        self.helm_ok(&a);
    }

    pub fn rollout_done(&self) {
        self.k(&[
            "rollout",
            "status",
            "ds/cilium",
            "-n",
            &self.ns,
            "--timeout=90s",
        ]);
        self.k(&[
            "rollout",
            "status",
            "deploy/cilium-operator",
            "-n",
            &self.ns,
            "--timeout=90s",
        ]);
    }

    /// ciliumon.yaml pointing at the loopback chart repository and this test's namespaces.
    pub fn config(&self, extra: &str) -> PathBuf {
        let p = self.path("ciliumon.yaml");
        let url = &charts::repo().url;
        std::fs::write(
            &p,
            format!(
                "cilium:\n  namespace: {ns}\n  repo:\n    name: e2e-cilium\n    url: {url}\n\
                 prometheusStack:\n  namespace: {stack}\n  repo:\n    name: e2e-prometheus\n    url: {url}\n{extra}",
                ns = self.ns,
                stack = self.stack_ns
            ),
        )
        .unwrap();
        p
    }

    /// ciliumon through its binary: helm of this major version first on PATH, then kubectl.
    pub fn ciliumon(&self, args: &[&str]) -> Output {
        let helm_dir = tools().join(format!("helm{}", self.major));
        let kubectl_dir = kubectl().parent().unwrap().to_path_buf();
        let path = std::env::join_paths([helm_dir, kubectl_dir].into_iter().chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ciliumon"));
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .current_dir(self.tmp.path())
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env_remove("CILIUMON_YES");
        self.helm_env(&mut cmd);
        let start = Instant::now();
        let out = cmd.output().unwrap();
        eprintln!(
            "ciliumon {args:?} (helm {}): {:.1}s, {}",
            self.major,
            start.elapsed().as_secs_f64(),
            text(&out)
        );
        out
    }

    /// The DaemonSet's ControllerRevisions (its rollout history), oldest first.
    pub fn agent_revisions(&self) -> Vec<(i64, String)> {
        let list = self.k_json(&[
            "get",
            "controllerrevisions",
            "-n",
            &self.ns,
            "-l",
            "k8s-app=cilium",
        ]);
        let mut v: Vec<(i64, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["revision"].as_i64().unwrap(),
                    r["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Agent pods: (name, uid, startTime).
    pub fn agent_pods(&self) -> Vec<(String, String, String)> {
        let list = self.k_json(&["get", "pods", "-n", &self.ns, "-l", "k8s-app=cilium"]);
        let mut v: Vec<_> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    p["metadata"]["uid"].as_str().unwrap().to_string(),
                    p["status"]["startTime"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }

    pub fn revision(&self) -> i64 {
        let h = self.helm_json(&["history", "cilium", "-n", &self.ns]);
        h.as_array().unwrap().last().unwrap()["revision"]
            .as_i64()
            .unwrap()
    }

    pub fn values(&self, revision: Option<i64>) -> Value {
        let r = revision.map(|r| r.to_string());
        let mut a = vec!["get", "values", "cilium", "-n", &self.ns];
        if let Some(r) = &r {
            a.extend(["--revision", r]);
        }
        self.helm_json(&a)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.helm(&[
            "uninstall",
            "cilium",
            "-n",
            &self.ns,
            "--wait",
            "--timeout",
            "30s",
        ]);
        let _ = self.helm(&[
            "uninstall",
            "prometheus",
            "-n",
            &self.stack_ns,
            "--timeout",
            "30s",
        ]);
        for ns in [&self.ns, &self.stack_ns] {
            let _ = Command::new(kubectl())
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args([
                    "delete",
                    "namespace",
                    ns,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .output();
        }
    }
}
