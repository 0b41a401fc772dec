//! The fake nodes' network: a network namespace holding their host IPs (198.18.0.0/15, set aside
//! for benchmarking, RFC 2544), a veth pair to it, a route for the range from the root namespace,
//! and the agent (9962), operator (9963) and Hubble (9965) endpoints served inside it. kube-apiserver
//! refuses to proxy to loopback, so the pod proxy needs addresses like these; no packet for them
//! leaves the machine. Everything here is removed at teardown, and leftovers of a killed run at
//! the next start.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const NETNS: &str = "ciliumon-e2e";
const HOST_IF: &str = "ce2e-host";
const NS_IF: &str = "ce2e-ns";
/// The root namespace's side of the veth pair.
pub const HOST_ADDR: &str = "198.19.255.253";
const NS_ADDR: &str = "198.19.255.254";
const RANGE: &str = "198.18.0.0/15";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    ip(args).unwrap_or_else(|e| panic!("e2e network: {e}"));
}

pub fn setup() {
    remove_all();
    must(&["netns", "add", NETNS]);
    must(&[
        "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF,
    ]);
    must(&["link", "set", NS_IF, "netns", NETNS]);
    must(&["addr", "add", &format!("{HOST_ADDR}/30"), "dev", HOST_IF]);
    must(&["link", "set", HOST_IF, "up"]);
    must(&[
        "-n",
        NETNS,
        "addr",
        "add",
        &format!("{NS_ADDR}/30"),
        "dev",
        NS_IF,
    ]);
    must(&["-n", NETNS, "link", "set", NS_IF, "up"]);
    must(&["-n", NETNS, "link", "set", "lo", "up"]);
    must(&["-n", NETNS, "route", "add", "default", "via", HOST_ADDR]);
    must(&["route", "add", RANGE, "via", NS_ADDR, "dev", HOST_IF]);
}

/// Removes the route, the veth pair (with its peer) and the namespace; each may be absent.
pub fn remove_all() {
    let _ = ip(&["route", "del", RANGE]);
    let _ = ip(&["link", "del", HOST_IF]);
    let _ = ip(&["netns", "del", NETNS]);
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        for e in dir.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("ciliumon-e2e-etcd-")
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

pub fn add_addr(addr: Ipv4Addr) {
    must(&[
        "-n",
        NETNS,
        "addr",
        "add",
        &format!("{addr}/32"),
        "dev",
        "lo",
    ]);
}

pub fn del_addr(addr: Ipv4Addr) {
    let _ = ip(&[
        "-n",
        NETNS,
        "addr",
        "del",
        &format!("{addr}/32"),
        "dev",
        "lo",
    ]);
}

/// What an endpoint does.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// Answers every request with this body (Prometheus text), or the OpenMetrics body when the
    /// request accepts OpenMetrics and one is given.
    Serve {
        text: Arc<Vec<u8>>,
        openmetrics: Option<Arc<Vec<u8>>>,
    },
    /// Nothing listens: the connection is refused.
    Refuse,
    /// Accepts and never answers (until the server is dropped).
    Hang,
}

/// Listeners in the namespace; stopped when dropped.
pub struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loops poll the flag every few milliseconds.
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The requests each endpoint got: (address, request line + Accept header).
pub type Log = Arc<Mutex<Vec<(SocketAddr, String)>>>;

/// Binds every (address, endpoint) inside the namespace. The sockets are created by a thread
/// that has joined the namespace (setns is per thread); accepted sockets stay there.
pub fn serve(endpoints: Vec<(SocketAddr, Endpoint)>, log: Log) -> Servers {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let st = stop.clone();
    let eps = endpoints.clone();
    let setup = std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{NETNS}")).expect("open netns");
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        let mut threads = Vec::new();
        for (addr, ep) in eps {
            if matches!(ep, Endpoint::Refuse) {
                continue;
            }
            let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
            let st = st.clone();
            let log = log.clone();
            // Threads spawned here inherit this thread's namespace.
            threads.push(std::thread::spawn(move || accept_loop(l, ep, st, log)));
        }
        tx.send(threads).unwrap();
    });
    let threads = rx.recv().expect("server setup");
    setup.join().unwrap();
    Servers { stop, threads }
}

fn accept_loop(l: TcpListener, ep: Endpoint, stop: Arc<AtomicBool>, log: Log) {
    let mut hung = Vec::new();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    // Bounded: a listener lives for one test (minutes); one hour or 2M polls at most.
    let born = Instant::now();
    for _ in 0..2_000_000 {
        if stop.load(Ordering::SeqCst) || born.elapsed() > Duration::from_secs(3600) {
            break;
        }
        let mut s = match l.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let head = read_head(&mut s);
        let first = head.lines().next().unwrap_or("").to_string();
        let accept = head
            .lines()
            .find(|h| h.to_ascii_lowercase().starts_with("accept:"))
            .unwrap_or("")
            .to_string();
        log.lock()
            .unwrap()
            .push((addr, format!("{first} | {accept}")));
        match &ep {
            Endpoint::Serve { text, openmetrics } => {
                let om = openmetrics
                    .as_ref()
                    .filter(|_| accept.contains("application/openmetrics-text"));
                let (body, ctype) = match om {
                    Some(b) => (
                        b,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                    None => (text, "text/plain; version=0.0.4; charset=utf-8"),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(body);
            }
            Endpoint::Hang => hung.push((s, Instant::now())),
            Endpoint::Refuse => unreachable!(),
        }
        // Hung connections are let go after a minute at most.
        hung.retain(|(_, t)| t.elapsed() < Duration::from_secs(60));
    }
}

fn read_head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 64 * 1024 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}
