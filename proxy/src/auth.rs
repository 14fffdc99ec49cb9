//! Authentication in front of a route: basic auth against the `auth-secret` users, and external
//! auth (`auth-url`), which asks an auth service (oauth2-proxy, ...) about each request as
//! nginx's `auth_request` does.
//!
//! External auth: the auth service gets the client's headers (no body), plus `X-Original-URL`,
//! `X-Original-Method`, `X-Sent-From`, `X-Real-IP`, `X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host` and `X-Auth-Request-Redirect`. A 2xx answer lets the request through with
//! the `auth-response-headers` copied onto it; 401 redirects to `auth-signin` (with `rd=` the
//! original URL) or is passed on with its `WWW-Authenticate`; 403 is passed on; anything else,
//! or no answer, is a 500. Answers can be cached per `auth-cache-key`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::header::{self, HeaderName, HeaderValue};
use http::Request;
use http_body_util::Empty;
use pingora::http::RequestHeader;
use sluice_controller::htpasswd::Htpasswd;
use sluice_controller::policy::{escape_component, render_url, ExternalAuth, UrlPart};

use crate::bounded::make_room;
use crate::facts::request_uri;
use crate::forwarding::not_for_subrequest;
use crate::subrequest::Subrequests;

/// How long an auth service may take to answer.
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an auth answer's body read (and dropped) so that its connection can be reused.
const MAX_AUTH_BODY: usize = 64 * 1024;
/// Cached external-auth answers kept at most.
const MAX_CACHED: usize = 10_000;
/// The longest `auth-cache-key` value, and the most bytes of copied headers, an answer may
/// have to be cached: with [`MAX_CACHED`], the cache holds at most about 50 MiB whatever
/// clients send.
const MAX_CACHED_KEY: usize = 1024;
const MAX_CACHED_HEADERS: usize = 4096;

/// The outcome of an authentication check.
#[derive(Debug)]
pub enum Verdict {
    /// Go on, adding these headers to the upstream request and these cookies to the response.
    Allow {
        /// `auth-response-headers` values.
        headers: Vec<(HeaderName, HeaderValue)>,
        /// `Set-Cookie` values from the auth service.
        cookies: Vec<HeaderValue>,
    },
    /// Answer with this status and headers.
    Deny {
        /// The status.
        status: u16,
        /// Headers such as `WWW-Authenticate` or `Location`.
        headers: Vec<(HeaderName, HeaderValue)>,
        /// `Set-Cookie` values to send anyway (`auth-always-set-cookie`).
        cookies: Vec<HeaderValue>,
    },
}

impl Verdict {
    fn deny(status: u16, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        Verdict::Deny { status, headers, cookies: Vec::new() }
    }
}

/// Basic auth: 401 with the challenge unless the `Authorization` header names a user whose
/// password matches. bcrypt hashes are checked off the request thread.
pub async fn basic(req: &RequestHeader, users: &Arc<Htpasswd>, challenge: &HeaderValue) -> Verdict {
    let denied = || Verdict::deny(401, vec![(header::WWW_AUTHENTICATE, challenge.clone())]);
    let Some((user, password)) = credentials(req) else {
        return denied();
    };
    let ok = if users.is_slow(&user) {
        let users = users.clone();
        tokio::task::spawn_blocking(move || users.verify(&user, &password)).await.unwrap_or(false)
    } else {
        users.verify(&user, &password)
    };
    if ok {
        Verdict::Allow { headers: Vec::new(), cookies: Vec::new() }
    } else {
        denied()
    }
}

fn credentials(req: &RequestHeader) -> Option<(String, String)> {
    let value = req.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 4096 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What the external check needs to know about the request.
pub struct Original<'a> {
    /// The request header.
    pub req: &'a RequestHeader,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The request host.
    pub host: &'a str,
    /// The resolved client.
    pub client: Option<IpAddr>,
    /// The cache zone: the Ingress's namespace and name.
    pub zone: (&'a str, &'a str),
    /// The `auth-cache-key` value for this request, when caching is on.
    pub cache_key: Option<String>,
}

/// A cached auth answer.
#[derive(Clone)]
struct Cached {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    cookies: Vec<HeaderValue>,
    until: Instant,
}

