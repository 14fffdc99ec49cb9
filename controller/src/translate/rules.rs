//! Reading Ingress rules: hosts and paths validated and turned into matchers.

use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress};

use super::warning::Invalid;
use crate::matching::PathMatch;
use crate::rewrite::RegexPath;

/// The valid rule hosts of `ingress` (lowercased; `None` for host-less rules).
pub fn rule_hosts(ingress: &Ingress) -> impl Iterator<Item = Option<String>> + '_ {
    let rules = ingress.spec.iter().flat_map(|s| s.rules.iter().flatten());
    rules.filter_map(|rule| match rule.host.as_deref().filter(|h| !h.is_empty()) {
        None => Some(None),
        Some(h) => validate_host(h).map(Some),
    })
}

/// The matcher of a rule path; on a host in regex mode every path is a regex (ingress-nginx
/// renders them all as `~* "^PATH"`, whatever their pathType).
pub fn path_match(path: &HTTPIngressPath, regex: bool) -> Result<PathMatch, Invalid> {
    let plain = plain_match(path)?;
    if !regex {
        return Ok(plain);
    }
    let source = path.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("/");
    RegexPath::new(source).map(PathMatch::Regex).map_err(|reason| Invalid::InvalidRegex {
        what: "path (use-regex)".to_owned(),
        pattern: source.to_owned(),
        reason,
    })
}

fn plain_match(path: &HTTPIngressPath) -> Result<PathMatch, Invalid> {
    let raw = path.path.as_deref().filter(|p| !p.is_empty());
    let invalid = |reason| Invalid::InvalidPath { path: raw.unwrap_or("").to_owned(), reason };
    let text = match (path.path_type.as_str(), raw) {
        ("Exact", None) => return Err(invalid("an Exact path must not be empty")),
        (_, None) => "/",
        (_, Some(p)) => p,
    };
    if !text.starts_with('/') {
        return Err(invalid("a path must start with '/'"));
    }
    if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(invalid("a path must not contain spaces or control characters"));
    }
    match path.path_type.as_str() {
        "Exact" => Ok(PathMatch::Exact(text.to_owned())),
        "Prefix" => Ok(PathMatch::prefix(text)),
        // An empty pathType is what pre-v1 manifests carry: ingress-nginx treats it as ImplementationSpecific.
        "ImplementationSpecific" | "" => Ok(PathMatch::StringPrefix(text.to_owned())),
        _ => Err(invalid("pathType must be Exact, Prefix or ImplementationSpecific")),
    }
}

/// A rule host, lowercased, if it is a DNS-1123 subdomain or `*.` followed by one.
pub fn validate_host(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let name = host.strip_prefix("*.").unwrap_or(&host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (name.len() <= 253 && name.split('.').all(label_ok)).then_some(host)
}
