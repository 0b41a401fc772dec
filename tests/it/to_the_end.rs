//! Every run ends as documented, whatever happens to its output: a closed stdout or stderr
//! never stops a run between steps nor changes its exit code; `-o json` prints one JSON document
//! on every failure; no secret outlives the run or reaches any output.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::setup::{Fake, ctrl_c, stderr};
use crate::support::bin;

// ---------------------------------------------------------------------------------------------
// Closed output.

/// Run `cmd` with stdout (and stderr, when `both`) into one pipe whose reader takes `lines`
/// lines and then goes away, as `| head -n LINES` does. The exit code and the lines read.
fn with_reader_that_stops(
    mut cmd: Command,
    lines: usize,
    both: bool,
) -> (Option<i32>, Vec<String>) {
    let (r, w) = std::io::pipe().unwrap();
    cmd.stdout(w.try_clone().unwrap());
    if both {
        cmd.stderr(w);
    } else {
        drop(w);
        cmd.stderr(Stdio::null());
    }
    let mut child = cmd.spawn().unwrap();
    // The Command holds copies of the write end: without dropping them the pipe never closes.
    drop(cmd);
    let mut reader = BufReader::new(r);
    let mut seen = Vec::new();
    let mut line = String::new();
    while seen.len() < lines && reader.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push(std::mem::take(&mut line));
    }
    drop(reader);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "never ended");
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), seen)
}

/// The command `cmd` would run, started by bash with its stderr closed (`2>&-`).
fn with_stderr_closed(f: &Fake, cmd: &Command) -> Command {
    let mut b = Command::new(f.root.join("bin/bash"));
    b.arg("-c")
        .arg(r#"exec 2>&-; exec "$0" "$@""#)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(cmd.get_current_dir().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => b.env(k, v),
            None => b.env_remove(k),
        };
    }
    b
}

fn ran(f: &Fake, head: &str) -> bool {
    f.changes().iter().any(|c| c.join(" ").starts_with(head))
}

/// `ciliumon setup --yes 2>&1 | head -5`, the reader gone while the Cilium upgrade runs: the
/// restart and the waits after it still run, and the exit code is the run's.
#[test]
fn a_reader_that_stops_mid_run_stops_nothing() {
    for verbose in [false, true] {
        let f = Fake::new()
            .metrics_on()
            .env("STANDIN_SLOW", "helm upgrade cilium")
            .env("STANDIN_SLOW_SECS", "1")
            // Every tool talks, so --verbose relays lines into the closed pipe too.
            .env("STANDIN_SAY", "a line from the tool")
            .env("STANDIN_SAY_TIMES", "50");
        let mut args = vec!["setup", "--yes", "--no-check"];
        if verbose {
            args.push("--verbose");
        }
        let (code, seen) = with_reader_that_stops(f.ciliumon(&args), 5, true);
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(code, Some(0), "verbose {verbose}: {seen:?}");
        assert!(
            ran(&f, "kubectl rollout restart daemonset/cilium"),
            "verbose {verbose}: the restart ran"
        );
        assert!(
            ran(&f, "kubectl rollout status deployment/cilium-operator"),
            "the last step ran"
        );
        assert_eq!(f.changes().len(), 8);
        assert!(f.tmp_is_empty());
    }
}

