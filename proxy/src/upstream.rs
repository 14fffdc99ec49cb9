//! The upstream side of a request: the Pingora peer for an endpoint (protocol, TLS, timeouts)
//! and ingress-nginx's `proxy-next-upstream` decisions about trying another endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::prelude::HttpPeer;
use pingora::protocols::tls::CaType;
use pingora::protocols::ALPN;
use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
use pingora::{Error, ErrorType};
use sluice_controller::policy::{NextUpstream, UpstreamPolicy, UpstreamTls};
use sluice_controller::Endpoint;

/// The hard cap on attempts per request, whatever `proxy-next-upstream-tries` says.
pub const MAX_ATTEMPTS: u32 = 8;

/// The peer for one attempt at `endpoint`. `host` gives the request's host (the TLS name when
/// `proxy-ssl-name` is not set; read only for TLS upstreams); `idle` is how long the connection
/// may stay pooled.
pub fn peer<'a>(
    endpoint: Endpoint,
    policy: &UpstreamPolicy,
    host: impl FnOnce() -> &'a str,
    idle: Duration,
) -> HttpPeer {
    let tls = policy.protocol.tls();
    // Pingora sends SNI and verifies against the same name, so a verified connection always
    // sends SNI. Without SNI, the endpoint's IP address stands in as the name: rustls never sends
    // an IP address as SNI, and verification is off then.
    let sni = match (tls, policy.send_sni || policy.verify) {
        (false, _) => String::new(),
        (true, true) => match &policy.tls_name {
            Some(name) => name.clone(),
            None => sluice_controller::matching::strip_port(host()).to_owned(),
        },
        (true, false) => endpoint.ip().to_string(),
    };
    let mut peer = HttpPeer::new(endpoint, tls, sni);
    let options = &mut peer.options;
    options.connection_timeout = Some(policy.connect_timeout);
    options.read_timeout = Some(policy.read_timeout);
    options.write_timeout = Some(policy.send_timeout);
    options.idle_timeout = Some(idle);
    options.verify_cert = policy.verify;
    options.verify_hostname = policy.verify;
    if policy.protocol.h2() {
        options.set_http_version(2, 2);
        options.alpn = ALPN::H2;
    }
    if let (true, Some(client_tls)) = (tls, &policy.client_tls) {
        let prepared = client_tls.prepared.get_or_init(|| Box::new(PreparedTls::new(client_tls)));
        if let Some(prepared) = prepared.downcast_ref::<PreparedTls>() {
            peer.client_cert_key = prepared.cert_key.clone();
            peer.options.ca = prepared.ca.clone();
            // Pingora's pool key covers the client certificate but not the CAs: without this, a
            // connection verified against one route's CAs could serve a route that trusts others.
            peer.group_key = prepared.ca_key;
        }
    }
    peer
}

/// Pingora's form of a `proxy-ssl-secret`, built once per table from certificates `translate`
/// already parsed (so that Pingora's own parsing cannot fail on them).
struct PreparedTls {
    cert_key: Option<Arc<CertKey>>,
    ca: Option<Arc<CaType>>,
    /// A hash of the CAs, which keeps connections verified against different CAs apart.
    ca_key: u64,
}

impl PreparedTls {
    fn new(tls: &UpstreamTls) -> Self {
        use std::hash::{Hash, Hasher};
        let cert_key =
            tls.has_client_certificate().then(|| Arc::new(CertKey::new(tls.chain.clone(), tls.key.clone())));
        let ca: Vec<WrappedX509> =
            tls.ca.iter().map(|der| WrappedX509::new(der.clone(), parse_x509)).collect();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        tls.ca.hash(&mut hasher);
        PreparedTls { cert_key, ca: (!ca.is_empty()).then(|| Arc::from(ca)), ca_key: hasher.finish() }
    }
}

/// The retry bookkeeping of one request.
#[derive(Debug, Default)]
pub struct Attempts {
    /// Attempts made so far (the first included).
    pub made: u32,
    first: Option<Instant>,
}

impl Attempts {
    /// Records the start of an attempt.
    pub fn start(&mut self) {
        self.made += 1;
        self.first.get_or_insert_with(Instant::now);
    }

    /// Whether another attempt is allowed by `-tries` and `-timeout`.
    pub fn another_allowed(&self, next: &NextUpstream) -> bool {
        let cap = if next.tries == 0 { MAX_ATTEMPTS } else { next.tries.min(MAX_ATTEMPTS) };
        let in_time = match (next.timeout_total, self.first) {
            (Some(limit), Some(first)) => first.elapsed() < limit,
            _ => true,
        };
        self.made < cap && in_time
    }
}

/// Whether a failed connect is a condition `proxy-next-upstream` retries (`timeout` for a
/// connect timeout, `error` for anything else).
pub fn connect_retryable(e: &Error, next: &NextUpstream) -> bool {
    match e.etype() {
        ErrorType::ConnectTimedout => next.timeout,
        _ => next.error,
    }
}

/// Whether a failure after the connection was made is a condition `proxy-next-upstream`
/// retries: read or write timeouts for `timeout`, I/O errors and bad headers for `error`, and a
/// listed upstream status (`http_502`, ..., raised by the response filter). Non-idempotent
/// requests (POST, LOCK, PATCH) are retried only with `non_idempotent`.
pub fn proxy_retryable(e: &Error, next: &NextUpstream, method: &http::Method) -> bool {
    if !method_allows(method, next) {
        return false;
    }
    match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => next.timeout,
        ErrorType::ConnectionClosed
        | ErrorType::ReadError
        | ErrorType::WriteError
        | ErrorType::InvalidHTTPHeader
        | ErrorType::H1Error
        | ErrorType::H2Error => next.error,
        ErrorType::HTTPStatus(status) => next.statuses.binary_search(status).is_ok(),
        _ => false,
    }
}

/// Whether a request with `method` may be sent again once it reached an upstream: nginx's rule
/// (POST, LOCK and PATCH only with `non_idempotent`).
pub fn method_allows(method: &http::Method, next: &NextUpstream) -> bool {
    next.non_idempotent || !matches!(method.as_str(), "POST" | "LOCK" | "PATCH")
}
