//! The request's routing facts, read once when the request head is in and shared by every
//! phase: the host it is routed by, the normalized path, and the client address.
//!
//! * **Host**: the authority of an absolute-form request-target (`GET http://a.example/`,
//!   RFC 9112 §3.2.2, as nginx does), else the `Host` header, else HTTP/2's `:authority`. Both
//!   the request-line authority and the `Host` header are validated as nginx validates them
//!   (`ngx_http_validate_host`); an invalid one, a second `Host` header, or an HTTP/1.1 request
//!   with no host at all is a 400.
//! * **Path**: [`sluice_controller::uri::normalize_path`] of the request-target, nginx's `$uri`.
//!   It is borrowed from the request when the target needs no change.
//! * **Client**: the peer (TCP, or PROXY protocol) resolved through trusted forwarded headers:
//!   nginx's `$remote_addr`, the one value every phase uses (headers, hashing, limits, auth).
//!
//! Nothing here allocates unless the path had to change.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header;
use http::Version;
use pingora::http::RequestHeader;
use sluice_controller::uri::{normalize_path_bytes, split_absolute_form, validate_host};

/// nginx's `$request_uri`: the request's path and query as sent (what goes upstream unless a
/// rewrite applies).
pub fn request_uri(req: &RequestHeader) -> &str {
    req.uri.path_and_query().map_or("/", |p| p.as_str())
}

/// What key building (`upstream-hash-by`, `auth-cache-key`), configured headers and the
/// upstream peer read of a request: its header and its facts, each read only when asked for.
#[derive(Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The request header.
    pub req: &'a RequestHeader,
    facts: &'a Facts,
}

impl<'a> RequestFacts<'a> {
    /// The client address (`$remote_addr`).
    pub fn client(&self) -> Option<IpAddr> {
        self.facts.client
    }

    /// The request host as sent, port included.
    pub fn host(&self) -> &'a str {
        self.facts.raw_host(self.req)
    }

    /// The normalized path (`$uri`).
    pub fn path(&self) -> &'a str {
        self.facts.path(self.req)
    }
}

/// Where the request's host came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostFrom {
    /// No host at all (HTTP/1.0 without `Host`).
    Nowhere,
    /// The `Host` header.
    Header,
    /// The authority of an absolute-form request-target.
    Target,
    /// HTTP/2's `:authority` (the URI's authority).
    Authority,
}

/// Why a request is refused before routing (400, as nginx answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    /// The request path cannot be normalized.
    #[error("invalid request path: {0}")]
    Path(#[from] sluice_controller::uri::PathError),
    /// The host in the request line or the `Host` header is invalid.
    #[error("invalid host: {0}")]
    Host(#[from] sluice_controller::uri::HostError),
    /// More than one `Host` header.
    #[error("duplicate Host header")]
    DuplicateHost,
    /// An HTTP/1.1 (or later) request without any host.
    #[error("HTTP/1.1 request without a host")]
    MissingHost,
    /// A method that is not upper-case letters, `_` and `-` (nginx's method syntax).
    #[error("invalid method")]
    Method,
    /// Both `Transfer-Encoding` and `Content-Length`, or `Content-Length` twice: a body whose
    /// length two parsers could read differently (request smuggling), refused as nginx does.
    #[error("ambiguous request body length")]
    AmbiguousLength,
}

/// The facts of one request; the accessors take the request header they were read from.
#[derive(Debug, Clone)]
pub struct Facts {
    host_from: HostFrom,
    /// Length of the host part (without port and trailing dot) of the raw host.
    host_len: usize,
    /// The normalized path, when it differs from the request's own path.
    path: Option<Box<str>>,
    /// The normalized path's bytes, when they are not UTF-8 (`path` is then their lossy
    /// rendering, which routing reads; rewrites send these bytes on).
    path_bytes: Option<Box<[u8]>>,
    /// The connection's peer: the TCP peer, or the PROXY protocol source.
    pub peer: Option<IpAddr>,
    /// The client: `peer` resolved through trusted forwarded headers (`$remote_addr`).
    pub client: Option<IpAddr>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            host_from: HostFrom::Nowhere,
            host_len: 0,
            path: None,
            path_bytes: None,
            peer: None,
            client: None,
        }
    }
}