/// A failed run with `-o json` whose stdout reader is gone from the start: exit 1 still, and
/// the report on stderr.
#[test]
fn a_closed_stdout_does_not_turn_a_failure_into_success() {
    let f = Fake::new()
        .metrics_on()
        .env("STANDIN_FAIL", "rollout status deployment");
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let out = f
        .ciliumon(&["setup", "--yes", "--no-check", "-o", "json"])
        .stdout(w)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Step failed:"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(f.changes().len(), 8);

    // The same for a check that fails (nothing listens on the ports).
    let closed = closed_ports();
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let out = bin()
        .args([
            "check",
            "--node",
            "127.0.0.1",
            "-o",
            "json",
            "--timeout",
            "1s",
        ])
        .args(["--agent-port", &closed[0].to_string()])
        .args(["--operator-port", &closed[1].to_string()])
        .args(["--hubble-port", &closed[2].to_string()])
        .stdout(w)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// Three loopback ports nothing listens on (bound, then released).
fn closed_ports() -> Vec<u16> {
    let listeners: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// stderr closed before ciliumon starts (`2>&-`): every step runs, the document is on stdout.
#[test]
fn a_closed_stderr_stops_nothing() {
    let f = Fake::new()
        .metrics_on()
        .env("STANDIN_SAY", "a line from the tool");
    let cmd = f.ciliumon(&["setup", "--yes", "--no-check", "--verbose", "-o", "json"]);
    let out = with_stderr_closed(&f, &cmd).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = one_document(&out);
    assert_eq!(doc["status"], "done");
    assert_eq!(f.changes().len(), 8);
}

/// Bad input whose output goes nowhere (`2>&1 | /nonexistent`): exit 2, not a panic.
#[test]
fn bad_input_into_a_closed_pipe_is_still_exit_2() {
    for args in [
        &["plan", "--dry-run", "--metric", "bogus"][..],
        &["plan", "--dry-run", "--no-such-flag"],
        &["plan", "--dry-run", "-o", "json", "--metric", "bogus"],
        &["setup", "--yes", "--timeout", "0s", "-o", "json"],
    ] {
        let mut cmd = bin();
        cmd.args(args);
        let (code, _) = with_reader_that_stops(cmd, 0, true);
        assert_eq!(code, Some(2), "{args:?}");
    }
    // And a plan into a closed pipe is not an error (`plan | head`).
    let mut cmd = bin();
    cmd.args(["plan", "--dry-run"]);
    assert_eq!(with_reader_that_stops(cmd, 1, true).0, Some(0));
}

// ---------------------------------------------------------------------------------------------
// JSON to the end.

/// stdout is exactly one JSON document whose exitCode is the process's.
fn one_document(out: &Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    });
    assert_eq!(
        doc["exitCode"].as_i64(),
        out.status.code().map(i64::from),
        "{doc:#}"
    );
    doc
}

