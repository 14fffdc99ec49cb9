//! Parsers for the value syntaxes that ingress-nginx's annotations and ConfigMap keys share
//! (booleans, seconds, nginx sizes, status lists, `proxy-next-upstream`, `upstream-hash-by`).
//! Each returns a reason on bad input; the caller turns it into a warning.

use std::collections::BTreeMap;
use std::time::Duration;

use http::HeaderName;

use crate::policy::{Balance, HashPart, NextUpstream};

/// Longest annotation or ConfigMap value Sluice reads; longer ones are refused.
pub const MAX_VALUE: usize = 4096;

/// Go's `strconv.ParseBool`, which ingress-nginx uses for boolean settings and annotations.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A boolean, with a reason when it is not one.
pub fn boolean(value: &str) -> Result<bool, &'static str> {
    parse_bool(value).ok_or("not a boolean")
}

/// `NAME` or `NAMESPACE/NAME` of a Kubernetes object (a Secret, a ConfigMap).
pub fn object_name(v: &str) -> Result<String, &'static str> {
    let valid = |part: &str| {
        !part.is_empty()
            && part.len() <= 253
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
    };
    let ok = match v.split_once('/') {
        Some((ns, name)) => valid(ns) && valid(name),
        None => valid(v),
    };
    ok.then(|| v.to_owned()).ok_or("not an object name (NAME or NAMESPACE/NAME)")
}

/// nginx's `on` / `off` (ingress-nginx also reads `true` / `false` for these).
pub fn on_off(value: &str) -> Result<bool, &'static str> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        other => parse_bool(other).ok_or("must be on or off"),
    }
}

/// A timeout in whole seconds, as ingress-nginx's timeout annotations (`"5"`; `"5s"` too).
pub fn seconds(value: &str) -> Result<Duration, &'static str> {
    let digits = value.strip_suffix('s').unwrap_or(value);
    match digits.parse::<u64>() {
        Ok(n) if n <= 86_400 => Ok(Duration::from_secs(n)),
        Ok(_) => Err("more than a day"),
        Err(_) => Err("not a number of seconds"),
    }
}

/// An nginx size (`1m`, `512k`, `8192`, `1g`); `0` means unlimited (`None`).
pub fn size(value: &str) -> Result<Option<u64>, &'static str> {
    let (digits, unit) = match value.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&value[..i], c.to_ascii_lowercase()),
        _ => (value, 'b'),
    };
    let factor: u64 = match unit {
        'b' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        _ => return Err("unit must be k, m or g"),
    };
    let n: u64 = digits.parse().map_err(|_| "not a size such as 8k or 1m")?;
    match n.checked_mul(factor) {
        Some(0) => Ok(None),
        Some(bytes) => Ok(Some(bytes)),
        None => Err("too large"),
    }
}

/// A comma-separated list of HTTP status codes (`custom-http-errors`), sorted.
pub fn status_list(value: &str) -> Result<Vec<u16>, &'static str> {
    let mut codes = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.parse::<u16>() {
            Ok(code @ 300..=599) => codes.push(code),
            _ => return Err("codes must be numbers from 300 to 599"),
        }
    }
    codes.sort_unstable();
    codes.dedup();
    Ok(codes)
}

/// `proxy-next-upstream`: space-separated conditions (`error timeout http_502 ...`, or `off`).
/// Keeps `tries` and `timeout_total` from `base`.
pub fn next_upstream(value: &str, base: &NextUpstream) -> Result<NextUpstream, &'static str> {
    let mut out = NextUpstream {
        error: false,
        timeout: false,
        statuses: Vec::new(),
        non_idempotent: false,
        ..base.clone()
    };
    for item in value.split_whitespace() {
        match item {
            "off" => return Ok(NextUpstream { tries: base.tries, ..NextUpstream::off() }),
            "error" => out.error = true,
            "timeout" => out.timeout = true,
            "non_idempotent" => out.non_idempotent = true,
            "invalid_header" => out.error = true,
            other => match other.strip_prefix("http_").and_then(|c| c.parse::<u16>().ok()) {
                Some(code @ (500 | 502 | 503 | 504 | 403 | 404 | 429)) => out.statuses.push(code),
                _ => return Err("conditions are error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent or off"),
            },
        }
    }
    out.statuses.sort_unstable();
    out.statuses.dedup();
    Ok(out)
}

