//! Responses Sluice answers itself (404, 413, 503, redirects, CORS preflight), with a short
//! plain-text body.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::prelude::Session;
use pingora::Result;

/// A local response under construction.
pub struct Local {
    resp: ResponseHeader,
    body: &'static str,
}

impl Local {
    /// A response with `status` and a plain-text `body`.
    pub fn new(status: u16, body: &'static str) -> Result<Self> {
        let mut resp = ResponseHeader::build(status, Some(6))?;
        resp.insert_header(header::SERVER, "sluice")?;
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
        if !self.body.is_empty() {
            self.resp.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
        }
        self.resp.insert_header(header::CONTENT_LENGTH, self.body.len())?;
        let head_only = session.req_header().method == http::Method::HEAD || self.body.is_empty();
        session.write_response_header(Box::new(self.resp), head_only).await?;
        if !head_only {
            session.write_response_body(Some(Bytes::from_static(self.body.as_bytes())), true).await?;
        }
        Ok(())
    }
}
