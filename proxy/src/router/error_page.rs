//! `custom-http-errors`: fetching the error backend's page for an upstream status or for one
//! Sluice produced itself, and sending it.

use crate::respond::Local;
use http::header;
use pingora::prelude::Session;
use pingora::Result;

use super::{RequestCtx, Router};
use crate::error_pages::{self, ErrorContext, ErrorPage};
use crate::traffic::Target;

impl Router {
    /// Sends the `custom-http-errors` page for a status Sluice produced itself (503 without
    /// endpoints, 502, 504). `Ok(false)` when no page applies. `closing`: the connection is
    /// closed afterwards (after a proxy failure), which HTTP/1 clients are told.
    pub(super) async fn send_error_page(
        &self,
        session: &mut Session,
        status: u16,
        ctx: &RequestCtx,
        closing: bool,
    ) -> Result<bool> {
        let Some(page) = self.error_page(session, status, ctx).await else {
            return Ok(false);
        };
        if closing {
            // Pingora writes the Connection header from its own keep-alive state: turning it off
            // is what tells an HTTP/1 client not to reuse the connection.
            session.set_keepalive(None);
        }
        Local::page(page.status, page.content_type, page.body)?.send(session, ctx.hsts()).await?;
        Ok(true)
    }

    /// The `custom-http-errors` page for `status`, when the route lists it and an error backend
    /// (the `default-backend` annotation, else the catch-all default backend) answers.
    pub(super) async fn error_page(
        &self,
        session: &Session,
        status: u16,
        ctx: &RequestCtx,
    ) -> Option<ErrorPage> {
        let route = ctx.route.as_ref()?;
        if route.policy.custom_errors.binary_search(&status).is_err() || ctx.target == Target::DefaultBackend
        {
            return None;
        }
        let live = ctx.live.as_ref()?;
        let error_backend = route
            .policy
            .error_backend
            .clone()
            .or_else(|| live.table.default_route().map(|r| r.backend.clone()))?;
        let endpoint = error_backend.select(None)?;
        let req = session.req_header();
        let port = ctx.backend.as_ref().map_or("", |b| b.key.port.as_str());
        let kept = !session.as_ref().retry_buffer_truncated();
        let context = ErrorContext {
            method: &req.method,
            query: req.uri.query(),
            headers: &req.headers,
            body: session.as_ref().get_retry_buffer().filter(|_| kept),
            code: status,
            format: req.headers.get(header::ACCEPT),
            original_uri: crate::facts::request_uri(req),
            namespace: &route.namespace,
            ingress: &route.ingress,
            service: ctx.service(),
            service_port: port,
            request_id: &ctx.request_id,
            host: ctx.facts.raw_host(req),
        };
        error_pages::fetch(&self.subrequests, endpoint, &context).await
    }
}
