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
use http::header::{self, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::proxy::FailToProxy;
use pingora::{Error, ErrorType, Result};
use sluice_controller::policy::{Auth, Balance};
use sluice_controller::{Backend, Published, Publisher, Route};
use tracing::debug;

use pingora::modules::http::compression::ResponseCompression;
use pingora::protocols::http::compression::Algorithm;

use crate::access_log::{self, AccessEntry};
use crate::auth::ExternalAuthClient;
use crate::facts::{request_uri, Facts};
use crate::forwarding::{self, Downstream, X_REQUEST_ID};
use crate::lifecycle::{InFlight, Lifecycle};
use crate::limits::{ConnectionSlot, Limiter};
use crate::metrics::series::SeriesKey;
use crate::metrics::{self, Metrics, RequestLabels};
use crate::mirror::{self, MirrorBody};
use crate::respond::{self, Local};
use crate::subrequest::Subrequests;
use crate::traffic::{self, Target};
use crate::upstream::{self, Attempts};
use crate::{cors, header_rewrites, redirects};

mod checks;
mod error_page;
mod failures;

use checks::oversized;

/// Routes requests by the live table of a [`Publisher`].
pub struct Router {
    publisher: Arc<Publisher>,
    limiter: Limiter,
    auth: ExternalAuthClient,
    subrequests: Subrequests,
    lifecycle: Arc<Lifecycle>,
    metrics: Metrics,
    https_port: u16,
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
        }
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
        }
    }

    /// Runs first for every request: finds the route in the live table and answers what
    /// Sluice answers itself, in ingress-nginx's order: oversized headers (414/400), www
    /// redirect, 404, CORS preflight, app-root, fixed redirects, HTTPS redirect, then the access
    /// phase (limits, allow/deny, auth), 413, and 503 when no backend has a ready endpoint.
    /// Returning `Ok(true)` means the response has been sent.
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

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.https = is_https(session);
        ctx.request_id = match session.req_header().headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok()) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => forwarding::new_request_id(),
        };
        // Loaded by `early_request_filter`; one reference is kept here while `ctx` changes.
        let live = ctx.live.get_or_insert_with(|| self.publisher.load()).clone();
        self.limiter.prune(live.generation, &live.table);
        session.set_keepalive(Some(live.table.settings.keep_alive.as_secs()));
        // `client-body-timeout`: Pingora reads the body under the session's read timeout.
        session.set_read_timeout(Some(live.table.settings.client_body_timeout));
        // `client-header-timeout` for the next request head on this connection (the first one
        // was read under it by `first_head` on plain connections).
        session.set_header_read_timeout(Some(live.table.settings.client_header_timeout));
        let table = &live.table;
        let client_settings = &table.settings.client;
        let hsts = ctx.hsts().cloned();
        let scheme = if ctx.https { "https" } else { "http" };

        if let Some(status) = oversized(session.req_header(), &table.settings) {
            let body = if status == 414 {
                "414 request-uri too large\n"
            } else {
                "400 request header or cookie too large\n"
            };
            Local::new(status, body)?.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        ctx.facts = match Facts::read(session.req_header()) {
            Ok(facts) => facts,
            Err(reason) => {
                debug!(%reason, "Bad request");
                // nginx closes the connection after a request it cannot parse.
                session.set_keepalive(None);
                Local::new(400, "400 bad request\n")?.send(session, hsts.as_ref()).await?;
                return Ok(true);
            }
        };
        if session.req_header().method == http::Method::TRACE {
            // nginx never serves TRACE (cross-site tracing); neither does ingress-nginx.
            Local::new(405, "405 not allowed\n")?.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        ctx.facts.peer = client_ip(session);
        ctx.facts.client = ctx.facts.peer.map(|peer| {
            let req = session.req_header();
            let values = req.headers.get_all(&client_settings.forwarded_for_header).iter();
            client_settings.resolve(peer, values.filter_map(|v| v.to_str().ok()))
        });
        if checks::blocked(session.req_header(), &table.settings) {
            Local::new(403, "403 forbidden\n")?.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        let req = session.req_header();
        let host = ctx.facts.host(req);
        if let Some(to) = table.host_redirect(host) {
            let location = redirects::www(req, ctx.facts.raw_host(req), scheme, to);
            let resp = Local::new(table.settings.redirect_code, "")?.header(header::LOCATION, location)?;
            resp.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        let path = ctx.facts.path(req);
        let Some(route) = table.lookup(host, path).cloned() else {
            Local::new(404, "404 page not found\n")?.send(session, hsts.as_ref()).await?;
            return Ok(true);
        };
        ctx.route = Some(route.clone());
        let policy = &route.policy;

        if let Some(cors) = &policy.cors {
            ctx.cors_origin = cors::allowed_origin(cors, req.headers.get(header::ORIGIN));
            if let (Some(origin), true) = (&ctx.cors_origin, req.method == http::Method::OPTIONS) {
                let mut resp =
                    Local::new(204, "")?.header(header::CONTENT_TYPE, "text/plain charset=UTF-8")?;
                cors::apply(cors, origin.clone(), resp.header_mut())?;
                resp.send(session, hsts.as_ref()).await?;
                return Ok(true);
            }
        }
        if let (Some(root), "/") = (&policy.app_root, path) {
            let location = redirects::same_host(ctx.facts.raw_host(req), scheme, root);
            Local::new(302, "")?.header(header::LOCATION, location)?.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        if let Some(redirect) = &policy.redirect {
            let resp = Local::new(redirect.code, "")?.header(header::LOCATION, redirect.location.clone())?;
            resp.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        let settings = &table.settings;
        if route.ssl_redirect
            && !ctx.https
            && !settings.no_tls_redirect_locations.iter().any(|p| path.starts_with(p.as_str()))
        {
            let location = redirects::https(req, host, self.https_port);
            let resp = Local::new(settings.redirect_code, "redirecting to https\n")?;
            resp.header(header::LOCATION, location)?.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        if let Some(refusal) = self.access_checks(session, ctx, &route, scheme).await? {
            refusal.send(session, hsts.as_ref()).await?;
            return Ok(true);
        }
        let req = session.req_header();
        if let (Some(limit), Some(len)) = (policy.body_size, forwarding::content_length(&req.headers)) {
            if len > limit {
                // The unread body makes an HTTP/1 connection unusable: close it (Pingora then
                // sends `Connection: close`).
                session.set_keepalive(None);
                Local::new(413, "413 request entity too large\n")?.send(session, hsts.as_ref()).await?;
                respond::linger(session).await;
                return Ok(true);
            }
        }

        if let Some(mirror) = &policy.mirror {
            let original = mirror::Original { req, scheme, host: ctx.facts.raw_host(req) };
            let timeout = policy.upstream.connect_timeout + policy.upstream.read_timeout;
            ctx.mirror_body = mirror::start(&self.subrequests, mirror, &original, timeout);
        }
        let (target, backend) = traffic::choose_backend(&route, req);
        let (target, backend) = if !backend.endpoints.is_empty() {
            (target, backend)
        } else if let Some(fallback) = policy.fallback.as_ref().filter(|b| !b.endpoints.is_empty()) {
            (Target::Fallback, fallback.clone())
        } else if let Some(default) = policy.error_backend.as_ref().filter(|b| !b.endpoints.is_empty()) {
            (Target::DefaultBackend, default.clone())
        } else {
            if !self.send_error_page(session, 503, ctx, false).await? {
                let resp = Local::new(503, "503 service unavailable: no ready endpoint\n")?;
                resp.send(session, hsts.as_ref()).await?;
            }
            return Ok(true);
        };
        ctx.target = target;
        ctx.backend = Some(backend);
        Ok(false)
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
        let (Some(route), Some(backend), Some(live)) =
            (ctx.route.as_ref(), ctx.backend.as_ref(), ctx.live.as_ref())
        else {
            return Error::e_explain(ErrorType::InternalError, "no route selected");
        };
        let facts = ctx.facts.with_request(session.req_header());
        let sticky = matches!(ctx.target, Target::Main | Target::Canary);
        let (endpoint, cookie) = traffic::select_endpoint(backend, &route.policy, &facts, ctx.failed, sticky);
        let Some(endpoint) = endpoint else {
            return Error::e_explain(ErrorType::HTTPStatus(503), "backend has no ready endpoint");
        };
        if cookie.is_some() {
            ctx.set_cookie = cookie;
        }
        ctx.attempts.start();
        ctx.endpoint = Some(endpoint);
        let idle = live.table.settings.upstream_keepalive;
        Ok(Box::new(upstream::peer(endpoint, &route.policy.upstream, || facts.host(), idle)))
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
        let server_port = session.server_addr().and_then(|a| a.as_inet()).map(|a| a.port());
        let client = ctx.live.as_ref().map(|l| &l.table.settings.client);
        let down = Downstream {
            client_ip: ctx.facts.client,
            peer: ctx.facts.peer,
            full_forwarded_for: client.is_none_or(|c| c.compute_full_forwarded_for),
            trusted_forwarded: client
                .zip(ctx.facts.peer)
                .is_some_and(|(c, p)| c.use_forwarded_headers && c.trusts(p)),
            scheme: if ctx.https { "https" } else { "http" },
            server_port,
            host: ctx.facts.raw_host(session.req_header()),
            request_id: &ctx.request_id,
        };
        forwarding::apply(upstream, &down, session.is_upgrade_req())?;
        if let Some(settings) = ctx.live.as_ref().map(|l| &l.table.settings) {
            if !settings.underscores_in_headers {
                forwarding::drop_underscored(upstream);
            }
            if settings.add_original_uri_header {
                upstream.insert_header("x-original-uri", request_uri(session.req_header()))?;
            }
            if !settings.proxy_set_headers.is_empty() {
                let facts = ctx.facts.with_request(session.req_header());
                forwarding::set_configured(upstream, &settings.proxy_set_headers, &facts)?;
            }
        }
        let Some(route) = ctx.route.as_ref() else {
            return Ok(());
        };
        let req = session.req_header();
        if let Some(rewrite) = &route.rewrite {
            if let Some(new) = rewrite.apply(ctx.facts.path(req), ctx.facts.path_bytes(), req.uri.query()) {
                let parsed = new.parse::<http::Uri>().map_err(|e| {
                    Error::because(ErrorType::InternalError, "rewrite-target produced an invalid URI", e)
                })?;
                upstream.set_uri(parsed);
            }
        } else if let Some(origin) = ctx.facts.origin_form(req) {
            // An absolute-form target goes upstream in origin form, its bytes as sent.
            upstream.set_raw_path(&origin)?;
        }
        if ctx.facts.absolute_form() {
            // RFC 9112 §3.2.2: the request line's authority replaces the Host header.
            upstream.insert_header(header::HOST, ctx.facts.raw_host(req))?;
        }
        if let Some(vhost) = &route.policy.upstream_vhost {
            upstream.insert_header(header::HOST, vhost.clone())?;
        }
        if let Some(prefix) = &route.policy.forwarded_prefix {
            upstream.insert_header("x-forwarded-prefix", prefix.clone())?;
        }
        for (name, value) in &ctx.auth_headers {
            upstream.insert_header(name.clone(), value.clone())?;
        }
        Ok(())
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
        let Some(route) = ctx.route.as_ref() else {
            return Ok(());
        };
        let next = &route.policy.upstream.next_upstream;
        let status = response.status.as_u16();
        // The error goes through `error_while_proxy`, which retries it like any other failure.
        if next.statuses.binary_search(&status).is_ok()
            && upstream::method_allows(&session.req_header().method, next)
            && ctx.attempts.another_allowed(next)
        {
            return Error::e_explain(ErrorType::HTTPStatus(status), "proxy-next-upstream status");
        }
        if !route.policy.header_rewrites.is_empty() {
            header_rewrites::apply(&route.policy.header_rewrites, response)?;
        }
        if let Some(settings) = ctx.live.as_ref().map(|l| &l.table.settings) {
            forwarding::hide_upstream_headers(response, settings)?;
        }
        Ok(())
    }

    /// Replaces the response with the error backend's page for `custom-http-errors`, and adds
    /// the CORS headers, the session cookie and `Strict-Transport-Security`.
    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(page) = self.error_page(session, response.status.as_u16(), ctx).await {
            let mut replaced = ResponseHeader::build(page.status, Some(4))?;
            if let Some(ct) = page.content_type {
                replaced.insert_header(header::CONTENT_TYPE, ct)?;
            }
            replaced.insert_header(header::CONTENT_LENGTH, page.body.len())?;
            *response = replaced;
            ctx.error_page = Some(page.body);
        }
        if let (Some(origin), Some(cors)) =
            (&ctx.cors_origin, ctx.route.as_ref().and_then(|r| r.policy.cors.as_ref()))
        {
            cors::apply(cors, origin.clone(), response)?;
        }
        if let (Some(value), Some(route)) = (&ctx.set_cookie, ctx.route.as_ref()) {
            if let Some(affinity) = &route.policy.affinity {
                let path = match &route.path {
                    sluice_controller::matching::PathMatch::Regex(_) => "/",
                    other => other.path(),
                };
                let agent =
                    session.req_header().headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
                let cookie = traffic::session_cookie(affinity, value, path, ctx.https, agent);
                response.append_header(header::SET_COOKIE, cookie)?;
            }
        }
        let always = matches!(
            ctx.route.as_ref().and_then(|r| r.policy.auth.as_ref()),
            Some(Auth::External(e)) if e.always_set_cookie
        );
        if always || response.status.as_u16() < 400 {
            for cookie in &ctx.auth_cookies {
                response.append_header(header::SET_COOKIE, cookie.clone())?;
            }
        }
        if let Some(hsts) = ctx.hsts() {
            response.insert_header(header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
        }
        // `gzip-types` / `gzip-min-length` (and brotli's): Pingora's module compresses only
        // what they allow.
        if let Some(compression) = ctx.live.as_ref().map(|l| &l.table.settings.compression) {
            if compression.enabled() {
                let content_type = response.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                let length = forwarding::content_length(&response.headers);
                if let Some(module) = session.downstream_modules_ctx.get_mut::<ResponseCompression>() {
                    if !compression.gzip.applies(content_type, length) {
                        module.adjust_algorithm_level(Algorithm::Gzip, 0);
                    }
                    if !compression.brotli.applies(content_type, length) {
                        module.adjust_algorithm_level(Algorithm::Brotli, 0);
                    }
                }
            }
        }
        // `add-headers` and `custom-headers`.
        for (name, value) in ctx.route.iter().flat_map(|r| r.policy.response_headers.iter()) {
            response.insert_header(name.clone(), value.clone())?;
        }
        Ok(())
    }

    /// Swaps the upstream body for the error page when one replaced the response.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        if ctx.error_page.is_some() {
            *body = if end_of_stream { ctx.error_page.take() } else { None };
        }
        // `limit-rate`: Pingora waits the returned time before it sends this chunk on.
        let rate = ctx.route.as_ref().map(|r| r.policy.response_rate).unwrap_or_default();
        if let (true, Some(chunk)) = (rate.bytes_per_second > 0, body.as_ref()) {
            let (sent, first_limited) = &mut ctx.body_sent;
            *sent += chunk.len() as u64;
            if *sent > rate.after {
                let since = *first_limited.get_or_insert_with(Instant::now);
                return Ok(rate.delay(*sent, since.elapsed()));
            }
        }
        Ok(None)
    }

    /// Runs once per request at the end: EWMA samples, metrics and the access log.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let status_text = session.response_written().map_or("0", |r| r.status.as_str());
        let req = session.req_header();
        let route = ctx.route.as_deref();
        let (namespace, ingress, host) =
            route.map_or(("", "", ""), |r| (&*r.namespace, &*r.ingress, &*r.host));
        let elapsed = ctx.started.elapsed();
        // EWMA samples are only kept where `load-balance: ewma` reads them.
        let ewma = route.is_some_and(|r| r.policy.upstream.balance == Balance::Ewma);
        if let (true, Some(backend), Some(endpoint), None) = (ewma, &ctx.backend, ctx.endpoint, e) {
            backend.observe(endpoint, elapsed);
        }
        if ctx.target == Target::Fallback {
            self.metrics.fallback(namespace, ingress, ctx.service());
        }
        let labels = RequestLabels {
            ingress,
            namespace,
            service: ctx.service(),
            status: status_text,
            method: req.method.as_str(),
            host,
        };
        let series = match (&ctx.live, route) {
            (Some(live), Some(route)) => Some(SeriesKey {
                generation: live.generation,
                route: std::ptr::from_ref(route) as usize,
                backend: ctx.backend.as_ref().map_or(0, |b| Arc::as_ptr(b) as usize),
                status,
                method: metrics::method_label(req.method.as_str()),
            }),
            _ => None,
        };
        self.metrics.observe(&labels, series, elapsed.as_secs_f64());
        let logged = route.is_none_or(|r| r.policy.access_log);
        if logged && access_log::enabled() {
            access_log::write(&AccessEntry {
                remote_addr: ctx.facts.client.or_else(|| client_ip(session)),
                request_id: &ctx.request_id,
                method: req.method.as_str(),
                host: ctx.facts.raw_host(req),
                uri: req.uri.path_and_query().map_or("", |p| p.as_str()),
                status,
                duration: elapsed,
                upstream: ctx.endpoint,
                namespace,
                ingress,
                service: ctx.service(),
                target: if route.is_some() { ctx.target.as_str() } else { "" },
                attempts: ctx.attempts.made,
                error: e.map(|e| e.to_string()),
            });
        }
    }
}
