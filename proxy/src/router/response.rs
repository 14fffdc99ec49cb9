//! The response phase: `proxy-next-upstream` on statuses, the header rewrites and hidden
//! headers, the error page, CORS, cookies, HSTS, compression, added headers, and the body's
//! error-page swap and `limit-rate`.

use std::time::Instant;

use bytes::Bytes;
use http::header::{self};
use pingora::http::ResponseHeader;
use pingora::prelude::Session;
use pingora::{Error, ErrorType, Result};
use sluice_controller::policy::Auth;

use pingora::modules::http::compression::ResponseCompression;
use pingora::protocols::http::compression::Algorithm;

use super::{RequestCtx, Router};
use crate::forwarding::{self};
use crate::traffic::{self};
use crate::upstream;
use crate::{cors, gateway, header_rewrites};

impl Router {
    /// Asks for another endpoint when the status is one `proxy-next-upstream` lists and an
    /// attempt is left (the response is then discarded, as nginx does); otherwise applies the
    /// `proxy-redirect-*` and `proxy-cookie-*` rewrites.
    pub(super) async fn check_upstream_response(
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
        if let Some(rule) = &route.gateway {
            gateway::apply_response(response, rule, ctx.gateway_pick)?;
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
    pub(super) async fn finish_response_header(
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
    pub(super) fn filter_response_body(
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
}
