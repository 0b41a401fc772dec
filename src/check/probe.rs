//! HTTP GET of many `/metrics` URLs at once, event-driven: a small tokio runtime (one worker a
//! core) drives every connection, hyper speaks HTTP/1.1, and each body is scanned chunk by chunk
//! as it arrives, straight out of hyper's read buffer.
//!
//! All requests are sent at the start (up to `concurrency` connections in flight), so a hanging
//! endpoint's timeout runs from the beginning and costs one timeout, never more. `timeout`
//! bounds every wait (connect, the response head, each pause in the body) and `deadline` bounds
//! everything: a healthy endpoint that streams a large body steadily is not cut off only
//! because a thousand others share the CPU with it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::{Body, Bytes, Incoming};
use hyper_util::rt::TokioIo;

use super::scan::{Scan, Scanner};

/// What to send: the URL and whether to ask for OpenMetrics.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub openmetrics: bool,
    /// Requests to one host share a group: when one of them goes unanswered, the group's
    /// others are started ahead of their turn (see `run_all`).
    pub group: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Limit for each wait of a request: the connection, the response head, every pause in
    /// the body.
    pub timeout: Duration,
    /// Nothing is started or waited for after this.
    pub deadline: Instant,
    /// Requests in flight at most.
    pub concurrency: usize,
}

/// How one request went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Connection refused: nothing listens.
    Refused,
    /// The connection was not accepted within the timeout (filtered, or host down).
    ConnectTimeout,
    /// Connected, but no response head within the timeout.
    NoAnswer,
    /// Some other failure to connect or talk HTTP.
    Error(String),
    /// Not started: the overall deadline had passed.
    NotStarted,
    /// Started, but the overall deadline came while doing this (`connecting`, `waiting for the
    /// response`) before the endpoint's own timeout ran out.
    OutOfTime(&'static str),
    /// A response. For status 200 the body was scanned; otherwise its first bytes are kept.
    Http {
        status: u16,
        content_type: String,
        /// Boxed: the scan is large next to the other outcomes.
        scan: Option<Box<Scan>>,
        /// The start of a non-200 body (proxies explain themselves there).
        body_start: Option<String>,
        /// The body stopped early (timeout or reset) after this many bytes.
        cut_short: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub outcome: Outcome,
    pub elapsed: Duration,
}

const ACCEPT_OPENMETRICS: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const ACCEPT_TEXT: &str = "text/plain;version=0.0.4,*/*;q=0.1";

/// Raise the soft open-files limit to the hard one, once: a thousand nodes need more sockets
/// than the usual 1,024.
pub fn raise_fd_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
        unsafe {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    });
}

/// How many bodies are read at once. Every request is sent at the start, but bodies are drained
/// a few at a time: thousands of bulk transfers at once leave each socket waiting its turn with
/// a full receive window, and TCP's zero-window probes then back off for up to seconds. The
/// bodies waiting meanwhile sit in the kernel's socket buffers, and their pause timer has not
/// started.
const BODIES_AT_ONCE: usize = 32;

/// Turns to read a body, `BODIES_AT_ONCE` at a time, shortest announced body first: the agent's
/// and operator's bodies (a hundred kilobytes) are read before Hubble's (megabytes), so they
/// are done early even when the whole cannot be done before the deadline, and their senders
/// never wait long with a full window. Equal sizes go in order of arrival.
struct BodyGate {
    state: std::sync::Mutex<GateState>,
}

struct GateState {
    free: usize,
    next: u64,
    waiting: std::collections::BinaryHeap<std::cmp::Reverse<Waiter>>,
}

struct Waiter {
    size: u64,
    seq: u64,
    wake: tokio::sync::oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.size, self.seq) == (other.size, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.size, self.seq).cmp(&(other.size, other.seq))
    }
}

/// A turn to read one body; handed to the next waiter when dropped.
struct Turn<'a>(&'a BodyGate);

impl BodyGate {
    fn new(turns: usize) -> Self {
        BodyGate {
            state: std::sync::Mutex::new(GateState {
                free: turns,
                next: 0,
                waiting: Default::default(),
            }),
        }
    }

