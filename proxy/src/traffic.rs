//! Per-request traffic decisions from a route's policy: canary or main backend, and which
//! endpoint (session-cookie affinity, `upstream-hash-by`, EWMA or round robin).

use std::cell::Cell;
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use http::header;
use pingora::http::RequestHeader;
use sluice_controller::policy::{Affinity, Balance, HashPart, RoutePolicy};
use sluice_controller::{Backend, Endpoint, Route};

use crate::facts::{request_uri, RequestFacts};

/// A fast, non-cryptographic random number (canary rolls, EWMA draws, session keys).
pub fn random_u64() -> u64 {
    thread_local! {
        static STATE: (RandomState, Cell<u64>) = (RandomState::new(), Cell::new(0));
    }
    STATE.with(|(state, counter)| {
        let n = counter.get();
        counter.set(n.wrapping_add(1));
        state.hash_one(n)
    })
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Which backend of a route serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The route's own Service.
    Main,
    /// The canary Ingress's Service.
    Canary,
    /// `sluice.dev/fallback-service`.
    Fallback,
    /// `default-backend` (no ready endpoint).
    DefaultBackend,
}

impl Target {
    /// The name used in the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Main => "main",
            Target::Canary => "canary",
            Target::Fallback => "fallback",
            Target::DefaultBackend => "default-backend",
        }
    }
}

/// The backend for a request to `route`: the canary when its rules select it and it has a
/// ready endpoint (ingress-nginx falls back to the main backend otherwise), else the main one.
pub fn choose_backend(route: &Route, req: &RequestHeader) -> (Target, Arc<Backend>) {
    if let Some(canary) = &route.canary {
        let header = canary.header.as_ref().and_then(|(name, _)| req.headers.get(name)?.to_str().ok());
        let cookie = canary.cookie.as_deref().and_then(|name| cookie(req, name));
        let roll = (random_u64() % u64::from(canary.weight_total.max(1))) as u32 + 1;
        if canary.selects(header, cookie, roll) && !canary.backend.endpoints.is_empty() {
            return (Target::Canary, canary.backend.clone());
        }
    }
    (Target::Main, route.backend.clone())
}

/// The endpoint for this attempt, and a session cookie value to set (affinity only).
pub fn select_endpoint(
    backend: &Backend,
    policy: &RoutePolicy,
    facts: &RequestFacts<'_>,
    avoid: Option<Endpoint>,
    use_affinity: bool,
) -> (Option<Endpoint>, Option<String>) {
    if let (true, Some(affinity)) = (use_affinity, &policy.affinity) {
        return sticky(backend, policy, affinity, facts, avoid);
    }
    (balanced(backend, &policy.upstream.balance, facts, avoid), None)
}

fn balanced(
    backend: &Backend,
    balance: &Balance,
    facts: &RequestFacts<'_>,
    avoid: Option<Endpoint>,
) -> Option<Endpoint> {
    match balance {
        Balance::RoundRobin => backend.select(avoid),
        Balance::Ewma => backend.select_ewma(random_u64(), avoid),
        Balance::Hash(parts) => backend.select_by_key(hash_key(parts, facts).as_bytes(), avoid),
    }
}

/// Cookie affinity. Persistent: the cookie names an endpoint, used while it is ready.
/// Balanced: the cookie is a session key placed by consistent hashing, so scaling moves only
/// the sessions the new endpoint takes over. A failed endpoint is left, and the cookie
/// changed only with `session-cookie-change-on-failure`.
fn sticky(
    backend: &Backend,
    policy: &RoutePolicy,
    affinity: &Affinity,
    facts: &RequestFacts<'_>,
    avoid: Option<Endpoint>,
) -> (Option<Endpoint>, Option<String>) {
    let sent = cookie(facts.req, &affinity.cookie_name).filter(|v| !v.is_empty() && v.len() <= 64);
    let failed_over = avoid.is_some();
    if affinity.persistent {
        if let Some(ep) = sent.and_then(|pin| backend.pinned(pin)).filter(|ep| Some(*ep) != avoid) {
            return (Some(ep), None);
        }
        let ep = balanced(backend, &policy.upstream.balance, facts, avoid);
        let keep = failed_over && sent.is_some() && !affinity.change_on_failure;
        return (ep, ep.filter(|_| !keep).map(|ep| Backend::pin(&ep)));
    }
    match sent {
        Some(key) if !failed_over || !affinity.change_on_failure => {
            (backend.select_by_key(key.as_bytes(), avoid), None)
        }
        _ => {
            let key = format!("{:016x}", random_u64());
            (backend.select_by_key(key.as_bytes(), avoid), Some(key))
        }
    }
}

