//! The headers Sluice sets on the way to the upstream, as ingress-nginx sets them: the client's
//! Host is kept; `X-Forwarded-For` is appended to; `X-Real-IP`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host`, `X-Forwarded-Port`, `X-Forwarded-Scheme`, `X-Scheme` and `X-Request-ID`
//! are set; hop-by-hop headers are removed, except the pair that carries an Upgrade.

use std::net::IpAddr;

use http::header::{self, HeaderName, HeaderValue};
use pingora::http::{CaseHeaderName, RequestHeader, ResponseHeader};
use pingora::Result;
use sluice_controller::policy::HeaderTemplate;
use sluice_controller::GlobalSettings;

use crate::facts::RequestFacts;
use crate::{text, traffic};

/// What the proxy knows about the downstream side of one request.
#[derive(Debug, Clone, Copy)]
pub struct Downstream<'a> {
    /// The client's address as resolved (see `sluice_controller::client`): `X-Real-IP`.
    pub client_ip: Option<IpAddr>,
    /// The connection's peer (the TCP peer, or the PROXY protocol source), appended to
    /// `X-Forwarded-For` when `full_forwarded_for`.
    pub peer: Option<IpAddr>,
    /// `compute-full-forwarded-for`: append `peer` to the incoming `X-Forwarded-For`; else send
    /// the resolved client alone.
    pub full_forwarded_for: bool,
    /// The peer is trusted and `use-forwarded-headers` is on: incoming `X-Forwarded-Proto`,
    /// `-Host` and `-Port` are passed on instead of being replaced.
    pub trusted_forwarded: bool,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The port the request arrived on.
    pub server_port: Option<u16>,
    /// The request's host, as the client sent it (Host header or authority).
    pub host: &'a str,
    /// The request ID to send (the client's `X-Request-ID`, or a generated one).
    pub request_id: &'a str,
}

/// A header Sluice sets: its name, and the case it is sent in (ingress-nginx's configuration
/// spells these in title case, and nginx sends them as spelled). Inserting one neither parses
/// nor allocates a name.
#[derive(Debug)]
struct SetHeader(HeaderName, &'static str);

impl SetHeader {
    fn wire(&self) -> (HeaderName, CaseHeaderName) {
        (self.0.clone(), CaseHeaderName::from_static(self.1))
    }
}

const X_FORWARDED_FOR: SetHeader = SetHeader(HeaderName::from_static("x-forwarded-for"), "X-Forwarded-For");
const X_REAL_IP: SetHeader = SetHeader(HeaderName::from_static("x-real-ip"), "X-Real-IP");
const X_FORWARDED_PROTO: SetHeader =
    SetHeader(HeaderName::from_static("x-forwarded-proto"), "X-Forwarded-Proto");
const X_FORWARDED_HOST: SetHeader =
    SetHeader(HeaderName::from_static("x-forwarded-host"), "X-Forwarded-Host");
const X_FORWARDED_PORT: SetHeader =
    SetHeader(HeaderName::from_static("x-forwarded-port"), "X-Forwarded-Port");
const X_FORWARDED_SCHEME: SetHeader =
    SetHeader(HeaderName::from_static("x-forwarded-scheme"), "X-Forwarded-Scheme");
const X_SCHEME: SetHeader = SetHeader(HeaderName::from_static("x-scheme"), "X-Scheme");
/// The request ID header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_REQUEST_ID_WIRE: SetHeader = SetHeader(X_REQUEST_ID, "X-Request-ID");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Rewrites `req` (the upstream copy of the request) with the forwarding headers.
/// `upgrade` keeps `Connection: upgrade` and `Upgrade` so that WebSocket handshakes pass.
pub fn apply(req: &mut RequestHeader, down: &Downstream<'_>, upgrade: bool) -> Result<()> {
    // Room for every header set below, so that the header maps grow at most once.
    req.reserve_headers(10)?;
    strip_hop_by_hop(req, upgrade)?;
    if req.headers.get(header::HOST).is_none() && !down.host.is_empty() {
        // HTTP/2 clients send :authority only; an HTTP/1.1 upstream needs Host.
        req.insert_header(header::HOST, down.host)?;
    }
    // One rendering of the client address serves X-Real-IP and, when it is the peer with
    // nothing before it (the common case), X-Forwarded-For.
    let real_ip = down.client_ip.map(text::ip_header_value);
    if down.full_forwarded_for {
        if let Some(peer) = down.peer {
            let previous: Vec<&str> =
                req.headers.get_all(&X_FORWARDED_FOR.0).iter().filter_map(|v| v.to_str().ok()).collect();
            match (&real_ip, previous.is_empty()) {
                (Some(ip), true) if down.client_ip == Some(peer) => {
                    req.insert_header(X_FORWARDED_FOR.wire(), ip.clone())?
                }
                (_, true) => req.insert_header(X_FORWARDED_FOR.wire(), text::ip_header_value(peer))?,
                (_, false) => {
                    req.insert_header(X_FORWARDED_FOR.wire(), format!("{}, {peer}", previous.join(", ")))?
                }
            }
        }
    } else if let Some(ip) = &real_ip {
        req.insert_header(X_FORWARDED_FOR.wire(), ip.clone())?;
    }
    if let Some(ip) = real_ip {
        req.insert_header(X_REAL_IP.wire(), ip)?;
    }
    let passed = |req: &RequestHeader, name: &SetHeader| {
        down.trusted_forwarded.then(|| req.headers.get(&name.0).cloned()).flatten()
    };
    let proto = passed(req, &X_FORWARDED_PROTO).unwrap_or(HeaderValue::from_static(down.scheme));
    req.insert_header(X_FORWARDED_SCHEME.wire(), proto.clone())?;
    req.insert_header(X_SCHEME.wire(), proto.clone())?;
    req.insert_header(X_FORWARDED_PROTO.wire(), proto)?;
    match passed(req, &X_FORWARDED_HOST) {
        Some(host) => req.insert_header(X_FORWARDED_HOST.wire(), host)?,
        None if !down.host.is_empty() => req.insert_header(X_FORWARDED_HOST.wire(), down.host)?,
        None => {}
    }
    match passed(req, &X_FORWARDED_PORT) {
        Some(port) => req.insert_header(X_FORWARDED_PORT.wire(), port)?,
        None => {
            if let Some(port) = down.server_port {
                req.insert_header(X_FORWARDED_PORT.wire(), HeaderValue::from(port))?;
            }
        }
    }
    req.insert_header(X_REQUEST_ID_WIRE.wire(), down.request_id)?;
    Ok(())
}

/// Whether `name` is one [`strip_hop_by_hop`] acts on.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::UPGRADE
        || name == header::TE
        || name == header::TRAILER
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

fn strip_hop_by_hop(req: &mut RequestHeader, upgrade: bool) -> Result<()> {
    // Pingora's own sanitizer has usually removed them all already: one pass over the names
    // instead of eight failed lookups.
    if !upgrade && !req.headers.keys().any(is_hop_by_hop) {
        return Ok(());
    }
    let listed: Vec<HeaderName> = req
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && n == header::UPGRADE))
        .collect();
    for name in listed {
        req.remove_header(&name);
    }
    // `TE: trailers` is end to end in practice (gRPC requires it); other TE values are not.
    let te_trailers =
        req.headers.get(header::TE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    for name in [header::TE, header::TRAILER, KEEP_ALIVE, PROXY_CONNECTION] {
        req.remove_header(&name);
    }
    if te_trailers {
        req.insert_header(header::TE, HeaderValue::from_static("trailers"))?;
    }
    req.remove_header(&header::CONNECTION);
    if upgrade {
        req.insert_header(header::CONNECTION, HeaderValue::from_static("upgrade"))?;
    } else {
        req.remove_header(&header::UPGRADE);
    }
    Ok(())
}

