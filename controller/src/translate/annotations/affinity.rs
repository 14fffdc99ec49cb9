//! Cookie session affinity: `affinity: cookie`, `affinity-mode`, and the `session-cookie-*`
//! family, with ingress-nginx's defaults (cookie `INGRESSCOOKIE`, mode `balanced`, HttpOnly).

use super::Reader;
use crate::policy::Affinity;
use crate::translate::values;

/// Longest `session-cookie-max-age` / `-expires` accepted (ten years).
const MAX_COOKIE_SECONDS: u64 = 10 * 365 * 86_400;

pub(super) fn parse(r: &mut Reader<'_>) -> Option<Affinity> {
    r.parse("affinity", |v| match v {
        "cookie" => Ok(()),
        _ => Err("only \"cookie\" is supported"),
    })?;
    let persistent = r
        .parse("affinity-mode", |v| match v {
            "balanced" => Ok(false),
            "persistent" => Ok(true),
            _ => Err("must be balanced or persistent"),
        })
        .unwrap_or(false);
    let cookie_name = r
        .parse("session-cookie-name", |v| {
            let ok = !v.is_empty()
                && v.len() <= 128
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            ok.then(|| v.to_owned()).ok_or("not a valid cookie name")
        })
        .unwrap_or_else(|| "INGRESSCOOKIE".to_owned());
    let path = r.parse("session-cookie-path", |v| {
        let ok = v.starts_with('/') && v.bytes().all(|b| b.is_ascii_graphic() && b != b';');
        ok.then(|| v.to_owned()).ok_or("must be a path starting with /")
    });
    let domain = r.parse("session-cookie-domain", |v| {
        let ok = !v.is_empty()
            && v.len() <= 253
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
        ok.then(|| v.to_owned()).ok_or("must be a domain name")
    });
    let seconds = |v: &str| match v.parse::<u64>() {
        Ok(n) if n <= MAX_COOKIE_SECONDS => Ok(n),
        _ => Err("must be a number of seconds (at most ten years)"),
    };
    let max_age = r.parse("session-cookie-max-age", seconds);
    let expires = r.parse("session-cookie-expires", seconds);
    let samesite = r.parse("session-cookie-samesite", |v| match v.to_ascii_lowercase().as_str() {
        "none" => Ok("None"),
        "lax" => Ok("Lax"),
        "strict" => Ok("Strict"),
        _ => Err("must be None, Lax or Strict"),
    });
    let conditional_samesite_none =
        r.parse("session-cookie-conditional-samesite-none", values::boolean).unwrap_or(false);
    let secure = r.parse("session-cookie-secure", values::boolean).unwrap_or(false);
    let change_on_failure = r.parse("session-cookie-change-on-failure", values::boolean).unwrap_or(false);
    Some(Affinity {
        persistent,
        cookie_name,
        path,
        domain,
        max_age,
        expires,
        samesite,
        conditional_samesite_none,
        secure,
        change_on_failure,
    })
}
