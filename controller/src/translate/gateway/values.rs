//! The values of HTTPRoute filters and timeouts, validated: header modifiers, path
//! replacements, redirects, URL rewrites and Gateway API durations.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::gateway_api as api;
use crate::policy::{Cors, GatewayRedirect, GatewayRewrite, HeaderModifier, PathReplace};

use super::super::rules::validate_host;

/// A header modifier's names and values checked.
pub(super) fn modifier(m: Option<&api::HeaderModifier>) -> Result<HeaderModifier, String> {
    let m = m.ok_or("a header modifier filter needs its modifier")?;
    let name =
        |n: &str| HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("invalid header name {n:?}"));
    let pair = |p: &api::HeaderPair| -> Result<(HeaderName, HeaderValue), String> {
        let value =
            HeaderValue::from_str(&p.value).map_err(|_| format!("invalid header value for {:?}", p.name))?;
        Ok((name(&p.name)?, value))
    };
    Ok(HeaderModifier {
        set: m.set.iter().map(pair).collect::<Result<_, _>>()?,
        add: m.add.iter().map(pair).collect::<Result<_, _>>()?,
        remove: m.remove.iter().map(|n| name(n)).collect::<Result<_, _>>()?,
    })
}

fn path_replace(p: Option<&api::PathModifier>) -> Result<Option<PathReplace>, String> {
    let Some(p) = p else {
        return Ok(None);
    };
    let checked = |v: Option<&String>| -> Result<String, String> {
        let v = v.ok_or_else(|| format!("{} needs its value", p.type_))?;
        if v.starts_with('/')
            && !v.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
        {
            Ok(v.clone())
        } else {
            Err(format!("path {v:?} must start with '/' and have no query"))
        }
    };
    match p.type_.as_str() {
        "ReplaceFullPath" => Ok(Some(PathReplace::Full(checked(p.replace_full_path.as_ref())?))),
        "ReplacePrefixMatch" => Ok(Some(PathReplace::Prefix(checked(p.replace_prefix_match.as_ref())?))),
        other => Err(format!("path modifier {other:?} is not supported")),
    }
}

pub(super) fn redirect(r: Option<&api::RequestRedirect>) -> Result<GatewayRedirect, String> {
    let r = r.ok_or("RequestRedirect needs requestRedirect")?;
    let scheme = match r.scheme.as_deref() {
        None => None,
        Some(s @ ("http" | "https")) => Some(s.to_owned()),
        Some(other) => return Err(format!("redirect scheme {other:?} is not supported")),
    };
    let hostname = match r.hostname.as_deref() {
        None => None,
        Some(h) => Some(
            validate_host(h)
                .filter(|h| !h.starts_with('*'))
                .ok_or(format!("invalid redirect hostname {h:?}"))?,
        ),
    };
    let port = match r.port {
        None => None,
        Some(p) => {
            Some(u16::try_from(p).ok().filter(|p| *p > 0).ok_or(format!("invalid redirect port {p}"))?)
        }
    };
    let code = match r.status_code.unwrap_or(302) {
        c @ (301 | 302 | 303 | 307 | 308) => c as u16,
        other => return Err(format!("redirect status code {other} is not supported")),
    };
    Ok(GatewayRedirect { scheme, hostname, port, path: path_replace(r.path.as_ref())?, code })
}

pub(super) fn rewrite(r: Option<&api::UrlRewrite>) -> Result<GatewayRewrite, String> {
    let r = r.ok_or("URLRewrite needs urlRewrite")?;
    let hostname = match r.hostname.as_deref() {
        None => None,
        Some(h) => {
            let valid = validate_host(h)
                .filter(|h| !h.starts_with('*'))
                .ok_or(format!("invalid rewrite hostname {h:?}"))?;
            Some(HeaderValue::from_str(&valid).map_err(|_| format!("invalid rewrite hostname {h:?}"))?)
        }
    };
    Ok(GatewayRewrite { hostname, path: path_replace(r.path.as_ref())? })
}

/// A `CORS` filter as the route's CORS policy (the one the Ingress `enable-cors` family fills):
/// `*` among the origins allows any, an empty list none; `maxAge` defaults to 5 s and
/// credentials to off, as the spec says.
pub(super) fn cors(c: Option<&api::CorsFilter>) -> Result<Cors, String> {
    let c = c.ok_or("CORS needs cors")?;
    let list = |items: &[String]| -> Result<HeaderValue, String> {
        HeaderValue::from_str(&items.join(", ")).map_err(|_| format!("invalid CORS value {items:?}"))
    };
    let origins = if c.allow_origins.iter().any(|o| o == "*") { None } else { Some(c.allow_origins.clone()) };
    let max_age = c.max_age.unwrap_or(5);
    if max_age < 0 {
        return Err(format!("invalid CORS maxAge {max_age}"));
    }
    Ok(Cors {
        origins,
        methods: list(&c.allow_methods)?,
        headers: list(&c.allow_headers)?,
        expose: if c.expose_headers.is_empty() { None } else { Some(list(&c.expose_headers)?) },
        credentials: c.allow_credentials.unwrap_or(false),
        max_age: HeaderValue::from(max_age),
    })
}

/// A Gateway API duration (`1h`, `10s`, `500ms`, `1m30s`); `0s` means no timeout (`None`).
pub(super) fn timeout(text: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    let invalid = || format!("invalid duration {text:?}");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 5 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(n), 2)
        } else if rest.starts_with('h') {
            (Duration::from_secs(n * 3600), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(n * 60), 1)
        } else if rest.starts_with('s') {
            (Duration::from_secs(n), 1)
        } else {
            return Err(invalid());
        };
        total += unit;
        rest = &rest[len..];
    }
    Ok((!total.is_zero()).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_gateway_api_format() {
        assert_eq!(timeout(Some("10s")), Ok(Some(Duration::from_secs(10))));
        assert_eq!(timeout(Some("1m30s")), Ok(Some(Duration::from_secs(90))));
        assert_eq!(timeout(Some("500ms")), Ok(Some(Duration::from_millis(500))));
        assert_eq!(timeout(Some("0s")), Ok(None));
        assert!(timeout(Some("10")).is_err());
        assert!(timeout(Some("1d")).is_err());
    }
}