impl Facts {
    /// Reads the host and path of `req` (the client fields are filled in by the caller).
    pub fn read(req: &RequestHeader) -> Result<Facts, BadRequest> {
        let method = req.method.as_str().as_bytes();
        if !method.iter().all(|b| b.is_ascii_uppercase() || *b == b'_' || *b == b'-') {
            return Err(BadRequest::Method);
        }
        // One pass over the (few) headers instead of a hashed lookup for each name.
        let (mut host, mut lengths, mut chunked) = (None, 0, false);
        for (name, value) in req.headers.iter() {
            if name == header::HOST {
                if host.replace(value).is_some() {
                    return Err(BadRequest::DuplicateHost);
                }
            } else if name == header::CONTENT_LENGTH {
                lengths += 1;
            } else if name == header::TRANSFER_ENCODING {
                chunked = true;
            }
        }
        if lengths > 1 || (lengths == 1 && chunked) {
            return Err(BadRequest::AmbiguousLength);
        }
        let header_host = match host {
            Some(value) => {
                let text = value.to_str().map_err(|_| sluice_controller::uri::HostError::BadCharacter)?;
                Some(validate_host(text)?.len())
            }
            None => None,
        };
        let target = req.raw_path();
        let (host_from, host_len, path_bytes) = match split_absolute_form(target) {
            Some((authority, rest)) => {
                let text = std::str::from_utf8(authority)
                    .map_err(|_| sluice_controller::uri::HostError::BadCharacter)?;
                (HostFrom::Target, validate_host(text)?.len(), rest)
            }
            None => match (header_host, req.uri.authority()) {
                (Some(len), _) => (HostFrom::Header, len, target),
                (None, Some(authority)) => {
                    (HostFrom::Authority, validate_host(authority.as_str())?.len(), target)
                }
                (None, None) if req.version >= Version::HTTP_11 => return Err(BadRequest::MissingHost),
                (None, None) => (HostFrom::Nowhere, 0, target),
            },
        };
        let normalized = normalize_path_bytes(path_bytes, true)?;
        let own = req.uri.path();
        // The request's own path, unchanged, is the common case: the very same bytes in memory.
        let unchanged = normalized.as_ptr() == own.as_ptr() && normalized.len() == own.len();
        let (path, path_bytes) = if unchanged {
            (None, None)
        } else {
            match std::str::from_utf8(&normalized) {
                Ok(text) => ((text != own).then(|| Box::from(text)), None),
                Err(_) => {
                    let lossy = String::from_utf8_lossy(&normalized).into();
                    (Some(lossy), Some(Box::from(normalized.as_ref())))
                }
            }
        };
        Ok(Facts { host_from, host_len, path, path_bytes, peer: None, client: None })
    }

