//! The Gateway API filters on the request path: the `RequestRedirect` Location, the
//! `URLRewrite` and `RequestHeaderModifier` changes to the upstream request, and the
//! `ResponseHeaderModifier` changes to the response. The rule was compiled by translate; this
//! only applies it.

use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::Result;
use sluice_controller::matching::PathMatch;
use sluice_controller::policy::{GatewayRedirect, GatewayRule, HeaderModifier, PathReplace};
use sluice_controller::uri::escape_path_into;

/// The part of the request path a `ReplacePrefixMatch` replaces: the route's prefix.
fn matched_prefix(path: &PathMatch) -> &str {
    match path {
        PathMatch::Prefix(p) | PathMatch::Exact(p) | PathMatch::StringPrefix(p) => p.trim_end_matches('/'),
        PathMatch::Regex(_) => "",
    }
}

/// A decoded path and the raw query as a request-target: the bytes that cannot stand for
/// themselves in a path (space, controls, `%`, `?`, `#`, non-ASCII, ...) percent-encoded again.
fn target(path: &str, query: Option<&str>) -> String {
    let mut uri = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    escape_path_into(&mut uri, path.as_bytes());
    if let Some(q) = query {
        uri.push('?');
        uri.push_str(q);
    }
    uri
}

/// The new path and query of a request whose path is replaced.
fn replaced_uri(replace: &PathReplace, route_path: &PathMatch, path: &str, query: Option<&str>) -> String {
    target(&replace.apply(path, matched_prefix(route_path)), query)
}

/// The `Location` of a `RequestRedirect`. Unset parts come from the request; without a port,
/// a changed scheme takes its well-known port and an unchanged one the listener's, and the
/// port is left out when it is the scheme's default (80 for http, 443 for https).
pub fn redirect_location(
    redirect: &GatewayRedirect,
    route_path: &PathMatch,
    scheme: &str,
    host: &str,
    path: &str,
    query: Option<&str>,
    listener_port: u16,
) -> String {
    let scheme = redirect.scheme.as_deref().unwrap_or(scheme);
    let host = redirect.hostname.as_deref().unwrap_or(host);
    let port = match (redirect.port, &redirect.scheme) {
        (Some(p), _) => Some(p),
        (None, Some(_)) => None,
        (None, None) => Some(listener_port),
    };
    let default_port = matches!((scheme, port), ("http", Some(80)) | ("https", Some(443)));
    let mut location = format!("{scheme}://{host}");
    if let Some(p) = port.filter(|_| !default_port) {
        location.push(':');
        location.push_str(itoa::Buffer::new().format(p));
    }
    match &redirect.path {
        Some(replace) => location.push_str(&replaced_uri(replace, route_path, path, query)),
        None => location.push_str(&target(path, query)),
    }
    location
}

/// What a header modifier needs of a request or response header.
trait EditHeaders {
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()>;
    fn append(&mut self, name: HeaderName, value: HeaderValue) -> Result<()>;
    fn remove(&mut self, name: &HeaderName);
}

macro_rules! edit_headers {
    ($ty:ty) => {
        impl EditHeaders for $ty {
            fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
                self.insert_header(name, value)
            }
            fn append(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
                self.append_header(name, value).map(drop)
            }
            fn remove(&mut self, name: &HeaderName) {
                self.remove_header(name);
            }
        }
    };
}

edit_headers!(RequestHeader);
edit_headers!(ResponseHeader);

/// Applies a modifier in the spec's order: set, add, remove.
fn modify(headers: &mut impl EditHeaders, m: &HeaderModifier) -> Result<()> {
    for (name, value) in &m.set {
        headers.set(name.clone(), value.clone())?;
    }
    for (name, value) in &m.add {
        headers.append(name.clone(), value.clone())?;
    }
    for name in &m.remove {
        headers.remove(name);
    }
    Ok(())
}

/// Applies the rule's `URLRewrite` and request header modifiers (the rule's, then the chosen
/// backend's) to the upstream request. `path` is the normalized request path.
pub fn apply_request(
    upstream: &mut RequestHeader,
    rule: &GatewayRule,
    picked: Option<usize>,
    route_path: &PathMatch,
    path: &str,
    query: Option<&str>,
) -> Result<()> {
    if let Some(rewrite) = &rule.rewrite {
        if let Some(replace) = &rewrite.path {
            let uri = replaced_uri(replace, route_path, path, query);
            upstream.set_raw_path(uri.as_bytes())?;
        }
        if let Some(host) = &rewrite.hostname {
            upstream.insert_header(http::header::HOST, host.clone())?;
        }
    }
    modify(upstream, &rule.request_headers)?;
    if let Some(backend) = picked.and_then(|i| rule.backends.get(i)) {
        modify(upstream, &backend.request_headers)?;
    }
    Ok(())
}

/// Applies the rule's response header modifiers (the rule's, then the chosen backend's).
pub fn apply_response(
    response: &mut ResponseHeader,
    rule: &GatewayRule,
    picked: Option<usize>,
) -> Result<()> {
    modify(response, &rule.response_headers)?;
    if let Some(backend) = picked.and_then(|i| rule.backends.get(i)) {
        modify(response, &backend.response_headers)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(scheme: Option<&str>, hostname: Option<&str>, port: Option<u16>) -> GatewayRedirect {
        GatewayRedirect {
            scheme: scheme.map(str::to_owned),
            hostname: hostname.map(str::to_owned),
            port,
            path: None,
            code: 302,
        }
    }

    #[test]
    fn redirect_ports_follow_the_spec() {
        let root = PathMatch::prefix("/");
        let at = |r: &GatewayRedirect, port| {
            redirect_location(r, &root, "http", "a.example", "/p", Some("q=1"), port)
        };
        assert_eq!(at(&redirect(None, Some("b.example"), None), 80), "http://b.example/p?q=1");
        assert_eq!(at(&redirect(None, Some("b.example"), None), 8080), "http://b.example:8080/p?q=1");
        assert_eq!(at(&redirect(Some("https"), None, None), 8080), "https://a.example/p?q=1");
        assert_eq!(at(&redirect(Some("https"), None, Some(8443)), 80), "https://a.example:8443/p?q=1");
        assert_eq!(at(&redirect(None, None, Some(80)), 8080), "http://a.example/p?q=1");
    }

    #[test]
    fn decoded_bytes_are_encoded_again_in_rewritten_targets() {
        let replace = PathReplace::Prefix("/new".into());
        let uri = replaced_uri(&replace, &PathMatch::prefix("/old"), "/old/a b%?", Some("q=1"));
        assert_eq!(uri, "/new/a%20b%25%3F?q=1");
    }

    #[test]
    fn redirect_paths_replace_the_matched_prefix() {
        let mut r = redirect(None, None, None);
        r.path = Some(PathReplace::Prefix("/replacement-prefix".into()));
        let prefix = PathMatch::prefix("/original-prefix");
        let location = redirect_location(&r, &prefix, "http", "h", "/original-prefix/lemon", None, 80);
        assert_eq!(location, "http://h/replacement-prefix/lemon");
    }
}
