//! Listening TCP sockets from `/proc/net/tcp` and `/proc/net/tcp6`, what `ss -tnlp` shows, with
//! the owning process where `/proc/PID/fd` is readable (our own processes, or all as root).

use std::collections::HashMap;
use std::io::BufRead;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use procfs::net::{TcpNetEntries, TcpState};
use procfs::{ExplicitSystemInfo, FromBufReadSI};

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listener {
    pub addr: SocketAddr,
    pub inode: u64,
    pub process: Option<Owner>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Owner {
    pub pid: i32,
    pub name: String,
}

fn system_info() -> ExplicitSystemInfo {
    ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    }
}

/// The listening sockets in one recorded table (`/proc/net/tcp` or `/proc/net/tcp6` text).
pub fn parse_listeners(table: impl BufRead) -> Result<Vec<Listener>> {
    let entries = TcpNetEntries::from_buf_read(table, &system_info())
        .context("could not parse a /proc/net/tcp table")?;
    Ok(entries
        .0
        .into_iter()
        .filter(|e| e.state == TcpState::Listen)
        .map(|e| Listener {
            addr: e.local_address,
            inode: e.inode,
            process: None,
        })
        .collect())
}

/// The live listening sockets of this host on any of `ports`, with owners where readable.
pub fn listening_on(ports: &[u16]) -> Result<Vec<Listener>> {
    let mut out = Vec::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::File::open(path) {
            Ok(f) => out.extend(
                parse_listeners(std::io::BufReader::new(f))
                    .with_context(|| format!("reading {path}"))?,
            ),
            // No IPv6 in this kernel: nothing listens there.
            Err(e) if path.ends_with('6') && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("could not read {path}")),
        }
    }
    out.retain(|l| ports.contains(&l.addr.port()));
    if !out.is_empty() {
        let owners = socket_owners();
        for l in &mut out {
            l.process = owners.get(&l.inode).cloned();
        }
    }
    Ok(out)
}

/// Socket inode → owning process, for the processes whose fds we may read.
fn socket_owners() -> HashMap<u64, Owner> {
    let mut map = HashMap::new();
    let Ok(all) = procfs::process::all_processes() else {
        return map;
    };
    for p in all.flatten() {
        let Ok(fds) = p.fd() else { continue };
        let name = p.stat().map(|s| s.comm).unwrap_or_default();
        for fd in fds.flatten() {
            if let procfs::process::FDTarget::Socket(inode) = fd.target {
                map.entry(inode).or_insert_with(|| Owner {
                    pid: p.pid,
                    name: name.clone(),
                });
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    // Recorded from a node running cilium-agent (9962, 9965 on all addresses, 9879 health on
    // loopback), with one established connection that must not be reported.
    const TCP4: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:26EA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:2697 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41240 1 0000000000000000 100 0 0 10 0
   2: 0A00000A:26EA 0B00000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 0 2 0000000000000000 20 4 30 10 -1
   3: 0A00000A:26ED 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41299 1 0000000000000000 100 0 0 10 0
";

    // `[::]:9963` and `[::1]:9965` listening; one `fe80::1` established.
    const TCP6: &str = "\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:26EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 52001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:26ED 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 52002 1 0000000000000000 100 0 0 10 0
   2: 000080FE000000000000000001000000:26ED 000080FE000000000000000002000000:D431 01 00000000:00000000 00:00000000 00000000     0        0 52003 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn ipv4_listeners() {
        let ls = parse_listeners(TCP4.as_bytes()).unwrap();
        let addrs: Vec<SocketAddr> = ls.iter().map(|l| l.addr).collect();
        assert_eq!(
            addrs,
            vec![
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9962)),
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9879)),
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 10), 9965)),
            ]
        );
        assert_eq!(ls[0].inode, 41234);
    }

    #[test]
    fn ipv6_listeners() {
        let ls = parse_listeners(TCP6.as_bytes()).unwrap();
        let addrs: Vec<SocketAddr> = ls.iter().map(|l| l.addr).collect();
        assert_eq!(
            addrs,
            vec![
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 9963, 0, 0)),
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9965, 0, 0)),
            ]
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_listeners("header\nnot a table at all\n".as_bytes()).is_err());
    }

    #[test]
    fn live_table_finds_our_own_listener_and_owner() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = listening_on(&[port]).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].addr, l.local_addr().unwrap());
        assert_eq!(
            found[0].process.as_ref().map(|o| o.pid),
            Some(std::process::id() as i32)
        );
    }
}