    /// The host as the client sent it, port included (`$http_host`; for an absolute-form
    /// request, its authority).
    pub fn raw_host<'a>(&self, req: &'a RequestHeader) -> &'a str {
        match self.host_from {
            HostFrom::Nowhere => "",
            HostFrom::Header => req.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or(""),
            HostFrom::Target => split_absolute_form(req.raw_path())
                .and_then(|(authority, _)| std::str::from_utf8(authority).ok())
                .unwrap_or(""),
            HostFrom::Authority => req.uri.authority().map_or("", |a| a.as_str()),
        }
    }

    /// The host the request is routed by: the raw host without port and trailing dot (case
    /// kept; the table lowercases).
    pub fn host<'a>(&self, req: &'a RequestHeader) -> &'a str {
        let raw = self.raw_host(req);
        raw.get(..self.host_len).unwrap_or(raw)
    }

    /// The normalized path (`$uri`).
    pub fn path<'a>(&'a self, req: &'a RequestHeader) -> &'a str {
        self.path.as_deref().unwrap_or_else(|| req.uri.path())
    }

    /// The normalized path's bytes when they are not UTF-8 (then [`Self::path`] is their lossy
    /// rendering).
    pub fn path_bytes(&self) -> Option<&[u8]> {
        self.path_bytes.as_deref()
    }

    /// The facts with `req`, as key building (`upstream-hash-by`, `auth-cache-key`) and
    /// configured headers read them.
    pub fn with_request<'a>(&'a self, req: &'a RequestHeader) -> RequestFacts<'a> {
        RequestFacts { req, facts: self }
    }

    /// For an absolute-form request, its target in origin form (path and query, `/` when it
    /// has no path), as the client sent those bytes; `None` for any other form.
    pub fn origin_form<'a>(&self, req: &'a RequestHeader) -> Option<Cow<'a, [u8]>> {
        if !self.absolute_form() {
            return None;
        }
        let (_, rest) = split_absolute_form(req.raw_path())?;
        Some(match rest.first() {
            Some(b'/') => Cow::Borrowed(rest),
            _ => Cow::Owned([&b"/"[..], rest].concat()),
        })
    }

    /// Whether the request-target was in absolute form (its path then goes upstream in
    /// origin form, and its authority as `Host`).
    pub fn absolute_form(&self) -> bool {
        self.host_from == HostFrom::Target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &[u8], hosts: &[&str]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target, None).expect("request");
        for h in hosts {
            req.append_header("host", *h).expect("header");
        }
        req
    }

    #[test]
    fn path_is_borrowed_unless_it_changes() {
        let req = request(b"/a/b?x=1", &["example.com"]);
        let facts = Facts::read(&req).expect("valid");
        assert!(facts.path.is_none());
        assert_eq!(facts.path(&req), "/a/b");
        let req = request(b"/x/../%61dmin?x=1", &["example.com"]);
        assert_eq!(Facts::read(&req).expect("valid").path(&req), "/admin");
    }

    #[test]
    fn absolute_form_routes_by_its_authority() {
        let req = request(b"http://A.example:8080/p/./q", &["b.example"]);
        let facts = Facts::read(&req).expect("valid");
        assert!(facts.absolute_form());
        assert_eq!(facts.host(&req), "A.example");
        assert_eq!(facts.raw_host(&req), "A.example:8080");
        assert_eq!(facts.path(&req), "/p/q");
        assert_eq!(facts.origin_form(&req).as_deref(), Some(&b"/p/./q"[..]));
        let req = request(b"http://a.example?x=1", &[]);
        let facts = Facts::read(&req).expect("valid");
        assert_eq!(facts.origin_form(&req).as_deref(), Some(&b"/?x=1"[..]));
        assert_eq!(facts.path(&req), "/");
    }

    #[test]
    fn bad_hosts_are_refused() {
        assert_eq!(
            Facts::read(&request(b"/", &["a b"])).err(),
            Some(BadRequest::Host(sluice_controller::uri::HostError::BadCharacter))
        );
        assert_eq!(Facts::read(&request(b"/", &["a", "b"])).err(), Some(BadRequest::DuplicateHost));
        assert_eq!(Facts::read(&request(b"/", &[])).err(), Some(BadRequest::MissingHost));
        assert!(Facts::read(&request(b"/", &["example.com:99999"])).is_err());
        assert!(Facts::read(&request(b"http://a..b/", &["ok"])).is_err());
        assert!(Facts::read(&request(b"/", &["ok"])).is_ok());
    }

    #[test]
    fn ambiguous_bodies_and_bad_methods_are_refused() {
        let mut req = request(b"/", &["ok"]);
        req.append_header("content-length", "4").expect("header");
        assert!(Facts::read(&req).is_ok());
        req.append_header("content-length", "4").expect("header");
        assert_eq!(Facts::read(&req).err(), Some(BadRequest::AmbiguousLength));
        let mut req = request(b"/", &["ok"]);
        req.append_header("content-length", "4").expect("header");
        req.append_header("transfer-encoding", "chunked").expect("header");
        assert_eq!(Facts::read(&req).err(), Some(BadRequest::AmbiguousLength));
        let req = RequestHeader::build("get", b"/", None).expect("request");
        assert_eq!(Facts::read(&req).err(), Some(BadRequest::Method));
    }
}
