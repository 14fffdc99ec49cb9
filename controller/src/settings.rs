//! The settings that apply to every route, as plain data: what `translate` reads from the
//! controller ConfigMap (with ingress-nginx's keys and defaults) and the routing table and the
//! proxy read. Nothing here parses; `translate::config` builds these.

use std::time::Duration;

use http::{HeaderName, HeaderValue};
use regex::Regex;

use crate::client::ClientSettings;
use crate::policy::{Auth, HeaderTemplate, RoutePolicy};

/// Settings that apply to every route, from the controller ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSettings {
    /// `ssl-redirect` (true): redirect plain HTTP to HTTPS for hosts that have TLS.
    pub ssl_redirect: bool,
    /// `force-ssl-redirect` (false): redirect plain HTTP to HTTPS even without TLS.
    pub force_ssl_redirect: bool,
    /// `http-redirect-code` (308): the status of those redirects.
    pub redirect_code: u16,
    /// `no-tls-redirect-locations` (`/.well-known/acme-challenge`): path prefixes never redirected.
    pub no_tls_redirect_locations: Vec<String>,
    /// The `Strict-Transport-Security` value for HTTPS responses (`hsts`, `hsts-max-age`,
    /// `hsts-include-subdomains`, `hsts-preload`), or None when `hsts` is false. Kept as a ready
    /// header value so that HTTPS responses only clone it (a reference count).
    pub hsts: Option<HeaderValue>,
    /// `keep-alive` (75 s): how long an idle client connection is kept open.
    pub keep_alive: Duration,
    /// `client-header-timeout` (60 s): how long a new connection may take to send its first
    /// request head, from accept to the blank line; past it the connection is closed.
    pub client_header_timeout: Duration,
    /// `client-body-timeout` (60 s): the longest wait between two reads of a request body.
    pub client_body_timeout: Duration,
    /// `upstream-keepalive-timeout` (60 s): how long an idle upstream connection stays pooled.
    pub upstream_keepalive: Duration,
    /// The defaults that annotations override per Ingress: `proxy-connect-timeout`,
    /// `proxy-read-timeout`, `proxy-send-timeout`, `proxy-body-size`, `custom-http-errors`,
    /// `proxy-next-upstream`, `proxy-next-upstream-tries`, `proxy-next-upstream-timeout` and
    /// `load-balance`.
    pub policy: RoutePolicy,
    /// How the client address is found (`use-forwarded-headers`, `forwarded-for-header`,
    /// `compute-full-forwarded-for`, `proxy-real-ip-cidr`, `use-proxy-protocol`).
    pub client: ClientSettings,
    /// `limit-req-status-code` (503): the status of requests refused by `limit-rps`/`limit-rpm`.
    pub limit_req_status: u16,
    /// `limit-conn-status-code` (503): the status of requests refused by `limit-connections`.
    pub limit_conn_status: u16,
    /// `large-client-header-buffers` (`4 8k`): the longest request line or header line, and the
    /// most header bytes in all (number times size), as nginx bounds them.
    pub header_line_max: usize,
    /// See `header_line_max`.
    pub header_total_max: usize,
    /// `global-auth-url` and its `global-auth-*` companions: external auth for the routes of
    /// every Ingress that has no auth of its own (unless it sets `enable-global-auth: "false"`).
    pub global_auth: Option<Auth>,
    /// `no-auth-locations` (`/.well-known/acme-challenge`): routes whose Ingress path starts
    /// with one of these are served without authentication.
    pub no_auth_locations: Vec<String>,
    /// `proxy-set-headers`: the headers of that ConfigMap, set on every upstream request.
    pub proxy_set_headers: Vec<(HeaderName, HeaderTemplate)>,
    /// `global-allowed-response-headers` (lowercase): the names `custom-headers` may set.
    pub allowed_response_headers: Vec<String>,
    /// `block-user-agents`: requests with a matching `User-Agent` get 403.
    pub blocked_agents: Vec<BlockKey>,
    /// `block-referers`: requests with a matching `Referer` get 403.
    pub blocked_referers: Vec<BlockKey>,
    /// `hide-headers`: upstream response headers never passed on.
    pub hide_headers: Vec<HeaderName>,
    /// `enable-underscores-in-headers` (false): keep request headers with `_` in their names.
    pub underscores_in_headers: bool,
    /// `proxy-add-original-uri-header` (false): send `X-Original-Uri` upstream.
    pub add_original_uri_header: bool,
    /// `use-gzip`, `enable-brotli` and their companions.
    pub compression: Compression,
    /// `allow-backend-server-header` (false): pass the upstream's `Server` header instead of
    /// Sluice's own.
    pub backend_server_header: bool,
    /// `max-worker-connections` (16384): open client connections per worker thread; past it
    /// the oldest connection still reading its first head is closed, else the new one is refused.
    pub max_worker_connections: usize,
    /// `max-connections-per-client` (0: no cap): open connections from one client address.
    pub max_connections_per_client: usize,
    /// `max-unfinished-heads` (0: only the global cap applies): connections still reading their
    /// first request head, in all; past it the oldest of them is closed.
    pub max_unfinished_heads: usize,
}

