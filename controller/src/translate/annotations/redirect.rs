//! Rewrites and redirects: `use-regex`, `rewrite-target`, `app-root`, `permanent-redirect`,
//! `temporal-redirect` (and their `-code`), `from-to-www-redirect`, `x-forwarded-prefix` and
//! `upstream-vhost`.

use http::HeaderValue;

use super::{IngressAnnotations, Reader};
use crate::policy::Redirect;
use crate::translate::values;

pub(super) fn parse(r: &mut Reader<'_>, out: &mut IngressAnnotations) {
    out.use_regex = r.parse("use-regex", values::boolean).unwrap_or(false);
    out.rewrite_target = r.parse("rewrite-target", |v| uri_path(v).map(str::to_owned));
    out.policy.app_root = r.parse("app-root", |v| uri_path(v).map(str::to_owned));
    out.from_to_www = r.parse("from-to-www-redirect", values::boolean).unwrap_or(false);
    out.aliases = r
        .parse("server-alias", |v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|h| {
                    crate::translate::rules::validate_host(h)
                        .filter(|h| !h.starts_with("*."))
                        .ok_or("not a list of host names")
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_default();
    out.policy.forwarded_prefix = r.header("x-forwarded-prefix");
    out.policy.upstream_vhost = r.parse("upstream-vhost", |v| {
        let ok = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_' | b'[' | b']'));
        if ok {
            HeaderValue::from_str(v).map_err(|_| "not a valid host")
        } else {
            Err("must be a host name, optionally with a port")
        }
    });
    // ingress-nginx reads temporal-redirect first: when both are set, it wins.
    out.policy.redirect = redirect(r, "temporal-redirect", 302, 300..=307)
        .or_else(|| redirect(r, "permanent-redirect", 301, 300..=308));
}

/// A path that may go into a request line: starts with `/`, no spaces or control characters.
fn uri_path(v: &str) -> Result<&str, &'static str> {
    if !v.starts_with('/') {
        return Err("must start with /");
    }
    if v.bytes().any(|b| b.is_ascii_control() || b == b' ' || !b.is_ascii()) {
        return Err("must not contain spaces, control or non-ASCII characters");
    }
    Ok(v)
}

fn redirect(
    r: &mut Reader<'_>,
    name: &str,
    default_code: u16,
    codes: std::ops::RangeInclusive<u16>,
) -> Option<Redirect> {
    let location = r.parse(name, |v| {
        let uri: http::Uri = v.parse().map_err(|_| "not a URL")?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err("must be an absolute http or https URL");
        }
        HeaderValue::from_str(v).map_err(|_| "not a valid header value")
    })?;
    let code_name = format!("{name}-code");
    let code = r
        .parse(&code_name, |v| match v.parse::<u16>() {
            Ok(c) if codes.contains(&c) => Ok(c),
            _ => Err("not a redirect status code for this annotation"),
        })
        .unwrap_or(default_code);
    Some(Redirect { code, location })
}
