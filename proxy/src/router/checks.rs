//! The access phase of a request, in nginx's order: the rate and connection limits
//! (`limit_req`, `limit_conn`), then the source ranges (`allow`/`deny`) and authentication,
//! joined as `satisfy` says;
//! and the request-size checks (`large_client_header_buffers`, `client_max_body_size`).

use http::header;
use pingora::http::RequestHeader;
use pingora::prelude::Session;
use pingora::Result;
use sluice_controller::policy::Auth;
use sluice_controller::Route;

use super::{RequestCtx, Router};
use crate::auth::{self, Original, Verdict};
use crate::limits::Refusal;
use crate::respond::Local;
use crate::traffic;

impl Router {
    /// The limits, source ranges and authentication of `route` for this request: `Some` is the
    /// refusal to send. On success the connection slot and the auth headers go into `ctx`.
    pub(super) async fn access_checks(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        route: &Route,
        scheme: &'static str,
    ) -> Result<Option<Local>> {
        let policy = &route.policy;
        if policy.denied {
            return Ok(Some(Local::new(503, "503 service unavailable: this location is denied\n")?));
        }
        let req = session.req_header();
        if let (Some(limits), Some(client)) = (&policy.limits, ctx.facts.client) {
            match self.limiter.admit(&route.namespace, &route.ingress, limits, client) {
                Ok(slot) => ctx._connection_slot = slot,
                Err(refusal) => {
                    let status = match refusal {
                        Refusal::Rate => limits.status,
                        Refusal::Connections => limits.connection_status,
                    };
                    return Ok(Some(Local::new(status, "too many requests\n")?));
                }
            }
        }
        // nginx's access phase: with `satisfy all` both the source ranges and authentication
        // must pass; with `satisfy any` one is enough, and when both refuse, authentication's
        // answer (its 401 challenge, say) is the one sent.
        let ranges =
            (!policy.source.is_empty()).then(|| ctx.facts.client.is_some_and(|c| policy.source.permits(c)));
        match (ranges, policy.satisfy_any && policy.auth.is_some()) {
            (Some(true), true) => return Ok(None),
            (Some(false), false) => return Ok(Some(Local::new(403, "403 forbidden\n")?)),
            _ => {}
        }
        if let Some(auth) = &policy.auth {
            let verdict = match auth {
                Auth::Basic { challenge, users } => auth::basic(req, users, challenge).await,
                Auth::External(external) => {
                    let facts = ctx.facts.with_request(req);
                    let original = Original {
                        req,
                        scheme,
                        host: ctx.facts.raw_host(req),
                        client: ctx.facts.client,
                        zone: (&route.namespace, &route.ingress),
                        cache_key: external.cache_key.as_ref().map(|parts| traffic::hash_key(parts, &facts)),
                    };
                    self.auth.check(&self.subrequests, external, &original).await
                }
                Auth::Broken => Verdict::Deny { status: 503, headers: Vec::new(), cookies: Vec::new() },
            };
            match verdict {
                Verdict::Allow { headers, cookies } => {
                    (ctx.auth_headers, ctx.auth_cookies) = (headers, cookies)
                }
                Verdict::Deny { status, headers, cookies } => {
                    let body = match status {
                        401 => "401 authorization required\n",
                        403 => "403 forbidden\n",
                        302 => "",
                        503 => "503 service unavailable: authentication is misconfigured\n",
                        _ => "500 authentication failed\n",
                    };
                    let mut resp = Local::new(status, body)?;
                    for (name, value) in headers {
                        resp = resp.header(name, value)?;
                    }
                    for cookie in cookies {
                        resp = resp.append(header::SET_COOKIE, cookie)?;
                    }
                    return Ok(Some(resp));
                }
            }
        }
        Ok(None)
    }
}

/// nginx's `large_client_header_buffers` check: 414 for a request line longer than one buffer,
/// 400 for a longer header line or more header bytes than all buffers. (Pingora itself stops at
/// 256 headers and 1 MiB.)
pub(super) fn oversized(req: &RequestHeader, settings: &sluice_controller::GlobalSettings) -> Option<u16> {
    let uri_len = req.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len + req.method.as_str().len() + 10 > settings.header_line_max {
        return Some(414);
    }
    let mut total = 0;
    for (name, value) in req.headers.iter() {
        let line = name.as_str().len() + value.len() + 4;
        if line > settings.header_line_max {
            return Some(400);
        }
        total += line;
    }
    (total > settings.header_total_max).then_some(400)
}

/// `block-user-agents` / `block-referers`: whether the request is refused (403).
pub(super) fn blocked(req: &RequestHeader, settings: &sluice_controller::GlobalSettings) -> bool {
    let matches = |name: header::HeaderName, keys: &[sluice_controller::BlockKey]| {
        !keys.is_empty()
            && req
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| keys.iter().any(|k| k.matches(v)))
    };
    matches(header::USER_AGENT, &settings.blocked_agents)
        || matches(header::REFERER, &settings.blocked_referers)
}