/// The cache of auth answers (the requests go through the shared [`Subrequests`] client).
#[derive(Default)]
pub struct ExternalAuthClient {
    cache: Mutex<HashMap<(String, String, String), Cached>>,
}

impl ExternalAuthClient {
    /// Asks the auth service (or the cache) about `original`.
    pub async fn check(&self, client: &Subrequests, auth: &ExternalAuth, original: &Original<'_>) -> Verdict {
        let key = original
            .cache_key
            .as_ref()
            .map(|k| (original.zone.0.to_owned(), original.zone.1.to_owned(), k.clone()));
        if let Some(key) = &key {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(hit) = cache.get(key).filter(|c| c.until > Instant::now()) {
                return verdict(auth, original, hit.status, hit.headers.clone(), hit.cookies.clone());
            }
        }
        let Some((status, headers, cookies)) = ask(client, auth, original).await else {
            return Verdict::deny(500, Vec::new());
        };
        // An answer that sets a cookie is one client's, never replayed to another (nginx's
        // proxy_cache does not store responses with Set-Cookie either).
        let header_bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        let cacheable = cookies.is_empty()
            && !headers.iter().any(|(n, _)| n == header::SET_COOKIE)
            && key.as_ref().is_some_and(|k| k.2.len() <= MAX_CACHED_KEY)
            && header_bytes <= MAX_CACHED_HEADERS;
        let ttl = auth.cache_for.iter().find(|(c, _)| *c == status).map(|(_, ttl)| *ttl);
        if let (Some(key), Some(ttl), true) = (key, ttl, cacheable) {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if !cache.contains_key(&key) {
                let now = Instant::now();
                let until = |c: &Cached| c.until.saturating_duration_since(now).as_millis() as u64;
                make_room(&mut cache, MAX_CACHED, |c| c.until <= now, until);
            }
            let entry = Cached {
                status,
                headers: headers.clone(),
                cookies: cookies.clone(),
                until: Instant::now() + ttl,
            };
            cache.insert(key, entry);
        }
        verdict(auth, original, status, headers, cookies)
    }
}

/// One auth subrequest: (status, copied headers, cookies), or None when it failed.
async fn ask(
    client: &Subrequests,
    auth: &ExternalAuth,
    original: &Original<'_>,
) -> Option<(u16, Vec<(HeaderName, HeaderValue)>, Vec<HeaderValue>)> {
    let req = original.req;
    let uri = request_uri(original.req);
    // `$host` and friends come from the request. A Host that is not a plain host name (and
    // port) could point the subrequest elsewhere, so it fails the check, as does one that makes
    // no URL.
    let plain_host = original.host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !plain_host && auth.url.iter().any(|p| matches!(p, UrlPart::Host | UrlPart::HttpHost)) {
        return None;
    }
    let url: http::Uri = render_url(&auth.url, original.scheme, original.host, uri).parse().ok()?;
    let authority = url.authority()?.as_str().to_owned();
    let mut sub = Request::builder().method(auth.method.clone()).uri(url);
    for (name, value) in req.headers.iter() {
        if !not_for_subrequest(name, false) && !auth.set_headers.iter().any(|(n, _)| n == name) {
            sub = sub.header(name, value);
        }
    }
    for (name, value) in &auth.set_headers {
        sub = sub.header(name, value);
    }
    let redirect = auth.request_redirect.clone().or_else(|| HeaderValue::from_str(uri).ok());
    let client_ip = original.client.map(|c| c.to_string()).unwrap_or_default();
    let mut sub = sub
        .header(header::HOST, authority)
        .header("x-original-url", format!("{}://{}{uri}", original.scheme, original.host))
        .header("x-original-method", req.method.as_str())
        .header("x-sent-from", "nginx-ingress-controller")
        .header("x-forwarded-proto", original.scheme)
        .header("x-forwarded-host", original.host)
        .header("x-real-ip", client_ip.as_str())
        .header("x-forwarded-for", client_ip.as_str());
    if let Some(redirect) = redirect {
        sub = sub.header("x-auth-request-redirect", redirect);
    }
    let sub = sub.body(Empty::new()).ok()?;
    // The body is not used, but it is read so that the connection can be reused.
    let (resp, _) = client.send(sub, AUTH_TIMEOUT, MAX_AUTH_BODY).await.ok()?;
    let status = resp.status.as_u16();
    let mut copied: Vec<(HeaderName, HeaderValue)> = auth
        .response_headers
        .iter()
        .filter_map(|name| resp.headers.get(name).map(|v| (name.clone(), v.clone())))
        .collect();
    if let Some(challenge) = resp.headers.get(header::WWW_AUTHENTICATE).filter(|_| status == 401) {
        copied.push((header::WWW_AUTHENTICATE, challenge.clone()));
    }
    let cookies = resp.headers.get_all(header::SET_COOKIE).iter().cloned().collect();
    Some((status, copied, cookies))
}

