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
use crate::lifecycle::{InFlight, Lifecycle};
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
    lifecycle: Arc<Lifecycle>,
    metrics: Metrics,
    https_port: u16,
    timeouts: Timeouts,
}

/// Per-request state.
#[derive(Debug)]
pub struct RequestCtx {
    started: Instant,
    _in_flight: InFlight,
    https: bool,
    hsts: Option<http::HeaderValue>,
    route: Option<Arc<Route>>,
    endpoint: Option<SocketAddr>,
    failed: Option<SocketAddr>,
    retries: u8,
    request_id: String,
}

/// Connect failures are retried this many times, each on another endpoint if there is one.
const CONNECT_RETRIES: u8 = 1;

impl Router {
    /// A router over the publisher's tables; `https_port` goes into redirect Locations;
    /// `lifecycle` counts requests in flight for the shutdown drain.
    pub fn new(
        publisher: Arc<Publisher>,
        lifecycle: Arc<Lifecycle>,
        metrics: Metrics,
        https_port: u16,
    ) -> Self {
        Router { publisher, lifecycle, metrics, https_port, timeouts: Timeouts::default() }
    }

    /// The `Location` of an HTTP-to-HTTPS redirect: same host (port replaced), path and query.
    fn https_location(&self, session: &Session) -> String {
        let host = request_host(session);
        let host = sluice_controller::matching::strip_port(host);
        let path = session.req_header().uri.path_and_query().map_or("/", |p| p.as_str());
        match self.https_port {
            443 => format!("https://{host}{path}"),
            port => format!("https://{host}:{port}{path}"),
        }
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

fn is_https(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

/// Answers the request from Sluice itself with a short plain-text body.
async fn respond(
    session: &mut Session,
    ctx: &RequestCtx,
    status: u16,
    location: Option<String>,
    body: &'static str,
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(5))?;
    if let Some(location) = location {
        resp.insert_header(http::header::LOCATION, location)?;
    }
    if let Some(hsts) = &ctx.hsts {
        resp.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
    }
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
            _in_flight: self.lifecycle.track(),
            https: false,
            hsts: None,
            route: None,
            endpoint: None,
            failed: None,
            retries: 0,
            request_id: String::new(),
        }
    }

    /// Runs first for every request: finds the route in the live table. Answers 404 itself when
    /// nothing matches, redirects plain HTTP to HTTPS where the route asks for it, and answers
    /// 503 when the matched backend has no ready endpoint. Returning `Ok(true)` means the
    /// response has been sent.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.https = is_https(session);
        ctx.request_id = match session.req_header().headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok()) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => forwarding::new_request_id(),
        };
        let live = self.publisher.load();
        let settings = &live.table.settings;
        if ctx.https {
            ctx.hsts = settings.hsts.clone();
        }
        let path = session.req_header().uri.path();
        let route = live.table.lookup(request_host(session), path).cloned();
        match route {
            None => {
                respond(session, ctx, 404, None, "404 page not found\n").await?;
                Ok(true)
            }
            Some(route)
                if route.ssl_redirect
                    && !ctx.https
                    && !settings.no_tls_redirect_locations.iter().any(|p| path.starts_with(p.as_str())) =>
            {
                let location = self.https_location(session);
                ctx.route = Some(route);
                respond(session, ctx, settings.redirect_code, Some(location), "redirecting to https\n")
                    .await?;
                Ok(true)
            }
            Some(route) if route.backend.endpoints.is_empty() => {
                ctx.route = Some(route);
                respond(session, ctx, 503, None, "503 service unavailable: no ready endpoint\n").await?;
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
            scheme: if ctx.https { "https" } else { "http" },
            server_port,
            host: request_host(session),
            request_id: &ctx.request_id,
        };
        forwarding::apply(upstream, &down, session.is_upgrade_req())
    }

    /// Adds `Strict-Transport-Security` to HTTPS responses (the ConfigMap's `hsts*` keys).
    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(hsts) = &ctx.hsts {
            response.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
        }
        Ok(())
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