/// Whether a subrequest Sluice makes from a client request (to `auth-url`, to a mirror) leaves
/// this request header out: hop-by-hop headers, Host and Expect (the subrequest has its own),
/// and, when the subrequest carries no body, the body's framing.
pub fn not_for_subrequest(name: &HeaderName, with_body: bool) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "te" | "trailer" | "upgrade" | "host" | "expect"
    ) || (!with_body && matches!(name.as_str(), "content-length" | "transfer-encoding"))
}

/// The `Content-Length` of a request or response header, when it has a valid one.
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A new request ID: 32 lowercase hex digits, as nginx's `$request_id`.
pub fn new_request_id() -> String {
    text::hex_id(crate::traffic::random_u64(), crate::traffic::random_u64())
}

/// nginx's `underscores_in_headers off` with `ignore_invalid_headers on`: request headers with an
/// underscore in their name are not passed on (CGI-style frameworks would read `X_Real_IP` as
/// `X-Real-IP`).
pub fn drop_underscored(upstream: &mut RequestHeader) {
    for name in names_where(&upstream.headers, |n| n.as_str().as_bytes().contains(&b'_')) {
        upstream.remove_header(&name);
    }
}

/// The names in `headers` that `pred` picks, to remove. Most messages have none, and a first
/// pass that only asks whether any matches costs less than collecting (about 150 instructions
/// per request over the two callers, `sluice-loadtest ir`).
fn names_where(headers: &http::HeaderMap, pred: impl Fn(&HeaderName) -> bool) -> Vec<HeaderName> {
    if !headers.keys().any(&pred) {
        return Vec::new();
    }
    headers.keys().filter(|n| pred(n)).cloned().collect()
}

