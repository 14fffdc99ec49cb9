//! The [`Router`]: Pingora's `ProxyHttp` driven by the published routing table.
//!
//! It loads the table once per request into its context (so a retry sees the same version).
//! `request_filter` routes and answers what Sluice answers itself (404, redirects, CORS
//! preflight, 413, 503); `upstream_peer` picks the backend's endpoint; the failure hooks apply
//! `proxy-next-upstream` and the fallback Service; the response filters add CORS, HSTS and
//! session cookies and swap in custom error pages; `logging` writes metrics and the access log.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::proxy::FailToProxy;
use pingora::{Error, ErrorType, Result};
use sluice_controller::{Backend, Published, Publisher, Route};

use pingora::modules::http::compression::ResponseCompression;
use pingora::protocols::http::compression::Algorithm;

use crate::auth::ExternalAuthClient;
use crate::facts::Facts;
use crate::lifecycle::{InFlight, Lifecycle};
use crate::limits::{ConnectionSlot, Limiter};
use crate::metrics::Metrics;
use crate::mirror::MirrorBody;
use crate::subrequest::Subrequests;
use crate::traffic::Target;
use crate::upstream::Attempts;

mod checks;
mod error_page;
mod failures;
mod finish;
mod request;
mod response;
mod upstream_side;

/// Routes requests by the live table of a [`Publisher`].
pub struct Router {
    publisher: Arc<Publisher>,
    limiter: Limiter,
    auth: ExternalAuthClient,
    subrequests: Subrequests,
    lifecycle: Arc<Lifecycle>,
    metrics: Metrics,
    https_port: u16,
    /// Whether the router serves the Ingress listeners (a request no Gateway route matches
    /// falls back to the Ingress routes there; on a Gateway-only socket it is a 404).
    serves_ingress: bool,
}

/// Per-request state.
pub struct RequestCtx {
    started: Instant,
    _in_flight: InFlight,
    https: bool,
    /// Host, normalized path and client, read once before routing.
    facts: Facts,
    _connection_slot: Option<ConnectionSlot>,
    auth_headers: Vec<(http::HeaderName, HeaderValue)>,
    auth_cookies: Vec<HeaderValue>,
    live: Option<Arc<Published>>,
    route: Option<Arc<Route>>,
    target: Target,
    backend: Option<Arc<Backend>>,
    endpoint: Option<SocketAddr>,
    failed: Option<SocketAddr>,
    attempts: Attempts,
    set_cookie: Option<String>,
    cors_origin: Option<HeaderValue>,
    body_seen: u64,
    /// Where the request body's chunks go for `mirror-target`.
    mirror_body: Option<MirrorBody>,
    /// Response body bytes sent, and when the first one past `limit-rate-after` went out.
    body_sent: (u64, Option<Instant>),
    error_page: Option<Bytes>,
    request_id: String,
    /// For a Gateway route: the index of the weighted backendRef chosen.
    gateway_pick: Option<usize>,
}

impl std::fmt::Debug for RequestCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCtx").field("request_id", &self.request_id).finish_non_exhaustive()
    }
}

impl RequestCtx {
    /// The Service that serves the request: the chosen backend's (main, canary, fallback or
    /// default backend), else the route's; empty when no route matched.
    fn service(&self) -> &str {
        let chosen = self.backend.as_ref().map(|b| b.key.service.as_str());
        chosen.or(self.route.as_ref().map(|r| &*r.service)).unwrap_or("")
    }

    fn hsts(&self) -> Option<&HeaderValue> {
        let live = self.live.as_ref().filter(|_| self.https)?;
        live.table.settings.hsts.as_ref()
    }
}

impl Router {
    /// A router over the publisher's tables; `https_port` goes into redirect Locations;
    /// `lifecycle` counts requests in flight for the shutdown drain.
    pub fn new(
        publisher: Arc<Publisher>,
        lifecycle: Arc<Lifecycle>,
        metrics: Metrics,
        https_port: u16,
    ) -> Self {
        Router {
            publisher,
            limiter: Limiter::default(),
            auth: ExternalAuthClient::default(),
            subrequests: Subrequests::default(),
            lifecycle,
            metrics,
            https_port,
            serves_ingress: true,
        }
    }

    /// The same router for sockets that only Gateway listeners use (no Ingress fallback).
    pub fn gateway_only(mut self) -> Self {
        self.serves_ingress = false;
        self
    }
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip())
}

