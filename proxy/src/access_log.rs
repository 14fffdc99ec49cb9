//! One JSON access-log line per request, written by a purpose-built formatter ([`line`]) straight
//! into per-thread buffers ([`batch`]) that a flusher thread writes to stdout, so the request
//! path neither formats through `tracing` nor blocks on I/O nor wakes another thread.

pub mod batch;
pub mod line;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// The `target` field every line carries (the name the log had as a `tracing` target).
pub const TARGET: &str = "access";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the access log on or off (`--disable-access-log` leaves it off).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether lines are written at all.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The fields of one access-log line.
#[derive(Debug)]
pub struct AccessEntry<'a> {
    /// The client address.
    pub remote_addr: Option<IpAddr>,
    /// The request ID sent upstream.
    pub request_id: &'a str,
    /// Method.
    pub method: &'a str,
    /// Host as sent by the client.
    pub host: &'a str,
    /// Path and query.
    pub uri: &'a str,
    /// Status sent to the client (0 if none was).
    pub status: u16,
    /// Time from the request header to the end of the response.
    pub duration: Duration,
    /// The endpoint that served the request.
    pub upstream: Option<std::net::SocketAddr>,
    /// Ingress namespace/name and Service, when a route matched.
    pub namespace: &'a str,
    /// The Ingress name.
    pub ingress: &'a str,
    /// The Service name.
    pub service: &'a str,
    /// Which backend of the route served it: `main`, `canary`, `fallback` or `default-backend`
    /// (empty when no route matched).
    pub target: &'static str,
    /// Upstream attempts made (retries and the fallback included).
    pub attempts: u32,
    /// The error that ended the request, if any.
    pub error: Option<String>,
}

/// Writes `entry` as one line into the calling thread's buffer.
pub fn write(entry: &AccessEntry<'_>) {
    let now = SystemTime::now();
    batch::Batches::global().write_line(|out| line::format(entry, now, out));
}