#[test]
fn every_failure_with_json_prints_one_document() {
    struct Case {
        args: &'static [&'static str],
        env: &'static [(&'static str, &'static str)],
        tools: &'static [&'static str],
        code: i32,
        status: &'static str,
        /// In the error (or, for clap's errors, in the error or the hint).
        names: &'static str,
    }
    let cases = [
        // clap refuses the command line.
        Case {
            args: &["setup", "--yes", "-o", "json", "--no-such-flag"],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "--no-such-flag",
        },
        Case {
            args: &["setup", "--yes", "--output=json", "--timeout", "0s"],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "0s",
        },
        Case {
            args: &["plan", "-ojson", "--dry-run", "--kube-context", ""],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "context",
        },
        Case {
            args: &["check", "-o", "json", "--wait", "99999999999999999999m"],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "99999999999999999999m",
        },
        // Bad input found after parsing.
        Case {
            args: &["plan", "--dry-run", "-o", "json", "--metric", "bogus"],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "bogus",
        },
        Case {
            args: &["setup", "--yes", "-o", "json", "--metric", "dns:nope"],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "nope",
        },
        Case {
            args: &[
                "setup",
                "--yes",
                "-o",
                "json",
                "--grafana-password-env",
                "NOT_SET_PW",
            ],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "NOT_SET_PW",
        },
        Case {
            args: &["check", "-o", "json", "--concurrency", "0"],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "--concurrency",
        },
        Case {
            args: &["metrics", "-o", "json", "--cilium-version", "1.13"],
            env: &[],
            tools: &["helm", "kubectl"],
            code: 2,
            status: "bad-input",
            names: "1.13",
        },
        // Preflight.
        Case {
            args: &["setup", "--yes", "-o", "json"],
            env: &[],
            tools: &["kubectl"],
            code: 3,
            status: "preflight-failed",
            names: "helm",
        },
        Case {
            args: &["setup", "--yes", "-o", "json"],
            env: &[("STANDIN_UNREACHABLE", "1")],
            tools: &["helm", "kubectl"],
            code: 3,
            status: "preflight-failed",
            names: "cannot reach the cluster",
        },
        Case {
            args: &["setup", "--yes", "-o", "json"],
            env: &[("STANDIN_NO_CILIUM", "1"), ("STANDIN_NO_DAEMONSET", "1")],
            tools: &["helm", "kubectl"],
            code: 3,
            status: "preflight-failed",
            names: "no Helm release 'cilium'",
        },
    ];
    for c in &cases {
        let mut f = Fake::with_tools(c.tools);
        for (k, v) in c.env {
            f = f.env(k, v);
        }
        let out = f.run(c.args);
        assert_eq!(
            out.status.code(),
            Some(c.code),
            "{:?}: {}",
            c.args,
            stderr(&out)
        );
        let doc = one_document(&out);
        assert_eq!(doc["status"], c.status, "{:?}: {doc:#}", c.args);
        let said = format!("{} {}", doc["error"], doc["hint"]);
        assert!(said.contains(c.names), "{:?}: {doc:#}", c.args);
        if c.code == 3 {
            assert!(
                doc["hint"].is_string(),
                "{:?}: a preflight error has a hint: {doc:#}",
                c.args
            );
        }
        if c.args[0] == "setup" {
            assert_eq!(
                doc["steps"],
                serde_json::json!([]),
                "{:?}: nothing ran",
                c.args
            );
        }
        // The message is on stderr for people, as without -o json.
        assert!(
            stderr(&out).contains("error:"),
            "{:?}: {}",
            c.args,
            stderr(&out)
        );
        assert!(f.changes().is_empty(), "{:?}: {:?}", c.args, f.changes());
    }
}