fn is_https(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

#[async_trait]
impl ProxyHttp for Router {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            _in_flight: self.lifecycle.track(),
            https: false,
            facts: Facts::default(),
            _connection_slot: None,
            auth_headers: Vec::new(),
            auth_cookies: Vec::new(),
            live: None,
            route: None,
            target: Target::Main,
            backend: None,
            endpoint: None,
            failed: None,
            attempts: Attempts::default(),
            set_cookie: None,
            cors_origin: None,
            body_seen: 0,
            mirror_body: None,
            body_sent: (0, None),
            error_page: None,
            request_id: String::new(),
            gateway_pick: None,
        }
    }

    /// Loads the live table for this request and turns on response compression when the
    /// ConfigMap asks for it (before Pingora's compression module reads `Accept-Encoding`).
    async fn early_request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        let live = self.publisher.load();
        let compression = &live.table.settings.compression;
        if compression.enabled() {
            if let Some(module) = session.downstream_modules_ctx.get_mut::<ResponseCompression>() {
                module.adjust_algorithm_level(Algorithm::Gzip, compression.gzip.level);
                module.adjust_algorithm_level(Algorithm::Brotli, compression.brotli.level);
            }
        }
        ctx.live = Some(live);
        Ok(())
    }

    /// Finds the route in the live table and answers what Sluice answers itself, in
    /// ingress-nginx's order: oversized headers (414/400), www redirect, 404, CORS preflight,
    /// app-root, fixed redirects, HTTPS redirect, then the access phase (limits, allow/deny,
    /// auth), 413, and 503 when no backend has a ready endpoint; see [`Router::route_request`].
    /// Returning `Ok(true)` means the response has been sent.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        self.route_request(session, ctx).await
    }

    /// Counts the request body against `proxy-body-size` when no Content-Length announced it.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let limit = ctx.route.as_ref().and_then(|r| r.policy.body_size);
        if let (Some(limit), Some(chunk)) = (limit, body.as_ref()) {
            ctx.body_seen += chunk.len() as u64;
            if ctx.body_seen > limit {
                return Error::e_explain(
                    ErrorType::HTTPStatus(413),
                    "request body larger than proxy-body-size",
                );
            }
        }
        if let Some(mirror) = &ctx.mirror_body {
            if body.as_ref().is_some_and(|chunk| !mirror.push(chunk.clone())) {
                ctx.mirror_body = None;
            } else if end_of_stream {
                if let Some(mirror) = ctx.mirror_body.take() {
                    mirror.finish();
                }
            }
        }
        Ok(())
    }

    /// Picks the endpoint for this attempt (affinity, hashing, EWMA or round robin), avoiding
    /// the one that just failed, and builds the peer from the route's upstream policy.
    async fn upstream_peer(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        self.pick_peer(session, ctx).await
    }

    /// A failed connect: see [`Router::connect_failed`].
    fn fail_to_connect(
        &self,
        session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        e: Box<Error>,
    ) -> Box<Error> {
        self.connect_failed(session, peer, ctx, e)
    }

    /// A failure once connected: see [`Router::proxy_failed`].
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        self.proxy_failed(peer, session, e, ctx, client_reused)
    }

    /// Client-caused failures are counted, not logged at ERROR: see [`Router::quiet_failure`].
    fn suppress_error_log(&self, session: &Session, _ctx: &RequestCtx, e: &Error) -> bool {
        self.quiet_failure(session, e)
    }

    /// The answer to a request that failed: see [`Router::answer_failure`].
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        self.answer_failure(session, e, ctx).await
    }

    /// Sets the forwarding headers and applies `rewrite-target`, `upstream-vhost` and
    /// `x-forwarded-prefix` on the upstream request.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.prepare_upstream_request(session, upstream, ctx).await
    }

    /// Asks for another endpoint when the status is one `proxy-next-upstream` lists and an
    /// attempt is left (the response is then discarded, as nginx does); otherwise applies the
    /// `proxy-redirect-*` and `proxy-cookie-*` rewrites.
    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.check_upstream_response(session, response, ctx).await
    }

    /// Replaces the response with the error backend's page for `custom-http-errors`, and adds
    /// the CORS headers, the session cookie and `Strict-Transport-Security`.
    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.finish_response_header(session, response, ctx).await
    }

    /// Swaps the upstream body for the error page when one replaced the response.
    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        self.filter_response_body(session, body, end_of_stream, ctx)
    }

    /// Runs once per request at the end: EWMA samples, metrics and the access log.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        self.finish_request(session, e, ctx).await
    }
}
