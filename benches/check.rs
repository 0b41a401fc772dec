//! Benchmark of `ciliumon check` (not a timed test): a fake fleet of N nodes on 127.x.y.z, each
//! serving the agent (9962-like), operator and Hubble payloads on three shared ports, 10% of
//! them accepting and never answering and 5% closed. Measures the whole `ciliumon check
//! --nodes-file` run with a 1 s timeout against a sequential curl loop and `xargs -P 64 curl`,
//! then the scanner's throughput and its peak memory for a 10 MB and a 200 MB streamed body.
//!
//! `cargo bench --bench check`. Environment:
//! - CHECK_BENCH_NODES: fake nodes (1000);
//! - CHECK_BENCH_SERIES: Hubble series an endpoint, comma-separated for one fleet each
//!   (10000,20000);
//! - CHECK_BENCH_SNDBUF: the fake nodes' socket send buffer in bytes (unset: the kernel's
//!   autotuning; all 1,000 nodes' buffers live in this one kernel);
//! - CHECK_BENCH_FLEET: async (default) or threads, how the fake nodes are served;
//! - CHECK_BENCH_CONCURRENCY: passed as --concurrency (default: ciliumon's);
//! - CHECK_BENCH_CURL_SAMPLE: nodes for the sequential curl loop (60), extrapolated;
//!   CHECK_BENCH_NO_CURL=1 skips the curl baselines;
//! - CHECK_BENCH_JSON=FILE: keep the last report;
//! - CHECK_BENCH_HOLD=SECS: start the first fleet, print its nodes file and ports, keep it up
//!   SECS seconds, measure nothing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ciliumon::check::scan;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn fixture(name: &str) -> String {
    let p = format!(
        "{}/../shared/fixtures/metrics/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A Hubble payload of exactly `series` samples: the busy fixture's HELP/TYPE lines once, then
/// its sample lines again and again (the last time only as many as needed), each time with an
/// extra `rep` label so that every series is distinct.
fn hubble_payload(series: usize) -> Vec<u8> {
    let busy = fixture("hubble-busy.txt");
    let samples: Vec<&str> = busy
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let mut out = String::new();
    for l in busy.lines().filter(|l| l.starts_with('#')) {
        out.push_str(l);
        out.push('\n');
    }
    for (n, l) in samples.iter().cycle().take(series).enumerate() {
        let rep = n / samples.len();
        match l.split_once('{') {
            Some((name, rest)) => out.push_str(&format!("{name}{{rep=\"{rep}\",{rest}\n")),
            None => out.push_str(&format!("{l}\n")),
        }
    }
    out.into_bytes()
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

fn respond(mut s: std::net::TcpStream, body: &[u8]) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    // Like the agent's, operator's and Hubble's servers: /metrics only, 404 elsewhere.
    let path = got
        .split(|b| *b == b' ')
        .nth(1)
        .map(|p| p.to_vec())
        .unwrap_or_default();
    let body: &[u8] = if path == b"/metrics" {
        body
    } else {
        b"404 page not found\n"
    };
    let status = if path == b"/metrics" {
        "200 OK"
    } else {
        "404 Not Found"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

/// The same answer as `respond`, for the async fleet.
async fn respond_async(mut s: tokio::net::TcpStream, body: Arc<Vec<u8>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    let metrics = got.split(|b| *b == b' ').nth(1) == Some(&b"/metrics"[..]);
    let (status, body): (&str, &[u8]) = if metrics {
        ("200 OK", &body)
    } else {
        ("404 Not Found", b"404 page not found\n")
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let _ = s.shutdown().await;
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
        Arc::new(fixture("agent-datadog.txt").into_bytes()),
        Arc::new(fixture("operator-datadog.txt").into_bytes()),
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
                            tokio::spawn(respond_async(s, body.clone()));
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
                                .spawn(move || respond(s, &body));
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
    scanner();
    let nodes = env_usize("CHECK_BENCH_NODES", 1000);
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
