//! Host and path matching, with the exact semantics of Ingress v1.
//!
//! * `Exact`: the whole path, case-sensitive.
//! * `Prefix`: element-wise on `/`; a trailing slash in the rule is ignored; `/` matches all.
//! * `ImplementationSpecific`: as ingress-nginx without `use-regex`, a plain string prefix
//!   (an nginx `location /foo` also matches `/foobar`).
//! * `Regex`: every path of a host where an Ingress sets `use-regex` or `rewrite-target`, as
//!   ingress-nginx renders them: `~* "^PATH"`, tried longest path first.
//! * Hosts: compared case-insensitively with the port and a trailing dot removed; `*.foo.com`
//!   matches exactly one more label.

use std::cmp::Ordering;

use crate::rewrite::RegexPath;

/// How a route's path is compared with a request path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathMatch {
    /// The whole path must be equal (case-sensitive).
    Exact(String),
    /// Element-wise prefix. Stored without its trailing slash; empty means "match everything".
    Prefix(String),
    /// A plain string prefix, as nginx's prefix `location` (ingress-nginx's ImplementationSpecific).
    StringPrefix(String),
    /// A case-insensitive regular expression anchored at the start (`use-regex`).
    Regex(RegexPath),
}

impl PathMatch {
    /// A `Prefix` rule, normalised: the trailing slash is dropped (`/` becomes the empty prefix).
    pub fn prefix(path: &str) -> Self {
        PathMatch::Prefix(path.trim_end_matches('/').to_owned())
    }

    /// Whether `path` (the request path, without its query) matches this rule.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => {
                path.starts_with(p.as_str()) && (path.len() == p.len() || path.as_bytes()[p.len()] == b'/')
            }
            PathMatch::StringPrefix(p) => path.starts_with(p.as_str()),
            PathMatch::Regex(r) => r.is_match(path),
        }
    }

    /// The rule's path as written into the table (for logs and metrics).
    pub fn path(&self) -> &str {
        match self {
            PathMatch::Exact(p) | PathMatch::StringPrefix(p) => p,
            PathMatch::Prefix(p) if p.is_empty() => "/",
            PathMatch::Prefix(p) => p,
            PathMatch::Regex(r) => r.source(),
        }
    }

    /// The length that decides "longest match wins".
    fn match_len(&self) -> usize {
        match self {
            PathMatch::Exact(p) | PathMatch::Prefix(p) | PathMatch::StringPrefix(p) => p.len(),
            PathMatch::Regex(r) => r.source().len(),
        }
    }

    fn type_rank(&self) -> u8 {
        match self {
            PathMatch::Exact(_) => 0,
            PathMatch::Prefix(_) => 1,
            PathMatch::StringPrefix(_) => 2,
            PathMatch::Regex(_) => 3,
        }
    }

    /// Precedence between two rules of one host: longer first; for equal length, Exact before
    /// Prefix before ImplementationSpecific; then by path text, so that the order is total.
    /// Regex paths sort as ingress-nginx sorts locations: longer first, then by path text
    /// descending.
    pub fn precedence(&self, other: &Self) -> Ordering {
        if let (PathMatch::Regex(a), PathMatch::Regex(b)) = (self, other) {
            return b.source().len().cmp(&a.source().len()).then_with(|| b.source().cmp(a.source()));
        }
        other
            .match_len()
            .cmp(&self.match_len())
            .then_with(|| self.type_rank().cmp(&other.type_rank()))
            .then_with(|| self.path().cmp(other.path()))
    }
}

/// The host part of a `Host` header or authority, port removed, case kept.
pub fn strip_port(raw: &str) -> &str {
    if let Some(rest) = raw.strip_prefix('[') {
        return match rest.find(']') {
            Some(end) => &raw[..end + 2],
            None => raw,
        };
    }
    match raw.rfind(':') {
        Some(i) if raw[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &raw[..i],
        _ => raw,
    }
}

/// The host part of a `Host` header or `:authority`, lowercased, without port and trailing dot.
/// Returns a borrowed string when nothing needs to change (the common case).
pub fn normalize_host(raw: &str) -> std::borrow::Cow<'_, str> {
    let without_port = strip_port(raw);
    let trimmed = without_port.strip_suffix('.').unwrap_or(without_port);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

/// For a host `a.b.c`, the suffix a single-label wildcard must have to match it (`b.c`).
/// `None` for a host with one label, which no wildcard matches.
pub fn wildcard_suffix(host: &str) -> Option<&str> {
    let dot = host.find('.')?;
    let (label, suffix) = (&host[..dot], &host[dot + 1..]);
    if label.is_empty() || suffix.is_empty() {
        None
    } else {
        Some(suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_and_case_and_trailing_dot_are_ignored() {
        assert_eq!(normalize_host("Foo.Bar.com:8080"), "foo.bar.com");
        assert_eq!(normalize_host("foo.bar.com."), "foo.bar.com");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
        assert_eq!(normalize_host("example"), "example");
    }

    #[test]
    fn wildcard_suffix_drops_exactly_one_label() {
        assert_eq!(wildcard_suffix("bar.foo.com"), Some("foo.com"));
        assert_eq!(wildcard_suffix("baz.bar.foo.com"), Some("bar.foo.com"));
        assert_eq!(wildcard_suffix("foo"), None);
        assert_eq!(wildcard_suffix(".foo"), None);
    }

    #[test]
    fn implementation_specific_is_a_string_prefix() {
        let m = PathMatch::StringPrefix("/foo".into());
        assert!(m.matches("/foobar"));
        assert!(m.matches("/foo/x"));
        assert!(!m.matches("/fo"));
    }

    #[test]
    fn precedence_is_longest_then_exact() {
        let exact = PathMatch::Exact("/foo".into());
        let prefix = PathMatch::prefix("/foo");
        let longer = PathMatch::prefix("/foo/bar");
        assert_eq!(exact.precedence(&prefix), Ordering::Less);
        assert_eq!(longer.precedence(&exact), Ordering::Less);
    }
}
