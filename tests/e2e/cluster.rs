//! The control plane of the e2e tests: etcd, kube-apiserver (RBAC on), kube-controller-manager,
//! kube-scheduler and kwok, built by `scripts/build-cluster-tools.sh` into `.tools/cluster/`.
//!
//! One per test-binary run, started by the first test that asks for it. The processes are children
//! of a thread that lives as long as the process, each with `PR_SET_PDEATHSIG`, so they die with
//! the test binary even when it is killed; `atexit` and a SIGINT/SIGTERM handler stop them and
//! remove the network namespace on a normal end, a failed test or an interrupt. A machine-wide
//! lock keeps two runs (other worktrees) from sharing the 198.18.0.0/15 route; whatever a killed
//! run left behind is removed at the next start.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::net;
use crate::support::{repo_root, run_ok, tools};

pub struct Cluster {
    pub dir: PathBuf,
    /// system:masters.
    pub admin_kubeconfig: PathBuf,
    /// CN=e2e-reader, bound to the read-only ClusterRole of `rbac.yaml` only.
    pub reader_kubeconfig: PathBuf,
    pub server: String,
    pub kwok_label: &'static str,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static CHILDREN: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());
static STATE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Env var: set to 1 to skip (not fail) the e2e tests when the control plane is not built.
pub const OPT_OUT: &str = "CILIUMON_E2E_SKIP";

pub fn binaries() -> [&'static str; 5] {
    [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ]
}

/// The cluster, started on first use. Returns None only when the tools are missing and the
/// opt-out variable is set; otherwise a missing tool is a failure that says how to build it.
pub fn get() -> Option<&'static Cluster> {
    let dir = tools().join("cluster");
    let missing: Vec<_> = binaries()
        .into_iter()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    if !missing.is_empty() {
        if std::env::var(OPT_OUT).as_deref() == Ok("1") {
            // Straight to fd 2, past libtest's capture: a skip must be visible.
            let _ = writeln!(
                std::io::stderr(),
                "e2e: skipped ({OPT_OUT}=1): {} not built in {}",
                missing.join(", "),
                dir.display()
            );
            return None;
        }
        panic!(
            "e2e: the control plane is not built: {} missing in {}.\n\
             Build it with `scripts/install-tools.sh` (it runs scripts/build-cluster-tools.sh; \
             needs Go and the Go module proxy; 11-26 min from scratch on 2 cores), \
             or set {OPT_OUT}=1 to skip these tests.",
            missing.join(", "),
            dir.display()
        );
    }
    match CLUSTER.get_or_init(start) {
        Ok(c) => Some(c),
        Err(e) => panic!("e2e: the control plane did not start: {e}"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(Command::new("openssl").args(args).current_dir(dir));
}

/// An EC key and a certificate signed by the CA (fast, unlike RSA).
fn cert(dir: &Path, name: &str, subject: &str, ext: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let crt = format!("{name}.crt");
    let extfile = format!("{name}.ext");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-subj", subject, "-out", &csr],
    );
    fs::write(dir.join(&extfile), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
            "-extfile",
            &extfile,
        ],
    );
}

fn kubeconfig(dir: &Path, name: &str, server: &str) -> PathBuf {
    let path = dir.join(format!("{name}.kubeconfig"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\n\
         users:\n- name: {name}\n  user:\n    client-certificate: {dir}/{name}.crt\n    client-key: {dir}/{name}.key\n\
         contexts:\n- name: e2e-{name}\n  context:\n    cluster: e2e\n    user: {name}\ncurrent-context: e2e-{name}\n",
        ca = dir.join("ca.crt").display(),
        dir = dir.display(),
    );
    fs::write(&path, text).unwrap();
    path
}

/// A request to the long-lived thread that owns the children.
type SpawnReq = (String, Command, mpsc::Sender<std::io::Result<u32>>);
static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnReq>>> = OnceLock::new();

/// Spawns `cmd` from a thread that never exits, so that PR_SET_PDEATHSIG (which fires when the
/// spawning *thread* ends) kills the child only when the test binary ends.
fn spawn(name: &str, mut cmd: Command, log: &Path) -> u32 {
    let out = fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnReq>();
        std::thread::Builder::new()
            .name("e2e-children".into())
            .spawn(move || {
                let mut kids: Vec<Child> = Vec::new();
                while let Ok((_, mut cmd, reply)) = rx.recv() {
                    let r = cmd.spawn().map(|c| {
                        let id = c.id();
                        kids.push(c);
                        id
                    });
                    let _ = reply.send(r);
                }
                // The channel never closes while the process lives; keep the children owned.
                drop(kids);
            })
            .unwrap();
        Mutex::new(tx)
    });
    let (rtx, rrx) = mpsc::channel();
    tx.lock().unwrap().send((name.into(), cmd, rtx)).unwrap();
    let pid = rrx
        .recv()
        .unwrap()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    CHILDREN.lock().unwrap().push((name.into(), pid));
    pid
}