/// The `Set-Cookie` value for a new session, with ingress-nginx's attributes (always HttpOnly;
/// Secure on HTTPS or with `session-cookie-secure`).
pub fn session_cookie(
    affinity: &Affinity,
    value: &str,
    route_path: &str,
    https: bool,
    user_agent: Option<&str>,
) -> String {
    let path = affinity.path.as_deref().unwrap_or(route_path);
    let mut cookie = format!("{}={value}; Path={path}", affinity.cookie_name);
    if let Some(domain) = &affinity.domain {
        let _ = write!(cookie, "; Domain={domain}");
    }
    if let Some(expires) = affinity.expires {
        let at = std::time::SystemTime::now() + std::time::Duration::from_secs(expires);
        let _ = write!(cookie, "; Expires={}", httpdate::fmt_http_date(at));
    }
    if let Some(max_age) = affinity.max_age {
        let _ = write!(cookie, "; Max-Age={max_age}");
    }
    let omit_none = affinity.conditional_samesite_none && !same_site_none_compatible(user_agent);
    if let Some(samesite) = affinity.samesite.filter(|s| !(omit_none && *s == "None")) {
        let _ = write!(cookie, "; SameSite={samesite}");
    }
    if affinity.secure || https {
        cookie.push_str("; Secure");
    }
    cookie.push_str("; HttpOnly");
    cookie
}

/// ingress-nginx's list of browsers that reject or mishandle `SameSite=None` cookies, matched as
/// it matches them: `Chrome/4`, `Chrome/5`, `Chrome/6`, iOS 12, and Safari (not Chrome) on macOS
/// 10.14.
fn same_site_none_compatible(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent else {
        return true;
    };
    let old_chrome = ["Chrome/4", "Chrome/5", "Chrome/6"].iter().any(|v| ua.contains(v));
    let ios12 = ua.contains("CPU iPhone OS 12") || ua.contains("iPad; CPU OS 12");
    let mojave_safari = ua.contains("Macintosh")
        && ua.contains("Intel Mac OS X 10_14")
        && ua.contains("Safari")
        && !ua.contains("Chrome");
    !(old_chrome || ios12 || mojave_safari)
}

/// The value of a key built from request variables (`upstream-hash-by`, `auth-cache-key`).
pub fn hash_key(parts: &[HashPart], facts: &RequestFacts<'_>) -> String {
    let mut key = String::with_capacity(64);
    let uri = &facts.req.uri;
    for part in parts {
        match part {
            HashPart::Literal(s) => key.push_str(s),
            HashPart::RequestUri => key.push_str(request_uri(facts.req)),
            HashPart::Uri => key.push_str(facts.path()),
            HashPart::RemoteAddr => {
                if let Some(ip) = facts.client() {
                    let _ = write!(key, "{ip}");
                }
            }
            HashPart::Host => key.push_str(sluice_controller::matching::strip_port(facts.host())),
            HashPart::Header(name) => {
                key.push_str(facts.req.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or(""))
            }
            HashPart::Cookie(name) => key.push_str(cookie(facts.req, name).unwrap_or("")),
            HashPart::Arg(name) => key.push_str(query_arg(uri.query().unwrap_or(""), name).unwrap_or("")),
        }
    }
    key
}

fn query_arg<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/p?user=42&x=1", None).expect("request");
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).expect("header");
        }
        req
    }

    #[test]
    fn cookies_are_found_among_several() {
        let req = request(&[("cookie", "a=1; INGRESSCOOKIE=abc"), ("cookie", "b=\"2\"")]);
        assert_eq!(cookie(&req, "INGRESSCOOKIE"), Some("abc"));
        assert_eq!(cookie(&req, "b"), Some("2"));
        assert_eq!(cookie(&req, "c"), None);
    }

    #[test]
    fn hash_keys_read_the_request() {
        let req = request(&[("x-user", "bob"), ("host", "h.test:80")]);
        let mut facts = crate::facts::Facts::read(&req).expect("facts");
        facts.client = Some([127, 0, 0, 9].into());
        let facts = facts.with_request(&req);
        let parts = vec![
            HashPart::Arg("user".into()),
            HashPart::Literal("|".into()),
            HashPart::Header(http::HeaderName::from_static("x-user")),
            HashPart::RemoteAddr,
            HashPart::Host,
            HashPart::RequestUri,
        ];
        assert_eq!(hash_key(&parts, &facts), "42|bob127.0.0.9h.test/p?user=42&x=1");
    }

    #[test]
    fn session_cookies_carry_the_attributes() {
        let affinity = Affinity {
            persistent: false,
            cookie_name: "S".into(),
            path: None,
            domain: Some("example.com".into()),
            max_age: Some(60),
            expires: None,
            samesite: Some("Lax"),
            conditional_samesite_none: false,
            secure: false,
            change_on_failure: false,
        };
        assert_eq!(
            session_cookie(&affinity, "k", "/app", true, None),
            "S=k; Path=/app; Domain=example.com; Max-Age=60; SameSite=Lax; Secure; HttpOnly"
        );
        assert_eq!(
            session_cookie(&affinity, "k", "/", false, None),
            "S=k; Path=/; Domain=example.com; Max-Age=60; SameSite=Lax; HttpOnly"
        );
        let none = Affinity { samesite: Some("None"), conditional_samesite_none: true, ..affinity };
        let chrome_65 =
            Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/65.0.3325.181 Safari/537.36");
        let chrome_120 =
            Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36");
        let ios_12 = Some("Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15");
        assert!(!session_cookie(&none, "k", "/", true, chrome_65).contains("SameSite"));
        assert!(!session_cookie(&none, "k", "/", true, ios_12).contains("SameSite"));
        assert!(session_cookie(&none, "k", "/", true, chrome_120).contains("SameSite=None"));
        let unconditional = Affinity { conditional_samesite_none: false, ..none };
        assert!(session_cookie(&unconditional, "k", "/", true, chrome_65).contains("SameSite=None"));
    }
}