    /// Wait for a turn for a body of `size` bytes (unknown: as large as can be).
    async fn turn(&self, size: Option<u64>) -> Turn<'_> {
        let rx = {
            let mut st = self.state.lock().expect("gate lock");
            if st.free > 0 {
                st.free -= 1;
                return Turn(self);
            }
            let (wake, rx) = tokio::sync::oneshot::channel();
            let seq = st.next;
            st.next += 1;
            st.waiting.push(std::cmp::Reverse(Waiter {
                size: size.unwrap_or(u64::MAX),
                seq,
                wake,
            }));
            rx
        };
        let mut waiting = Waiting {
            gate: self,
            rx: Some(rx),
        };
        if let Some(rx) = waiting.rx.as_mut() {
            let _ = rx.await;
        }
        waiting.rx = None;
        Turn(self)
    }

    /// Hand a turn to the shortest waiter still waiting, or put it back.
    fn release(&self) {
        let mut st = self.state.lock().expect("gate lock");
        while let Some(std::cmp::Reverse(w)) = st.waiting.pop() {
            if w.wake.send(()).is_ok() {
                return;
            }
        }
        st.free += 1;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A wait for a turn; if given up (the deadline), a turn handed over meanwhile is passed on.
struct Waiting<'a> {
    gate: &'a BodyGate,
    rx: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

/// How large hyper's read buffer for one connection may grow. Bodies are handed over in
/// pieces of at most this size; only the connections whose body is being read grow past the
/// first 8 KiB, so memory stays near `BODIES_AT_ONCE` times this. (Measured on the bench:
/// 16-256 KiB all within noise of each other in wall time; 64 KiB used the least CPU.)
const READ_BUF: usize = 64 * 1024;

/// How many sockets may be open at once: the open-files limit less a margin for everything
/// else (files, pipes, the runtime's own descriptors).
fn fd_budget() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid pointer to a local rlimit.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur as usize
    } else {
        1024
    };
    soft.saturating_sub(64).max(16)
}

/// Run every request; the result at index i answers `requests[i]`.
pub fn run_all(requests: &[Request], settings: &Settings) -> Vec<Probe> {
    if requests.is_empty() {
        return Vec::new();
    }
    raise_fd_limit();
    let rt = runtime();
    let settings = *settings;
    rt.block_on(async move {
        let gate = Arc::new(tokio::sync::Semaphore::new(
            settings.concurrency.clamp(1, fd_budget()),
        ));
        let bodies = Arc::new(BodyGate::new(BODIES_AT_ONCE));
        // Whether each request has its response head (or has ended), once started.
        let answered: Arc<Vec<std::sync::atomic::AtomicBool>> =
            Arc::new(requests.iter().map(|_| Default::default()).collect());
        let grace = settings.timeout / 4;
        // Slots are taken here, in the order of `requests`, so that requests start in that
        // order when they do not all fit (tasks spawned at once would race for them). When they
        // do not fit, a host that has left a request unanswered for a quarter of the timeout
        // likely hangs on all its ports: its other requests go next, so that its timeouts run
        // together instead of one after another.
        let mut tasks: Vec<Option<tokio::task::JoinHandle<Probe>>> =
            (0..requests.len()).map(|_| None).collect();
        let mut queue: std::collections::VecDeque<usize> = (0..requests.len()).collect();
        let mut waiting: Vec<(usize, Instant)> = Vec::new();
        while !queue.is_empty() {
            let (slot, scarce) = match gate.clone().try_acquire_owned() {
                Ok(slot) => (slot, false),
                Err(_) => (
                    gate.clone()
                        .acquire_owned()
                        .await
                        .expect("the gate is never closed"),
                    true,
                ),
            };
            let mut next = None;
            if scarce {
                waiting.retain(|&(i, _)| !answered[i].load(Ordering::Relaxed));
                let now = Instant::now();
                let suspects: Vec<usize> = waiting
                    .iter()
                    .filter(|&&(_, since)| now.duration_since(since) >= grace)
                    .filter_map(|&(i, _)| requests[i].group)
                    .collect();
                if !suspects.is_empty() {
                    next = queue
                        .iter()
                        .position(|&i| requests[i].group.is_some_and(|g| suspects.contains(&g)));
                }
            }
            let i = match next {
                Some(at) => queue.remove(at).expect("a position in the queue"),
                None => queue.pop_front().expect("the queue is not empty"),
            };
            waiting.push((i, Instant::now()));
            let req = requests[i].clone();
            let (bodies, answered) = (bodies.clone(), answered.clone());
            tasks[i] = Some(tokio::spawn(async move {
                let _slot = slot;
                let probe = one(&req, &settings, &bodies, &answered[i]).await;
                answered[i].store(true, Ordering::Relaxed);
                probe
            }));
        }
        let tasks: Vec<_> = tasks
            .into_iter()
            .map(|t| t.expect("every request was started"))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| Probe {
                outcome: Outcome::Error(format!("the probe failed: {e}")),
                elapsed: Duration::ZERO,
            }));
        }
        out
    })
}

