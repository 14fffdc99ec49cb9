//! What a route does besides choosing a backend: the typed form of ingress-nginx's traffic
//! annotations and ConfigMap keys, resolved once in `translate` (ConfigMap defaults, then the
//! Ingress's annotations) and read by the data plane per request.
//!
//! Every value here is already validated; nothing is parsed on the request path.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::backend::Backend;
use crate::client::SourceRanges;

pub use crate::rewrite::{Rewrite, TargetPart};
pub use auth::{escape_component, host_name, render_url, Auth, ExternalAuth, UrlPart};
pub use gateway::{
    Conditions, GatewayRedirect, GatewayRewrite, GatewayRule, HeaderModifier, PathReplace, ValueMatch,
    WeightedBackend,
};
pub use mirror::Mirror;
pub use response::{HeaderRewrites, ResponseRate};
pub use upstream_tls::UpstreamTls;

mod auth;
mod gateway;
mod mirror;
mod response;
mod upstream_tls;

/// The per-route behaviour. Routes of one Ingress share one `Arc<RoutePolicy>`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePolicy {
    /// `permanent-redirect` / `temporal-redirect`: answer every request with this redirect.
    pub redirect: Option<Redirect>,
    /// `app-root`: a request for exactly `/` is redirected (302) here.
    pub app_root: Option<String>,
    /// `upstream-vhost`: the Host header sent upstream instead of the client's.
    pub upstream_vhost: Option<HeaderValue>,
    /// `x-forwarded-prefix`: the value of the `X-Forwarded-Prefix` header sent upstream.
    pub forwarded_prefix: Option<HeaderValue>,
    /// `affinity: cookie` and the `session-cookie-*` family.
    pub affinity: Option<Affinity>,
    /// How the upstream is reached.
    pub upstream: UpstreamPolicy,
    /// `enable-cors` and the `cors-*` family.
    pub cors: Option<Cors>,
    /// `custom-http-errors`: upstream status codes replaced by the error backend's page (sorted).
    pub custom_errors: Vec<u16>,
    /// `proxy-body-size`: the largest request body accepted (413 above it); `None` is unlimited.
    pub body_size: Option<u64>,
    /// `default-backend`: serves requests when the route's Service has no ready endpoint, and the
    /// pages of `custom-http-errors`.
    pub error_backend: Option<Arc<Backend>>,
    /// `sluice.dev/fallback-service`: takes the traffic when the Service has no ready endpoint or
    /// every connect attempt failed.
    pub fallback: Option<Arc<Backend>>,
    /// `whitelist-source-range` / `allowlist-source-range` and `denylist-source-range` (403).
    pub source: SourceRanges,
    /// `limit-rps`, `limit-rpm`, `limit-connections` and their companions.
    pub limits: Option<RateLimits>,
    /// `auth-type: basic` or `auth-url` (or the ConfigMap's `global-auth-url`).
    pub auth: Option<Auth>,
    /// `enable-access-log` (true): whether the routes' requests are written to the access log.
    pub access_log: bool,
    /// `mirror-target`: copies of the requests go there too.
    pub mirror: Option<Arc<Mirror>>,
    /// The ConfigMap's `add-headers`, then the Ingress's `custom-headers`: set on responses.
    pub response_headers: Arc<[(HeaderName, HeaderValue)]>,
    /// The routes are refused with 503 (ingress-nginx's denied location), e.g. for
    /// `custom-headers` that `global-allowed-response-headers` does not allow.
    pub denied: bool,
    /// `proxy-redirect-*` and `proxy-cookie-*`: rewrites of upstream response headers.
    pub header_rewrites: HeaderRewrites,
    /// `limit-rate` / `limit-rate-after`: how fast response bodies are sent (per request).
    pub response_rate: ResponseRate,
    /// `satisfy: any`: a client the source ranges permit skips authentication, and one they
    /// refuse may still authenticate (nginx's `satisfy any`). The default is `all`.
    pub satisfy_any: bool,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        RoutePolicy {
            redirect: None,
            app_root: None,
            upstream_vhost: None,
            forwarded_prefix: None,
            affinity: None,
            upstream: UpstreamPolicy::default(),
            cors: None,
            custom_errors: Vec::new(),
            body_size: Some(1024 * 1024),
            error_backend: None,
            fallback: None,
            source: SourceRanges::default(),
            limits: None,
            auth: None,
            satisfy_any: false,
            response_rate: ResponseRate::default(),
            header_rewrites: HeaderRewrites::default(),
            response_headers: Arc::from([]),
            mirror: None,
            access_log: true,
            denied: false,
        }
    }
}

