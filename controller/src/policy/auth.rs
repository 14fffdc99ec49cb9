//! Authentication in front of a route: basic auth, external auth (`auth-url`) and the URLs it
//! builds per request from nginx variables.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::HashPart;
use crate::uri::percent_encode_into;

/// Authentication in front of a route.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// `auth-type: basic`: the `WWW-Authenticate` value and the users of `auth-secret`.
    Basic {
        /// `Basic realm="..."` from `auth-realm`.
        challenge: HeaderValue,
        /// The users.
        users: Arc<crate::htpasswd::Htpasswd>,
    },
    /// `auth-url` and its companions.
    External(Arc<ExternalAuth>),
    /// The auth annotations are unusable (a missing Secret, a bad URL): every request is refused
    /// with 503 rather than served unauthenticated.
    Broken,
}

/// External authentication (`auth-url`), compatible with oauth2-proxy deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAuth {
    /// `auth-url`: an `http://` or `https://` URL, with the variables of [`UrlPart`] evaluated
    /// per request (`https://$host/oauth2/auth`); its host is resolved per request.
    pub url: Vec<UrlPart>,
    /// `auth-method` (GET).
    pub method: http::Method,
    /// `auth-signin`: where 401s are redirected, with `$host`, `$scheme`, `$request_uri`,
    /// `$escaped_request_uri` evaluated per request.
    pub signin: Option<Vec<UrlPart>>,
    /// `auth-signin-redirect-param` (`rd`): added with the original URL unless present.
    pub redirect_param: String,
    /// `auth-response-headers`: copied from the auth response to the upstream request.
    pub response_headers: Vec<HeaderName>,
    /// `auth-request-redirect`: the `X-Auth-Request-Redirect` value (default: the request URI).
    pub request_redirect: Option<HeaderValue>,
    /// `auth-cache-key`: the cache key, evaluated per request (no cache when unset).
    pub cache_key: Option<Vec<HashPart>>,
    /// `auth-cache-duration` (`200 202 401 5m`): which auth answers are cached, for how long.
    pub cache_for: Vec<(u16, Duration)>,
    /// `auth-always-set-cookie`: pass the auth response's `Set-Cookie` on every answer.
    pub always_set_cookie: bool,
    /// `auth-proxy-set-headers`: headers (from a ConfigMap) set on the auth request.
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
}

/// Writes an `auth-url` or `auth-signin` URL for one request.
pub fn render_url(parts: &[UrlPart], scheme: &str, host: &str, request_uri: &str) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            UrlPart::Literal(s) => out.push_str(s),
            UrlPart::Host => out.push_str(host_name(host)),
            UrlPart::HttpHost => out.push_str(host),
            UrlPart::Scheme => out.push_str(scheme),
            UrlPart::RequestUri => out.push_str(request_uri),
            UrlPart::EscapedRequestUri => out.push_str(&escape_component(request_uri)),
        }
    }
    out
}

/// nginx's `$host`: the Host header without its port (`[::1]:80` gives `[::1]`).
pub fn host_name(host: &str) -> &str {
    match host.rfind(']') {
        Some(end) if host.starts_with('[') => &host[..=end],
        _ => host.split(':').next().unwrap_or(host),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a query value).
pub fn escape_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    percent_encode_into(&mut out, s.as_bytes(), |b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
    out
}

/// A piece of an `auth-url` or `auth-signin` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlPart {
    /// Text copied as is.
    Literal(String),
    /// `$host`: the request's host name, without a port.
    Host,
    /// `$http_host`: the Host header as sent, port included.
    HttpHost,
    /// `$scheme` / `$pass_access_scheme`: `http` or `https`.
    Scheme,
    /// `$request_uri`: path and query as sent.
    RequestUri,
    /// `$escaped_request_uri`: the same, percent-encoded for a query value.
    EscapedRequestUri,
}