/// One worker thread a core, at most 8 (with `BODIES_AT_ONCE` bodies in flight more would only
/// wait); a current-thread runtime when threads cannot be had.
fn runtime() -> tokio::runtime::Runtime {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("ciliumon-probe")
        .enable_all()
        .build()
        .or_else(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .expect("a tokio runtime")
}

/// How long one wait may last: `timeout` from now, or less when the overall deadline comes
/// first (then running out is the deadline's doing, not the endpoint's).
#[derive(Clone, Copy)]
struct Wait {
    until: tokio::time::Instant,
    by_deadline: bool,
}

fn wait_until(settings: &Settings) -> Wait {
    let limit = Instant::now() + settings.timeout;
    Wait {
        until: tokio::time::Instant::from_std(limit.min(settings.deadline)),
        by_deadline: settings.deadline < limit,
    }
}

impl Wait {
    /// The outcome of running out: `endpoint`'s fault, or the deadline while `doing`.
    fn ran_out(self, endpoint: Outcome, doing: &'static str) -> Outcome {
        if self.by_deadline {
            Outcome::OutOfTime(doing)
        } else {
            endpoint
        }
    }
}

/// One request, retried while the process is out of file descriptors.
async fn one(
    req: &Request,
    settings: &Settings,
    bodies: &BodyGate,
    answered: &std::sync::atomic::AtomicBool,
) -> Probe {
    let start = Instant::now();
    loop {
        if Instant::now() >= settings.deadline {
            return Probe {
                outcome: Outcome::NotStarted,
                elapsed: start.elapsed(),
            };
        }
        match attempt(req, settings, bodies, answered).await {
            Err(Failure::OutOfFds) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(Failure::Outcome(outcome)) => {
                return Probe {
                    outcome: *outcome,
                    elapsed: start.elapsed(),
                };
            }
            Ok(outcome) => {
                return Probe {
                    outcome,
                    elapsed: start.elapsed(),
                };
            }
        }
    }
}

enum Failure {
    /// EMFILE/ENFILE on connect: wait for another request to close its socket.
    OutOfFds,
    Outcome(Box<Outcome>),
}

impl From<Outcome> for Failure {
    fn from(o: Outcome) -> Self {
        Failure::Outcome(Box::new(o))
    }
}

/// The host (without IPv6 brackets), port and path of an `http://` URL.
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!("{other}:// is not supported here: {url}"));
        }
        None => return Err(format!("not an http:// URL: {url}")),
    }
    let host = uri.host().ok_or_else(|| format!("no host in {url}"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Ok((host, uri.port_u16().unwrap_or(80), path))
}

async fn connect(
    host: &str,
    port: u16,
    settings: &Settings,
) -> Result<tokio::net::TcpStream, Failure> {
    let wait = wait_until(settings);
    let until = wait.until;
    let ran_out = || wait.ran_out(Outcome::ConnectTimeout, "connecting").into();
    let addrs: Vec<std::net::SocketAddr> =
        match tokio::time::timeout_at(until, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(Outcome::Error(format!("cannot resolve {host}: {e}")).into()),
            Err(_) => return Err(ran_out()),
        };
    let mut last = Outcome::Error(format!("{host} has no address"));
    for addr in addrs {
        match tokio::time::timeout_at(until, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                return Err(Failure::OutOfFds);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Outcome::Refused;
            }
            Ok(Err(e)) => last = Outcome::Error(format!("connect to {addr}: {e}")),
            Err(_) => return Err(ran_out()),
        }
    }
    Err(last.into())
}

