//! One structured access-log event per request, on the `access` tracing target. The telemetry
//! setup formats these as JSON lines into per-thread buffers ([`batch`]) that a flusher thread
//! writes to stdout, so the request path neither blocks on I/O nor wakes another thread.

pub mod batch;

use std::net::IpAddr;
use std::time::Duration;

/// The target the access log is written to (filter on it to route or silence the log).
pub const TARGET: &str = "access";

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

/// Writes `entry` as one event (nothing is formatted when the target is disabled).
pub fn write(entry: &AccessEntry<'_>) {
    tracing::info!(
        target: TARGET,
        remote_addr = entry.remote_addr.map(tracing::field::display),
        request_id = entry.request_id,
        method = entry.method,
        host = entry.host,
        uri = entry.uri,
        status = entry.status,
        request_time = entry.duration.as_secs_f64(),
        upstream_addr = entry.upstream.map(tracing::field::display),
        namespace = entry.namespace,
        ingress = entry.ingress,
        service = entry.service,
        route_target = entry.target,
        attempts = entry.attempts,
        error = entry.error.as_deref(),
    );
}