/// Kills the children (newest first), removes the network namespace. Idempotent.
pub fn teardown() {
    let kids: Vec<_> = std::mem::take(&mut *CHILDREN.lock().unwrap_or_else(|e| e.into_inner()));
    for (_, pid) in kids.iter().rev() {
        unsafe { libc::kill(*pid as i32, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (_, pid) in kids.iter().rev() {
        while Path::new(&format!("/proc/{pid}")).exists()
            && !is_zombie(*pid)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    net::remove_all();
    if let Some(dir) = STATE.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = fs::remove_file(dir.join("pids"));
    }
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

extern "C" fn at_exit() {
    teardown();
}

/// The write end of the self-pipe that SIGTERM and SIGHUP (a CI timeout, a closed terminal)
/// go through: the handler only writes a byte; a thread reads it and tears down.
static SIGNAL_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    let b = sig as u8;
    unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
}

fn on_termination() {
    let mut fds = [0; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    SIGNAL_PIPE.store(fds[1], std::sync::atomic::Ordering::Relaxed);
    let read_fd = fds[0];
    std::thread::spawn(move || {
        let mut b = 0u8;
        if unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) } == 1 {
            let _ = writeln!(
                std::io::stderr(),
                "e2e: signal {b}: tearing the control plane down"
            );
            teardown();
            std::process::exit(128 + i32::from(b));
        }
    });
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Holds the machine-wide lock for the life of the process (the fd is never closed).
fn lock_machine() {
    let path = std::ffi::CString::new("/tmp/ciliumon-e2e.lock").unwrap();
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        )
    };
    assert!(fd >= 0, "open /tmp/ciliumon-e2e.lock");
    let deadline = Instant::now() + Duration::from_secs(30 * 60);
    let mut said = false;
    loop {
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "another e2e run held /tmp/ciliumon-e2e.lock for 30 minutes"
        );
        if !said {
            eprintln!("e2e: waiting for another e2e run on this machine (/tmp/ciliumon-e2e.lock)");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Kills what a previous, killed run left (its pids file), before anything else starts.
fn clean_stale(state: &Path) {
    if let Ok(text) = fs::read_to_string(state.join("pids")) {
        let ours = tools().join("cluster");
        for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if exe.starts_with(&ours) {
                eprintln!(
                    "e2e: killing {} (pid {pid}) left by a previous run",
                    exe.display()
                );
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    net::remove_all();
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool, log: &Path) {
    let start = Instant::now();
    for _ in 0..10_000 {
        if ready() {
            return;
        }
        if start.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let tail = fs::read_to_string(log).unwrap_or_default();
    let tail: String = tail
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    panic!(
        "e2e: {what} not ready after {limit:?}; last lines of {}:\n{tail}",
        log.display()
    );
}

fn version_of(bin: &str, args: &[&str]) -> String {
    let out = Command::new(tools().join("cluster").join(bin))
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default();
    out.lines().next().unwrap_or("?").trim().to_string()
}

fn start() -> Result<Cluster, String> {
    lock_machine();
    let state = repo_root().join("target/e2e-cluster");
    let _ = fs::create_dir_all(&state);
    clean_stale(&state);
    unsafe { libc::atexit(at_exit) };
    let _ = ctrlc::set_handler(|| {
        eprintln!("e2e: interrupted: tearing the control plane down");
        teardown();
        std::process::exit(130);
    });
    on_termination();
    *STATE.lock().unwrap() = Some(state.clone());

    let t0 = Instant::now();
    // Fresh state every run; etcd's data on tmpfs when there is one.
    let dir = state.join("run");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let data = if Path::new("/dev/shm").is_dir() {
        PathBuf::from(format!("/dev/shm/ciliumon-e2e-etcd-{}", std::process::id()))
    } else {
        dir.join("etcd")
    };
    let _ = fs::remove_dir_all(&data);

    net::setup();

    // Certificates: a CA, the serving cert, client certs, the service-account key.
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=ciliumon-e2e-ca",
            "-days",
            "2",
            "-out",
            "ca.crt",
        ],
    );
    cert(
        &dir,
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\nextendedKeyUsage=serverAuth\n",
    );
    let client = "extendedKeyUsage=clientAuth\n";
    cert(&dir, "admin", "/O=system:masters/CN=e2e-admin", client);
    // kube-controller-manager runs every controller with its own identity (no per-controller
    // service-account credentials), which needs more than system:kube-controller-manager.
    cert(
        &dir,
        "controller-manager",
        "/O=system:masters/CN=system:kube-controller-manager",
        client,
    );
    cert(&dir, "scheduler", "/CN=system:kube-scheduler", client);
    cert(&dir, "kwok", "/O=system:masters/CN=kwok", client);
    cert(&dir, "reader", "/CN=e2e-reader", client);
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sa.key",
        ],
    );
    openssl(&dir, &["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
    let t_certs = t0.elapsed();

    let bin = |b: &str| tools().join("cluster").join(b);
    let (etcd_port, peer_port, api_port) = (free_port(), free_port(), free_port());
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let mut etcd = Command::new(bin("etcd"));
    etcd.args([
        "--name=e2e",
        &format!("--data-dir={}", data.display()),
        &format!("--listen-client-urls={etcd_url}"),
        &format!("--advertise-client-urls={etcd_url}"),
        &format!("--listen-peer-urls={peer_url}"),
        &format!("--initial-advertise-peer-urls={peer_url}"),
        &format!("--initial-cluster=e2e={peer_url}"),
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]);
    spawn("etcd", etcd, &dir.join("etcd.log"));
    record_pids(&state);

    let d = |f: &str| dir.join(f).display().to_string();
    let server = format!("https://127.0.0.1:{api_port}");
    let mut api = Command::new(bin("kube-apiserver"));
    api.args([
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={api_port}"),
        // The advertised address lands in the `kubernetes` Service's endpoints, where loopback
        // is refused: the host side of the test's veth pair.
        format!("--advertise-address={}", net::HOST_ADDR),
        "--endpoint-reconciler-type=none".into(),
        format!("--client-ca-file={}", d("ca.crt")),
        format!("--tls-cert-file={}", d("apiserver.crt")),
        format!("--tls-private-key-file={}", d("apiserver.key")),
        format!("--service-account-key-file={}", d("sa.pub")),
        format!("--service-account-signing-key-file={}", d("sa.key")),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--authorization-mode=RBAC".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ]);
    spawn("kube-apiserver", api, &dir.join("kube-apiserver.log"));
    record_pids(&state);
    let admin = kubeconfig(&dir, "admin", &server);
    let ready = |kc: &Path| {
        Command::new(crate::support::kubectl())
            .args(["--kubeconfig"])
            .arg(kc)
            .args(["get", "--raw", "/readyz", "--request-timeout=2s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    wait_for(
        "kube-apiserver",
        Duration::from_secs(90),
        || ready(&admin),
        &dir.join("kube-apiserver.log"),
    );
    let t_api = t0.elapsed();

    let cm_kc = kubeconfig(&dir, "controller-manager", &server);
    let mut kcm = Command::new(bin("kube-controller-manager"));
    kcm.args([
        format!("--kubeconfig={}", cm_kc.display()),
        format!("--authentication-kubeconfig={}", cm_kc.display()),
        format!("--authorization-kubeconfig={}", cm_kc.display()),
        "--leader-elect=false".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", free_port()),
        format!("--root-ca-file={}", d("ca.crt")),
        format!("--service-account-private-key-file={}", d("sa.key")),
        "--use-service-account-credentials=false".into(),
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-ephemeral-volume,-pvc-protection,-pv-protection".into(),
        "--concurrent-daemonset-syncs=4".into(),
        // A node whose kubelet (kwok) stops renewing its lease goes NotReady in seconds, not 50.
        "--node-monitor-period=2s".into(),
        "--node-monitor-grace-period=20s".into(),
        "--v=1".into(),
    ]);
    spawn(
        "kube-controller-manager",
        kcm,
        &dir.join("kube-controller-manager.log"),
    );
    let sched_kc = kubeconfig(&dir, "scheduler", &server);
    let mut sched = Command::new(bin("kube-scheduler"));
    sched.args([
        format!("--kubeconfig={}", sched_kc.display()),
        format!("--authentication-kubeconfig={}", sched_kc.display()),
        format!("--authorization-kubeconfig={}", sched_kc.display()),
        "--leader-elect=false".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", free_port()),
        "--v=1".into(),
    ]);
    spawn("kube-scheduler", sched, &dir.join("kube-scheduler.log"));
    let kwok_kc = kubeconfig(&dir, "kwok", &server);
    fs::write(dir.join("kwok.yaml"), "").unwrap();
    let kwok_label = "e2e.ciliumon.io/kwok";
    let mut kwok = Command::new(bin("kwok"));
    kwok.args([
        format!("--kubeconfig={}", kwok_kc.display()),
        format!("--config={}", dir.join("kwok.yaml").display()),
        format!("--manage-nodes-with-label-selector={kwok_label}=true"),
        "--cidr=10.244.0.0/16".into(),
        format!("--node-ip={}", net::HOST_ADDR),
        format!("--server-address=127.0.0.1:{}", free_port()),
        "--node-lease-duration-seconds=10".into(),
    ]);
    spawn("kwok", kwok, &dir.join("kwok.log"));
    record_pids(&state);
    let reader = kubeconfig(&dir, "reader", &server);

    // The default service account appears when the controller manager runs; the scheduler and
    // kwok are up once a probe pod on a probe node is Running.
    let k = |args: &[&str]| {
        Command::new(crate::support::kubectl())
            .arg("--kubeconfig")
            .arg(&admin)
            .args(args)
            .output()
            .unwrap()
    };
    wait_for(
        "kube-controller-manager (default service account)",
        Duration::from_secs(60),
        || {
            k(&["get", "serviceaccount", "default", "-n", "default"])
                .status
                .success()
        },
        &dir.join("kube-controller-manager.log"),
    );
    let t_kcm = t0.elapsed();
    let rbac = repo_root().join("tests/e2e/rbac.yaml");
    let out = k(&["apply", "-f", rbac.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let c = Cluster {
        dir: dir.clone(),
        admin_kubeconfig: admin.clone(),
        reader_kubeconfig: reader,
        server,
        kwok_label,
    };
    let probe = crate::nodes::Fleet::create(&c, "probe", &[crate::nodes::Node::ok()]);
    let out = k(&[
        "run",
        "e2e-probe",
        "-n",
        "default",
        "--image=e2e/none",
        "--restart=Never",
        "--overrides",
        r#"{"spec":{"nodeSelector":{"e2e.ciliumon.io/group":"probe"},"tolerations":[{"operator":"Exists"}]}}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "kube-scheduler + kwok (a pod Running on a fake node)",
        Duration::from_secs(60),
        || {
            let o = k(&[
                "get",
                "pod",
                "e2e-probe",
                "-n",
                "default",
                "-o",
                "jsonpath={.status.phase}",
            ]);
            String::from_utf8_lossy(&o.stdout) == "Running"
        },
        &dir.join("kwok.log"),
    );
    let _ = k(&[
        "delete",
        "pod",
        "e2e-probe",
        "-n",
        "default",
        "--wait=false",
    ]);
    drop(probe);
    let t_all = t0.elapsed();

    let mut msg = String::new();
    let _ = writeln!(
        msg,
        "e2e: control plane up in {:.1}s (certificates {:.1}s, kube-apiserver ready {:.1}s, controller-manager {:.1}s, scheduler+kwok running a pod {:.1}s)",
        t_all.as_secs_f64(),
        t_certs.as_secs_f64(),
        t_api.as_secs_f64(),
        t_kcm.as_secs_f64(),
        t_all.as_secs_f64()
    );
    for (name, bin) in [
        ("kube-apiserver", "kube-apiserver"),
        ("kube-controller-manager", "kube-controller-manager"),
        ("kube-scheduler", "kube-scheduler"),
        ("etcd", "etcd"),
        ("kwok", "kwok"),
    ] {
        let _ = writeln!(msg, "e2e:   {name}: {}", version_of(bin, &["--version"]));
    }
    for major in [3, 4] {
        let v = Command::new(crate::support::helm(major))
            .args(["version", "--short"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let _ = writeln!(msg, "e2e:   helm {major}: {v}");
    }
    let _ = writeln!(
        msg,
        "e2e:   API server {} (logs in {})",
        c.server,
        dir.display()
    );
    // Shown even without --nocapture: libtest captures print!, not writes to fd 2.
    let _ = std::io::stderr().write_all(msg.as_bytes());
    Ok(c)
}

fn record_pids(state: &Path) {
    let pids: String = CHILDREN
        .lock()
        .unwrap()
        .iter()
        .map(|(_, p)| format!("{p}\n"))
        .collect();
    let _ = fs::write(state.join("pids"), pids);
}
