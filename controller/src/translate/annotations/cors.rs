//! CORS: `enable-cors` and `cors-allow-origin`, `-methods`, `-headers`, `-credentials`,
//! `cors-expose-headers`, `cors-max-age`, with ingress-nginx's defaults.

use http::HeaderValue;

use super::Reader;
use crate::policy::Cors;
use crate::translate::values;

const DEFAULT_METHODS: &str = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
const DEFAULT_HEADERS: &str = "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";

pub(super) fn parse(r: &mut Reader<'_>) -> Option<Cors> {
    if !r.parse("enable-cors", values::boolean)? {
        return None;
    }
    let origins = r
        .parse("cors-allow-origin", |v| {
            let list: Vec<String> =
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if list.is_empty() || list.iter().any(|o| o == "*") {
                return Ok(None);
            }
            if list.iter().all(|o| valid_origin(o)) {
                Ok(Some(list))
            } else {
                Err("origins must be scheme://host[:port], with an optional leading *. label")
            }
        })
        .unwrap_or(None);
    let token_list = |v: &str| {
        let ok =
            v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b',' | b' ' | b'-' | b'_' | b'*'));
        if ok && !v.is_empty() {
            HeaderValue::from_str(v).map_err(|_| "not a valid list")
        } else {
            Err("must be a comma-separated list of names")
        }
    };
    let methods =
        r.parse("cors-allow-methods", token_list).unwrap_or(HeaderValue::from_static(DEFAULT_METHODS));
    let headers =
        r.parse("cors-allow-headers", token_list).unwrap_or(HeaderValue::from_static(DEFAULT_HEADERS));
    let expose = r.parse("cors-expose-headers", token_list);
    let credentials = r.parse("cors-allow-credentials", values::boolean).unwrap_or(true);
    let max_age = r
        .parse("cors-max-age", |v| {
            v.parse::<u32>().map(HeaderValue::from).map_err(|_| "must be a number of seconds")
        })
        .unwrap_or(HeaderValue::from_static("1728000"));
    Some(Cors { origins, methods, headers, expose, credentials, max_age })
}

fn valid_origin(origin: &str) -> bool {
    let Some((scheme, host)) = origin.split_once("://") else {
        return false;
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}
