//! Benchmark of `ciliumon check` (not a timed test): a fake fleet of N nodes on 127.x.y.z, each
//! serving the agent (9962-like), operator and Hubble payloads on three shared ports, 10% of
//! them accepting and never answering and 5% closed. Measures the whole `ciliumon check
//! --nodes-file` run with a 1 s timeout against a sequential curl loop and `xargs -P 64 curl`,
//! then the scanner's throughput and its peak memory for a 10 MB and a 200 MB streamed body.
//! Then the same check in cluster mode, its default: the real kubectl (`get --raw` and one
//! `kubectl proxy`) against a fake API server in this process that lists a pod on every fake
//! node and forwards each pod proxy request to the node.
//!
//! `cargo bench --bench check`. Environment:
//! - CHECK_BENCH_NODES: fake nodes (1000);
//! - CHECK_BENCH_SERIES: Hubble series an endpoint, comma-separated for one fleet each
//!   (10000,20000);
//! - CHECK_BENCH_SNDBUF: the fake nodes' socket send buffer in bytes (unset: the kernel's
//!   autotuning; all 1,000 nodes' buffers live in this one kernel);
//! - CHECK_BENCH_FLEET: async (default) or threads, how the fake nodes are served;
//! - CHECK_BENCH_CONCURRENCY: passed as --concurrency to every check run (default:
//!   ciliumon's, 4096 to nodes and 256 through the proxy);
//! - CHECK_BENCH_CURL_SAMPLE: nodes for the sequential curl loop (60), extrapolated;
//!   CHECK_BENCH_NO_CURL=1 skips the curl baselines;
//! - CHECK_BENCH_PROXY: the cluster-mode runs through `kubectl proxy` (kubectl from
//!   .tools/helm4): `first` (default) after the first fleet only, `all` after every fleet, `0`
//!   never; CHECK_BENCH_PROXY_TIMEOUT: their --timeout (1s);
//! - CHECK_BENCH_JSON=FILE: keep the last report;
//! - CHECK_BENCH_HOLD=SECS: start the first fleet, print its nodes file and ports, keep it up
//!   SECS seconds, measure nothing;
//! - CHECK_BENCH_ONLY=prometheus: only `check --from-prometheus` against a fake Prometheus of
//!   CHECK_BENCH_NODES nodes (the library call, then the binary through the fake API server's
//!   service proxy and a real `kubectl proxy`), and the same fleet in cluster mode through the
//!   pod proxy (the first CHECK_BENCH_SERIES size), side by side;
//!   CHECK_BENCH_ONLY=scanner: only the scanner's throughput and peak memory.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ciliumon::check::scan;

#[path = "../tests/harness/mod.rs"]
mod harness;
use harness::fixtures::{fixture, hubble_payload};
use harness::{api, nodes};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn vm_hwm_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A body of `total` bytes streamed from one repeated chunk, never held whole.
struct Repeat<'a> {
    chunk: &'a [u8],
    pos: usize,
    left: u64,
}

impl Read for Repeat<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = buf
            .len()
            .min(self.chunk.len() - self.pos)
            .min(self.left as usize);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.chunk.len();
        self.left -= n as u64;
        Ok(n)
    }
}

fn scanner() {
    let chunk = hubble_payload(4000);
    println!("== scanner");
    let hwm0 = vm_hwm_kb();
    for mb in [10u64, 200] {
        let t = Instant::now();
        let s = scan::scan(Repeat {
            chunk: &chunk,
            pos: 0,
            left: mb << 20,
        })
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "streamed {mb:>3} MB: {:>9} samples, {:.2} GB/s, VmHWM {} kB (before: {hwm0} kB)",
            s.samples,
            (mb << 20) as f64 / secs / 1e9,
            vm_hwm_kb()
        );
    }
    // Throughput over a body in memory larger than the caches.
    let mut big = Vec::with_capacity(128 << 20);
    while big.len() < (100 << 20) {
        big.extend_from_slice(&chunk);
    }
    let mut best = f64::MAX;
    let mut samples = 0;
    for _ in 0..3 {
        let t = Instant::now();
        samples = scan::scan(&big[..]).unwrap().samples;
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "in-memory {} MB Hubble text ({samples} samples): {:.2} GB/s (best of 3)",
        big.len() >> 20,
        big.len() as f64 / best / 1e9
    );
}

