//! HTTP GET of many `/metrics` URLs at once: a bounded pool of threads sharing one ureq agent,
//! a timeout per request, one overall deadline, and the body scanned as it streams.
//!
//! A hanging endpoint holds one thread for one timeout and no longer; with enough threads the
//! whole run costs about one timeout however many endpoints hang.

use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::scan::{self, Scan};

/// What to send: the URL and whether to ask for OpenMetrics.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub openmetrics: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Limit for one request, connect to last body byte.
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
    /// Connected, but no complete response within the timeout.
    NoAnswer,
    /// Some other failure to connect or talk HTTP.
    Error(String),
    /// Not started: the overall deadline had passed.
    NotStarted,
    /// A response. For status 200 the body was scanned; otherwise its first bytes are kept.
    Http {
        status: u16,
        content_type: String,
        scan: Option<Scan>,
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

fn agent(settings: &Settings) -> ureq::Agent {
    let pool = settings.concurrency.max(1);
    ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .timeout_connect(Some(settings.timeout))
            .max_idle_connections(pool)
            .max_idle_connections_per_host(pool)
            .proxy(None)
            .user_agent(concat!("ciliumon/", env!("CARGO_PKG_VERSION")))
            .build(),
    )
}

/// Run every request; the result at index i answers `requests[i]`.
pub fn run_all(requests: &[Request], settings: &Settings) -> Vec<Probe> {
    raise_fd_limit();
    let agent = agent(settings);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Probe>>> = Mutex::new(vec![None; requests.len()]);
    let workers = settings.concurrency.clamp(1, requests.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            let spawned = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(s, || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(req) = requests.get(i) else { break };
                        let probe = one(&agent, req, settings);
                        results.lock().unwrap()[i] = Some(probe);
                    }
                });
            // Out of threads: the ones already running take the rest.
            if spawned.is_err() {
                break;
            }
        }
    });
    // If not even one worker could start, do the work here.
    let mut results = results.into_inner().unwrap();
    for (i, r) in results.iter_mut().enumerate() {
        if r.is_none() {
            *r = Some(one(&agent, &requests[i], settings));
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every request ran"))
        .collect()
}

/// One request, retried while the process is out of file descriptors.
pub fn one(agent: &ureq::Agent, req: &Request, settings: &Settings) -> Probe {
    let start = Instant::now();
    loop {
        let now = Instant::now();
        let Some(left) = settings
            .deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            return Probe {
                outcome: Outcome::NotStarted,
                elapsed: start.elapsed(),
            };
        };
        let outcome = attempt(agent, req, settings.timeout.min(left));
        if matches!(&outcome, Err(e) if is_out_of_fds(e)) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let outcome = outcome.unwrap_or_else(|e| classify(&e));
        return Probe {
            outcome,
            elapsed: start.elapsed(),
        };
    }
}

fn is_out_of_fds(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Io(io) if matches!(io.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)))
}

fn classify(e: &ureq::Error) -> Outcome {
    use ureq::Error;
    use ureq::Timeout;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
        Error::Timeout(Timeout::Connect | Timeout::Resolve) => Outcome::ConnectTimeout,
        Error::Timeout(_) => Outcome::NoAnswer,
        Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Outcome::NoAnswer,
        other => Outcome::Error(other.to_string()),
    }
}

fn attempt(agent: &ureq::Agent, req: &Request, timeout: Duration) -> Result<Outcome, ureq::Error> {
    let accept = if req.openmetrics {
        ACCEPT_OPENMETRICS
    } else {
        ACCEPT_TEXT
    };
    let mut resp = agent
        .get(&req.url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .header("Accept", accept)
        .call()?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut reader = resp.body_mut().as_reader();
    if status != 200 {
        let mut start = Vec::with_capacity(512);
        let _ = reader.by_ref().take(2048).read_to_end(&mut start);
        return Ok(Outcome::Http {
            status,
            content_type,
            scan: None,
            body_start: Some(String::from_utf8_lossy(&start).trim().to_string()),
            cut_short: None,
        });
    }
    let mut counted = Counting {
        inner: reader,
        bytes: 0,
    };
    match scan::scan(&mut counted) {
        Ok(scan) => Ok(Outcome::Http {
            status,
            content_type,
            scan: Some(scan),
            body_start: None,
            cut_short: None,
        }),
        Err(e) => {
            let why = match e.kind() {
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                _ => e.to_string(),
            };
            Ok(Outcome::Http {
                status,
                content_type,
                scan: None,
                body_start: None,
                cut_short: Some(format!("{why} after {} bytes of the body", counted.bytes)),
            })
        }
    }
}

struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}
