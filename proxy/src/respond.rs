//! Responses Sluice answers itself (404, 413, 503, redirects, CORS preflight) with a short
//! plain-text body, and the error backend's pages it relays (`custom-http-errors`).

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::prelude::Session;
use pingora::Result;

/// A local response under construction.
pub struct Local {
    resp: ResponseHeader,
    body: Bytes,
}

impl Local {
    /// A response with `status` and a plain-text `body`.
    pub fn new(status: u16, body: &'static str) -> Result<Self> {
        let content_type =
            (!body.is_empty()).then_some(HeaderValue::from_static("text/plain; charset=utf-8"));
        Self::page(status, content_type, Bytes::from_static(body.as_bytes()))
    }

    /// A response with `status`, a body and its content type (an error backend's page).
    pub fn page(status: u16, content_type: Option<HeaderValue>, body: Bytes) -> Result<Self> {
        let mut resp = ResponseHeader::build(status, Some(6))?;
        resp.insert_header(header::SERVER, "sluice")?;
        if let Some(content_type) = content_type {
            resp.insert_header(header::CONTENT_TYPE, content_type)?;
        }
        Ok(Local { resp, body })
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: impl TryInto<HeaderValue>) -> Result<Self> {
        self.resp.insert_header(name, value)?;
        Ok(self)
    }

    /// Appends a header (for repeated ones such as `Set-Cookie`).
    pub fn append(mut self, name: HeaderName, value: HeaderValue) -> Result<Self> {
        self.resp.append_header(name, value)?;
        Ok(self)
    }

    /// The header, for callers that add several (CORS).
    pub fn header_mut(&mut self) -> &mut ResponseHeader {
        &mut self.resp
    }

    /// Sends it (the body is left out for HEAD requests).
    pub async fn send(mut self, session: &mut Session, hsts: Option<&HeaderValue>) -> Result<()> {
        if let Some(hsts) = hsts {
            self.resp.insert_header(header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
        }
        self.resp.insert_header(header::CONTENT_LENGTH, self.body.len())?;
        let head_only = session.req_header().method == http::Method::HEAD || self.body.is_empty();
        session.write_response_header(Box::new(self.resp), head_only).await?;
        if !head_only {
            session.write_response_body(Some(self.body), true).await?;
        }
        Ok(())
    }
}

/// nginx's `lingering_time`: the longest a refused request's body is read and thrown away.
const LINGERING_TIME: Duration = Duration::from_secs(30);
/// nginx's `lingering_timeout`: the longest wait for the next piece of it.
const LINGERING_TIMEOUT: Duration = Duration::from_secs(5);

/// nginx's lingering close, after an answer sent before the request body was read (413): the
/// rest of the body is read and thrown away (for at most 30 s, and 5 s between reads), so that a
/// client still writing reads the answer instead of a connection reset. The connection is closed
/// afterwards all the same.
pub async fn linger(session: &mut Session) {
    let deadline = tokio::time::Instant::now() + LINGERING_TIME;
    loop {
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now()).min(LINGERING_TIMEOUT);
        match tokio::time::timeout(wait, session.read_request_body()).await {
            Ok(Ok(Some(_))) if !wait.is_zero() => {}
            _ => return,
        }
    }
}
