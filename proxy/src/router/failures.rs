//! What happens when an attempt fails: `proxy-next-upstream` decides whether another endpoint
//! is tried, the fallback Service gets the last chance after connect failures, and a request
//! that failed for good is answered as nginx answers it (504 for timeouts, 502 otherwise, or the
//! `custom-http-errors` page).

use pingora::prelude::{HttpPeer, Session};
use pingora::proxy::FailToProxy;
use pingora::{Error, ErrorSource, ErrorType};

use super::{RequestCtx, Router};
use crate::pingora_log;
use crate::traffic::Target;
use crate::upstream;

impl Router {
    /// A failed connect is retried as `proxy-next-upstream` allows, on another endpoint when
    /// there is one; when no attempt is left, the fallback Service gets one more.
    pub(super) fn connect_failed(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.failed = ctx.endpoint;
        let Some(route) = ctx.route.clone() else {
            return e;
        };
        let next = &route.policy.upstream.next_upstream;
        if upstream::connect_retryable(&e, next) && ctx.attempts.another_allowed(next) {
            e.set_retry(true);
        } else if let Some(fallback) = route.policy.fallback.as_ref().filter(|b| !b.endpoints.is_empty()) {
            if ctx.target != Target::Fallback {
                ctx.target = Target::Fallback;
                ctx.backend = Some(fallback.clone());
                ctx.failed = None;
                e.set_retry(true);
            }
        }
        e
    }

    /// After the connection was made: retries what `proxy-next-upstream` names (a timeout or an
    /// error before the response header, or a listed status), never after the response began,
    /// and keeps Pingora's rule of retrying idempotent requests on a stale pooled connection.
    pub(super) fn proxy_failed(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let truncated = session.as_ref().retry_buffer_truncated();
        let method = &session.req_header().method;
        let started = session.response_written().is_some();
        let policy_retry = ctx.route.as_ref().is_some_and(|route| {
            let next = &route.policy.upstream.next_upstream;
            upstream::proxy_retryable(&e, next, method) && ctx.attempts.another_allowed(next)
        });
        if started || truncated {
            e.set_retry(false);
        } else if policy_retry {
            ctx.failed = ctx.endpoint;
            e.set_retry(true);
        } else if !method.is_idempotent() {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        e
    }

    /// Answers a request that failed: upstream timeouts are 504 and other upstream failures 502,
    /// as nginx answers them; an explicit status (413, 503) is sent as is. A status listed in
    /// `custom-http-errors` gets the error backend's page, as nginx's `error_page` does.
    pub(super) async fn answer_failure(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
            etype => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match etype {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if code > 0 && session.response_written().is_none() {
            let sent = match self.send_error_page(session, code, ctx, true).await {
                Ok(true) => Ok(()),
                Ok(false) => session.respond_error(code).await,
                Err(e) => Err(e),
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "Could not send the error response");
            }
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    /// Whether Pingora's "Fail to proxy" ERROR line is left out: a failure the client caused
    /// (it closed the connection, timed out, or sent a bad request) is not something an operator
    /// can fix, so it is counted (`sluice_proxy_events_total{event="downstream_gone"}`) and
    /// logged at DEBUG, as nginx logs "client prematurely closed connection" at `info`. Upstream
    /// and internal failures keep their ERROR line.
    pub(super) fn quiet_failure(&self, session: &Session, e: &Error) -> bool {
        if *e.esource() != ErrorSource::Downstream {
            return false;
        }
        pingora_log::count(pingora_log::Event::DownstreamGone);
        tracing::debug!(error = %e, request = %session.as_ref().request_summary(), "Client-side failure");
        true
    }
}
