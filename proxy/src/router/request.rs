//! The request phase: reads the request facts once, answers what Sluice answers itself (bad or
//! oversized heads, TRACE, blocked agents, host redirects, 404, CORS preflight, app-root, fixed
//! and HTTPS redirects, the access checks, 413, 503), and otherwise chooses the backend.

use http::header::{self};
use pingora::prelude::Session;
use pingora::Result;
use std::sync::Arc;

use sluice_controller::policy::GatewayRule;
use sluice_controller::table::GatewayMatch;
use sluice_controller::{Route, RoutingTable};
use tracing::debug;

use super::checks::{self, oversized};
use super::{client_ip, is_https, RequestCtx, Router};
use crate::facts::Facts;
use crate::forwarding::{self, X_REQUEST_ID};
use crate::mirror;
use crate::respond::{self, Local};
use crate::tls::ServerName;
use crate::traffic::{self, Target};
use crate::{cors, gateway, redirects};

/// What routing found for a request.
enum Found {
    /// This route serves it.
    Route(Arc<Route>),
    /// Nothing does (404).
    Nothing,
    /// The TLS server name chose another Gateway listener than the Host (421).
    Misdirected,
}

/// What a Gateway route does with a request.
enum GatewayStep {
    /// Sluice answers itself: a `RequestRedirect`, or 500 when the chosen share of the weighted
    /// backends is invalid or every weight is 0.
    Answer(Box<Local>),
    /// It goes to this weighted backend (its index in the rule).
    Forward(usize),
}

/// The step for a request to a Gateway `rule`; kept out of the request future, which stays
/// small. `path` is the normalized path.
fn gateway_step(
    rule: &GatewayRule,
    route: &Route,
    scheme: &str,
    host: &str,
    path: &str,
    req: &pingora::http::RequestHeader,
) -> Result<GatewayStep> {
    if let Some(redirect) = &rule.redirect {
        let query = req.uri.query();
        let location =
            gateway::redirect_location(redirect, &route.path, scheme, host, path, query, rule.listener_port);
        let answer = Local::new(redirect.code, "")?.header(header::LOCATION, location)?;
        return Ok(GatewayStep::Answer(Box::new(answer)));
    }
    // With every weight 0 the roll is 0 and no share holds it.
    let roll = (traffic::random_u64() % u64::from(rule.total_weight().max(1))) as u32;
    match rule.pick(roll).filter(|i| rule.backends[*i].backend.is_some()) {
        Some(i) => Ok(GatewayStep::Forward(i)),
        // No backend, all weights 0, or this share's backendRef is invalid (the spec's 500).
        None => Ok(GatewayStep::Answer(Box::new(Local::new(500, "500 internal server error\n")?))),
    }
}

impl Router {
    /// The route for a request: a Gateway route when the connection's socket serves Gateway
    /// listeners and one matches; otherwise (or on a socket shared with the Ingress listeners
    /// when none matches) the Ingress routes.
    fn find_route(&self, session: &Session, table: &RoutingTable, host: &str, path: &str) -> Found {
        if table.has_gateways() {
            let local = session.server_addr().and_then(|a| a.as_inet()).copied();
            if let Some(local) = local {
                let req = session.req_header();
                let ssl = session.digest().and_then(|d| d.ssl_digest.as_ref());
                let sni = ssl.and_then(|s| s.extension.get::<ServerName>()).map(|n| n.0.as_str());
                match table.gateway_lookup(local, sni, host, path, &req.method, &req.headers, req.uri.query())
                {
                    GatewayMatch::Route(route) => return Found::Route(route.clone()),
                    GatewayMatch::Misdirected => return Found::Misdirected,
                    GatewayMatch::NoRoute | GatewayMatch::NotGateway => {}
                }
            }
        }
        if !self.serves_ingress {
            // A Gateway-only socket (or one whose Gateway is gone) never serves Ingress routes.
            return Found::Nothing;
        }
        table.lookup(host, path).cloned().map_or(Found::Nothing, Found::Route)
    }

    /// The request phase (see `ProxyHttp::request_filter` on [`Router`]): `Ok(true)` when the
    /// response has been sent.
    pub(super) async fn route_request(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
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
        let route = match self.find_route(session, table, host, path) {
            Found::Route(route) => route,
            Found::Nothing => {
                Local::new(404, "404 page not found\n")?.send(session, hsts.as_ref()).await?;
                return Ok(true);
            }
            Found::Misdirected => {
                Local::new(421, "421 misdirected request\n")?.send(session, hsts.as_ref()).await?;
                return Ok(true);
            }
        };
        ctx.route = Some(route.clone());
        if let Some(rule) = &route.gateway {
            match gateway_step(rule, &route, scheme, ctx.facts.host(req), path, req)? {
                GatewayStep::Forward(i) => ctx.gateway_pick = Some(i),
                GatewayStep::Answer(answer) => {
                    answer.send(session, hsts.as_ref()).await?;
                    return Ok(true);
                }
            }
        }
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

        if let Some(mirror) = policy.mirror.as_ref().filter(|m| mirror::sampled(m)) {
            let original = mirror::Original { req, scheme, host: ctx.facts.raw_host(req) };
            let timeout = policy.upstream.connect_timeout + policy.upstream.read_timeout;
            ctx.mirror_body = mirror::start(&self.subrequests, mirror, &original, timeout);
        }
        let picked =
            ctx.gateway_pick.zip(route.gateway.as_ref()).and_then(|(i, g)| g.backends[i].backend.clone());
        let (target, backend) = match picked {
            Some(backend) => (Target::Main, backend),
            None => traffic::choose_backend(&route, req),
        };
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
}
