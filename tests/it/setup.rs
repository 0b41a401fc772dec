//! `ciliumon setup` through the binary, against recording stand-ins for helm and kubectl
//! (tests/harness/stand-ins). The child's PATH holds only the stand-ins and the few utilities they
//! use, so the real tools on this machine are never reached.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{bin, repo_root};

/// A fake cluster: a bin dir with the stand-ins, their state and call log, a work dir.
pub(crate) struct Fake {
    _tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    env: Vec<(String, String)>,
}

impl Fake {
    pub(crate) fn new() -> Fake {
        Fake::with_tools(&["helm", "kubectl"])
    }

    pub(crate) fn with_tools(tools: &[&str]) -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for d in ["bin", "state", "work", "tmp", "home", "home/.kube"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        // A kubeconfig where kubectl looks (the stand-ins do not read it): `plan` reads the
        // cluster rather than planning offline.
        std::fs::write(
            root.join("home/.kube/config"),
            "apiVersion: v1\nkind: Config\n",
        )
        .unwrap();
        let stand_ins = repo_root().join("tests/harness/stand-ins");
        for t in tools {
            std::os::unix::fs::symlink(stand_ins.join(t), root.join("bin").join(t)).unwrap();
        }
        for util in [
            "bash", "sleep", "cat", "cp", "dirname", "readlink", "stat", "date", "awk", "grep",
            "mv", "cmp",
        ] {
            let path =
                which::which(util).unwrap_or_else(|_| panic!("{util} is needed by the stand-ins"));
            std::os::unix::fs::symlink(path, root.join("bin").join(util)).unwrap();
        }
        // The helm stand-in renders its stand-in chart with the real Helm (manifests for
        // `helm template`, `helm get manifest` and after an upgrade).
        let real_helm = repo_root().join(".tools/helm3/helm");
        Fake {
            _tmp: tmp,
            root,
            env: vec![("STANDIN_REAL_HELM".into(), real_helm.display().to_string())],
        }
    }

    /// The release with the metrics on already (their ports in the agents' pod template) and an
    /// older Hubble list: the upgrade changes only cilium-config, so the plan restarts the
    /// agents itself (every step of the default plan runs).
    pub(crate) fn metrics_on(self) -> Fake {
        let values = serde_json::json!({
            "prometheus": {"enabled": true},
            "operator": {"prometheus": {"enabled": true}},
            "hubble": {"enabled": true, "metrics": {"enabled": ["dns", "drop"]}}
        });
        std::fs::write(self.state().join("values.json"), values.to_string()).unwrap();
        self
    }

    pub(crate) fn env(mut self, k: &str, v: &str) -> Fake {
        self.env.push((k.into(), v.into()));
        self
    }

    pub(crate) fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    pub(crate) fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    pub(crate) fn ciliumon(&self, args: &[&str]) -> Command {
        let mut cmd = bin();
        cmd.args(args)
            .current_dir(self.work())
            .env("PATH", self.root.join("bin"))
            .env("HOME", self.root.join("home"))
            .env("TMPDIR", self.root.join("tmp"))
            .env("STANDIN_LOG", self.root.join("calls.log"))
            .env("STANDIN_STATE", self.state())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.ciliumon(args).output().unwrap()
    }

    /// Every call the stand-ins saw, as argv (tool first).
    pub(crate) fn calls(&self) -> Vec<Vec<String>> {
        let Ok(log) = std::fs::read(self.root.join("calls.log")) else {
            return vec![];
        };
        log.split(|b| *b == b'\n')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let mut args: Vec<String> = r
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                assert_eq!(args.pop().as_deref(), Some(""), "record ends with NUL");
                args
            })
            .collect()
    }

    /// The calls that change something (not version/list/get/config/version queries).
    pub(crate) fn changes(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().filter(|c| is_change(c)).collect()
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(self.root.join("calls.log"));
    }

    pub(crate) fn backups(&self) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(self.work())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("ciliumon-backup-")
            })
            .collect();
        v.sort();
        v
    }

    pub(crate) fn tmp_is_empty(&self) -> bool {
        std::fs::read_dir(self.root.join("tmp"))
            .unwrap()
            .next()
            .is_none()
    }
}

fn is_change(c: &[String]) -> bool {
    let sub = |i: usize| c.get(i).map(String::as_str).unwrap_or("");
    match sub(0) {
        "helm" => matches!(
            sub(1),
            "repo" | "upgrade" | "install" | "rollback" | "uninstall"
        ),
        "kubectl" => matches!(sub(1), "rollout" | "apply" | "delete" | "patch"),
        _ => true,
    }
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn json_doc(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON document ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

const YES: &[&str] = &["setup", "--yes", "--no-check"];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    YES.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn happy_path_runs_the_plan_in_order_with_a_backup() {
    let f = Fake::new();
    let out = f.run(YES);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let changes = f.changes();
    let heads: Vec<String> = changes.iter().map(|c| c[..3].join(" ")).collect();
    assert_eq!(
        heads,
        [
            "helm repo add",
            "helm repo add",
            "helm repo update",
            "helm upgrade --install",
            "helm upgrade cilium",
            "kubectl rollout status",
            "kubectl rollout status",
        ],
        "{changes:#?}"
    );
    // The first enable adds container ports to the agents' pod template: the upgrade rolls
    // them, and no second restart follows.
    assert!(
        stderr(&out)
            .contains("No explicit restart: the upgrade changes the pod template of ds/cilium"),
        "{}",
        stderr(&out)
    );
    // kube-prometheus-stack before Cilium (its CRDs), and Cilium keeps its chart version.
    let upgrade = &changes[4];
    assert!(upgrade.iter().any(|a| a == "--reuse-values"), "{upgrade:?}");
    assert!(
        upgrade
            .windows(2)
            .any(|w| w[0] == "--version" && w[1] == "1.18.4"),
        "{upgrade:?}"
    );
    // Values went through a 0600 file, removed afterwards with its private directory.
    assert_eq!(
        std::fs::read_to_string(f.state().join("cilium-values-1.mode"))
            .unwrap()
            .trim(),
        "600"
    );
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(f.state().join("cilium-values-1.yaml")).unwrap(),
    )
    .unwrap();
    assert!(
        values["hubble"]["metrics"]["enabled"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "{values}"
    );
    assert!(f.tmp_is_empty(), "the private directory is removed");
    // Backup: 0600, the current values and the revision, and the exact rollback command.
    let backups = f.backups();
    assert_eq!(backups.len(), 1);
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("ciliumon-backup-cilium-rev3-") && name.ends_with(".yaml"),
        "{name}"
    );
    assert_eq!(
        std::fs::metadata(&backups[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&backups[0]).unwrap();
    assert!(
        text.contains("# To go back: helm rollback cilium 3 -n kube-system\n"),
        "{text}"
    );
    let saved: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(saved["revision"], 3);
    assert_eq!(saved["values"]["kubeProxyReplacement"], true);
    let err = stderr(&out);
    assert!(
        err.contains("To go back: helm rollback cilium 3 -n kube-system"),
        "{err}"
    );
    assert!(err.contains("context 'kind-standin'"), "{err}");
    // Off a terminal: plain timestamped lines, no spinner redraws.
    assert!(!err.contains('\r'), "no redraws off a terminal");
    assert!(
        err.lines()
            .any(|l| l.len() > 10 && l.as_bytes()[2] == b':' && l.contains("[1/7] start:")),
        "{err}"
    );
    assert!(
        stdout(&out).is_empty(),
        "text mode prints its report on stderr"
    );
}

#[test]
fn json_output_is_one_document() {
    let f = Fake::new();
    let out = f.run(&with(&["--output", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json_doc(&out);
    assert_eq!(doc["status"], "done");
    assert_eq!(doc["context"], "kind-standin");
    assert_eq!(doc["cilium"]["revisionBefore"], 3);
    assert_eq!(doc["rollback"], "helm rollback cilium 3 -n kube-system");
    assert!(Path::new(doc["backup"].as_str().unwrap()).exists());
    let steps = doc["steps"].as_array().unwrap();
    // No explicit restart: the first enable's upgrade rolls the agents.
    assert_eq!(steps.len(), 7);
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "done" && s["durationMs"].is_u64()),
        "{steps:#?}"
    );
    assert!(
        doc["changes"]["added"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}

#[test]
fn each_step_made_to_fail_stops_the_run_there() {
    // The steps, from a successful run.
    let ok = Fake::new();
    assert_eq!(ok.run(YES).status.code(), Some(0));
    let steps = ok.changes();
    for (i, step) in steps.iter().enumerate() {
        // The step's argv up to its first private path (which differs from run to run).
        let joined = step
            .iter()
            .take_while(|a| !a.contains("/ciliumon-"))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let f = Fake::new().env("STANDIN_FAIL", &joined).env(
            "STANDIN_FAIL_STDERR",
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
        );
        let out = f.run(&with(&["--output", "json"]));
        assert_eq!(
            out.status.code(),
            Some(1),
            "step {i} ({joined}): {}",
            stderr(&out)
        );
        // The failing step ran; nothing after it did.
        let changes = f.changes();
        assert_eq!(changes.len(), i + 1, "step {i}: {changes:#?}");
        assert!(changes[i].join(" ").starts_with(&joined));
        let doc = json_doc(&out);
        assert_eq!(doc["status"], "failed");
        let st: Vec<&str> = doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        for (j, s) in st.iter().enumerate() {
            let want = if j < i {
                "done"
            } else if j == i {
                "failed"
            } else {
                "not-run"
            };
            assert_eq!(*s, want, "step {i}: statuses {st:?}");
        }
        assert!(
            doc["steps"][i]["output"]
                .as_str()
                .unwrap()
                .contains("another operation")
        );
        assert!(
            doc["hint"].as_str().unwrap().contains("locked"),
            "{}",
            doc["hint"]
        );
        assert_eq!(f.backups().len(), 1, "step {i}: the backup exists");
        let err = stderr(&out);
        assert!(err.contains("Step failed:"), "{err}");
        if i + 1 < steps.len() {
            assert!(err.contains("Not run:"), "{err}");
        }
        if i >= 4 {
            assert!(
                err.contains("To go back to revision 3: helm rollback cilium 3 -n kube-system"),
                "{err}"
            );
        } else {
            assert!(err.contains("The Cilium release was not changed"), "{err}");
        }
        assert!(f.tmp_is_empty());
    }
}

#[test]
fn a_hanging_step_hits_the_timeout() {
    let f = Fake::new().env("STANDIN_HANG", "helm upgrade cilium");
    let t = Instant::now();
    let out = f.run(&with(&["--timeout", "2s", "--output", "json"]));
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "took {took:?}"
    );
    let doc = json_doc(&out);
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps[4]["status"], "timed-out");
    assert!(steps[5..].iter().all(|s| s["status"] == "not-run"));
    assert!(doc["hint"].as_str().unwrap().contains("--timeout"));
    assert!(
        !f.changes().iter().any(|c| c[0] == "kubectl"),
        "nothing after the hung step ran"
    );
    assert!(f.tmp_is_empty());
}

#[test]
fn helm_missing_is_a_preflight_error_before_anything() {
    let f = Fake::with_tools(&["kubectl"]);
    let out = f.run(YES);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("helm was not found on PATH"), "{err}");
    assert!(err.contains("https://helm.sh/docs/intro/install/"), "{err}");
    assert!(f.calls().is_empty());
}

#[test]
fn kubectl_missing_is_a_preflight_error_before_anything() {
    let f = Fake::with_tools(&["helm"]);
    let out = f.run(YES);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("kubectl was not found on PATH"), "{err}");
    assert!(err.contains("kubernetes.io/docs/tasks/tools"), "{err}");
    assert!(f.calls().is_empty());
}

#[test]
fn no_cilium_release_stops_with_nothing_changed() {
    let f = Fake::new()
        .env("STANDIN_NO_CILIUM", "1")
        .env("STANDIN_NO_DAEMONSET", "1");
    let out = f.run(YES);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains(
            "no Helm release 'cilium' in namespace 'kube-system' of context 'kind-standin'"
        ),
        "{err}"
    );
    assert!(err.contains("does not install a CNI"), "{err}");
    assert!(f.changes().is_empty());
    assert!(f.backups().is_empty());
}

#[test]
fn unreachable_cluster_names_the_context_with_kubectls_message() {
    let f = Fake::new()
        .env("STANDIN_UNREACHABLE", "1")
        .env("STANDIN_CONTEXTS", "kind-standin prod-eu");
    let out = f.run(&with(&["--kube-context", "prod-eu"]));
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach the cluster of context 'prod-eu'"),
        "{err}"
    );
    assert!(err.contains("127.0.0.1:6443 was refused"), "{err}");
    // The context was passed to kubectl.
    assert!(f.calls().iter().any(|c| {
        c.windows(2)
            .any(|w| w[0] == "--context" && w[1] == "prod-eu")
    }));
    assert!(f.changes().is_empty());
}

