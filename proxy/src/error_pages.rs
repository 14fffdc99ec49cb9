//! `custom-http-errors`: when the upstream answers with a listed status, Sluice asks the error
//! backend (`default-backend`, else the catch-all default backend) for the page, with
//! ingress-nginx's headers (`X-Code`, `X-Format`, `X-Original-URI`, `X-Namespace`,
//! `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port`, `X-Request-ID`), and sends that page
//! instead of the upstream's.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Empty;
use sluice_controller::Endpoint;

use crate::subrequest::Subrequests;

/// Largest error page accepted.
const MAX_PAGE: usize = 1024 * 1024;
/// How long fetching an error page may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the error backend is told about the failed request.
#[derive(Debug)]
pub struct ErrorContext<'a> {
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
    let mut req = Request::get(format!("http://{endpoint}/"))
        .header(http::header::HOST, ctx.host)
        .header("x-code", ctx.code)
        .header("x-original-uri", ctx.original_uri)
        .header("x-namespace", ctx.namespace)
        .header("x-ingress-name", ctx.ingress)
        .header("x-service-name", ctx.service)
        .header("x-service-port", ctx.service_port)
        .header("x-request-id", ctx.request_id);
    if let Some(format) = ctx.format {
        req = req.header("x-format", format.clone());
    }
    let req = req.body(Empty::new()).ok()?;
    match client.send(req, FETCH_TIMEOUT, MAX_PAGE).await {
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
