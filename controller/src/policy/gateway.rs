//! What an HTTPRoute rule adds to a route: the request conditions beyond the path (method,
//! headers, query parameters), weighted backends with their own filters, and the Gateway API
//! filters (header modifiers, redirect, URL rewrite). Validated in `translate`; the data plane
//! only evaluates.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::backend::Backend;
use crate::rewrite::RegexPath;

/// One HTTPRoute rule match, compiled: the parts besides the path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    /// The method, if the match names one.
    pub method: Option<Method>,
    /// Header matches (names compared case-insensitively), all of which must hold.
    pub headers: Vec<(HeaderName, ValueMatch)>,
    /// Query parameter matches (names compared exactly), all of which must hold.
    pub query: Vec<(String, ValueMatch)>,
}

/// How a header or query parameter value is compared.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueMatch {
    /// The whole value, byte for byte.
    Exact(String),
    /// A regular expression that must match the whole value ([`RegexPath::whole`]).
    Regex(RegexPath),
}

impl ValueMatch {
    fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Exact(v) => v == value,
            ValueMatch::Regex(r) => r.is_match(value),
        }
    }
}

impl Conditions {
    /// Whether a request with this method, these headers and this query string meets every
    /// condition. A header sent several times is compared as its values joined with `,`; a
    /// query parameter sent several times is compared by its first value.
    pub fn matches(&self, method: &Method, headers: &HeaderMap, query: Option<&str>) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let headers_hold = self.headers.iter().all(|(name, want)| {
            let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
            let Some(first) = values.next() else {
                return false;
            };
            match values.next() {
                None => want.matches(first),
                Some(second) => {
                    let mut joined = format!("{first},{second}");
                    values.for_each(|v| {
                        joined.push(',');
                        joined.push_str(v);
                    });
                    want.matches(&joined)
                }
            }
        });
        headers_hold
            && self.query.iter().all(|(name, want)| query_value(query, name).is_some_and(|v| want.matches(v)))
    }

    /// Whether there is nothing to check besides the path.
    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.headers.is_empty() && self.query.is_empty()
    }
}

/// The first value of query parameter `name` (`a=1&b=2`); a parameter without `=` has an empty
/// value.
pub fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// Header changes of a `RequestHeaderModifier` or `ResponseHeaderModifier` filter, applied in
/// the spec's order: set, then add, then remove.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderModifier {
    /// Replace the header (or add it).
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Append a value.
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// Remove the header.
    pub remove: Vec<HeaderName>,
}

impl HeaderModifier {
    /// Whether the modifier changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Appends `other`'s changes after this one's.
    pub fn extend(&mut self, other: &HeaderModifier) {
        self.set.extend(other.set.iter().cloned());
        self.add.extend(other.add.iter().cloned());
        self.remove.extend(other.remove.iter().cloned());
    }
}

/// A `RequestRedirect` filter: each part left `None` is taken from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRedirect {
    /// `http` or `https`.
    pub scheme: Option<String>,
    /// The host name.
    pub hostname: Option<String>,
    /// The port.
    pub port: Option<u16>,
    /// The path.
    pub path: Option<PathReplace>,
    /// The status code (301 by default).
    pub code: u16,
}

/// A path modifier of a redirect or rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathReplace {
    /// `ReplaceFullPath`.
    Full(String),
    /// `ReplacePrefixMatch`: the matched `PathPrefix` is replaced by this.
    Prefix(String),
}

impl PathReplace {
    /// The new path of a request for `path` that matched the prefix `matched` (stored without
    /// a trailing slash, empty for `/`). The query is not part of `path`.
    pub fn apply(&self, path: &str, matched: &str) -> String {
        match self {
            PathReplace::Full(full) => full.clone(),
            PathReplace::Prefix(replacement) => {
                let rest = path.get(matched.len()..).unwrap_or("");
                let head = replacement.trim_end_matches('/');
                let joined = match (head.is_empty(), rest.is_empty()) {
                    (true, true) => "/".to_owned(),
                    (true, false) => rest.to_owned(),
                    (false, _) if rest.starts_with('/') || rest.is_empty() => format!("{head}{rest}"),
                    (false, _) => format!("{head}/{rest}"),
                };
                if joined.starts_with('/') {
                    joined
                } else {
                    format!("/{joined}")
                }
            }
        }
    }
}

