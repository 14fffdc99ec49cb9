//! Canary annotations: `canary`, `canary-by-header` (+ `-value`, `-pattern`),
//! `canary-by-cookie`, `canary-weight` (+ `-total`). They only count on an Ingress with
//! `canary: "true"`; its other annotations are ignored, as in ingress-nginx (the canary uses the
//! main Ingress's settings).

use http::HeaderName;

use super::Reader;
use crate::policy::HeaderMatch;
use crate::rewrite;
use crate::translate::values;

/// A canary Ingress's traffic rules (its backends come from its own paths).
#[derive(Debug, Clone, PartialEq)]
pub struct CanarySpec {
    /// `canary-by-header` and how its value is compared.
    pub header: Option<(HeaderName, HeaderMatch)>,
    /// `canary-by-cookie`.
    pub cookie: Option<String>,
    /// `canary-weight` (0).
    pub weight: u32,
    /// `canary-weight-total` (100).
    pub weight_total: u32,
}

pub(super) fn parse(r: &mut Reader<'_>) -> Option<CanarySpec> {
    if !r.parse("canary", values::boolean)? {
        return None;
    }
    let weight_total = r
        .parse("canary-weight-total", |v| match v.parse::<u32>() {
            Ok(n) if n > 0 && n <= 1_000_000 => Ok(n),
            _ => Err("must be a number from 1 to 1000000"),
        })
        .unwrap_or(100);
    let weight = r
        .parse("canary-weight", |v| match v.parse::<u32>() {
            Ok(n) if n <= weight_total => Ok(n),
            _ => Err("must be a number from 0 to canary-weight-total"),
        })
        .unwrap_or(0);
    let header = r.parse("canary-by-header", |v| {
        HeaderName::try_from(v.to_ascii_lowercase()).map_err(|_| "not a valid header name")
    });
    let header = header.map(|name| {
        let how = if let Some(value) = r.get("canary-by-header-value").filter(|v| !v.is_empty()) {
            HeaderMatch::Value(value.to_owned())
        } else if let Some(pattern) = r.get("canary-by-header-pattern").filter(|v| !v.is_empty()) {
            match rewrite::compile(pattern, false) {
                Ok(re) => HeaderMatch::Pattern(re),
                Err(reason) => {
                    r.invalid_regex("canary-by-header-pattern", pattern, reason);
                    HeaderMatch::AlwaysNever
                }
            }
        } else {
            HeaderMatch::AlwaysNever
        };
        (name, how)
    });
    let cookie = r.parse("canary-by-cookie", |v| {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            Ok(v.to_owned())
        } else {
            Err("not a valid cookie name")
        }
    });
    Some(CanarySpec { header, cookie, weight, weight_total })
}