/// Per-client limits with ingress-nginx's semantics: one zone per Ingress, keyed by the client
/// address, counted per Sluice replica (as per nginx instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// `limit-rps`: requests per second.
    pub rps: Option<u32>,
    /// `limit-rpm`: requests per minute.
    pub rpm: Option<u32>,
    /// `limit-connections`: requests in flight at once.
    pub connections: Option<u32>,
    /// `limit-burst-multiplier` (5): the burst is the rate times this.
    pub burst_multiplier: u32,
    /// `limit-whitelist` / `limit-allowlist`: clients that are never limited.
    pub exempt: Vec<ipnet::IpNet>,
    /// The ConfigMap's `limit-req-status-code` (503): the status of a refused request.
    pub status: u16,
    /// The ConfigMap's `limit-conn-status-code` (503): the status when too many are in flight.
    pub connection_status: u16,
}

/// A fixed redirect (`permanent-redirect`, `temporal-redirect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The status code (301 or 302 by default, or the `-code` annotation).
    pub code: u16,
    /// The `Location`.
    pub location: HeaderValue,
}

/// The upstream side of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPolicy {
    /// `backend-protocol`.
    pub protocol: BackendProtocol,
    /// `proxy-ssl-verify`: whether the upstream certificate is verified (HTTPS and GRPCS).
    pub verify: bool,
    /// `proxy-ssl-name`: the name checked and sent as SNI (default: the request's host).
    pub tls_name: Option<String>,
    /// `proxy-ssl-server-name`: whether SNI is sent (nginx's default is off).
    pub send_sni: bool,
    /// `proxy-connect-timeout` (5 s).
    pub connect_timeout: Duration,
    /// `proxy-read-timeout` (60 s).
    pub read_timeout: Duration,
    /// `proxy-send-timeout` (60 s).
    pub send_timeout: Duration,
    /// `proxy-next-upstream`, `-tries`, `-timeout`.
    pub next_upstream: NextUpstream,
    /// `load-balance` and `upstream-hash-by`.
    pub balance: Balance,
    /// `proxy-ssl-secret`: the client certificate and CAs for TLS upstreams.
    pub client_tls: Option<Arc<UpstreamTls>>,
}

impl Default for UpstreamPolicy {
    fn default() -> Self {
        UpstreamPolicy {
            protocol: BackendProtocol::Http,
            verify: false,
            tls_name: None,
            send_sni: false,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            next_upstream: NextUpstream::default(),
            balance: Balance::RoundRobin,
            client_tls: None,
        }
    }
}

/// `backend-protocol`: how Sluice speaks to the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendProtocol {
    /// HTTP/1.1 over TCP (also `AUTO_HTTP`).
    Http,
    /// HTTP/1.1 over TLS.
    Https,
    /// gRPC: HTTP/2 over TCP with prior knowledge (h2c).
    Grpc,
    /// gRPC over TLS (HTTP/2 by ALPN).
    Grpcs,
}

impl BackendProtocol {
    /// Whether the upstream connection uses TLS.
    pub fn tls(self) -> bool {
        matches!(self, BackendProtocol::Https | BackendProtocol::Grpcs)
    }

    /// Whether the upstream connection is HTTP/2 only.
    pub fn h2(self) -> bool {
        matches!(self, BackendProtocol::Grpc | BackendProtocol::Grpcs)
    }
}

