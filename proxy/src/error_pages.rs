//! `custom-http-errors`: when the upstream answers with a listed status, Sluice asks the error
//! backend (`default-backend`, else the catch-all default backend) for the page and sends that
//! page (its status, content type and body) instead of the upstream's.
//!
//! The request is the one ingress-nginx's `@custom_<upstream>_<code>` location sends after its
//! internal redirect (checked against a real nginx): the original method, the path rewritten to
//! `/` with the original query string (`rewrite (.*) / break`), the client's headers and body,
//! `Host` as the client sent it, and ingress-nginx's headers `X-Code`, `X-Format`,
//! `X-Original-URI`, `X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port` and
//! `X-Request-ID`, which replace any client header of the same name (as `proxy_set_header`
//! does). The forwarding headers (`X-Forwarded-*`, `X-Real-IP`) are not sent: nginx's location
//! sets its own headers, so the server-level ones are not inherited. A request body is resent
//! when it was small enough to be kept for retries; otherwise the page is asked for without it.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use sluice_controller::Endpoint;

use crate::forwarding;
use crate::subrequest::Subrequests;

/// Largest error page accepted.
const MAX_PAGE: usize = 1024 * 1024;
/// How long fetching an error page may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the error backend is told about the failed request.
#[derive(Debug)]
pub struct ErrorContext<'a> {
    /// The client's request method.
    pub method: &'a Method,
    /// The client's query string.
    pub query: Option<&'a str>,
    /// The client's request headers.
    pub headers: &'a HeaderMap,
    /// The client's request body, when it was kept.
    pub body: Option<Bytes>,
    /// The upstream's status code.
    pub code: u16,
    /// The client's `Accept` header.
    pub format: Option<&'a HeaderValue>,
    /// The original path and query.
    pub original_uri: &'a str,
    /// The Ingress's namespace.
    pub namespace: &'a str,
    /// The Ingress's name.
    pub ingress: &'a str,
    /// The Service that answered.
    pub service: &'a str,
    /// The Service port as the Ingress names it.
    pub service_port: &'a str,
    /// The request ID.
    pub request_id: &'a str,
    /// The request host.
    pub host: &'a str,
}

/// A page from the error backend.
#[derive(Debug)]
pub struct ErrorPage {
    /// Its status (ingress-nginx passes the error backend's status on).
    pub status: u16,
    /// Its content type.
    pub content_type: Option<HeaderValue>,
    /// Its body.
    pub body: Bytes,
}

/// Fetches the error page from `endpoint` through the shared client; `None` when the error
/// backend fails (the original response is sent then).
pub async fn fetch(client: &Subrequests, endpoint: Endpoint, ctx: &ErrorContext<'_>) -> Option<ErrorPage> {
    let uri = match ctx.query {
        Some(query) => format!("http://{endpoint}/?{query}"),
        None => format!("http://{endpoint}/"),
    };
    let mut req = Request::builder().method(ctx.method.clone()).uri(uri);
    let headers = req.headers_mut()?;
    for (name, value) in ctx.headers {
        // As every subrequest: no hop-by-hop headers, Host or Expect, and the body's framing is
        // recomputed for the body sent. The X- headers below replace the client's (`insert`).
        if !forwarding::not_for_subrequest(name, false) {
            headers.append(name, value.clone());
        }
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("host", ctx.host);
    set("x-code", &ctx.code.to_string());
    set("x-original-uri", ctx.original_uri);
    set("x-namespace", ctx.namespace);
    set("x-ingress-name", ctx.ingress);
    set("x-service-name", ctx.service);
    set("x-service-port", ctx.service_port);
    set("x-request-id", ctx.request_id);
    // nginx leaves out a header set to an empty value: no Accept, no X-Format (not even the
    // client's).
    match ctx.format.filter(|f| !f.is_empty()) {
        Some(format) => headers.insert(HeaderName::from_static("x-format"), format.clone()),
        None => headers.remove("x-format"),
    };
    let body = ctx.body.clone().unwrap_or_default();
    if !body.is_empty() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let body = Full::new(body).map_err(|never| match never {}).boxed_unsync();
    let req = req.body(body).ok()?;
    match client.send_body(req, FETCH_TIMEOUT, MAX_PAGE).await {
        Ok((parts, body)) => Some(ErrorPage {
            status: parts.status.as_u16(),
            content_type: parts.headers.get(http::header::CONTENT_TYPE).cloned(),
            body,
        }),
        Err(error) => {
            tracing::warn!(%endpoint, %error, "Error page fetch failed");
            None
        }
    }
}
