//! Fake nodes: loopback HTTP servers that serve a metrics payload, or fail in the ways a node
//! does (an error status, a port that accepts and never answers, a body that drips or stops,
//! a closed port).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::fixtures::fixture;
use super::http::{read_request, respond};

/// What a fake metrics port does with a connection.
#[derive(Clone)]
pub enum Serve {
    Body(&'static str, Arc<Vec<u8>>),
    Status(u16),
    /// Accept and never answer.
    Hang,
    /// Answer 200 with this body in `pieces` writes, `pause` apart; with `stop`, go silent
    /// (connection open) after half the pieces.
    Drip {
        body: Arc<Vec<u8>>,
        pieces: usize,
        pause: Duration,
        stop: bool,
    },
}

/// A 200 with the fixture `name` in `pieces` writes `pause_ms` apart; `stop`: silent halfway.
pub fn drip(name: &str, pieces: usize, pause_ms: u64, stop: bool) -> Serve {
    Serve::Drip {
        body: Arc::new(fixture(name)),
        pieces,
        pause: Duration::from_millis(pause_ms),
        stop,
    }
}

/// A 200 in Prometheus text.
pub fn prom(body: Vec<u8>) -> Serve {
    Serve::Body("text/plain; version=0.0.4; charset=utf-8", Arc::new(body))
}

/// Serve every connection to `listener` as `serve` says, a thread each.
pub fn spawn_server(listener: TcpListener, serve: Serve) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let serve = serve.clone();
            std::thread::spawn(move || match serve {
                Serve::Hang => std::thread::sleep(Duration::from_secs(60)),
                Serve::Status(code) => {
                    read_request(&mut stream);
                    respond(&mut stream, code, "text/plain", b"internal error\n");
                }
                Serve::Body(ct, body) => {
                    read_request(&mut stream);
                    respond(&mut stream, 200, ct, &body);
                }
                Serve::Drip {
                    body,
                    pieces,
                    pause,
                    stop,
                } => {
                    read_request(&mut stream);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    for (i, piece) in body.chunks(body.len().div_ceil(pieces)).enumerate() {
                        if stop && i == pieces / 2 {
                            std::thread::sleep(Duration::from_secs(60));
                        }
                        std::thread::sleep(pause);
                        let _ = stream.write_all(piece);
                    }
                }
            });
        }
    });
    addr
}

pub fn serve_on(ip: &str, port: u16, serve: Serve) -> SocketAddr {
    spawn_server(TcpListener::bind((ip, port)).unwrap(), serve)
}

/// A port on `ip` with nothing listening.
///
/// The port stays reserved on every address until the test binary exits: a socket bound to the
/// wildcard address and never listening (so connections are refused), without SO_REUSEADDR, so
/// no other test's server can take the port on any address (`--local` looks a port up on all of
/// them). Freeing the port instead let a parallel test's server land on it now and then.
pub fn closed_port(ip: &str) -> u16 {
    let (port, socket) = closed_port_held(ip);
    // Held for the life of the test binary; a few dozen descriptors at most.
    std::mem::forget(socket);
    port
}

/// `closed_port`, reserved until the returned socket is dropped.
pub fn closed_port_held(ip: &str) -> (u16, socket2::Socket) {
    use socket2::{Domain, Socket, Type};
    let v6 = ip.trim_matches(|c| c == '[' || c == ']').contains(':');
    let (domain, any): (Domain, SocketAddr) = if v6 {
        (Domain::IPV6, "[::]:0".parse().unwrap())
    } else {
        (Domain::IPV4, "0.0.0.0:0".parse().unwrap())
    };
    let socket = Socket::new(domain, Type::STREAM, None).unwrap();
    socket.bind(&any.into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (port, socket)
}

/// Listeners bound on the same three ports of every given loopback address, held until served
/// (so that no parallel test takes the port in between); those not served close on drop.
pub struct Reserved {
    pub ports: [u16; 3],
    held: Vec<(String, u16, TcpListener)>,
}

impl Reserved {
    pub fn serve(&mut self, ip: &str, port: u16, serve: Serve) -> SocketAddr {
        let i = self
            .held
            .iter()
            .position(|(a, p, _)| a == ip && *p == port)
            .expect("reserved");
        spawn_server(self.held.swap_remove(i).2, serve)
    }
}

pub fn common_ports(ips: &[&str]) -> Reserved {
    'again: loop {
        let mut ports = [0; 3];
        let mut held = Vec::new();
        for p in ports.iter_mut() {
            let l = TcpListener::bind((ips[0], 0)).unwrap();
            *p = l.local_addr().unwrap().port();
            held.push((ips[0].to_string(), *p, l));
        }
        for ip in &ips[1..] {
            for p in ports {
                match TcpListener::bind((*ip, p)) {
                    Ok(l) => held.push((ip.to_string(), p, l)),
                    Err(_) => continue 'again,
                }
            }
        }
        return Reserved { ports, held };
    }
}

// ---------------------------------------------------------------------------------------------
// A fleet's node (the benchmark): like the agent's, operator's and Hubble's servers, /metrics
// only, 404 elsewhere.

fn metrics_answer<'a>(request_head: &[u8], body: &'a [u8]) -> (String, &'a [u8]) {
    let metrics = request_head.split(|b| *b == b' ').nth(1) == Some(&b"/metrics"[..]);
    let (status, body): (&str, &[u8]) = if metrics {
        ("200 OK", body)
    } else {
        ("404 Not Found", b"404 page not found\n")
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    (head, body)
}

/// Answer one connection with `body` at /metrics (a thread's blocking socket).
pub fn respond_metrics(mut s: TcpStream, body: &[u8]) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let (head, body) = metrics_answer(&got, body);
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

/// The same answer as `respond_metrics`, on a tokio socket.
pub async fn respond_metrics_async(mut s: tokio::net::TcpStream, body: Arc<Vec<u8>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    let (head, body) = metrics_answer(&got, &body);
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let _ = s.shutdown().await;
}