/// A `URLRewrite` filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayRewrite {
    /// The Host sent upstream.
    pub hostname: Option<HeaderValue>,
    /// The path sent upstream.
    pub path: Option<PathReplace>,
}

/// One weighted `backendRef` of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedBackend {
    /// The backend; `None` when the reference is invalid (its share of requests gets 500).
    pub backend: Option<Arc<Backend>>,
    /// Its weight.
    pub weight: u32,
    /// The backendRef's `RequestHeaderModifier` filters.
    pub request_headers: HeaderModifier,
    /// The backendRef's `ResponseHeaderModifier` filters.
    pub response_headers: HeaderModifier,
}

/// What an HTTPRoute rule adds to a [`crate::table::Route`].
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRule {
    /// Method, header and query conditions.
    pub conditions: Conditions,
    /// The weighted backends; empty or all weights 0 means 500 (unless a redirect answers).
    pub backends: Vec<WeightedBackend>,
    /// `RequestHeaderModifier`.
    pub request_headers: HeaderModifier,
    /// `ResponseHeaderModifier`.
    pub response_headers: HeaderModifier,
    /// `RequestRedirect`.
    pub redirect: Option<GatewayRedirect>,
    /// `URLRewrite`.
    pub rewrite: Option<GatewayRewrite>,
    /// The port of the listener the rule is served on (for redirects without a port).
    pub listener_port: u16,
}

impl GatewayRule {
    /// The sum of the backends' weights.
    pub fn total_weight(&self) -> u32 {
        self.backends.iter().fold(0, |sum, b| sum.saturating_add(b.weight))
    }

    /// The backend for a roll in `0..total_weight`: the index of the weighted backend whose
    /// share holds it. `None` when every weight is 0.
    pub fn pick(&self, roll: u32) -> Option<usize> {
        let mut left = roll;
        self.backends.iter().position(|b| {
            if left < b.weight {
                true
            } else {
                left -= b.weight;
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_replacement_keeps_the_rest_of_the_path() {
        let r = PathReplace::Prefix("/one".into());
        assert_eq!(r.apply("/prefix/one/two", "/prefix/one"), "/one/two");
        assert_eq!(r.apply("/prefix/one", "/prefix/one"), "/one");
        let root = PathReplace::Prefix("/".into());
        assert_eq!(root.apply("/strip-prefix/three", "/strip-prefix"), "/three");
        assert_eq!(root.apply("/strip-prefix", "/strip-prefix"), "/");
        assert_eq!(PathReplace::Prefix("/x/".into()).apply("/a/b", "/a"), "/x/b");
        assert_eq!(PathReplace::Full("/one".into()).apply("/full/one/two", "/full"), "/one");
    }

    #[test]
    fn query_values_are_the_first_by_exact_name() {
        assert_eq!(query_value(Some("a=1&A=2&a=3"), "a"), Some("1"));
        assert_eq!(query_value(Some("flag&x=1"), "flag"), Some(""));
        assert_eq!(query_value(None, "a"), None);
    }

    #[test]
    fn repeated_headers_are_joined_and_methods_compared() {
        let mut headers = HeaderMap::new();
        headers.append("version", HeaderValue::from_static("one"));
        headers.append("version", HeaderValue::from_static("two"));
        let c = Conditions {
            method: Some(Method::GET),
            headers: vec![(HeaderName::from_static("version"), ValueMatch::Exact("one,two".into()))],
            query: Vec::new(),
        };
        assert!(c.matches(&Method::GET, &headers, None));
        assert!(!c.matches(&Method::POST, &headers, None));
        assert!(!c.matches(&Method::GET, &HeaderMap::new(), None));
    }

    #[test]
    fn weights_split_by_share_and_zero_gets_nothing() {
        let wb = |weight| WeightedBackend {
            backend: None,
            weight,
            request_headers: HeaderModifier::default(),
            response_headers: HeaderModifier::default(),
        };
        let rule = GatewayRule {
            conditions: Conditions::default(),
            backends: vec![wb(0), wb(3), wb(1)],
            request_headers: HeaderModifier::default(),
            response_headers: HeaderModifier::default(),
            redirect: None,
            rewrite: None,
            listener_port: 80,
        };
        let picks: Vec<usize> = (0..4).map(|r| rule.pick(r).unwrap_or(99)).collect();
        assert_eq!(picks, vec![1, 1, 1, 2]);
        assert_eq!(rule.pick(4), None);
    }
}
