//! Authentication annotations: `auth-type: basic` with `auth-secret` (`auth-secret-type`
//! `auth-file` or `auth-map`) and `auth-realm`; external auth with `auth-url`, `auth-method`,
//! `auth-signin` (+ `-redirect-param`), `auth-response-headers`, `auth-request-redirect`,
//! `auth-cache-key`, `auth-cache-duration` and `auth-always-set-cookie`.
//!
//! A bad value fails closed: the routes answer 503 rather than serve without authentication.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::Reader;
use crate::policy::{render_url, ExternalAuth, UrlPart};
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
    if let Some(external) = parse_external(r) {
        return Some(external);
    }
    let kind = r.get("auth-type")?;
    if kind != "basic" {
        r.invalid("auth-type", kind, "only basic is supported; the routes are refused (503)");
        return Some(AuthSpec::Broken);
    }
    let Some(secret) = r.parse("auth-secret", values::object_name) else {
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

/// External auth when `auth-url` is set and not empty (ingress-nginx's "off"): complete, or
/// `Broken` when the URL is unusable.
pub(super) fn parse_external(r: &mut Reader<'_>) -> Option<AuthSpec> {
    r.get("auth-url").filter(|v| !v.is_empty())?;
    Some(external(r).map_or(AuthSpec::Broken, |e| AuthSpec::External(Box::new(e))))
}

fn external(r: &mut Reader<'_>) -> Option<ExternalAuth> {
    let url = r.parse("auth-url", |v| absolute_url(v).map(|(parts, _)| parts))?;
    let method = r
        .parse("auth-method", |v| match v.to_ascii_uppercase().as_str() {
            m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => {
                http::Method::from_bytes(m.as_bytes()).map_err(|_| "bad method")
            }
            _ => Err("not an HTTP method"),
        })
        .unwrap_or(http::Method::GET);
    let signin = r.parse("auth-signin", |v| url_parts(v, true));
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
        set_headers: Vec::new(),
    })
}

/// An absolute http(s) URL with nginx variables (`auth-url`, `mirror-target`), and the host name
/// it names when that is not a variable.
pub(super) fn absolute_url(v: &str) -> Result<(Vec<UrlPart>, Option<String>), &'static str> {
    let parts = url_parts(v, false)?;
    // The variables can only fill in text; sample requests show the shape is a URL, and whether
    // its host depends on them.
    let sample = |host: &str, uri: &str| render_url(&parts, "https", host, uri).parse::<http::Uri>().ok();
    let (Some(one), Some(two)) = (sample("host.example", "/p?q"), sample("other.example", "/r")) else {
        return Err("not a URL");
    };
    match (one.scheme_str(), one.host()) {
        (Some("http" | "https"), Some(host)) => {
            let fixed = two.host() == Some(host);
            Ok((parts.clone(), fixed.then(|| host.to_owned())))
        }
        _ => Err("must be an absolute http or https URL"),
    }
}

/// `auth-url` or `auth-signin`: an http(s) URL (or, when `relative` is allowed, an absolute
/// path) with a few nginx variables, parsed into parts (never templated).
fn url_parts(v: &str, relative: bool) -> Result<Vec<UrlPart>, &'static str> {
    let absolute = v.starts_with("http://") || v.starts_with("https://");
    if !(absolute || relative && v.starts_with('/') && !v.starts_with("//")) {
        return Err(if relative {
            "must be an http or https URL, or a path"
        } else {
            "must be an absolute http or https URL"
        });
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
            "host" => UrlPart::Host,
            "http_host" => UrlPart::HttpHost,
            "scheme" | "pass_access_scheme" => UrlPart::Scheme,
            "request_uri" => UrlPart::RequestUri,
            "escaped_request_uri" => UrlPart::EscapedRequestUri,
            _ => {
                return Err(
                    "variables must be $host, $http_host, $scheme, $request_uri or $escaped_request_uri",
                )
            }
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
        let (digits, scale) = match token.as_bytes()[token.len() - 1] {
            b's' => (&token[..token.len() - 1], 1),
            b'm' => (&token[..token.len() - 1], 60),
            b'h' => (&token[..token.len() - 1], 3600),
            _ => return Err("durations end in s, m or h"),
        };
        let n: u64 = digits.parse().map_err(|_| "expected status codes followed by a duration such as 5m")?;
        let d = Duration::from_secs(n.checked_mul(scale).ok_or("duration too long")?);
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

#[cfg(test)]
mod tests {
    use super::cache_durations;
    use std::time::Duration;

    #[test]
    fn cache_durations_take_status_lists_and_reject_odd_units() {
        let parsed = cache_durations("200 202 5m, 401 10s").expect("valid");
        assert_eq!(
            parsed,
            vec![
                (200, Duration::from_secs(300)),
                (202, Duration::from_secs(300)),
                (401, Duration::from_secs(10))
            ]
        );
        assert_eq!(cache_durations("1h").expect("valid").len(), 10, "no codes means nginx's default set");
        // A multi-byte last character once split a string inside a character.
        for bad in ["5é", "200 5x", "200", "h", "200 99999999999999999h"] {
            assert!(cache_durations(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
