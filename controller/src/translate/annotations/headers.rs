//! Rewrites of upstream response headers: `proxy-redirect-from` / `proxy-redirect-to`
//! (nginx's `proxy_redirect`), `proxy-cookie-domain` and `proxy-cookie-path` (nginx's
//! `proxy_cookie_domain` / `proxy_cookie_path`, written `FROM TO`). `off` (the default), and
//! `default` for the redirect, rewrite nothing, as in ingress-nginx.

use super::Reader;
use crate::policy::HeaderRewrites;

pub(super) fn parse(r: &mut Reader<'_>) -> HeaderRewrites {
    let cookie_domain = r
        .parse("proxy-cookie-domain", |v| {
            pair(v, |s| s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.')))
        })
        .flatten();
    let cookie_path = r
        .parse("proxy-cookie-path", |v| {
            if v.starts_with('~') {
                return Err("regular expressions are not supported; use a path prefix");
            }
            pair(v, |s| s.starts_with('/') && visible(s))
        })
        .flatten();
    let location = match r.get("proxy-redirect-from") {
        None | Some("off" | "default" | "") => None,
        Some(from) if !visible(from) || from.contains(' ') => {
            r.invalid("proxy-redirect-from", from, "must be a URL prefix without spaces");
            None
        }
        Some(from) => match r.get("proxy-redirect-to") {
            Some(to) if visible(to) && !to.contains(' ') && to != "off" => {
                Some((from.to_owned(), to.to_owned()))
            }
            Some(to) => {
                r.invalid("proxy-redirect-to", to, "must be a URL prefix without spaces");
                None
            }
            None => {
                r.invalid("proxy-redirect-from", from, "needs proxy-redirect-to");
                None
            }
        },
    };
    HeaderRewrites { location, cookie_domain, cookie_path }
}

/// `off` (None) or `FROM TO`, both passing `valid`.
fn pair(v: &str, valid: impl Fn(&str) -> bool) -> Result<Option<(String, String)>, &'static str> {
    if v == "off" {
        return Ok(None);
    }
    let mut words = v.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(from), Some(to), None) if valid(from) && valid(to) => {
            Ok(Some((from.to_owned(), to.to_owned())))
        }
        _ => Err("must be off or two values, FROM and TO"),
    }
}

/// Printable ASCII without `;`, `,` or quotes: safe inside a header value.
fn visible(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"'))
}
