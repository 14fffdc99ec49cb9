//! Connection scale: what an idle or slow client costs a proxy in resident memory.
//!
//! Opens N connections of one kind against a proxy, waits for the proxy to settle, and reads its
//! resident memory (the whole process tree, so that nginx's workers count) before and after:
//! the difference over N is the cost of one connection. The kinds:
//!
//! * `idle`: HTTP/1.1 keepalive, one request answered, then idle;
//! * `slow`: a request head started and never finished;
//! * `tls`: a TLS 1.3 handshake and one HTTP/1.1 request answered, then idle;
//! * `h2`: HTTP/2 with prior knowledge (cleartext), one request answered, then idle.

mod open;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;

pub use open::Held;

/// A kind of connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Kind {
    /// Keepalive HTTP/1.1, one request answered, then idle.
    Idle,
    /// A request head never finished.
    Slow,
    /// TLS 1.3, one request answered, then idle.
    Tls,
    /// Cleartext HTTP/2 (prior knowledge), one request answered, then idle.
    H2,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Idle, Kind::Slow, Kind::Tls, Kind::H2];

    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Idle => "idle",
            Kind::Slow => "slow",
            Kind::Tls => "tls",
            Kind::H2 => "h2",
        }
    }
}

/// Opens `n` connections of `kind` to `addr` with `host` in the requests; a connection that
/// fails to open or to get its answer is an error (the proxy refused or broke it).
pub fn open(kind: Kind, addr: SocketAddr, host: &str, n: usize) -> Result<Vec<Held>> {
    let tls = open::tls_config()?;
    (0..n).map(|_| open::one(kind, addr, host, &tls)).collect()
}

/// Resident memory of `pid` and all its descendants, in KiB.
pub fn tree_rss_kib(pid: u32) -> u64 {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        pids.extend(children(pids[i]));
        i += 1;
    }
    pids.iter().map(|p| crate::soak::rss_kib(*p)).sum()
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.split_whitespace().nth(1) == Some(&pid.to_string()))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// How long after the connections close the proxy's memory is read again (give-back).
pub const GIVE_BACK_WAIT: Duration = Duration::from_secs(10);

/// Bytes per connection of one kind against one proxy: RSS before, after `n` connections
/// opened and held, after they closed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cost {
    /// The kind.
    pub kind: Kind,
    /// Connections held.
    pub n: usize,
    /// Proxy RSS before, KiB.
    pub before_kib: u64,
    /// Proxy RSS with the connections held, KiB.
    pub held_kib: u64,
    /// Proxy RSS [`GIVE_BACK_WAIT`] after they closed, KiB.
    pub after_kib: u64,
}

impl Cost {
    /// Resident KiB per connection held.
    pub fn kib_per_conn(&self) -> f64 {
        (self.held_kib as f64 - self.before_kib as f64) / self.n as f64
    }
}

/// Measures one kind against the proxy whose process is `pid`, listening on `addr`.
pub fn measure(pid: u32, kind: Kind, addr: SocketAddr, host: &str, n: usize) -> Result<Cost> {
    // Warm the proxy's pools and allocator with a few connections first.
    drop(open(kind, addr, host, 8.min(n))?);
    std::thread::sleep(Duration::from_millis(500));
    let before_kib = tree_rss_kib(pid);
    let held = open(kind, addr, host, n)?;
    std::thread::sleep(Duration::from_secs(1));
    let held_kib = tree_rss_kib(pid);
    drop(held);
    std::thread::sleep(GIVE_BACK_WAIT);
    let after_kib = tree_rss_kib(pid);
    Ok(Cost { kind, n, before_kib, held_kib, after_kib })
}
