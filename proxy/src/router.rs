//! The [`Router`]: Pingora's `ProxyHttp` driven by the published routing table.
//!
//! It loads the table once per request into its context (so a retry sees the same version),
//! and each phase does one thing: route, pick an endpoint, set forwarding headers, retry a
//! failed connect once on another endpoint, and log.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use sluice_controller::{Publisher, Route};

use crate::access_log::{self, AccessEntry};
use crate::forwarding::{self, Downstream, X_REQUEST_ID};
use crate::metrics::{Metrics, RequestLabels};

/// Upstream timeouts, with ingress-nginx's defaults.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `proxy-connect-timeout` (5 s).
    pub connect: Duration,
    /// `proxy-read-timeout` (60 s).
    pub read: Duration,
    /// `proxy-send-timeout` (60 s).
    pub write: Duration,
    /// How long an idle upstream connection stays pooled (`upstream-keepalive-timeout`, 60 s).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(60),
            write: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

/// Routes requests by the live table of a [`Publisher`].
pub struct Router {
    publisher: Arc<Publisher>,
    metrics: Metrics,
    scheme: &'static str,
    timeouts: Timeouts,
}

/// Per-request state.
#[derive(Debug)]
pub struct RequestCtx {
    started: Instant,
    route: Option<Arc<Route>>,
    endpoint: Option<SocketAddr>,
    failed: Option<SocketAddr>,
    retries: u8,
    request_id: String,
}

/// Connect failures are retried this many times, each on another endpoint if there is one.
const CONNECT_RETRIES: u8 = 1;

impl Router {
    /// A router for a listener of the given scheme (`http` or `https`).
    pub fn new(publisher: Arc<Publisher>, metrics: Metrics, scheme: &'static str) -> Self {
        Router { publisher, metrics, scheme, timeouts: Timeouts::default() }
    }
}

fn request_host(session: &Session) -> &str {
    let req = session.req_header();
    req.headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip())
}

/// Answers the request from Sluice itself with a short plain-text body.
async fn respond(session: &mut Session, status: u16, body: &'static str) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    resp.insert_header(http::header::SERVER, "sluice")?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session.write_response_header(Box::new(resp), head_only).await?;
    if !head_only {
        session.write_response_body(Some(Bytes::from_static(body.as_bytes())), true).await?;
    }
    Ok(())
}

#[async_trait]
impl ProxyHttp for Router {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            route: None,
            endpoint: None,
            failed: None,
            retries: 0,
            request_id: String::new(),
        }
    }

    /// Runs first for every request: finds the route in the live table. Answers 404 itself when
    /// nothing matches, and 503 when the matched backend has no ready endpoint. Returning
    /// `Ok(true)` means the response has been sent.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.request_id = match session.req_header().headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok()) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => forwarding::new_request_id(),
        };
        let live = self.publisher.load();
        let route = live.table.lookup(request_host(session), session.req_header().uri.path()).cloned();
        match route {
            None => {
                respond(session, 404, "404 page not found\n").await?;
                Ok(true)
            }
            Some(route) if route.backend.endpoints.is_empty() => {
                ctx.route = Some(route);
                respond(session, 503, "503 service unavailable: no ready endpoint\n").await?;
                Ok(true)
            }
            Some(route) => {
                ctx.route = Some(route);
                Ok(false)
            }
        }
    }

    /// Picks the next endpoint of the route's backend in round-robin order, avoiding the one
    /// whose connect just failed. Called again for a retry.
    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let Some(route) = ctx.route.as_ref() else {
            return Error::e_explain(ErrorType::InternalError, "no route selected");
        };
        let Some(endpoint) = route.backend.select(ctx.failed) else {
            return Error::e_explain(ErrorType::HTTPStatus(503), "backend has no ready endpoint");
        };
        ctx.endpoint = Some(endpoint);
        let mut peer = HttpPeer::new(endpoint, false, String::new());
        peer.options.connection_timeout = Some(self.timeouts.connect);
        peer.options.read_timeout = Some(self.timeouts.read);
        peer.options.write_timeout = Some(self.timeouts.write);
        peer.options.idle_timeout = Some(self.timeouts.idle);
        Ok(Box::new(peer))
    }

    /// A connect failure is retried once, on another endpoint when the backend has one.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.failed = ctx.endpoint;
        if ctx.retries < CONNECT_RETRIES {
            ctx.retries += 1;
            e.set_retry(true);
        }
        e
    }

    /// Sets the forwarding headers on the upstream request (the client's Host is kept).
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let server_port = session.server_addr().and_then(|a| a.as_inet()).map(|a| a.port());
        let down = Downstream {
            client_ip: client_ip(session),
            scheme: self.scheme,
            server_port,
            host: request_host(session),
            request_id: &ctx.request_id,
        };
        forwarding::apply(upstream, &down, session.is_upgrade_req())
    }

    /// Runs once per request at the end: metrics and the access log.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let status_text = session.response_written().map_or("0", |r| r.status.as_str());
        let req = session.req_header();
        let route = ctx.route.as_deref();
        let (namespace, ingress, service, host) =
            route.map_or(("", "", "", ""), |r| (&*r.namespace, &*r.ingress, &*r.service, &*r.host));
        let elapsed = ctx.started.elapsed();
        let labels = RequestLabels {
            ingress,
            namespace,
            service,
            status: status_text,
            method: req.method.as_str(),
            host,
        };
        self.metrics.observe(&labels, elapsed.as_secs_f64());
        if tracing::enabled!(target: access_log::TARGET, tracing::Level::INFO) {
            access_log::write(&AccessEntry {
                remote_addr: client_ip(session),
                request_id: &ctx.request_id,
                method: req.method.as_str(),
                host: request_host(session),
                uri: req.uri.path_and_query().map_or("", |p| p.as_str()),
                status,
                duration: elapsed,
                upstream: ctx.endpoint,
                namespace,
                ingress,
                service,
                error: e.map(|e| e.to_string()),
            });
        }
    }
}