/// What nginx never passes from an upstream response: its `X-Accel-*` control headers and
/// `X-Pad`; the `Server` header, replaced by Sluice's own unless `allow-backend-server-header`;
/// and the ConfigMap's `hide-headers`.
pub fn hide_upstream_headers(response: &mut ResponseHeader, settings: &GlobalSettings) -> Result<()> {
    let internal =
        names_where(&response.headers, |n| n.as_str().starts_with("x-accel-") || n.as_str() == "x-pad");
    for name in internal.iter().chain(&settings.hide_headers) {
        response.remove_header(name);
    }
    if !settings.backend_server_header || !response.headers.contains_key(header::SERVER) {
        response.insert_header(header::SERVER, HeaderValue::from_static("sluice"))?;
    }
    Ok(())
}

/// The ConfigMap's `proxy-set-headers`: each header set (replaced) on the upstream request, its
/// variables evaluated for this request; a value that makes no header value is left out.
pub fn set_configured(
    upstream: &mut RequestHeader,
    headers: &[(HeaderName, HeaderTemplate)],
    facts: &RequestFacts<'_>,
) -> Result<()> {
    for (name, template) in headers {
        let value = match template {
            HeaderTemplate::Fixed(v) => v.clone(),
            HeaderTemplate::Parts(parts) => match HeaderValue::try_from(traffic::hash_key(parts, facts)) {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        upstream.insert_header(name.clone(), value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).expect("header");
        }
        req
    }

    fn down<'a>() -> Downstream<'a> {
        Downstream {
            client_ip: Some("127.0.0.9".parse().expect("ip")),
            peer: Some("127.0.0.9".parse().expect("ip")),
            full_forwarded_for: true,
            trusted_forwarded: false,
            scheme: "http",
            server_port: Some(8080),
            host: "app.example.com",
            request_id: "abc",
        }
    }

    fn get<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
        req.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn forwarded_for_is_appended_and_the_rest_set() {
        let mut req = request(&[("host", "app.example.com"), ("x-forwarded-for", "10.9.9.9")]);
        apply(&mut req, &down(), false).expect("apply");
        assert_eq!(get(&req, "x-forwarded-for"), Some("10.9.9.9, 127.0.0.9"));
        assert_eq!(get(&req, "x-real-ip"), Some("127.0.0.9"));
        assert_eq!(get(&req, "x-forwarded-proto"), Some("http"));
        assert_eq!(get(&req, "x-forwarded-host"), Some("app.example.com"));
        assert_eq!(get(&req, "x-forwarded-port"), Some("8080"));
        assert_eq!(get(&req, "x-request-id"), Some("abc"));
        assert_eq!(get(&req, "host"), Some("app.example.com"));
    }

    #[test]
    fn without_full_forwarded_for_only_the_client_is_sent_and_trusted_headers_pass() {
        let mut req = request(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-proto", "https")]);
        let d = Downstream {
            client_ip: Some("198.51.100.7".parse().expect("ip")),
            full_forwarded_for: false,
            trusted_forwarded: true,
            ..down()
        };
        apply(&mut req, &d, false).expect("apply");
        assert_eq!(get(&req, "x-forwarded-for"), Some("198.51.100.7"));
        assert_eq!(get(&req, "x-real-ip"), Some("198.51.100.7"));
        assert_eq!(get(&req, "x-forwarded-proto"), Some("https"), "a trusted proxy terminated TLS");
    }

    #[test]
    fn hop_by_hop_headers_go_but_upgrades_pass() {
        let mut req =
            request(&[("connection", "keep-alive, x-secret"), ("x-secret", "1"), ("keep-alive", "5")]);
        apply(&mut req, &down(), false).expect("apply");
        assert!(get(&req, "x-secret").is_none() && get(&req, "keep-alive").is_none());
        assert!(get(&req, "connection").is_none());

        let mut ws = request(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        apply(&mut ws, &down(), true).expect("apply");
        assert_eq!(get(&ws, "upgrade"), Some("websocket"));
        assert_eq!(get(&ws, "connection"), Some("upgrade"));
    }

    #[test]
    fn set_headers_go_out_in_the_case_nginx_sends() {
        let mut req = request(&[("Host", "app.example.com"), ("x-custom", "1")]);
        apply(&mut req, &down(), false).expect("apply");
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).expect("ascii");
        for line in [
            "Host: app.example.com\r\n",
            "x-custom: 1\r\n",
            "X-Forwarded-For: 127.0.0.9\r\n",
            "X-Real-IP: 127.0.0.9\r\n",
            "X-Forwarded-Proto: http\r\n",
            "X-Forwarded-Scheme: http\r\n",
            "X-Scheme: http\r\n",
            "X-Forwarded-Host: app.example.com\r\n",
            "X-Forwarded-Port: 8080\r\n",
            "X-Request-ID: abc\r\n",
        ] {
            assert!(wire.contains(line), "{line:?} in {wire}");
        }
    }

    #[test]
    fn request_ids_are_unique_hex() {
        let a = new_request_id();
        let b = new_request_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