/// Connect, send a GET with this Accept header and wait for the response head.
async fn open(
    url: &str,
    accept: &str,
    settings: &Settings,
) -> Result<hyper::Response<Incoming>, Failure> {
    let (host, port, path) = split_url(url).map_err(Outcome::Error)?;
    let stream = connect(&host, port, settings).await?;
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(READ_BUF)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| Outcome::Error(format!("HTTP handshake: {e}")))?;
    // The connection's I/O runs beside this task; errors surface through the response or body.
    tokio::spawn(conn);
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, accept)
        .header(
            hyper::header::USER_AGENT,
            concat!("ciliumon/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| Outcome::Error(format!("bad request: {e}")))?;
    let wait = wait_until(settings);
    match tokio::time::timeout_at(wait.until, sender.send_request(request)).await {
        Err(_) => Err(wait
            .ran_out(Outcome::NoAnswer, "waiting for the response")
            .into()),
        Ok(Err(e)) => Err(Outcome::Error(describe(&e)).into()),
        Ok(Ok(r)) => Ok(r),
    }
}

async fn attempt(
    req: &Request,
    settings: &Settings,
    bodies: &BodyGate,
    answered: &std::sync::atomic::AtomicBool,
) -> Result<Outcome, Failure> {
    let accept = if req.openmetrics {
        ACCEPT_OPENMETRICS
    } else {
        ACCEPT_TEXT
    };
    let resp = open(&req.url, accept, settings).await;
    answered.store(true, Ordering::Relaxed);
    let resp = resp?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = resp.into_body();
    if status != 200 {
        let mut start = Vec::with_capacity(512);
        while start.len() < 2048 {
            match next_chunk(&mut body, settings).await {
                Chunk::Data(d) => start.extend_from_slice(&d[..d.len().min(2048 - start.len())]),
                Chunk::End | Chunk::TimedOut { .. } | Chunk::Failed(_) => break,
            }
        }
        return Ok(Outcome::Http {
            status,
            content_type,
            scan: None,
            body_start: Some(String::from_utf8_lossy(&start).trim().to_string()),
            cut_short: None,
        });
    }
    let deadline = tokio::time::Instant::from_std(settings.deadline);
    let size = body.size_hint().exact();
    let Ok(_turn) = tokio::time::timeout_at(deadline, bodies.turn(size)).await else {
        return Ok(Outcome::Http {
            status,
            content_type,
            scan: None,
            body_start: None,
            cut_short: Some("the overall deadline came before the body could be read".into()),
        });
    };
    let mut scanner = Scanner::new();
    let cut = loop {
        match next_chunk(&mut body, settings).await {
            Chunk::Data(d) => scanner.push(&d),
            Chunk::End => break None,
            Chunk::TimedOut { by_deadline: false } => break Some("timed out".to_string()),
            Chunk::TimedOut { by_deadline: true } => {
                break Some("the overall deadline came".to_string());
            }
            Chunk::Failed(why) => break Some(why),
        }
    };
    let (scan, cut_short) = match cut {
        None => (Some(Box::new(scanner.finish())), None),
        Some(why) => (
            None,
            Some(format!("{why} after {} bytes of the body", scanner.bytes())),
        ),
    };
    Ok(Outcome::Http {
        status,
        content_type,
        scan,
        body_start: None,
        cut_short,
    })
}

enum Chunk {
    Data(Bytes),
    End,
    TimedOut { by_deadline: bool },
    Failed(String),
}

/// The next piece of the body, waiting at most one timeout (and never past the deadline).
async fn next_chunk(body: &mut Incoming, settings: &Settings) -> Chunk {
    let wait = wait_until(settings);
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx));
        match tokio::time::timeout_at(wait.until, frame).await {
            Err(_) => {
                return Chunk::TimedOut {
                    by_deadline: wait.by_deadline,
                };
            }
            Ok(None) => return Chunk::End,
            Ok(Some(Err(e))) => return Chunk::Failed(describe(&e)),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Chunk::Data(data);
                }
                // Trailers: nothing to scan, keep reading.
            }
        }
    }
}

