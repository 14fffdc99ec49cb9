//! The upstream side of a request: the endpoint for each attempt, and the request it is sent
//! (forwarding headers, `rewrite-target`, `upstream-vhost`, `x-forwarded-prefix`, auth headers).

use http::header::{self};
use pingora::http::RequestHeader;
use pingora::prelude::{HttpPeer, Session};
use pingora::{Error, ErrorType, Result};

use super::{RequestCtx, Router};
use crate::facts::request_uri;
use crate::forwarding::{self, Downstream};
use crate::traffic::{self, Target};
use crate::{gateway, upstream};

impl Router {
    /// Picks the endpoint for this attempt (affinity, hashing, EWMA or round robin), avoiding
    /// the one that just failed, and builds the peer from the route's upstream policy.
    pub(super) async fn pick_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
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

    /// Sets the forwarding headers and applies `rewrite-target`, `upstream-vhost` and
    /// `x-forwarded-prefix` on the upstream request.
    pub(super) async fn prepare_upstream_request(
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
        let settings = ctx.live.as_ref().map(|l| &l.table.settings);
        if settings.is_some_and(|s| !s.underscores_in_headers) {
            // Before the forwarding headers (none has an underscore): fewer names to scan.
            forwarding::drop_underscored(upstream);
        }
        forwarding::apply(upstream, &down, session.is_upgrade_req())?;
        if let Some(settings) = settings {
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
        if let Some(rule) = &route.gateway {
            let path = ctx.facts.path(req);
            gateway::apply_request(upstream, rule, ctx.gateway_pick, &route.path, path, req.uri.query())?;
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
}