/// `load-balance`: `round_robin` or `ewma`.
pub fn load_balance(value: &str) -> Result<Balance, &'static str> {
    match value {
        "round_robin" => Ok(Balance::RoundRobin),
        "ewma" => Ok(Balance::Ewma),
        _ => Err("must be round_robin or ewma"),
    }
}

/// `upstream-hash-by`: consistent hashing by the key of [`key_parts`].
pub fn hash_by(value: &str) -> Result<Balance, &'static str> {
    key_parts(value).map(Balance::Hash)
}

/// A key of text and nginx variables (`$request_uri`, `$remote_addr`, `$host`, `$uri`,
/// `$http_NAME`, `$cookie_NAME`, `$arg_NAME`), evaluated per request (`upstream-hash-by`,
/// `auth-cache-key`). Nothing else is interpreted: this is a key, not a template.
pub fn key_parts(value: &str) -> Result<Vec<HashPart>, &'static str> {
    let mut parts = Vec::new();
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        if dollar > 0 {
            parts.push(HashPart::Literal(rest[..dollar].to_owned()));
        }
        let after = &rest[dollar + 1..];
        let braced = after.strip_prefix('{');
        let body = braced.unwrap_or(after);
        let len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
        let name = &body[..len];
        rest = match braced {
            Some(b) => b[len..].strip_prefix('}').ok_or("unclosed ${")?,
            None => &body[len..],
        };
        parts.push(variable(name)?);
    }
    if !rest.is_empty() {
        parts.push(HashPart::Literal(rest.to_owned()));
    }
    if !parts.iter().any(|p| !matches!(p, HashPart::Literal(_))) {
        return Err("must name at least one variable such as $request_uri");
    }
    Ok(parts)
}

fn variable(name: &str) -> Result<HashPart, &'static str> {
    Ok(match name {
        "request_uri" => HashPart::RequestUri,
        "uri" | "document_uri" => HashPart::Uri,
        "remote_addr" | "binary_remote_addr" => HashPart::RemoteAddr,
        "host" | "http_host" => HashPart::Host,
        _ => {
            if let Some(h) = name.strip_prefix("http_") {
                let header = HeaderName::try_from(h.replace('_', "-")).map_err(|_| "bad header name")?;
                HashPart::Header(header)
            } else if let Some(c) = name.strip_prefix("cookie_") {
                HashPart::Cookie(c.to_owned())
            } else if let Some(a) = name.strip_prefix("arg_") {
                HashPart::Arg(a.to_owned())
            } else {
                return Err("unknown variable; use $request_uri, $uri, $remote_addr, $host, $http_*, $cookie_* or $arg_*");
            }
        }
    })
}

/// Reports an invalid ConfigMap value (key, value, reason).
pub(super) type Report<'a> = dyn FnMut(&str, &str, &'static str) + 'a;

/// The parsed value of `key`, if present and valid (else reported).
pub(super) fn value<T>(
    data: &BTreeMap<String, String>,
    key: &str,
    invalid: &mut Report<'_>,
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<T> {
    let v = data.get(key)?.trim();
    parse(v).map_err(|reason| invalid(key, v, reason)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_nginx() {
        assert_eq!(size("1m"), Ok(Some(1 << 20)));
        assert_eq!(size("8K"), Ok(Some(8192)));
        assert_eq!(size("100"), Ok(Some(100)));
        assert_eq!(size("0"), Ok(None));
        assert!(size("1t").is_err() && size("m").is_err() && size("-1").is_err());
    }

    #[test]
    fn next_upstream_conditions() {
        let n = next_upstream("error http_502 non_idempotent", &NextUpstream::default()).expect("valid");
        assert!(n.error && !n.timeout && n.non_idempotent);
        assert_eq!(n.statuses, vec![502]);
        assert_eq!(next_upstream("off", &NextUpstream::default()).expect("valid").tries, 3);
        assert!(next_upstream("error http_418", &NextUpstream::default()).is_err());
    }

    #[test]
    fn hash_keys_are_parsed_not_templated() {
        let Ok(Balance::Hash(parts)) = hash_by("$host-${arg_user}") else { panic!("valid") };
        assert_eq!(parts, vec![HashPart::Host, HashPart::Literal("-".into()), HashPart::Arg("user".into())]);
        assert!(hash_by("$server_name").is_err());
        assert!(hash_by("constant").is_err());
        assert!(hash_by("${arg_x").is_err());
    }
}