/// `proxy-next-upstream`: which failures send the request to another endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextUpstream {
    /// `error`: connect errors, and errors sending the request or reading the response header.
    pub error: bool,
    /// `timeout`: connect timeouts and timeouts reading the response header.
    pub timeout: bool,
    /// `http_500`, `http_502`, ...: the upstream answered with one of these (sorted).
    pub statuses: Vec<u16>,
    /// `non_idempotent`: also retry POST, LOCK and PATCH after the request was sent.
    pub non_idempotent: bool,
    /// `proxy-next-upstream-tries` (3): attempts in all, the first included; 0 means no limit
    /// other than the number of endpoints.
    pub tries: u32,
    /// `proxy-next-upstream-timeout` (0: none): no new attempt after this much time.
    pub timeout_total: Option<Duration>,
}

impl Default for NextUpstream {
    fn default() -> Self {
        NextUpstream {
            error: true,
            timeout: true,
            statuses: Vec::new(),
            non_idempotent: false,
            tries: 3,
            timeout_total: None,
        }
    }
}

impl NextUpstream {
    /// `off`: never try another endpoint.
    pub fn off() -> Self {
        NextUpstream { error: false, timeout: false, tries: 1, ..NextUpstream::default() }
    }
}

/// `load-balance` / `upstream-hash-by`: how an endpoint is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// `round_robin` (the default).
    RoundRobin,
    /// `ewma`: the lower latency-weighted score of two endpoints picked at random.
    Ewma,
    /// `upstream-hash-by`: consistent hashing of a key built from request variables.
    Hash(Vec<HashPart>),
}

/// A header value set by Sluice: fixed, or built per request from nginx variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderTemplate {
    /// The same value on every request.
    Fixed(HeaderValue),
    /// Evaluated per request like an `upstream-hash-by` key.
    Parts(Vec<HashPart>),
}

/// A piece of an `upstream-hash-by` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashPart {
    /// Text copied as is.
    Literal(String),
    /// `$request_uri`: the path and query as the client sent them.
    RequestUri,
    /// `$uri`: the path.
    Uri,
    /// `$remote_addr` / `$binary_remote_addr`: the client address.
    RemoteAddr,
    /// `$host`: the request host.
    Host,
    /// `$http_NAME`: a request header.
    Header(HeaderName),
    /// `$cookie_NAME`: a request cookie.
    Cookie(String),
    /// `$arg_NAME`: a query parameter.
    Arg(String),
}

/// Cookie-based session affinity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affinity {
    /// `affinity-mode`: `balanced` (the default) may move sessions when endpoints scale up;
    /// `persistent` keeps them on their endpoint while it exists.
    pub persistent: bool,
    /// `session-cookie-name` (`INGRESSCOOKIE`).
    pub cookie_name: String,
    /// `session-cookie-path` (default: the route's path).
    pub path: Option<String>,
    /// `session-cookie-domain` (default: none, a host-only cookie).
    pub domain: Option<String>,
    /// `session-cookie-max-age`, in seconds.
    pub max_age: Option<u64>,
    /// `session-cookie-expires`, in seconds from now.
    pub expires: Option<u64>,
    /// `session-cookie-samesite`: `None`, `Lax` or `Strict`.
    pub samesite: Option<&'static str>,
    /// `session-cookie-conditional-samesite-none`: leave `SameSite=None` out for the browsers
    /// that mishandle it (ingress-nginx's list: Chrome 4x to 6x, iOS 12, Safari on macOS 10.14).
    pub conditional_samesite_none: bool,
    /// `session-cookie-secure`: mark the cookie Secure on plain HTTP too.
    pub secure: bool,
    /// `session-cookie-change-on-failure`: re-pin the session when its endpoint failed.
    pub change_on_failure: bool,
}

/// CORS settings; Sluice answers preflight requests itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `cors-allow-origin`: `None` for `*`, else the allowed origins (`https://*.foo.com`
    /// allows one or more labels in place of `*`).
    pub origins: Option<Vec<String>>,
    /// `cors-allow-methods`.
    pub methods: HeaderValue,
    /// `cors-allow-headers`.
    pub headers: HeaderValue,
    /// `cors-expose-headers`.
    pub expose: Option<HeaderValue>,
    /// `cors-allow-credentials` (true).
    pub credentials: bool,
    /// `cors-max-age` (1728000 s).
    pub max_age: HeaderValue,
}