#[test]
fn a_failed_step_with_json_says_what_ran_the_error_and_the_code() {
    let f = Fake::new()
        .metrics_on()
        .env("STANDIN_FAIL", "helm upgrade cilium");
    let out = f.run(&["setup", "--yes", "--no-check", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = one_document(&out);
    assert_eq!(doc["status"], "failed");
    assert!(
        doc["error"].as_str().unwrap().contains("Upgrade Cilium"),
        "{doc:#}"
    );
    let st: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        st,
        [
            "done", "done", "done", "done", "failed", "not-run", "not-run", "not-run"
        ]
    );
    assert!(
        doc["backup"].is_string() && doc["rollback"].is_string(),
        "{doc:#}"
    );
}

/// Wait until the stand-in that hangs has written its pid.
fn wait_for_pid(pidfile: &Path) -> i32 {
    let t = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            return pid;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the hanging call never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn interrupt_at(hang: &str, args: &[&str]) -> (Fake, Output) {
    signal_at(hang, args, None)
}

/// Start `args` with the call containing `hang` hanging; once it hangs, Ctrl-C (or `signal`).
fn signal_at(hang: &str, args: &[&str], signal: Option<rustix::process::Signal>) -> (Fake, Output) {
    let f = Fake::new().metrics_on();
    let pidfile: PathBuf = f.root.join("hang.pid");
    let f = f
        .env("STANDIN_HANG", hang)
        .env("STANDIN_HANG_PIDFILE", pidfile.to_str().unwrap());
    let child = f
        .ciliumon(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_pid(&pidfile);
    match signal {
        None => ctrl_c(&child),
        Some(sig) => {
            rustix::process::kill_process(rustix::process::Pid::from_child(&child), sig).unwrap()
        }
    }
    let out = child.wait_with_output().unwrap();
    (f, out)
}

#[test]
fn ctrl_c_in_preflight_with_json_prints_one_document() {
    let (f, out) = interrupt_at(
        "helm get values",
        &["setup", "--yes", "--no-check", "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let doc = one_document(&out);
    assert_eq!(doc["status"], "interrupted");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{doc:#}"
    );
    assert!(f.changes().is_empty());
    assert!(f.tmp_is_empty());
}

/// SIGTERM (a CI job cancelled) is Ctrl-C: the running step is stopped and reported, nothing
/// after it runs, the private directory is removed; before the steps, nothing was changed.
#[test]
fn sigterm_ends_the_run_as_ctrl_c_does() {
    use rustix::process::Signal;
    let (f, out) = signal_at(
        "helm upgrade cilium",
        &["setup", "--yes", "--no-check", "-o", "json"],
        Some(Signal::TERM),
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let doc = one_document(&out);
    assert_eq!(doc["status"], "interrupted", "{doc:#}");
    assert_eq!(doc["steps"][4]["status"], "interrupted", "{doc:#}");
    assert!(
        !f.changes().iter().any(|c| c[0] == "kubectl"),
        "nothing ran after it"
    );
    assert!(f.tmp_is_empty());

    let (f, out) = signal_at(
        "helm get values",
        &["setup", "--yes", "-o", "json"],
        Some(Signal::TERM),
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        one_document(&out)["error"]
            .as_str()
            .unwrap()
            .contains("nothing was changed")
    );
    assert!(f.changes().is_empty() && f.tmp_is_empty());
}

/// SIGHUP (the terminal went away, and the output with it) stops nothing: the step that was
/// running and every step after it run, and the exit code is the run's.
#[test]
fn sighup_stops_nothing() {
    let f = Fake::new()
        .metrics_on()
        .env("STANDIN_SLOW", "helm upgrade cilium")
        .env("STANDIN_SLOW_SECS", "1");
    let child = f
        .ciliumon(&["setup", "--yes", "--no-check", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !f
        .changes()
        .iter()
        .any(|c| c.join(" ").starts_with("helm upgrade cilium"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the upgrade never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(one_document(&out)["status"], "done");
    assert_eq!(f.changes().len(), 8, "{:?}", f.changes());
    assert!(f.tmp_is_empty());
}

/// Ctrl-C during the check after the steps: the document says the steps ran (not "nothing was
/// changed"), and the private directory is gone.
#[test]
fn ctrl_c_during_the_check_after_the_steps_says_they_ran() {
    let (f, out) = interrupt_at(
        // A read only the check makes (preflight reads the DaemonSet, pods and ConfigMap).
        "ciliumnetworkpolicies",
        &["setup", "--yes", "-o", "json", "--check-wait", "30s"],
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let doc = one_document(&out);
    assert_eq!(doc["status"], "interrupted", "{doc:#}");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("the steps had finished"),
        "{doc:#}"
    );
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert!(steps.iter().all(|s| s["status"] == "done"), "{doc:#}");
    assert!(
        !stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    assert!(f.tmp_is_empty());
}

// ---------------------------------------------------------------------------------------------
// Secrets.

const PW: &str = "pw-Kx93-never-shown";

/// Every file under `dir` (but `skip`) whose contents hold `needle`.
fn files_holding(dir: &Path, needle: &str, skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if skip.contains(&p) {
            continue;
        }
        if p.is_dir() {
            found.extend(files_holding(&p, needle, skip));
        } else if std::fs::read(&p)
            .map(|b| String::from_utf8_lossy(&b).contains(needle))
            .unwrap_or(false)
        {
            found.push(p);
        }
    }
    found
}

/// The password in no output and in no file but the stand-in's own record of what helm read.
fn assert_no_secret_left(f: &Fake, out: &Output, what: &str) {
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(PW),
        "{what}: the password is on stdout"
    );
    assert!(
        !stderr(out).contains(PW),
        "{what}: the password is on stderr: {}",
        stderr(out)
    );
    // The state dir is the stand-in's record (it copies the files helm reads); the user's own
    // password file is theirs.
    let skip = [f.state(), f.root.join("pw.txt")];
    let left = files_holding(&f.root, PW, &skip);
    assert!(
        left.is_empty(),
        "{what}: the password outlived the run in {left:?}"
    );
    assert!(f.tmp_is_empty(), "{what}: the private directory is gone");
}

#[test]
fn no_secret_in_any_output_or_file_after_a_successful_or_failed_setup() {
    let backups = |f: &Fake| {
        let d = f.root.join("backups");
        d.to_str().unwrap().to_string()
    };
    for (fail, code) in [
        (None, 0),
        (Some("upgrade --install"), 1),
        (Some("helm upgrade cilium"), 1),
    ] {
        for json in [false, true] {
            let what = format!("fail at {fail:?}, json {json}");
            // Every tool call prints the password on stderr, as a careless tool might; the
            // failing one puts it in its error too.
            let mut f = Fake::new()
                .env("GRAFANA_PW", PW)
                .env("STANDIN_SAY", &format!("debug: password is {PW}"));
            if let Some(at) = fail {
                f = f.env("STANDIN_FAIL", at).env(
                    "STANDIN_FAIL_STDERR",
                    &format!("Error: rejected password {PW}"),
                );
            }
            let dir = backups(&f);
            let mut args = vec![
                "setup",
                "--yes",
                "--no-check",
                "--verbose",
                "--grafana-password-env",
                "GRAFANA_PW",
                "--backup-dir",
                &dir,
            ];
            if json {
                args.extend(["-o", "json"]);
            }
            let out = f.run(&args);
            assert_eq!(out.status.code(), Some(code), "{what}: {}", stderr(&out));
            if json {
                one_document(&out);
            }
            // The stack install got the password, from a file.
            let reads: Vec<_> = std::fs::read_dir(f.state())
                .unwrap()
                .flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("stack-setfile-") && !n.ends_with(".mode")
                })
                .collect();
            if fail != Some("upgrade --install") {
                assert_eq!(reads.len(), 1, "{what}");
                assert_eq!(std::fs::read_to_string(reads[0].path()).unwrap(), PW);
            }
            assert!(
                f.calls().iter().flatten().all(|a| !a.contains(PW)),
                "{what}: the password is on argv"
            );
            if fail.is_some() {
                // The tool's message is shown, the password in it is not.
                assert!(
                    stderr(&out).contains("Error: rejected password ***"),
                    "{what}: {}",
                    stderr(&out)
                );
            }
            assert!(
                std::fs::read_dir(&dir).unwrap().next().is_some(),
                "{what}: a backup"
            );
            assert_no_secret_left(&f, &out, &what);
        }
    }
}

#[test]
fn a_relative_password_file_reaches_helm_and_nothing_else_holds_it() {
    let f = Fake::new();
    std::fs::write(f.work().join("pw.txt"), PW).unwrap();
    let out = f.run(&[
        "setup",
        "--yes",
        "--no-check",
        "-o",
        "json",
        "--grafana-password-file",
        "pw.txt",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    one_document(&out);
    // helm got the file as an absolute path (the steps run in the private directory).
    let stack = f
        .calls()
        .into_iter()
        .find(|c| c.len() > 2 && c[1] == "upgrade" && c[2] == "--install")
        .unwrap();
    let arg = stack
        .iter()
        .find(|a| a.starts_with("grafana.adminPassword="))
        .unwrap();
    assert_eq!(
        Path::new(arg.trim_start_matches("grafana.adminPassword=")),
        f.work().join("pw.txt")
    );
    let mut skip = vec![f.state(), f.work().join("pw.txt")];
    skip.push(f.root.join("pw.txt"));
    let left = files_holding(&f.root, PW, &skip);
    assert!(left.is_empty(), "{left:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PW));
    assert!(f.tmp_is_empty());
}