/// hyper's error with its cause (`connection closed before message completed`, a parse error).
fn describe(e: &hyper::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// GET a small document whole (JSON through kubectl proxy): its status and at most `limit`
/// bytes of body, with the same timeouts as a probe.
pub fn fetch(url: &str, timeout: Duration, limit: usize) -> Result<(u16, Vec<u8>), String> {
    let settings = Settings {
        timeout,
        deadline: Instant::now() + timeout * 2,
        concurrency: 1,
    };
    let failed = |o: Outcome| match o {
        Outcome::Refused => "connection refused".to_string(),
        Outcome::ConnectTimeout => format!("no connection within {timeout:?}"),
        Outcome::NoAnswer => format!("no answer within {timeout:?}"),
        Outcome::NotStarted | Outcome::OutOfTime(_) => "out of time".to_string(),
        Outcome::Error(e) => e,
        Outcome::Http { status, .. } => format!("HTTP {status}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
    rt.block_on(async {
        let resp = loop {
            match open(url, "application/json, */*;q=0.5", &settings).await {
                Ok(r) => break r,
                Err(Failure::OutOfFds) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(Failure::Outcome(o)) => return Err(failed(*o)),
            }
        };
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut out = Vec::new();
        loop {
            match next_chunk(&mut body, &settings).await {
                Chunk::Data(d) if out.len() + d.len() > limit => {
                    return Err(format!("the answer is larger than {limit} bytes"));
                }
                Chunk::Data(d) => out.extend_from_slice(&d),
                Chunk::End => return Ok((status, out)),
                Chunk::TimedOut { .. } => {
                    return Err(format!("timed out after {} bytes of the body", out.len()));
                }
                Chunk::Failed(why) => return Err(why),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Let every spawned task run until it waits.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn body_turns_go_to_the_shortest_body_first_and_are_bounded() {
        rt().block_on(async {
            let gate = Arc::new(BodyGate::new(2));
            let order = Arc::new(Mutex::new(Vec::new()));
            let a = gate.turn(Some(100)).await;
            let b = gate.turn(Some(100)).await;
            let mut tasks = Vec::new();
            for size in [Some(500), Some(50), None, Some(200), Some(50)] {
                let (gate, order) = (gate.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    let _turn = gate.turn(size).await;
                    order.lock().unwrap().push(size);
                    settle().await;
                }));
            }
            settle().await;
            assert!(
                order.lock().unwrap().is_empty(),
                "no turn while both are taken"
            );
            drop(a);
            settle().await;
            assert_eq!(*order.lock().unwrap(), vec![Some(50)]);
            drop(b);
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(
                *order.lock().unwrap(),
                vec![Some(50), Some(50), Some(200), Some(500), None]
            );
            assert_eq!(gate.state.lock().unwrap().free, 2, "every turn came back");
        });
    }

    #[test]
    fn a_turn_handed_to_a_waiter_that_gave_up_goes_on() {
        rt().block_on(async {
            let gate = Arc::new(BodyGate::new(1));
            let held = gate.turn(Some(1)).await;
            let g = gate.clone();
            let quitter = tokio::spawn(async move {
                let _turn = g.turn(Some(10)).await;
                settle().await;
            });
            let g = gate.clone();
            let patient = tokio::spawn(async move {
                let _turn = g.turn(Some(20)).await;
            });
            settle().await;
            // The turn is handed to the quitter, which is stopped before it can take it.
            drop(held);
            quitter.abort();
            let waited = tokio::time::timeout(Duration::from_secs(5), patient).await;
            assert!(waited.is_ok(), "the turn was lost with the quitter");
            assert_eq!(gate.state.lock().unwrap().free, 1);
        });
    }
}