/// ingress-nginx's reading of the auth answer.
fn verdict(
    auth: &ExternalAuth,
    original: &Original<'_>,
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    cookies: Vec<HeaderValue>,
) -> Verdict {
    let on_deny = if auth.always_set_cookie { cookies.clone() } else { Vec::new() };
    match status {
        200..=299 => {
            let headers = headers.into_iter().filter(|(n, _)| n != header::WWW_AUTHENTICATE).collect();
            Verdict::Allow { headers, cookies }
        }
        401 => match &auth.signin {
            Some(parts) => {
                let location = signin_url(parts, &auth.redirect_param, original);
                let headers =
                    HeaderValue::try_from(location).map(|l| vec![(header::LOCATION, l)]).unwrap_or_default();
                Verdict::Deny { status: 302, headers, cookies: on_deny }
            }
            None => Verdict::Deny { status: 401, headers, cookies: on_deny },
        },
        403 => Verdict::Deny { status: 403, headers: Vec::new(), cookies: on_deny },
        _ => Verdict::Deny { status: 500, headers: Vec::new(), cookies: on_deny },
    }
}

/// The `auth-signin` URL for a request; `rd=` (or the configured parameter) with the original
/// URL is added unless the URL already carries it.
fn signin_url(parts: &[UrlPart], param: &str, original: &Original<'_>) -> String {
    let uri = request_uri(original.req);
    let mut out = render_url(parts, original.scheme, original.host, uri);
    if !out.contains(&format!("{param}=")) {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(param);
        out.push('=');
        out.push_str(&escape_component(&format!("{}://{}{uri}", original.scheme, original.host)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signin_urls_carry_the_original_url() {
        let req = RequestHeader::build("GET", b"/app?x=1", None).expect("req");
        let original = Original {
            req: &req,
            scheme: "https",
            host: "h.test:8443",
            client: None,
            zone: ("d", "i"),
            cache_key: None,
        };
        let parts = vec![UrlPart::Literal("https://auth.test/oauth2/start".into())];
        assert_eq!(
            signin_url(&parts, "rd", &original),
            "https://auth.test/oauth2/start?rd=https%3A%2F%2Fh.test%3A8443%2Fapp%3Fx%3D1",
            "rd is $scheme://$http_host$request_uri"
        );
        let parts = vec![
            UrlPart::Literal("https://".into()),
            UrlPart::Host,
            UrlPart::Literal("/oauth2/start?rd=".into()),
            UrlPart::EscapedRequestUri,
        ];
        assert_eq!(
            signin_url(&parts, "rd", &original),
            "https://h.test/oauth2/start?rd=%2Fapp%3Fx%3D1",
            "$host has no port"
        );
        let parts =
            vec![UrlPart::Literal("//".into()), UrlPart::HttpHost, UrlPart::Literal("/in?rd=x".into())];
        assert_eq!(signin_url(&parts, "rd", &original), "//h.test:8443/in?rd=x");
        for (host, name) in [("h", "h"), ("h:80", "h"), ("[::1]:80", "[::1]"), ("[::1]", "[::1]")] {
            assert_eq!(sluice_controller::policy::host_name(host), name);
        }
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let mut req = RequestHeader::build("GET", b"/", None).expect("req");
        req.insert_header("authorization", "Basic YWxpY2U6czNjcmV0").expect("header");
        assert_eq!(credentials(&req), Some(("alice".into(), "s3cret".into())));
        req.insert_header("authorization", "Bearer x").expect("header");
        assert_eq!(credentials(&req), None);
    }
}
