//! The end of a request: EWMA samples, metrics and the access log.

use std::sync::Arc;

use pingora::prelude::Session;
use pingora::Error;
use sluice_controller::policy::Balance;

use super::{client_ip, RequestCtx, Router};
use crate::access_log::{self, AccessEntry};
use crate::metrics::series::SeriesKey;
use crate::metrics::{self, RequestLabels};
use crate::traffic::Target;

impl Router {
    /// Runs once per request at the end: EWMA samples, metrics and the access log.
    pub(super) async fn finish_request(
        &self,
        session: &mut Session,
        e: Option<&Error>,
        ctx: &mut RequestCtx,
    ) {
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
