//! Authentication annotations: `auth-type: basic` with `auth-secret` (`auth-secret-type`
//! `auth-file` or `auth-map`) and `auth-realm`; external auth with `auth-url`, `auth-method`,
//! `auth-signin` (+ `-redirect-param`), `auth-response-headers`, `auth-request-redirect`,
//! `auth-cache-key`, `auth-cache-duration` and `auth-always-set-cookie`.
//!
//! A bad value fails closed: the routes answer 503 rather than serve without authentication.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::Reader;
use crate::policy::{ExternalAuth, UrlPart};
use crate::translate::values;

/// What the auth annotations ask for, before the Secret is read.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthSpec {
    /// Basic auth from a Secret in the Ingress's namespace.
    Basic {
        /// The Secret's name.
        secret: String,
        /// `auth-secret-type: auth-map`.
        map: bool,
        /// The `WWW-Authenticate` challenge.
        challenge: HeaderValue,
    },
    /// External auth, complete.
    External(Box<ExternalAuth>),
    /// Unusable: refuse every request.
    Broken,
}

pub(super) fn parse(r: &mut Reader<'_>) -> Option<AuthSpec> {
    if r.get("auth-url").is_some() {
        return Some(external(r).map_or(AuthSpec::Broken, |e| AuthSpec::External(Box::new(e))));
    }
    let kind = r.get("auth-type")?;
    if kind != "basic" {
        r.invalid("auth-type", kind, "only basic is supported; the routes are refused (503)");
        return Some(AuthSpec::Broken);
    }
    let Some(secret) = r.parse("auth-secret", |v| {
        let name = v.rsplit('/').next().unwrap_or(v);
        let ok = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        ok.then(|| v.to_owned()).ok_or("not a Secret name")
    }) else {
        r.invalid("auth-type", kind, "basic auth needs auth-secret; the routes are refused (503)");
        return Some(AuthSpec::Broken);
    };
    let map = r
        .parse("auth-secret-type", |v| match v {
            "auth-file" => Ok(false),
            "auth-map" => Ok(true),
            _ => Err("must be auth-file or auth-map"),
        })
        .unwrap_or(false);
    let realm = r
        .parse("auth-realm", |v| {
            (v.len() <= 256 && v.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'))
                .then(|| v.to_owned())
                .ok_or("must be printable ASCII without quotes")
        })
        .unwrap_or_default();
    let challenge = HeaderValue::try_from(format!("Basic realm=\"{realm}\"")).ok()?;
    Some(AuthSpec::Basic { secret, map, challenge })
}

fn external(r: &mut Reader<'_>) -> Option<ExternalAuth> {
    let url = r.parse("auth-url", |v| {
        let uri: http::Uri = v.parse().map_err(|_| "not a URL")?;
        match (uri.scheme_str(), uri.host()) {
            (Some("http"), Some(_)) => Ok(uri),
            (Some("https"), _) => Err("https auth URLs are not supported yet; use the in-cluster http URL"),
            _ => Err("must be an absolute http URL"),
        }
    })?;
    let method = r
        .parse("auth-method", |v| match v.to_ascii_uppercase().as_str() {
            m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => {
                http::Method::from_bytes(m.as_bytes()).map_err(|_| "bad method")
            }
            _ => Err("not an HTTP method"),
        })
        .unwrap_or(http::Method::GET);
    let signin = r.parse("auth-signin", signin_parts);
    let redirect_param = r
        .parse("auth-signin-redirect-param", |v| {
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
                .then(|| v.to_owned())
                .ok_or("not a query parameter name")
        })
        .unwrap_or_else(|| "rd".to_owned());
    let response_headers = r
        .parse("auth-response-headers", |v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|h| {
                    HeaderName::try_from(h.to_ascii_lowercase()).map_err(|_| "not a list of header names")
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_default();
    let request_redirect = r.header("auth-request-redirect");
    let cache_key = r.parse("auth-cache-key", values::key_parts);
    let cache_for = r
        .parse("auth-cache-duration", cache_durations)
        .unwrap_or_else(|| [200, 202, 401].into_iter().map(|c| (c, Duration::from_secs(300))).collect());
    let always_set_cookie = r.parse("auth-always-set-cookie", values::boolean).unwrap_or(false);
    Some(ExternalAuth {
        url,
        method,
        signin,
        redirect_param,
        response_headers,
        request_redirect,
        cache_key,
        cache_for,
        always_set_cookie,
    })
}

/// `auth-signin`: an http(s) URL with a few nginx variables, parsed into parts (never templated).
fn signin_parts(v: &str) -> Result<Vec<UrlPart>, &'static str> {
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        return Err("must be an absolute http or https URL");
    }
    if v.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'"') {
        return Err("must not contain spaces, quotes or control characters");
    }
    let mut parts = Vec::new();
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        if i > 0 {
            parts.push(UrlPart::Literal(rest[..i].to_owned()));
        }
        let after = &rest[i + 1..];
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        parts.push(match &after[..len] {
            "host" | "http_host" => UrlPart::Host,
            "scheme" | "pass_access_scheme" => UrlPart::Scheme,
            "request_uri" => UrlPart::RequestUri,
            "escaped_request_uri" => UrlPart::EscapedRequestUri,
            _ => return Err("variables must be $host, $scheme, $request_uri or $escaped_request_uri"),
        });
        rest = &after[len..];
    }
    if !rest.is_empty() {
        parts.push(UrlPart::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// `200 202 401 5m` or `200 10s, 401 1m`: status lists, each followed by a duration.
fn cache_durations(v: &str) -> Result<Vec<(u16, Duration)>, &'static str> {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for token in v.split([' ', ',']).filter(|t| !t.is_empty()) {
        if let Ok(code) = token.parse::<u16>() {
            pending.push(code);
            continue;
        }
        let (digits, unit) = token.split_at(token.len() - 1);
        let n: u64 = digits.parse().map_err(|_| "expected status codes followed by a duration such as 5m")?;
        let d = match unit {
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err("durations end in s, m or h"),
        };
        let codes = if pending.is_empty() {
            vec![200, 201, 204, 206, 301, 302, 303, 304, 307, 308]
        } else {
            std::mem::take(&mut pending)
        };
        out.extend(codes.into_iter().map(|c| (c, d)));
    }
    if !pending.is_empty() || out.is_empty() {
        return Err("expected status codes followed by a duration such as 5m");
    }
    Ok(out)
}