/// How the fake nodes are served: a thread per connection (`threads`), or one tokio runtime
/// with a worker a core (`async`, the default: it leaves more of this machine's two cores to
/// the check being measured, as remote nodes would).
#[derive(Clone, Copy, PartialEq)]
enum FleetKind {
    Threads,
    Async,
}

/// Start the fleet; returns the node addresses and the three ports.
fn fleet(
    nodes: usize,
    series: usize,
    kind: FleetKind,
    ports: [u16; 3],
) -> (Vec<(Ipv4Addr, &'static str)>, [u16; 3]) {
    let bodies: [Arc<Vec<u8>>; 3] = [
        Arc::new(fixture("agent-datadog.txt")),
        Arc::new(fixture("operator-datadog.txt")),
        Arc::new(hubble_payload(series)),
    ];
    println!(
        "payloads: agent {} KB, operator {} KB, Hubble {} KB ({series} series)",
        bodies[0].len() >> 10,
        bodies[1].len() >> 10,
        bodies[2].len() >> 10
    );
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("fleet runtime"),
    ));
    let sndbuf = std::env::var("CHECK_BENCH_SNDBUF")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let mut out = Vec::new();
    for i in 0..nodes {
        let ip = Ipv4Addr::new(127, 1, (i / 200) as u8, (i % 200 + 1) as u8);
        let kind_of_node = match i % 20 {
            0 | 10 => "hang",
            5 => "closed",
            _ => "ok",
        };
        out.push((ip, kind_of_node));
        if kind_of_node == "closed" {
            continue;
        }
        for (k, port) in ports.iter().enumerate() {
            let l = TcpListener::bind((ip, *port)).expect("bind fake node (ulimit -n?)");
            let body = bodies[k].clone();
            let hang = kind_of_node == "hang";
            if kind == FleetKind::Async {
                l.set_nonblocking(true).unwrap();
                let _enter = rt.enter();
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                rt.spawn(async move {
                    while let Ok((s, _)) = l.accept().await {
                        if hang {
                            // Never answered; let go long after any client gave up, so that
                            // repeated runs against one fleet do not run it out of descriptors.
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_secs(10)).await;
                                drop(s);
                            });
                        } else {
                            if let Some(size) = sndbuf {
                                let _ = socket2::SockRef::from(&s).set_send_buffer_size(size);
                            }
                            tokio::spawn(nodes::respond_metrics_async(s, body.clone()));
                        }
                    }
                });
                continue;
            }
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let mut held = std::collections::VecDeque::new();
                    for s in l.incoming().flatten() {
                        if hang {
                            // As above: let go of the oldest after a few runs' worth.
                            held.push_back(s);
                            if held.len() > 8 {
                                held.pop_front();
                            }
                        } else {
                            let body = body.clone();
                            let _ = std::thread::Builder::new()
                                .stack_size(64 * 1024)
                                .spawn(move || nodes::respond_metrics(s, &body));
                        }
                    }
                })
                .expect("thread");
        }
    }
    (out, ports)
}