#[test]
fn a_locked_release_is_refused_in_preflight() {
    let f = Fake::new().env("STANDIN_CILIUM_STATUS", "pending-upgrade");
    let out = f.run(YES);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("is locked"), "{}", stderr(&out));
    // The exact way out: revision 3 is pending, 2 is the last deployed one.
    assert!(
        stderr(&out).contains("helm rollback cilium 2 -n kube-system"),
        "{}",
        stderr(&out)
    );
    assert!(f.changes().is_empty());
}

#[test]
fn second_run_changes_nothing_and_says_so() {
    let f = Fake::new();
    assert_eq!(f.run(YES).status.code(), Some(0));
    // What Helm would now hold: the old user values with ciliumon's merged over them
    // (--reuse-values + -f), and the stack is installed (the stand-in remembers it).
    let old: Value =
        serde_json::json!({"kubeProxyReplacement": true, "hubble": {"relay": {"enabled": false}}});
    let set: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(f.state().join("cilium-values-1.yaml")).unwrap(),
    )
    .unwrap();
    let now = ciliumon::diff::merge(&old, &set);
    std::fs::write(f.state().join("values.json"), now.to_string()).unwrap();
    f.clear_log();

    let out = f.run(&with(&["--output", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Nothing to change"),
        "{}",
        stderr(&out)
    );
    assert!(f.changes().is_empty(), "{:#?}", f.changes());
    let doc = json_doc(&out);
    assert_eq!(doc["status"], "unchanged");
    assert!(doc["steps"].as_array().unwrap().is_empty());
    assert_eq!(
        f.backups().len(),
        1,
        "no second backup when nothing changes"
    );

    // A different choice is a change again.
    let out = f.run(&with(&["--metric", "dns", "--output", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_doc(&out)["status"], "done");
    let changed = json_doc(&out)["changes"]["changed"].clone();
    assert!(
        changed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "hubble.metrics.enabled"),
        "{changed}"
    );
}

#[test]
fn without_a_terminal_and_without_yes_it_refuses_and_runs_nothing() {
    let f = Fake::new();
    let t = Instant::now();
    let out = f.run(&["setup"]);
    assert!(t.elapsed() < Duration::from_secs(10), "never hangs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--yes"), "{err}");
    assert!(err.contains("CILIUMON_YES"), "{err}");
    assert!(f.calls().is_empty(), "not even preflight: {:?}", f.calls());
    // CILIUMON_YES is the same as --yes.
    let out = f
        .ciliumon(&["setup", "--no-check"])
        .env("CILIUMON_YES", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let f = Fake::new();
    let out = f.run(&["setup", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("helm upgrade cilium cilium/cilium"),
        "{}",
        stdout(&out)
    );
    assert!(f.changes().is_empty());
    assert!(f.backups().is_empty());
}

#[test]
fn grafana_password_never_on_argv_or_in_output() {
    let secret = "pw-Zq81-not-on-argv";
    let f = Fake::new().env("GRAFANA_PW", secret);
    let out = f.run(&with(&[
        "--grafana-password-env",
        "GRAFANA_PW",
        "--verbose",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let calls = f.calls();
    assert!(
        calls.iter().flatten().all(|a| !a.contains(secret)),
        "argv holds the password"
    );
    assert!(!stderr(&out).contains(secret) && !stdout(&out).contains(secret));
    // The stack got it through a 0600 file.
    let stack = calls
        .iter()
        .find(|c| c.len() > 2 && c[1] == "upgrade" && c[2] == "--install")
        .unwrap();
    assert!(
        stack
            .iter()
            .any(|a| a.starts_with("grafana.adminPassword=")),
        "{stack:?}"
    );
    let n = std::fs::read_dir(f.state())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("stack-setfile-")
                && !e.file_name().to_string_lossy().ends_with(".mode")
        })
        .unwrap();
    assert_eq!(std::fs::read_to_string(n.path()).unwrap(), secret);
    assert_eq!(
        std::fs::read_to_string(format!("{}.mode", n.path().display()))
            .unwrap()
            .trim(),
        "600"
    );
    assert!(f.tmp_is_empty());
}

#[test]
fn missing_password_variable_is_bad_input_and_nothing_runs() {
    let f = Fake::new();
    let out = f.run(&with(&["--grafana-password-env", "NOT_SET_PW"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("NOT_SET_PW"));
    assert!(f.changes().is_empty());
}

#[test]
fn setup_runs_exactly_what_plan_prints() {
    let f = Fake::new();
    let values_dir = f.root.join("values");
    let plan = f.run(&[
        "plan",
        "--output",
        "json",
        "--values-dir",
        values_dir.to_str().unwrap(),
        "--kube-context",
        "kind-standin",
    ]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let planned: Vec<Vec<String>> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            std::iter::once(s["program"].as_str().unwrap().to_string())
                .chain(
                    s["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string()),
                )
                .collect()
        })
        .collect();
    f.clear_log();
    let out = f.run(&with(&["--kube-context", "kind-standin"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Setup's values live in its private directory; plan's in --values-dir.
    let ran = f.changes();
    let private = ran
        .iter()
        .flatten()
        .find(|a| a.ends_with("/cilium-values.yaml"))
        .map(|a| Path::new(a).parent().unwrap().display().to_string())
        .expect("setup passes the Cilium values as a file");
    let ran: Vec<Vec<String>> = ran
        .into_iter()
        .map(|c| {
            c.into_iter()
                .map(|a| a.replace(&private, values_dir.to_str().unwrap()))
                .collect()
        })
        .collect();
    assert_eq!(ran, planned);
}

/// What the terminal sends on Ctrl-C: SIGINT to ciliumon.
pub(crate) fn ctrl_c(child: &std::process::Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::INT,
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The wizard, through a real pseudo-terminal.

fn pty(f: &Fake, args: &[&str]) -> rexpect::session::PtySession {
    let mut cmd = f.ciliumon(args);
    cmd.env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .stdin(Stdio::inherit());
    rexpect::session::spawn_command(cmd, Some(20_000)).unwrap()
}

/// A pseudo-terminal of `columns` (COLUMNS: the pty itself reports no size), with or without
/// colour.
fn pty_with(f: &Fake, args: &[&str], color: bool, columns: u16) -> rexpect::session::PtySession {
    let mut cmd = f.ciliumon(args);
    cmd.env("TERM", "xterm")
        .env("COLUMNS", columns.to_string())
        .stdin(Stdio::inherit());
    if color {
        cmd.env_remove("NO_COLOR");
    } else {
        cmd.env("NO_COLOR", "1");
    }
    rexpect::session::spawn_command(cmd, Some(20_000)).unwrap()
}

/// Wait for `what` and return everything shown before it (and it).
fn screen(p: &mut rexpect::session::PtySession, what: &str) -> String {
    let before = p
        .exp_string(what)
        .unwrap_or_else(|e| panic!("waiting for {what:?}: {e}"));
    // rexpect hands back each byte as a char: make it UTF-8 text again.
    let bytes: Vec<u8> = before.chars().map(|c| c as u32 as u8).collect();
    format!("{}{what}", String::from_utf8_lossy(&bytes))
}

fn exit_code(p: &mut rexpect::session::PtySession) -> String {
    format!("{:?}", p.process().wait().unwrap())
}

/// The printed lines of `raw` (a terminal's output) without colour and cursor codes.
fn visible_lines(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in raw.split("\r\n") {
        // Each redraw clears its line (ESC[2K) and starts again: what stays is after the last.
        let mut text = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            } else if c == '\r' {
                text.clear();
            } else {
                text.push(c);
            }
        }
        out.push(text);
    }
    out
}

/// The wizard's questions in the order it asks them of the stand-in release (1.17+, default
/// answers). Tests that take the defaults from one question to another walk this list, so a
/// new question is added here once.
const QUESTIONS: &[&str] = &[
    "Metric list to start from",
    "Hubble metric families",
    "Families whose options to adjust",
    "Hubble metrics mode",
    "Components",
    "The Hubble UI needs Hubble Relay",
    "Service type",
    "Prometheus and Grafana",
    "Release name",
    "Its namespace",
    "Create ServiceMonitors",
    "Grafana dashboards",
    // Only where the list leaves panels that a cluster label fills (the blog's on 1.17+).
    "to the series for the dashboards?",
];

/// Enter (the default) at each question of [`QUESTIONS`] from `from` to `to`, both included;
/// returns what was shown.
fn enter_through(p: &mut rexpect::session::PtySession, from: &str, to: &str) -> String {
    let at = |q: &str| QUESTIONS.iter().position(|x| *x == q).expect(q);
    let mut shown = String::new();
    for q in &QUESTIONS[at(from)..=at(to)] {
        shown += &screen(p, q);
        key(p, "\r");
    }
    shown
}

const DOWN: &str = "\x1b[B";

fn key(p: &mut rexpect::session::PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

#[test]
fn wizard_full_run_saves_a_replayable_config() {
    let f = Fake::new();
    let mut p = pty(&f, &["setup", "--no-check"]);
    p.exp_string("Metric list to start from").unwrap();
    key(&mut p, "\r"); // the blog's (the release runs none)
    p.exp_string("Hubble metric families for Cilium 1.18.4")
        .unwrap();
    key(&mut p, "\r"); // the pre-selected families
    p.exp_string("Families whose options to adjust").unwrap();
    key(&mut p, "\r"); // none
    p.exp_string("Hubble metrics mode").unwrap();
    key(&mut p, "\r"); // static
    p.exp_string("Components").unwrap();
    key(&mut p, "\r");
    // The stand-in's release has Relay off and the UI unset (on by default): the fix.
    p.exp_string("The Hubble UI needs Hubble Relay").unwrap();
    key(&mut p, "\r"); // turn Relay on too
    p.exp_string("Service type of the Hubble UI").unwrap();
    key(&mut p, "\r");
    p.exp_string("Prometheus and Grafana").unwrap();
    key(&mut p, "\r"); // install
    p.exp_string("Release name of kube-prometheus-stack")
        .unwrap();
    key(&mut p, "\r");
    p.exp_string("Its namespace").unwrap();
    key(&mut p, "\r");
    p.exp_string("Create ServiceMonitors").unwrap();
    key(&mut p, "\r");
    p.exp_string("Grafana dashboards").unwrap();
    key(&mut p, "\r");
    p.exp_string("to the series for the dashboards?").unwrap();
    key(&mut p, "\r"); // yes: add cluster=default
    p.exp_string("Apply this plan to context 'kind-standin'?")
        .unwrap();
    key(&mut p, "y");
    p.exp_string("Save these answers").unwrap();
    key(&mut p, "\r"); // yes
    p.exp_string("File").unwrap();
    key(&mut p, "\r"); // ciliumon.yaml
    p.exp_string("Done: 7 steps.").unwrap();
    let status = p.process().wait().unwrap();
    let status = format!("{status:?}");
    assert!(
        status.starts_with("Exited(") && status.ends_with(", 0)"),
        "{status}"
    );
    assert_eq!(f.changes().len(), 7);
    // The saved file replays the same setup in CI: same Cilium values file.
    let saved = f.work().join("ciliumon.yaml");
    assert!(saved.exists());
    let first = std::fs::read_to_string(f.state().join("cilium-values-1.yaml")).unwrap();
    let out = f.run(&[
        "setup",
        "--yes",
        "--no-check",
        "--config",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = std::fs::read_to_string(f.state().join("cilium-values-1.yaml")).unwrap();
    assert_eq!(first, again);
}

#[test]
fn wizard_esc_at_a_question_leaves_nothing_run() {
    let f = Fake::new();
    let mut p = pty(&f, &["setup", "--no-check"]);
    p.exp_string("Metric list to start from").unwrap();
    key(&mut p, "\r");
    p.exp_string("Hubble metric families").unwrap();
    key(&mut p, "\r");
    p.exp_string("Families whose options to adjust").unwrap();
    key(&mut p, "\r");
    p.exp_string("Hubble metrics mode").unwrap();
    key(&mut p, "\r");
    p.exp_string("Components").unwrap();
    key(&mut p, "\x1b"); // Esc
    p.exp_string("Aborted: nothing was changed.").unwrap();
    let status = p.process().wait().unwrap();
    let status = format!("{status:?}");
    assert!(
        status.starts_with("Exited(") && status.ends_with(", 130)"),
        "{status}"
    );
    assert!(f.changes().is_empty(), "{:?}", f.changes());
    assert!(f.backups().is_empty());
    assert!(!f.work().join("ciliumon.yaml").exists());
}

/// setup, then its metrics check for real: the steps go to the stand-ins, the check's read-only
/// calls (`get --raw`, `proxy`) to the real kubectl and a fake API server whose pods serve the
/// fixture payloads on loopback.
fn setup_then_check(hubble_body: Vec<u8>) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let (api, _) = crate::check::busy_cluster(
        hubble_body,
        crate::check::dns_policy(),
        "dns drop tcp flow port-distribution icmp httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction",
    );
    let kc = crate::check::kubeconfig(dir.path(), &format!("http://127.0.0.1:{api}"));
    let f = Fake::new()
        .env(
            "STANDIN_REAL_KUBECTL",
            crate::support::kubectl_binary().to_str().unwrap(),
        )
        .env("KUBECONFIG", kc.to_str().unwrap());
    let out = f.run(&["setup", "--yes", "-o", "json", "--check-wait", "2s"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    // The check ran through one kubectl proxy, after every step.
    let calls = f.calls();
    let proxy = calls
        .iter()
        .position(|c| c[1] == "proxy")
        .expect("kubectl proxy started");
    let last_step = calls.iter().rposition(|c| c[1] == "rollout").unwrap();
    assert!(proxy > last_step, "the check runs after the steps");
    assert_eq!(calls.iter().filter(|c| c[1] == "proxy").count(), 1);
    (out, doc)
}

#[test]
fn setup_checks_the_metrics_it_enabled_on_every_node() {
    let (out, doc) = setup_then_check(crate::check::fixture("hubble-busy.txt"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(doc["status"], "done", "{doc:#}");
    assert_eq!(doc["check"]["passed"], true, "{doc:#}");
    assert_eq!(doc["check"]["report"]["nodes"].as_array().unwrap().len(), 2);
    assert!(stderr(&out).contains("Checking the metrics endpoints"));
}

#[test]
fn setup_reports_a_failed_check_with_exit_1() {
    // Hubble serves something that is not metrics on every node.
    let (out, doc) = setup_then_check(b"<html>oops</html>\n".to_vec());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(doc["status"], "check-failed", "{doc:#}");
    assert_eq!(doc["exitCode"], 1, "{doc:#}");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("check did not pass"),
        "{doc:#}"
    );
    assert_eq!(doc["check"]["passed"], false);
    assert!(
        stderr(&out).contains("ciliumon check --wait 2m"),
        "{}",
        stderr(&out)
    );
}

/// Ctrl-C while a step runs: the step is stopped, later steps never run, the report says so and
/// how to go back, exit 130, and the private directory is gone.
#[test]
fn ctrl_c_stops_the_running_step_and_reports() {
    let f = Fake::new().env("STANDIN_HANG", "helm upgrade cilium");
    let child = f
        .ciliumon(&with(&["--output", "json"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the hanging step has started.
    let t = Instant::now();
    while !f
        .calls()
        .iter()
        .any(|c| c.len() > 2 && c[1] == "upgrade" && c[2] == "cilium")
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the upgrade never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ctrl_c(&child);
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "Ctrl-C was not prompt"
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let doc = json_doc(&out);
    assert_eq!(doc["status"], "interrupted");
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps[4]["status"], "interrupted", "{doc:#}");
    assert!(steps[5..].iter().all(|s| s["status"] == "not-run"));
    assert!(
        !f.changes().iter().any(|c| c[0] == "kubectl"),
        "nothing ran after Ctrl-C"
    );
    assert!(
        stderr(&out).contains("helm rollback cilium 3"),
        "{}",
        stderr(&out)
    );
    assert!(f.tmp_is_empty());
}

#[test]
fn ctrl_c_during_check_stops_its_kubectl_and_exits_130() {
    let f = Fake::new();
    let pidfile = f.root.join("hang.pid");
    let f = f
        .env("STANDIN_HANG", "get --raw")
        .env("STANDIN_HANG_PIDFILE", pidfile.to_str().unwrap());
    let child = f
        .ciliumon(&["check", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the kubectl read never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    ctrl_c(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Aborted: nothing was changed."),
        "the one abort message: {}",
        stderr(&out)
    );
    // The hanging kubectl (its own process group, so no terminal SIGINT) is gone too.
    let t = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "kubectl {pid} outlived ciliumon check"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the cluster before changing it: owners, restarts, contexts, CRDs, offline dry runs.

/// The agent DaemonSet as the API server returns it, with these labels and annotations.
fn daemonset(f: &Fake, labels: Value, annotations: Value) {
    let ds = serde_json::json!({
        "metadata": {"name": "cilium", "labels": labels, "annotations": annotations},
        "spec": {"template": {"spec": {"containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.17.3"}]}}}
    });
    std::fs::write(f.state().join("daemonset.json"), ds.to_string()).unwrap();
}

fn upgrades(f: &Fake) -> usize {
    f.changes()
        .iter()
        .filter(|c| c[..2] == ["helm", "upgrade"])
        .count()
}

#[test]
fn a_flux_release_gets_no_helm_upgrade_unless_forced() {
    let f = Fake::new();
    daemonset(
        &f,
        serde_json::json!({"k8s-app": "cilium", "helm.toolkit.fluxcd.io/name": "cilium", "helm.toolkit.fluxcd.io/namespace": "flux-system"}),
        serde_json::json!({"meta.helm.sh/release-name": "cilium"}),
    );
    let out = f.run(YES);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("managed by Flux (HelmRelease flux-system/cilium)"),
        "{err}"
    );
    assert!(
        err.contains("kind: HelmRelease"),
        "the snippet is offered: {err}"
    );
    assert!(err.contains("ciliumon plan --output flux"), "{err}");
    assert!(err.contains("--force-helm"), "{err}");
    assert!(f.changes().is_empty(), "{:?}", f.changes());
    assert!(f.backups().is_empty());
    // `plan` refuses the same way, and prints the snippet on request.
    let out = f.run(&["plan"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = f.run(&["plan", "--output", "flux"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_saphyr::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["metadata"]["namespace"], "flux-system");
    assert_eq!(
        doc["spec"]["values"]["hubble"]["metrics"]["enabled"][0],
        "dns"
    );
    // --force-helm: a warning, then the upgrade.
    let out = f.run(&with(&["--force-helm"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: --force-helm"), "{err}");
    assert_eq!(upgrades(&f), 2, "the stack and Cilium");
}

#[test]
fn an_argo_cd_release_gets_no_helm_upgrade_unless_forced() {
    let f = Fake::new();
    daemonset(
        &f,
        serde_json::json!({"k8s-app": "cilium"}),
        serde_json::json!({"argocd.argoproj.io/tracking-id": "net-cilium:apps/DaemonSet:kube-system/cilium"}),
    );
    let out = f.run(YES);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("managed by Argo CD (Application net-cilium)"),
        "{err}"
    );
    assert!(
        err.contains("valuesObject:"),
        "the snippet is offered: {err}"
    );
    assert!(err.contains("ciliumon plan --output argocd"), "{err}");
    assert!(f.changes().is_empty(), "{:?}", f.changes());
    let out = f.run(&with(&["--force-helm"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(upgrades(&f), 2);
}

#[test]
fn argo_cd_without_a_helm_release_is_named() {
    // Argo CD renders with `helm template`: no release, the instance label on its objects.
    let f = Fake::new().env("STANDIN_NO_CILIUM", "1");
    daemonset(
        &f,
        serde_json::json!({"k8s-app": "cilium", "app.kubernetes.io/instance": "cilium"}),
        Value::Null,
    );
    let out = f.run(&with(&["--force-helm"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(
            "DaemonSet cilium in 'kube-system' is managed by Argo CD (Application cilium)"
        ),
        "{err}"
    );
    assert!(
        err.contains("ciliumon plan --dry-run --cilium-version 1.17.3 --output argocd"),
        "the version the agents run: {err}"
    );
    assert!(f.changes().is_empty());
}

#[test]
fn plain_manifests_are_detected_and_explained() {
    let f = Fake::new().env("STANDIN_NO_CILIUM", "1");
    let out = f.run(YES);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("without a Helm release (the DaemonSet cilium exists"),
        "{err}"
    );
    assert!(
        err.contains("ciliumon plan --dry-run --cilium-version 1.18.4 --output values"),
        "{err}"
    );
    assert!(f.changes().is_empty());
}

#[test]
fn a_list_only_change_restarts_the_agents_once() {
    let f = Fake::new().metrics_on();
    let out = f.run(&with(&["--stack", "none"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let heads: Vec<String> = f.changes().iter().map(|c| c[..3].join(" ")).collect();
    assert_eq!(
        heads,
        [
            "helm repo add",
            "helm repo update",
            "helm upgrade cilium",
            "kubectl rollout restart",
            "kubectl rollout status",
            "kubectl rollout status",
        ]
    );
    assert!(
        err.contains("leaves the pod template of ds/cilium as it is"),
        "{err}"
    );
    // The comparison read the release's manifest and rendered the upgrade (read-only).
    let calls = f.calls();
    assert!(calls.iter().any(|c| c[..3] == ["helm", "get", "manifest"]));
    let template = calls
        .iter()
        .find(|c| c[..2] == ["helm", "template"])
        .unwrap();
    assert!(
        template
            .windows(2)
            .any(|w| w == ["--kube-version", "v1.33.1"]),
        "{template:?}"
    );
}

#[test]
fn the_first_enable_is_rolled_by_the_upgrade_on_helm_4_too() {
    let f = Fake::new().env("STANDIN_HELM_VERSION", "4.1.4").env(
        "STANDIN_REAL_HELM",
        repo_root().join(".tools/helm4/helm").to_str().unwrap(),
    );
    let out = f.run(&with(&["--stack", "none"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !f.changes()
            .iter()
            .any(|c| c[..3] == ["kubectl", "rollout", "restart"]),
        "{:?}",
        f.changes()
    );
    assert!(err.contains("No explicit restart"), "{err}");
}

#[test]
fn a_failed_restart_is_finished_by_the_next_run() {
    let f = Fake::new().metrics_on();
    let args = with(&["--stack", "none"]);
    let out = f
        .ciliumon(&args)
        .env("STANDIN_FAIL", "kubectl rollout restart")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("The agents still need a restart"), "{err}");
    // The next run: the release has the values, but the agents started before cilium-config
    // changed; they are restarted, with no upgrade.
    f.clear_log();
    let out = f.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let heads: Vec<String> = f.changes().iter().map(|c| c[..3].join(" ")).collect();
    assert_eq!(
        heads,
        [
            "kubectl rollout restart",
            "kubectl rollout status",
            "kubectl rollout status"
        ]
    );
    assert!(
        err.contains(
            "2 agent pod(s) started before cilium-config last changed (cilium-a1b2c, cilium-d3e4f)"
        ),
        "{err}"
    );
    // And then there is nothing left to do.
    f.clear_log();
    let out = f.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("Nothing to change"), "{err}");
    assert!(f.changes().is_empty(), "{:?}", f.changes());
}

#[test]
fn setup_dry_run_needs_no_helm_and_no_kubeconfig() {
    let f = Fake::with_tools(&[]);
    std::fs::remove_file(f.root.join("home/.kube/config")).unwrap();
    let out = f.run(&["setup", "--dry-run"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        stdout(&out).starts_with("#!/usr/bin/env bash\n"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("helm upgrade cilium"));
    assert!(err.contains("nothing contacted"), "{err}");
    assert!(f.calls().is_empty());
}

#[test]
fn a_named_context_that_does_not_exist_lists_the_ones_that_do() {
    let f = Fake::new().env("STANDIN_CONTEXTS", "kind-standin prod-eu");
    for cmd in [
        &with(&["--kube-context", "prod-us"])[..],
        &["plan", "--kube-context", "prod-us"],
    ] {
        let out = f.run(cmd);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{cmd:?}: {err}");
        assert!(
            err.contains("the context 'prod-us' given with --kube-context does not exist"),
            "{err}"
        );
        assert!(
            err.contains("contexts in the kubeconfig: kind-standin, prod-eu"),
            "{err}"
        );
    }
    assert!(f.changes().is_empty());
    // A cluster that cannot be reached is not planned offline either.
    let f = Fake::new().env("STANDIN_UNREACHABLE", "1");
    let out = f.run(&["plan"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("cannot reach the cluster of context 'kind-standin'"),
        "{err}"
    );
    assert!(!err.contains("planning offline"), "{err}");
}

#[test]
fn reusing_a_stack_without_its_crd_is_refused() {
    let f = Fake::new().env("STANDIN_NO_SM_CRD", "1");
    let out = f.run(&with(&["--stack", "reuse"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("installed outside Helm"), "{err}");
    assert!(
        err.contains("servicemonitors.monitoring.coreos.com does not exist"),
        "{err}"
    );
    assert!(err.contains("--stack install"), "{err}");
    assert!(f.changes().is_empty());
    let out = f.run(&["plan", "--stack", "reuse"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // With the CRD there, the stack is trusted.
    let f = Fake::new();
    let out = f.run(&with(&["--stack", "reuse"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Item 1: OpenMetrics unticked while httpV2 keeps exemplars (the blog's default): the fix is
/// offered at the Components question, and the answers reach the plan (no exit 2 after the
/// questions). Declining with --save-config keeps the reviewed answers (item 5).
#[test]
fn wizard_offers_the_exemplars_fix_where_openmetrics_is_unticked_and_reaches_the_plan() {
    let f = Fake::new();
    let saved = f.work().join("reviewed.yaml");
    let mut p = pty_with(
        &f,
        &[
            "setup",
            "--no-check",
            "--save-config",
            saved.to_str().unwrap(),
        ],
        false,
        120,
    );
    screen(&mut p, "Metric list to start from");
    key(&mut p, "\r");
    screen(&mut p, "Hubble metric families");
    key(&mut p, "\r");
    screen(&mut p, "Families whose options to adjust");
    key(&mut p, "\r");
    screen(&mut p, "Hubble metrics mode");
    key(&mut p, "\r");
    screen(&mut p, "Components");
    // Agent, operator, OpenMetrics: untick the third row.
    key(&mut p, DOWN);
    key(&mut p, DOWN);
    key(&mut p, " ");
    key(&mut p, "\r");
    screen(&mut p, "The Hubble UI needs Hubble Relay");
    key(&mut p, "\r");
    screen(&mut p, "httpV2 asks for exemplars, which need OpenMetrics");
    screen(&mut p, "drop exemplars from httpV2");
    key(&mut p, DOWN);
    key(&mut p, "\r");
    let shown = screen(&mut p, "Service type of the Hubble UI");
    assert!(
        shown.contains(
            "httpV2 asks for exemplars, which need OpenMetrics · drop exemplars from httpV2"
        ),
        "{shown}"
    );
    key(&mut p, "\r");
    for q in [
        "Prometheus and Grafana",
        "Release name of kube-prometheus-stack",
        "Its namespace",
        "Create ServiceMonitors",
        "Grafana dashboards",
        "to the series for the dashboards?",
    ] {
        screen(&mut p, q);
        key(&mut p, "\r");
    }
    let review = screen(&mut p, "Apply this plan to context 'kind-standin'?");
    // 7: the first enable adds the metrics ports, so the upgrade rolls the agents (no restart).
    assert!(review.contains("Plan (7 steps)"), "{review}");
    assert!(!review.contains("error:"), "{review}");
    key(&mut p, "n");
    let end = screen(&mut p, "Nothing was changed.");
    assert!(end.contains(&format!("Saved {}", saved.display())), "{end}");
    let code = exit_code(&mut p);
    assert!(code.ends_with(", 0)"), "{code}");
    assert!(f.changes().is_empty(), "{:?}", f.changes());
    let config: Value = serde_saphyr::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(config["hubble"]["openMetrics"], false, "{config}");
    let metrics = config["hubble"]["metrics"].as_array().unwrap();
    let http = metrics
        .iter()
        .find(|m| m.as_str().unwrap().starts_with("httpV2"))
        .unwrap();
    assert!(!http.as_str().unwrap().contains("exemplars"), "{http}");
    // The saved answers plan as they are.
    let out = f.run(&["plan", "--dry-run", "--config", saved.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Item 3: the focused row is marked by `❯` in every colour mode, and moves with the cursor.
#[test]
fn wizard_marks_the_focused_row_with_and_without_colour() {
    for color in [false, true] {
        let f = Fake::new();
        let mut p = pty_with(&f, &["setup", "--no-check"], color, 120);
        screen(&mut p, "none pre-selected");
        key(&mut p, "\r");
        let first = screen(&mut p, "flows-to-world");
        let rows = visible_lines(&first);
        let focused: Vec<&String> = rows.iter().filter(|l| l.starts_with('❯')).collect();
        assert_eq!(focused.len(), 1, "color {color}: {rows:#?}");
        assert!(focused[0].contains("dns"), "{focused:?}");
        if !color {
            assert!(focused[0].starts_with("❯ [x] dns"), "{focused:?}");
        }
        key(&mut p, DOWN);
        let moved = screen(&mut p, "flows-to-world");
        let rows = visible_lines(&moved);
        let focused: Vec<&String> = rows.iter().filter(|l| l.starts_with('❯')).collect();
        assert!(
            focused.last().is_some_and(|l| l.contains("drop")),
            "color {color}: {rows:#?}"
        );
        key(&mut p, "\x1b");
        screen(&mut p, "Aborted: nothing was changed.");
        assert!(exit_code(&mut p).ends_with(", 130)"));
    }
}

/// Item 4: components pre-selected from the release: Relay and the UI off there stay unticked,
/// and the plan does not propose turning them on.
#[test]
fn wizard_preselects_components_from_the_release() {
    let f = Fake::new();
    std::fs::write(
        f.state().join("values.json"),
        r#"{"hubble":{"relay":{"enabled":false},"ui":{"enabled":false}},"operator":{"prometheus":{"enabled":false}}}"#,
    )
    .unwrap();
    let mut p = pty_with(&f, &["setup", "--no-check"], false, 120);
    screen(&mut p, "Metric list to start from");
    key(&mut p, "\r");
    screen(&mut p, "Hubble metric families");
    key(&mut p, "\r");
    screen(&mut p, "Families whose options to adjust");
    key(&mut p, "\r");
    screen(&mut p, "Hubble metrics mode");
    key(&mut p, "\r");
    let shown = screen(&mut p, "Flow export to a file on each node");
    let rows = visible_lines(&shown);
    let row = |name: &str| {
        rows.iter()
            .rev()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name}: {rows:#?}"))
            .clone()
    };
    assert!(row("Hubble Relay").contains("[ ]"), "{rows:#?}");
    assert!(row("Hubble UI").contains("[ ]"), "{rows:#?}");
    assert!(row("Operator metrics").contains("[ ]"), "{rows:#?}");
    assert!(row("Agent metrics").contains("[x]"), "{rows:#?}");
    key(&mut p, "\r");
    // No UI: no service type question.
    let next = screen(&mut p, "Prometheus and Grafana");
    assert!(!next.contains("Service type"), "{next}");
    key(&mut p, "\r");
    enter_through(&mut p, "Release name", "to the series for the dashboards?");
    let review = screen(&mut p, "Apply this plan");
    assert!(
        !review.contains("hubble.relay.enabled: false → true"),
        "{review}"
    );
    assert!(!review.contains("hubble.ui.enabled"), "{review}");
    key(&mut p, "\x1b");
    screen(&mut p, "Aborted: nothing was changed.");
    assert!(exit_code(&mut p).ends_with(", 130)"));
    assert!(f.changes().is_empty());
}

/// Item 5: --save-config saves with --dry-run (and says where); declining without it offers to
/// save.
#[test]
fn save_config_with_dry_run_and_the_offer_on_decline() {
    let f = Fake::new();
    let saved = f.work().join("dry.yaml");
    let out = f.run(&[
        "setup",
        "--dry-run",
        "--save-config",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(saved.exists());
    assert!(
        stderr(&out).contains(&format!("Saved the configuration to {}", saved.display())),
        "{}",
        stderr(&out)
    );
    assert!(f.changes().is_empty());

    let f = Fake::new();
    let mut p = pty_with(&f, &["setup", "--no-check"], false, 120);
    enter_through(
        &mut p,
        "Metric list to start from",
        "to the series for the dashboards?",
    );
    screen(&mut p, "Apply this plan");
    key(&mut p, "n");
    screen(&mut p, "Save these answers");
    key(&mut p, "y");
    screen(&mut p, "File");
    key(&mut p, "declined.yaml\r");
    let end = screen(&mut p, "Nothing was changed.");
    assert!(end.contains("Saved declined.yaml"), "{end}");
    assert!(exit_code(&mut p).ends_with(", 0)"));
    assert!(f.work().join("declined.yaml").exists());
    assert!(f.changes().is_empty());
}

/// Item 6: only the families picked are adjusted.
#[test]
fn wizard_adjusts_only_the_families_picked() {
    let f = Fake::new();
    let mut p = pty_with(&f, &["setup", "--no-check"], false, 120);
    screen(&mut p, "Metric list to start from");
    key(&mut p, "\r");
    screen(&mut p, "Hubble metric families");
    key(&mut p, "\r");
    screen(&mut p, "Families whose options to adjust");
    screen(&mut p, "httpV2");
    key(&mut p, DOWN); // drop
    key(&mut p, " ");
    key(&mut p, "\r");
    let shown = screen(&mut p, "drop: labels to add");
    assert!(!shown.contains("dns: "), "dns was not picked: {shown}");
    key(&mut p, "\x1b");
    screen(&mut p, "Aborted: nothing was changed.");
    assert!(exit_code(&mut p).ends_with(", 130)"));
}

/// Item 9: at 80 columns no row is wider than the terminal (so nothing wraps and redraws leave
/// no copies), and a single-select echoes only the chosen name.
#[test]
fn wizard_rows_fit_80_columns_and_answers_echo_the_name() {
    let f = Fake::new();
    // With the estimate's figures in the rows.
    let mut p = pty_with(&f, &with_sizes(&["setup", "--no-check"]), false, 80);
    let mut all = String::new();
    all += &screen(&mut p, "Metric list to start from");
    key(&mut p, "\r");
    all += &screen(&mut p, "Hubble metric families");
    key(&mut p, "\r");
    all += &screen(&mut p, "Families whose options to adjust");
    key(&mut p, DOWN);
    key(&mut p, DOWN);
    key(&mut p, "\r");
    all += &screen(&mut p, "Hubble metrics mode");
    key(&mut p, "\r");
    all += &screen(&mut p, "Components");
    key(&mut p, "\r");
    all += &screen(&mut p, "The Hubble UI needs Hubble Relay");
    key(&mut p, "\r");
    all += &screen(&mut p, "Service type of the Hubble UI");
    key(&mut p, DOWN);
    key(&mut p, "\r");
    all += &screen(&mut p, "Prometheus and Grafana");
    key(&mut p, "\x1b");
    all += &screen(&mut p, "Aborted: nothing was changed.");
    // The questions' rows (the header before them is printed once, never redrawn).
    let rows = visible_lines(&all);
    let first = rows
        .iter()
        .position(|l| l.starts_with("? Metric list to start from"))
        .unwrap();
    for line in &rows[first..] {
        assert!(
            console::measure_text_width(line) <= 80,
            "{} columns: {line:?}",
            console::measure_text_width(line)
        );
    }
    let lines = visible_lines(&all);
    assert!(
        lines
            .iter()
            .any(|l| l == "✔ Service type of the Hubble UI · LoadBalancer"),
        "{lines:#?}"
    );
    // The families' answer names them, not their descriptions.
    let families = lines
        .iter()
        .find(|l| l.starts_with("✔ Hubble metric families"))
        .unwrap();
    assert!(families.contains("· dns, drop, tcp"), "{families}");
    assert!(!families.contains("DNS queries"), "{families}");
    assert!(exit_code(&mut p).ends_with(", 130)"));
}

/// `args` with the cluster's size for the series estimate (the stand-ins cannot be counted).
fn with_sizes<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend([
        "--estimate-nodes",
        "100",
        "--estimate-namespaces",
        "20",
        "--estimate-pods",
        "2000",
        "--estimate-workloads",
        "300",
    ]);
    v
}

const UP: &str = "\x1b[A";

/// Issue 12: the preset is offered first; taken and kept, the saved answers name the preset
/// (not its list) and replay; the families carry the estimate's figures.
#[test]
fn wizard_offers_the_preset_first_and_saves_it_kept() {
    let f = Fake::new();
    let saved = f.work().join("preset.yaml");
    let args = with_sizes(&[
        "setup",
        "--no-check",
        "--save-config",
        saved.to_str().unwrap(),
    ]);
    let mut p = pty_with(&f, &args, false, 80);
    let mut all = String::new();
    let shown = screen(&mut p, "choose the families by hand");
    all += &shown;
    let rows = visible_lines(&shown);
    assert!(
        rows.iter()
            .any(|l| l.contains("dashboards  the smallest list")),
        "{rows:#?}"
    );
    // The blog's list is the default (the release runs none); the preset is the row above.
    key(&mut p, UP);
    key(&mut p, "\r");
    let shown = screen(&mut p, "to the series for the dashboards?");
    all += &shown;
    assert!(
        shown.contains("✔ Metric list to start from · dashboards"),
        "{shown}"
    );
    key(&mut p, "\r"); // add the cluster label
    let shown = screen(&mut p, "flows-to-world");
    all += &shown;
    assert!(!shown.contains("No series estimate"), "{shown}");
    assert!(shown.contains("32 of 33 panels fill"), "{shown}");
    let rows = visible_lines(&shown);
    let flow = rows
        .iter()
        .rev()
        .find(|l| l.contains(" flow "))
        .unwrap_or_else(|| panic!("{rows:#?}"));
    assert!(flow.contains("[x]") && flow.contains("series"), "{flow}");
    key(&mut p, "\r");
    all += &enter_through(
        &mut p,
        "Families whose options to adjust",
        "Grafana dashboards",
    );
    let review = screen(&mut p, "Apply this plan");
    assert!(!review.contains("error:"), "{review}");
    // At 80 columns, every line of the questions fits (notes are wrapped, rows cut).
    all += &review[..review.find("Plan (").unwrap_or(review.len())];
    for line in visible_lines(&all) {
        assert!(console::measure_text_width(&line) <= 80, "{line:?}");
    }
    // The plan's notes too (its commands and the values diff are not wrapped: they are copied).
    let notes = review.find("  note: ").expect("notes in the review");
    let lines = visible_lines(&review[notes..]);
    let note_lines: Vec<&String> = lines
        .iter()
        .take_while(|l| l.starts_with("  note: ") || l.starts_with("        "))
        .collect();
    assert!(note_lines.len() > 3, "{lines:#?}");
    for line in note_lines {
        assert!(console::measure_text_width(line) <= 80, "{line:?}");
    }
    key(&mut p, "n");
    screen(&mut p, "Nothing was changed.");
    assert!(exit_code(&mut p).ends_with(", 0)"));
    let text = std::fs::read_to_string(&saved).unwrap();
    let config: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(config["hubble"]["metricsPreset"], "dashboards", "{text}");
    assert_eq!(config["hubble"]["clusterLabel"], true, "{text}");
    assert!(config["hubble"]["metrics"].is_null(), "{text}");
    let out = f.run(&["plan", "--dry-run", "--config", saved.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Issue 13: on 1.17+ the metrics mode is asked, explained; dynamic with a namespace filter on
/// one family reaches the plan (no static list) and is saved with the filter.
#[test]
fn wizard_asks_the_metrics_mode_and_a_namespace_filter() {
    let f = Fake::new();
    let saved = f.work().join("dynamic.yaml");
    let args = [
        "setup",
        "--no-check",
        "--save-config",
        saved.to_str().unwrap(),
    ];
    let mut p = pty_with(&f, &args, false, 80);
    enter_through(
        &mut p,
        "Metric list to start from",
        "Families whose options to adjust",
    );
    let shown = screen(&mut p, "Hubble metrics mode for Cilium 1.18.4");
    assert!(
        shown.contains("dynamic: a ConfigMap the agents re-read"),
        "{shown}"
    );
    key(&mut p, DOWN);
    key(&mut p, "\r");
    screen(
        &mut p,
        "Count only some namespaces' flows for some families?",
    );
    key(&mut p, "y");
    let shown = screen(&mut p, "httpV2");
    assert!(shown.contains("now: every flow"), "{shown}");
    // dns, drop, tcp, flow: the fourth.
    for _ in 0..3 {
        key(&mut p, DOWN);
    }
    key(&mut p, " ");
    key(&mut p, "\r");
    screen(&mut p, "flow: count the namespaces");
    key(&mut p, "shop\r");
    enter_through(&mut p, "Components", "to the series for the dashboards?");
    let review = screen(&mut p, "Apply this plan");
    assert!(!review.contains("error:"), "{review}");
    assert!(review.contains("dynamic"), "{review}");
    key(&mut p, "n");
    screen(&mut p, "Nothing was changed.");
    assert!(exit_code(&mut p).ends_with(", 0)"));
    let text = std::fs::read_to_string(&saved).unwrap();
    let config: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(config["hubble"]["metricsMode"], "dynamic", "{text}");
    let flow = config["hubble"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["spec"] == "flow")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        flow["includeFilters"],
        serde_json::json!([{"source_pod": ["shop/"]}, {"destination_pod": ["shop/"]}])
    );
    let out = f.run(&["plan", "--dry-run", "--config", saved.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Before 1.17 there is one mode: not asked.
    let f = Fake::new().env("STANDIN_CHART_VERSION", "1.16.19");
    let mut p = pty_with(&f, &["setup", "--no-check"], false, 80);
    for q in [
        "Metric list to start from",
        "Hubble metric families for Cilium 1.16.19",
        "Families whose options to adjust",
    ] {
        screen(&mut p, q);
        key(&mut p, "\r");
    }
    let shown = screen(&mut p, "Components");
    assert!(!shown.contains("metrics mode"), "{shown}");
    assert!(!shown.contains("dynamic:"), "{shown}");
    key(&mut p, "\x1b");
    screen(&mut p, "Aborted: nothing was changed.");
    assert!(exit_code(&mut p).ends_with(", 130)"));
}

/// Item 12: Esc at a text input and at the confirmation: the same message, exit 130, nothing
/// run; no error line after a tick.
#[test]
fn esc_at_a_text_input_and_at_the_confirmation_aborts_the_same_way() {
    let f = Fake::new();
    let mut p = pty_with(&f, &["setup", "--no-check"], false, 120);
    enter_through(
        &mut p,
        "Metric list to start from",
        "Prometheus and Grafana",
    );
    screen(&mut p, "Release name of kube-prometheus-stack");
    key(&mut p, "\x1b");
    let end = screen(&mut p, "Aborted: nothing was changed.");
    assert!(!end.contains("error"), "{end}");
    assert!(exit_code(&mut p).ends_with(", 130)"));
    assert!(f.changes().is_empty());

    let f = Fake::new();
    let mut p = pty_with(&f, &["setup", "--no-check"], false, 120);
    enter_through(
        &mut p,
        "Metric list to start from",
        "to the series for the dashboards?",
    );
    screen(&mut p, "Apply this plan");
    key(&mut p, "\x1b");
    let end = screen(&mut p, "Aborted: nothing was changed.");
    assert!(!end.contains("error:"), "{end}");
    assert!(exit_code(&mut p).ends_with(", 130)"));
    assert!(f.changes().is_empty());
    assert!(f.backups().is_empty());
}

/// Item 7: "reuse a Prometheus installed outside Helm" asks for the label its
/// serviceMonitorSelector asks for, read from the Prometheus object.
#[test]
fn wizard_reuse_outside_helm_defaults_to_the_selector_label() {
    let f = Fake::new().env(
        "STANDIN_PROMETHEUS",
        r#"{"items":[{"metadata":{"name":"k8s","namespace":"obs"},"spec":{"serviceMonitorSelector":{"matchLabels":{"team":"platform"}}}}]}"#,
    );
    let saved = f.work().join("reuse.yaml");
    let mut p = pty_with(
        &f,
        &[
            "setup",
            "--no-check",
            "--save-config",
            saved.to_str().unwrap(),
        ],
        false,
        120,
    );
    enter_through(&mut p, "Metric list to start from", "Service type");
    screen(&mut p, "Prometheus and Grafana");
    screen(&mut p, "reuse a Prometheus installed outside Helm");
    key(&mut p, DOWN);
    key(&mut p, "\r");
    let shown = screen(&mut p, "(team=platform)");
    assert!(
        shown.contains("Prometheus 'k8s' in 'obs' selects ServiceMonitors labelled team=platform"),
        "{shown}"
    );
    assert!(!shown.contains("Release name"), "{shown}");
    key(&mut p, "\r");
    for q in [
        "Namespace of its Grafana",
        "Create ServiceMonitors",
        "Grafana dashboards",
        "to the series for the dashboards?",
    ] {
        screen(&mut p, q);
        key(&mut p, "\r");
    }
    screen(&mut p, "Apply this plan");
    key(&mut p, "n");
    screen(&mut p, "Nothing was changed.");
    assert!(exit_code(&mut p).ends_with(", 0)"));
    let config: Value = serde_saphyr::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(
        config["prometheusStack"]["serviceMonitorLabels"],
        serde_json::json!({"team": "platform"})
    );
    assert_eq!(config["prometheusStack"]["namespace"], "obs");
}

// ---------------------------------------------------------------------------------------------
// Dynamic Hubble metrics (1.17+) against the stand-ins.

const DYNAMIC_FILE: &str = "hubble:\n  metricsMode: dynamic\n  metrics:\n    - drop\n    - spec: 'flow:sourceContext=namespace'\n      includeFilters:\n        - source_pod: ['shop/']\n";

/// The values setup passed to `helm upgrade cilium` (the stand-in keeps a copy of each file).
fn cilium_values_sent(f: &Fake) -> Value {
    serde_saphyr::from_str(
        &std::fs::read_to_string(f.state().join("cilium-values-1.yaml")).unwrap(),
    )
    .unwrap()
}

fn restarts(f: &Fake) -> usize {
    f.changes()
        .iter()
        .filter(|c| c[0] == "kubectl" && c[1] == "rollout" && c[2] == "restart")
        .count()
}

#[test]
fn setup_switches_a_static_release_to_dynamic_metrics() {
    let f = Fake::new();
    std::fs::write(
        f.state().join("values.json"),
        r#"{"hubble": {"metrics": {"enabled": ["dns", "drop"]}}}"#,
    )
    .unwrap();
    let cfg = f.work().join("c.yaml");
    std::fs::write(&cfg, DYNAMIC_FILE).unwrap();
    let out = f.run(&with(&["--config", "c.yaml"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = cilium_values_sent(&f);
    let m = &v["hubble"]["metrics"];
    assert_eq!(
        m["enabled"],
        serde_json::json!([]),
        "the static list is cleared: {m}"
    );
    assert_eq!(m["dynamic"]["enabled"], true);
    assert_eq!(
        m["dynamic"]["config"]["content"][1]["includeFilters"][0]["source_pod"][0],
        "shop/"
    );
    assert_eq!(
        m["dynamic"]["config"]["content"].as_array().unwrap().len(),
        2
    );
    // The switch needs the agents to read cilium-config again: they restart once, either
    // rolled by the upgrade (here the pod template changes: the metrics ports are new) or by
    // an explicit restart, never both.
    let rolled_by_upgrade = stderr(&out).contains("helm upgrade already rolls every agent");
    assert_eq!(
        restarts(&f) + usize::from(rolled_by_upgrade),
        1,
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("Switching to dynamic"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn setup_in_dynamic_mode_restarts_only_for_a_context_options_change() {
    // Metrics already on, so the upgrade leaves the agents' pod template as it is and only the
    // dynamic file decides whether they restart.
    let release = serde_json::json!({"prometheus": {"enabled": true},
        "operator": {"prometheus": {"enabled": true}},
        "hubble": {"enabled": true, "metrics": {"enabled": [], "dynamic": {"enabled": true,
        "config": {"content": [
            {"name": "drop", "contextOptions": [], "includeFilters": [], "excludeFilters": []},
            {"name": "flow", "contextOptions": [{"name": "sourceContext", "values": ["namespace"]}],
             "includeFilters": [], "excludeFilters": []}]}}}}});
    let run = |file: &str| {
        let f = Fake::new();
        std::fs::write(f.state().join("values.json"), release.to_string()).unwrap();
        let cfg = f.work().join("c.yaml");
        std::fs::write(&cfg, file).unwrap();
        // No --metrics-mode: the plan follows the release's dynamic mode.
        let out = f.run(&with(&["--config", "c.yaml"]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (restarts(&f), stderr(&out), cilium_values_sent(&f))
    };
    // Filters changed: applied live, no restart at all.
    let (n, err, v) = run(&DYNAMIC_FILE.replace("  metricsMode: dynamic\n", ""));
    assert_eq!(n, 0, "{err}");
    assert!(err.contains("changes the filters of flow"), "{err}");
    assert!(err.contains("no restart"), "{err}");
    assert_eq!(v["hubble"]["metrics"]["enabled"], serde_json::json!([]));
    // A metric added: live.
    let (n, err, _) = run("hubble:\n  metrics: [drop, 'flow:sourceContext=namespace', dns]\n");
    assert_eq!(n, 0, "{err}");
    assert!(err.contains("adds dns"), "{err}");
    // Context options of a running metric: the agents would refuse the file: one restart.
    let (n, err, _) = run("hubble:\n  metrics: [drop, 'flow:sourceContext=pod']\n");
    assert_eq!(n, 1, "{err}");
    assert!(err.contains("label set cannot be changed"), "{err}");
}

#[test]
fn setup_refuses_dynamic_mode_before_1_17_and_bad_filters_with_nothing_run() {
    let f = Fake::new().env("STANDIN_CHART_VERSION", "1.16.19");
    let out = f.run(&with(&["--metrics-mode", "dynamic"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("1.16.19"), "{}", stderr(&out));
    assert!(f.changes().is_empty(), "{:#?}", f.changes());

    let f = Fake::new();
    let cfg = f.work().join("c.yaml");
    std::fs::write(
        &cfg,
        "hubble:\n  metricsMode: dynamic\n  metrics:\n    - spec: flow\n      includeFilters:\n        - source_pods: [a/]\n",
    )
    .unwrap();
    let out = f.run(&with(&["--config", "c.yaml"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean 'source_pod'"),
        "{}",
        stderr(&out)
    );
    assert!(f.changes().is_empty(), "{:#?}", f.changes());
}

/// setup in dynamic mode, then its check for real against a fake API server whose cluster runs
/// the dynamic file: the check reads the list from cilium-dynamic-metrics-config and passes.
#[test]
fn setup_then_check_in_dynamic_mode() {
    let dir = tempfile::tempdir().unwrap();
    let api = crate::check::dynamic_cluster(crate::check::DYNAMIC_ALL, false);
    let kc = crate::check::kubeconfig(dir.path(), &format!("http://127.0.0.1:{api}"));
    let f = Fake::new()
        .env(
            "STANDIN_REAL_KUBECTL",
            crate::support::kubectl_binary().to_str().unwrap(),
        )
        .env("KUBECONFIG", kc.to_str().unwrap());
    std::fs::write(
        f.work().join("c.yaml"),
        "hubble:\n  metricsMode: dynamic\n  metrics:\n    - 'dns:query'\n    - drop\n    - tcp\n    - spec: flow\n      includeFilters:\n        - source_pod: ['shop/']\n    - port-distribution\n    - icmp\n    - 'httpV2:exemplars=true'\n",
    )
    .unwrap();
    let out = f.run(&[
        "setup",
        "--yes",
        "-o",
        "json",
        "--check-wait",
        "2s",
        "--config",
        "c.yaml",
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr(&out));
    assert_eq!(doc["check"]["passed"], true, "{doc:#}");
    let checks = doc["check"]["report"]["checks"].to_string();
    assert!(!checks.contains("not the families asked for"), "{checks}");
    let v = cilium_values_sent(&f);
    assert_eq!(v["hubble"]["metrics"]["dynamic"]["enabled"], true);
    assert_eq!(v["hubble"]["metrics"]["enabled"], serde_json::json!([]));
}

/// Item 2: a successful run ends with what to look at next, from what was configured; the
/// same as fields of the JSON document.
#[test]
fn a_successful_run_says_what_to_look_at_next() {
    let f = Fake::new();
    let out = f.run(&with(&["--output", "json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json_doc(&out);
    let next = &doc["next"];
    assert_eq!(
        next["grafana"]["portForward"],
        "kubectl port-forward -n monitoring svc/prometheus-grafana 3000:80"
    );
    assert!(
        next["grafana"]["password"]
            .as_str()
            .unwrap()
            .contains("admin-secret")
    );
    assert!(
        next["grafana"]["dashboards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "hubble-dashboard")
    );
    // The stand-in's node answers 127.0.0.1; the UI is a NodePort on 31234 (the blog's).
    assert_eq!(next["hubbleUi"]["url"], "http://127.0.0.1:31234");
    assert_eq!(
        next["prometheus"]["targets"],
        "http://localhost:9090/targets"
    );
    assert_eq!(next["check"], "ciliumon check");
    assert_eq!(next["rollback"], "helm rollback cilium 3 -n kube-system");
    assert_eq!(next["backup"], doc["backup"]);
    let err = stderr(&out);
    for want in [
        "Next:",
        "Grafana:     kubectl port-forward -n monitoring svc/prometheus-grafana 3000:80",
        "Hubble UI:   http://127.0.0.1:31234",
        "Prometheus:  kubectl port-forward -n monitoring svc/prometheus-kube-prometheus-prometheus 9090",
        "Check again: ciliumon check",
        "Go back:     helm rollback cilium 3 -n kube-system",
    ] {
        assert!(err.contains(want), "{want}:\n{err}");
    }
}

/// Item 8: a failed Cilium upgrade keeps its values files (0600, next to the backup) and the
/// command shown names them; the stack installed before it stays, with the uninstall command.
#[test]
fn a_failed_upgrade_keeps_its_values_and_says_the_stack_stays() {
    let f = Fake::new().env("STANDIN_FAIL", "helm upgrade cilium");
    let out = f.run(&with(&["--output", "json"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json_doc(&out);
    let kept: Vec<PathBuf> = doc["keptFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    assert!(!kept.is_empty(), "{doc:#}");
    for k in &kept {
        assert!(
            k.starts_with(f.work()),
            "next to the backup: {}",
            k.display()
        );
        assert_eq!(
            std::fs::metadata(k).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let cilium_values = kept
        .iter()
        .find(|k| k.to_string_lossy().ends_with("cilium-values.yaml"))
        .unwrap();
    let upgrade = doc["steps"][4]["command"].as_str().unwrap();
    assert!(
        upgrade.contains(&cilium_values.display().to_string()),
        "the command names the kept file: {upgrade}"
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "kube-prometheus-stack stays installed as release 'prometheus' in 'monitoring'"
        ),
        "{err}"
    );
    assert!(
        err.contains("To remove it: helm uninstall prometheus -n monitoring"),
        "{err}"
    );
    assert!(
        err.contains("The Cilium upgrade failed while it ran"),
        "{err}"
    );
    assert!(
        err.contains("The values files of this run are kept (0600)"),
        "{err}"
    );
    assert!(f.tmp_is_empty(), "the private directory is still removed");
}

/// Item 8: a wait that fails after the upgrade says the upgrade completed, not "was started".
#[test]
fn a_failed_wait_says_the_upgrade_completed() {
    let f = Fake::new().env("STANDIN_FAIL", "kubectl rollout status");
    let out = f.run(YES);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("The Cilium upgrade completed"), "{err}");
    assert!(!err.contains("was started"), "{err}");
    assert!(err.contains("Step failed: "), "{err}");
}

/// Item 13: the header names the cluster and its API server, each line within 120 columns.
#[test]
fn the_header_names_the_cluster_and_api_server() {
    let f = Fake::new();
    // Not --dry-run: that contacts nothing, so it has no cluster to name.
    let out = f.run(YES);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Cluster: 'kind-standin' (context 'kind-standin', Kubernetes v1.33.1)"),
        "{err}"
    );
    assert!(
        err.contains("  API server: https://127.0.0.1:6443"),
        "{err}"
    );
    for line in err.lines().take(3) {
        assert!(line.chars().count() <= 120, "{line}");
    }
}