impl Default for GlobalSettings {
    fn default() -> Self {
        GlobalSettings {
            ssl_redirect: true,
            force_ssl_redirect: false,
            redirect_code: 308,
            no_tls_redirect_locations: vec!["/.well-known/acme-challenge".to_owned()],
            hsts: Some(HeaderValue::from_static("max-age=31536000; includeSubDomains")),
            keep_alive: Duration::from_secs(75),
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            upstream_keepalive: Duration::from_secs(60),
            policy: RoutePolicy::default(),
            client: ClientSettings::default(),
            limit_req_status: 503,
            limit_conn_status: 503,
            header_line_max: 8 * 1024,
            header_total_max: 32 * 1024,
            global_auth: None,
            no_auth_locations: vec!["/.well-known/acme-challenge".to_owned()],
            proxy_set_headers: Vec::new(),
            allowed_response_headers: Vec::new(),
            blocked_agents: Vec::new(),
            blocked_referers: Vec::new(),
            hide_headers: Vec::new(),
            underscores_in_headers: false,
            add_original_uri_header: false,
            compression: Compression::default(),
            backend_server_header: false,
            max_worker_connections: 16384,
            max_connections_per_client: 0,
            max_unfinished_heads: 0,
        }
    }
}

/// ingress-nginx's default `gzip-types` (and, with `application/xml+rss`, `brotli-types`).
const DEFAULT_TYPES: &str = "application/atom+xml application/javascript application/x-javascript \
    application/json application/rss+xml application/vnd.ms-fontobject application/x-font-ttf \
    application/x-web-app-manifest+json application/xhtml+xml application/xml font/opentype \
    image/svg+xml image/x-icon text/css text/javascript text/plain text/x-component";

/// One compression algorithm's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// The level; 0 is off.
    pub level: u32,
    /// Responses with a shorter `Content-Length` are sent as they are.
    pub min_length: u64,
    /// The MIME types compressed (lowercase, no parameters); `*` is any.
    pub types: Vec<String>,
}

impl Codec {
    /// Whether a response of `content_type` (parameters allowed) and `length` is compressed.
    pub fn applies(&self, content_type: Option<&str>, length: Option<u64>) -> bool {
        if self.level == 0 || length.is_some_and(|n| n < self.min_length) {
            return false;
        }
        let Some(mime) = content_type.map(|t| t.split(';').next().unwrap_or(t).trim()) else {
            return false;
        };
        self.types.iter().any(|t| t == "*" || t.eq_ignore_ascii_case(mime))
    }
}

/// gzip and brotli, as the ConfigMap sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// `use-gzip` and its companions.
    pub gzip: Codec,
    /// `enable-brotli` and its companions.
    pub brotli: Codec,
}

impl Default for Compression {
    fn default() -> Self {
        let types: Vec<String> = DEFAULT_TYPES.split_whitespace().map(str::to_owned).collect();
        let mut brotli_types = types.clone();
        brotli_types.push("application/xml+rss".to_owned());
        Compression {
            gzip: Codec { level: 0, min_length: 256, types },
            brotli: Codec { level: 0, min_length: 20, types: brotli_types },
        }
    }
}

impl Compression {
    /// Whether any algorithm is on.
    pub fn enabled(&self) -> bool {
        self.gzip.level > 0 || self.brotli.level > 0
    }
}

/// A `block-user-agents` / `block-referers` key.
#[derive(Debug, Clone)]
pub enum BlockKey {
    /// A string, matched ignoring case.
    Exact(String),
    /// A regex (`~` or `~*`), with its source.
    Pattern(String, Regex),
}

impl BlockKey {
    /// Whether `value` (a header value) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            BlockKey::Exact(s) => s.eq_ignore_ascii_case(value),
            BlockKey::Pattern(_, regex) => regex.is_match(value),
        }
    }
}

impl PartialEq for BlockKey {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BlockKey::Exact(a), BlockKey::Exact(b)) | (BlockKey::Pattern(a, _), BlockKey::Pattern(b, _)) => {
                a == b
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_check_type_and_length() {
        let gzip =
            Codec { level: 1, min_length: 256, types: vec!["text/html".into(), "application/json".into()] };
        assert!(gzip.applies(Some("application/json; charset=utf-8"), Some(1000)));
        assert!(gzip.applies(Some("TEXT/HTML"), None), "unknown length (chunked) is compressed");
        assert!(!gzip.applies(Some("application/json"), Some(100)), "below gzip-min-length");
        assert!(!gzip.applies(Some("image/png"), Some(1000)));
        assert!(!gzip.applies(None, Some(1000)));
        let off = Codec { level: 0, ..gzip };
        assert!(!off.applies(Some("text/html"), Some(1000)));
    }
}