/// User plus system CPU time of this process (the fleet) or of its waited-for children.
fn cpu(who: i32) -> Duration {
    // SAFETY: getrusage with a valid pointer to a zeroed local rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The largest peak resident set of any child waited for so far, in KiB.
fn children_max_rss_kb() -> i64 {
    // SAFETY: getrusage with a valid pointer to a zeroed local rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss
}

fn shell(script: &str) -> Duration {
    let t = Instant::now();
    let _ = Command::new("sh").arg("-c").arg(script).status();
    t.elapsed()
}

fn main() {
    ciliumon::check::probe::raise_fd_limit();
    let nodes = env_usize("CHECK_BENCH_NODES", 1000);
    if std::env::var("CHECK_BENCH_ONLY").as_deref() == Ok("prometheus") {
        return prometheus_side_by_side(nodes);
    }
    scanner();
    if std::env::var("CHECK_BENCH_ONLY").as_deref() == Ok("scanner") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("CHECK_BENCH_SERIES")
        .unwrap_or_else(|_| "10000,20000".into())
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .expect("CHECK_BENCH_SERIES: numbers, comma-separated")
        })
        .collect();
    let kind = match std::env::var("CHECK_BENCH_FLEET").as_deref() {
        Ok("threads") => FleetKind::Threads,
        Ok("async") | Err(_) => FleetKind::Async,
        Ok(other) => panic!("CHECK_BENCH_FLEET={other}: want threads or async"),
    };
    let proxy = match std::env::var("CHECK_BENCH_PROXY").as_deref() {
        Ok("0") => "never",
        Ok("all") => "all",
        Ok("first") | Err(_) => "first",
        Ok(other) => panic!("CHECK_BENCH_PROXY={other}: want first, all or 0"),
    };
    let dir = std::env::temp_dir().join(format!("ciliumon-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (k, &series) in sizes.iter().enumerate() {
        println!(
            "\n== fleet: {nodes} nodes x 3 ports, 10% accept-and-hang, 5% closed, timeout 1s, {series} Hubble series"
        );
        // Each fleet on its own ports: the one before keeps serving.
        let base = 29962 + 10 * k as u16;
        let (fleet, ports) = fleet(nodes, series, kind, [base, base + 1, base + 3]);
        if !measure(nodes, &fleet, ports, &dir.join(k.to_string())) {
            return;
        }
        if proxy == "all" || (proxy == "first" && k == 0) {
            measure_cluster(&fleet, ports, &dir.join(format!("{k}-cluster")));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Three `ciliumon check` runs against one fleet, then the curl baselines over the same nodes.
/// False when only holding the fleet up (CHECK_BENCH_HOLD).
fn measure(
    nodes: usize,
    fleet: &[(Ipv4Addr, &'static str)],
    ports: [u16; 3],
    dir: &std::path::Path,
) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let nodes_file = dir.join("nodes");
    std::fs::write(
        &nodes_file,
        fleet
            .iter()
            .map(|(ip, _)| format!("{ip}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let urls: Vec<String> = fleet
        .iter()
        .flat_map(|(ip, _)| {
            ports
                .iter()
                .map(move |p| format!("http://{ip}:{p}/metrics"))
        })
        .collect();
    let urls_file = dir.join("urls");
    std::fs::write(&urls_file, urls.join("\n") + "\n").unwrap();

    if let Some(secs) = std::env::var("CHECK_BENCH_HOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        println!(
            "fleet up for {secs}s: --nodes-file {} --agent-port {} --operator-port {} --hubble-port {}",
            nodes_file.display(),
            ports[0],
            ports[1],
            ports[2]
        );
        std::thread::sleep(Duration::from_secs(secs));
        return false;
    }
    let bin = env!("CARGO_BIN_EXE_ciliumon");
    let mut walls = Vec::new();
    for run in 0..3 {
        let (fleet0, child0) = (cpu(libc::RUSAGE_SELF), cpu(libc::RUSAGE_CHILDREN));
        let t = Instant::now();
        let out = Command::new(bin)
            .args([
                "check",
                "--nodes-file",
                nodes_file.to_str().unwrap(),
                "--timeout",
                "1s",
                "-o",
                "json",
            ])
            .args([
                "--agent-port",
                &ports[0].to_string(),
                "--operator-port",
                &ports[1].to_string(),
            ])
            .args(["--hubble-port", &ports[2].to_string()])
            .args(
                std::env::var("CHECK_BENCH_CONCURRENCY")
                    .map(|c| vec!["--concurrency".to_string(), c])
                    .unwrap_or_default(),
            )
            .output()
            .expect("run ciliumon");
        let wall = t.elapsed();
        walls.push(wall);
        let (fleet_cpu, check_cpu) = (
            cpu(libc::RUSAGE_SELF) - fleet0,
            cpu(libc::RUSAGE_CHILDREN) - child0,
        );
        if let Some(path) = std::env::var_os("CHECK_BENCH_JSON") {
            let _ = std::fs::write(path, &out.stdout);
        }
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let count = |s: &str| {
            j["nodes"]
                .as_array()
                .map(|ns| ns.iter().filter(|n| n["agent"]["status"] == s).count())
                .unwrap_or(0)
        };
        println!(
            "ciliumon check run {run}: {:.3} s wall, CPU {:.2} s (fleet {:.2} s), peak RSS so far {} MB, exit {:?}; agent endpoints pass {} fail {} ({} nodes)",
            wall.as_secs_f64(),
            check_cpu.as_secs_f64(),
            fleet_cpu.as_secs_f64(),
            children_max_rss_kb() >> 10,
            out.status.code(),
            count("pass"),
            count("fail"),
            j["nodes"].as_array().map(Vec::len).unwrap_or(0)
        );
    }
    let best = walls.iter().min().unwrap();
    println!(
        "ciliumon check: best {:.3} s (target <= 1.5 s)",
        best.as_secs_f64()
    );

    if std::env::var_os("CHECK_BENCH_NO_CURL").is_some() {
        println!("curl baselines skipped (CHECK_BENCH_NO_CURL)");
        return true;
    }
    if Command::new("curl").arg("--version").output().is_err() {
        println!("curl not found: baselines skipped");
        return true;
    }
    let sample = env_usize("CHECK_BENCH_CURL_SAMPLE", 60).min(nodes);
    let sample_file = dir.join("urls-sample");
    std::fs::write(&sample_file, urls[..sample * 3].join("\n") + "\n").unwrap();
    let seq = shell(&format!(
        "while read u; do curl -s -o /dev/null --max-time 1 \"$u\"; done < {}",
        sample_file.display()
    ));
    println!(
        "sequential curl loop: {:.2} s for {sample} nodes, {:.1} s extrapolated to {nodes} nodes",
        seq.as_secs_f64(),
        seq.as_secs_f64() * nodes as f64 / sample as f64
    );
    let par = shell(&format!(
        "xargs -P 64 -n 1 curl -s -o /dev/null --max-time 1 < {}",
        urls_file.display()
    ));
    println!(
        "xargs -P 64 curl over all {} URLs: {:.2} s",
        urls.len(),
        par.as_secs_f64()
    );
    true
}

// ---------------------------------------------------------------------------------------------
// Cluster mode: the real kubectl (get --raw, proxy) against a fake API server in this process
// whose pod proxy forwards to the fleet, as tests/it/check.rs's `start_api` does for two nodes.

/// The fake cluster of the fleet: an agent pod on every node (the node's address as its host
/// IP), one operator on the second node (one that answers), and a `cilium-config` with the
/// fleet's ports and the blog's Hubble list; the rest as the test's `busy_cluster`.
fn fake_cluster(fleet: &[(Ipv4Addr, &'static str)], ports: [u16; 3]) -> api::FakeCluster {
    let mut pods = Vec::new();
    for (i, (ip, _)) in fleet.iter().enumerate() {
        pods.push((
            format!("cilium-{i:05}"),
            format!("node-{i:05}"),
            ip.to_string(),
            "agent",
        ));
    }
    let op = 1.min(fleet.len() - 1);
    pods.push((
        "cilium-operator-1".into(),
        format!("node-{op:05}"),
        fleet[op].0.to_string(),
        "operator",
    ));
    api::FakeCluster {
        pods,
        config: api::cilium_config(&ciliumon::config::BLOG_METRICS.join(" "), ports),
        cnp: api::dns_policy(),
        targets: api::all_targets_up(),
        monitors: api::hubble_monitor(),
        prometheuses: api::kps_prometheus(),
        tls_paths: Default::default(),
        dynamic: None,
        prometheus: None,
        dashboards: vec![],
        inventory: None,
        not_ready: vec![],
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// User and system CPU time of a live process (not its children) from /proc, in seconds.
fn proc_cpu(pid: u32) -> Option<(f64, f64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces), from field 3 on.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some((
        ticks(11)? as f64 / clock_ticks(),
        ticks(12)? as f64 / clock_ticks(),
    ))
}

/// The `kubectl proxy` among the children of `pid`.
fn find_proxy(pid: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for t in tasks.flatten() {
        let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for c in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let cmd = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            let mut argv = cmd.split(|b| *b == 0);
            let is_kubectl = argv.next().is_some_and(|a| a.ends_with(b"kubectl"));
            if is_kubectl && argv.next() == Some(&b"proxy"[..]) {
                return Some(c);
            }
        }
    }
    None
}

/// `check --from-prometheus` for `nodes` nodes, then cluster mode through the pod proxy for the
/// same number of fake nodes; each figure printed as it comes.
fn prometheus_side_by_side(nodes: usize) {
    use harness::prom::{FakeProm, Fleet, from_prometheus_once};
    println!("\n== check --from-prometheus, {nodes} nodes (fake Prometheus on loopback)");
    let (report, timings, wall) = from_prometheus_once(nodes);
    println!(
        "library: {} queries, fetch {:.1} ms, judge {:.1} ms, wall {:.1} ms (incl. starting the fake); {} nodes judged, {} panels",
        report.queries,
        timings.fetch.as_secs_f64() * 1e3,
        timings.judge.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3,
        report.nodes.len(),
        report.panels.len()
    );
    let dir = std::env::temp_dir().join(format!("ciliumon-bench-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubectl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/helm4/kubectl");
    let series = env_usize("CHECK_BENCH_SERIES", 10000);
    let (fleet, ports) = fleet(nodes, series, FleetKind::Async, [29962, 29963, 29965]);
    if kubectl.is_file() {
        let fake = FakeProm::start(Fleet::typical(nodes), 10_000, Duration::from_secs(600));
        let mut cluster = fake_cluster(&fleet, ports);
        cluster.prometheus = Some(fake.base.clone());
        // The dashboards as the chart installs them (ConfigMaps), so that the panels are asked.
        cluster.dashboards = [
            (
                "hubble-dashboard",
                include_str!("../tests/fixtures/dashboards/hubble-mini.json"),
            ),
            (
                "hubble-dns-namespace",
                include_str!("../tests/fixtures/dashboards/namespace-mini.json"),
            ),
            (
                "hubble-l7-http-metrics-by-workload",
                include_str!("../tests/fixtures/dashboards/l7-mini.json"),
            ),
        ]
        .iter()
        .map(|(name, j)| api::dashboard_configmap(name, &format!("{name}.json"), j))
        .collect();
        let (api_port, _stats) = api::start(cluster);
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{api_port}\n\
                 contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: bench\ncurrent-context: fake\n\
                 users:\n- name: bench\n  user:\n    token: bench-token\n"
            ),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            kubectl.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        for run in 0..3 {
            let t = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_ciliumon"))
                .env("PATH", &path)
                .env_remove("KUBECONFIG")
                .args(["check", "--from-prometheus", "--kubeconfig"])
                .arg(&kubeconfig)
                .args(["-o", "json"])
                .output()
                .expect("run ciliumon");
            let wall = t.elapsed();
            let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            println!(
                "binary run {run}: wall {:.2} s, exit {:?}, {} queries, {} panels, {} nodes from Prometheus, {} agents scraped, output {} bytes",
                wall.as_secs_f64(),
                out.status.code(),
                j["prometheus"]["queries"],
                j["prometheus"]["panels"].as_array().map_or(0, Vec::len),
                j["prometheus"]["nodes"].as_array().map_or(0, Vec::len),
                j["nodes"].as_array().map_or(0, Vec::len),
                out.stdout.len()
            );
        }
    } else {
        println!(
            "{} is missing: the binary runs are skipped",
            kubectl.display()
        );
    }
    measure_cluster(&fleet, ports, &dir.join("cluster"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Three `ciliumon check` runs in cluster mode (its default) through a real `kubectl proxy`
/// and the fake API server, against the same fleet.
fn measure_cluster(fleet: &[(Ipv4Addr, &'static str)], ports: [u16; 3], dir: &std::path::Path) {
    use std::sync::atomic::Ordering::Relaxed;
    let kubectl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/helm4/kubectl");
    let timeout = std::env::var("CHECK_BENCH_PROXY_TIMEOUT").unwrap_or_else(|_| "1s".into());
    println!(
        "\n== cluster mode (the default) through kubectl proxy: {} agent pods + 1 operator, the same fleet, timeout {timeout}",
        fleet.len()
    );
    if !kubectl.is_file() {
        println!(
            "{} is missing (scripts/install-tools.sh): cluster mode skipped",
            kubectl.display()
        );
        return;
    }
    std::fs::create_dir_all(dir).unwrap();
    let (api_port, stats) = api::start(fake_cluster(fleet, ports));
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{api_port}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: bench\ncurrent-context: fake\n\
             users:\n- name: bench\n  user:\n    token: bench-token\n"
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        kubectl.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    println!(
        "fake API server on 127.0.0.1:{api_port} (in this process: its CPU is counted with the fleet's); \
         ciliumon's CPU includes its kubectl children (6 x get --raw and the proxy), the proxy's own shown apart"
    );
    // SAFETY: prctl with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let bin = env!("CARGO_BIN_EXE_ciliumon");
    let mut walls = Vec::new();
    for run in 0..3 {
        stats.reset();
        let (self0, child0) = (cpu(libc::RUSAGE_SELF), cpu(libc::RUSAGE_CHILDREN));
        let start_us = api::since_epoch_us();
        let t = Instant::now();
        let mut child = Command::new(bin)
            .env("PATH", &path)
            .env_remove("KUBECONFIG")
            .args([
                "check",
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--timeout",
                &timeout,
                "-o",
                "json",
            ])
            .args(
                std::env::var("CHECK_BENCH_CONCURRENCY")
                    .map(|c| vec!["--concurrency".to_string(), c])
                    .unwrap_or_default(),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run ciliumon");
        let pid = child.id();
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out_reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout.read_to_end(&mut v);
            v
        });
        let err_reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stderr.read_to_end(&mut v);
            v
        });
        // Sample ciliumon's own CPU and the proxy's until ciliumon is done (the last samples,
        // and the wall time, are at most 5 ms off).
        let (mut proxy_pid, mut proxy_cpu, mut own_cpu) = (None, (0.0, 0.0), (0.0, 0.0));
        let status = loop {
            if let Some(c) = proc_cpu(pid) {
                own_cpu = c;
            }
            if proxy_pid.is_none() {
                proxy_pid = find_proxy(pid);
            }
            if let Some(c) = proxy_pid.and_then(proc_cpu) {
                proxy_cpu = c;
            }
            if let Some(status) = child.try_wait().expect("wait for ciliumon") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let wall = t.elapsed();
        walls.push(wall);
        // ciliumon kills its proxy without always waiting for it; then the proxy comes to this
        // process (a subreaper), and is reaped here so that its CPU is in the children's. One
        // still running (ciliumon did not get to kill it) is killed first.
        let orphaned = proxy_pid.is_some_and(|p| {
            let p = p as i32;
            // SAFETY: waitpid and kill on a pid that is this process' child (else ECHILD, and
            // nothing is killed).
            unsafe {
                match libc::waitpid(p, std::ptr::null_mut(), libc::WNOHANG) {
                    0 => {
                        libc::kill(p, libc::SIGKILL);
                        libc::waitpid(p, std::ptr::null_mut(), 0) == p
                    }
                    r => r == p,
                }
            }
        });
        let stdout = out_reader.join().unwrap();
        let stderr = err_reader.join().unwrap();
        let (self_cpu, check_cpu) = (
            cpu(libc::RUSAGE_SELF) - self0,
            cpu(libc::RUSAGE_CHILDREN) - child0,
        );
        if let Some(path) = std::env::var_os("CHECK_BENCH_JSON") {
            let _ = std::fs::write(path, &stdout);
        }
        let j: serde_json::Value = serde_json::from_slice(&stdout).unwrap_or_default();
        let nodes = j["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
        // Pass count and the other summaries of one component.
        let tally = |c: &str| {
            let mut pass = 0;
            let mut other: Vec<(String, usize)> = Vec::new();
            for e in nodes.iter().map(|n| &n[c]).filter(|e| !e.is_null()) {
                if e["status"] == "pass" {
                    pass += 1;
                    continue;
                }
                let s = format!(
                    "{} {}",
                    e["status"].as_str().unwrap_or("?"),
                    e["summary"].as_str().unwrap_or("?")
                );
                match other.iter_mut().find(|(k, _)| *k == s) {
                    Some((_, n)) => *n += 1,
                    None => other.push((s, 1)),
                }
            }
            let other: Vec<String> = other.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            if other.is_empty() {
                format!("{c} pass {pass}")
            } else {
                format!("{c} pass {pass} ({})", other.join(", "))
            }
        };
        let rel = |us: u64| us.saturating_sub(start_us) as f64 / 1e6;
        let first = stats.first_proxy_us.load(Relaxed);
        let check_cpu = check_cpu.as_secs_f64();
        println!(
            "cluster check run {run}: {:.3} s wall, CPU {check_cpu:.2} s (ciliumon {:.2} user {:.2} sys, kubectl proxy {:.2} user {:.2} sys{}, get --raw x6 {:.2}; API server + fleet {:.2} s), peak RSS so far {} MB, exit {:?}, {} nodes",
            wall.as_secs_f64(),
            own_cpu.0,
            own_cpu.1,
            proxy_cpu.0,
            proxy_cpu.1,
            if orphaned {
                " (not reaped by ciliumon)"
            } else {
                ""
            },
            (check_cpu - own_cpu.0 - own_cpu.1 - proxy_cpu.0 - proxy_cpu.1).max(0.0),
            self_cpu.as_secs_f64(),
            children_max_rss_kb() >> 10,
            status.code(),
            nodes.len()
        );
        println!(
            "  {}; {}; {}",
            tally("agent"),
            tally("hubble"),
            tally("operator")
        );
        println!(
            "  API server: {} requests, {} pod proxy (first at {}, last body done at {:.3} s; {} refused), {} MB streamed{}",
            stats.requests.load(Relaxed),
            stats.proxied.load(Relaxed),
            if first == u64::MAX {
                "-".to_string()
            } else {
                format!("{:.3} s", rel(first))
            },
            rel(stats.last_body_us.load(Relaxed)),
            stats.refused.load(Relaxed),
            stats.bytes.load(Relaxed) >> 20,
            match stats.unknown.load(Relaxed) {
                0 => String::new(),
                n => format!(", {n} unknown paths (404)"),
            }
        );
        if nodes.is_empty() {
            println!(
                "  no report; stderr: {}",
                String::from_utf8_lossy(&stderr).trim()
            );
        }
    }
    let best = walls.iter().min().unwrap();
    println!("cluster check: best {:.3} s", best.as_secs_f64());
}