impl Cors {
    /// Whether a request with this `Origin` gets CORS headers (always when the origin is `*`).
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(list) = &self.origins else {
            return true;
        };
        let Some(origin) = origin else {
            return false;
        };
        list.iter().any(|allowed| origin_matches(allowed, origin))
    }
}

fn origin_matches(allowed: &str, origin: &str) -> bool {
    match allowed.split_once("*.") {
        None => allowed.eq_ignore_ascii_case(origin),
        Some((scheme, rest)) => {
            let Some(tail) = origin.get(scheme.len()..) else {
                return false;
            };
            origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                && tail.len() > rest.len() + 1
                && tail[tail.len() - rest.len()..].eq_ignore_ascii_case(rest)
                && tail.as_bytes()[tail.len() - rest.len() - 1] == b'.'
        }
    }
}

/// A canary: a second backend that takes some of a route's traffic.
#[derive(Debug, Clone)]
pub struct Canary {
    /// The canary Service's backend.
    pub backend: Arc<Backend>,
    /// The canary Ingress's name (for logs and metrics).
    pub ingress: Arc<str>,
    /// `canary-by-header`, with how its value is compared.
    pub header: Option<(HeaderName, HeaderMatch)>,
    /// `canary-by-cookie`: a cookie whose value `always` or `never` decides.
    pub cookie: Option<String>,
    /// `canary-weight`: requests out of `weight_total` sent to the canary.
    pub weight: u32,
    /// `canary-weight-total` (100).
    pub weight_total: u32,
}

impl PartialEq for Canary {
    fn eq(&self, other: &Self) -> bool {
        self.backend == other.backend
            && self.ingress == other.ingress
            && self.header == other.header
            && self.cookie == other.cookie
            && (self.weight, self.weight_total) == (other.weight, other.weight_total)
    }
}

/// How the `canary-by-header` value selects the canary.
#[derive(Debug, Clone)]
pub enum HeaderMatch {
    /// No value set: `always` and `never` decide; anything else falls through.
    AlwaysNever,
    /// `canary-by-header-value`: this exact value selects the canary.
    Value(String),
    /// `canary-by-header-pattern`: a value matching this regex selects the canary.
    Pattern(regex::Regex),
}

impl PartialEq for HeaderMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderMatch::AlwaysNever, HeaderMatch::AlwaysNever) => true,
            (HeaderMatch::Value(a), HeaderMatch::Value(b)) => a == b,
            (HeaderMatch::Pattern(a), HeaderMatch::Pattern(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Canary {
    /// ingress-nginx's decision, in its order: the header, then the cookie, then the weight.
    /// `roll` is a uniform random number in `1..=weight_total` (passed in to keep this pure).
    pub fn selects(&self, header: Option<&str>, cookie: Option<&str>, roll: u32) -> bool {
        if let (Some((_, how)), Some(value)) = (&self.header, header) {
            match how {
                HeaderMatch::Value(v) if v == value => return true,
                HeaderMatch::Pattern(p) if p.is_match(value) => return true,
                HeaderMatch::AlwaysNever if value == "always" => return true,
                HeaderMatch::AlwaysNever if value == "never" => return false,
                _ => {}
            }
        }
        match cookie {
            Some("always") if self.cookie.is_some() => return true,
            Some("never") if self.cookie.is_some() => return false,
            _ => {}
        }
        roll <= self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_match_exactly_or_by_wildcard_label() {
        let cors = Cors {
            origins: Some(vec!["https://app.example.com".into(), "https://*.foo.com".into()]),
            methods: HeaderValue::from_static("GET"),
            headers: HeaderValue::from_static("X"),
            expose: None,
            credentials: true,
            max_age: HeaderValue::from_static("1"),
        };
        assert!(cors.allows(Some("https://app.example.com")));
        assert!(cors.allows(Some("https://a.foo.com")));
        assert!(cors.allows(Some("https://a.b.foo.com")));
        assert!(!cors.allows(Some("https://foo.com")));
        assert!(!cors.allows(Some("http://a.foo.com")));
        assert!(!cors.allows(Some("https://evilfoo.com")));
        assert!(!cors.allows(None));
    }
}
