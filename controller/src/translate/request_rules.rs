//! ConfigMap keys about requests as a whole, with ingress-nginx's defaults:
//!
//! * `block-user-agents`, `block-referers`: comma-separated nginx `map` keys; a request whose
//!   `User-Agent` / `Referer` matches one gets 403. A key is a string (matched ignoring case, as
//!   nginx's `map` does) or a regex (`~` case-sensitive, `~*` case-insensitive).
//! * `hide-headers`: upstream response headers never passed to clients (`proxy_hide_header`).
//! * `enable-underscores-in-headers` (false): like nginx, request headers whose names contain an
//!   underscore are dropped, since some frameworks read `X_Forwarded_For` as `X-Forwarded-For`.
//! * `proxy-add-original-uri-header` (false): `X-Original-Uri` with the request URI upstream.
//! * `retry-non-idempotent` (false): `proxy-next-upstream` retries POST, LOCK and PATCH too.
//! * `allow-backend-server-header` (false): the upstream's `Server` header instead of Sluice's.

use std::collections::BTreeMap;

use http::HeaderName;

use super::values::{self, value, Report};
use crate::rewrite;
use crate::settings::{BlockKey, GlobalSettings};

/// Reads the keys above into `settings`.
pub(super) fn read(data: &BTreeMap<String, String>, settings: &mut GlobalSettings, invalid: &mut Report<'_>) {
    for (key, target) in [
        ("block-user-agents", &mut settings.blocked_agents),
        ("block-referers", &mut settings.blocked_referers),
    ] {
        if let Some(v) = data.get(key) {
            *target = block_keys(key, v, invalid);
        }
    }
    let header_names = |v: &str| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|h| HeaderName::try_from(h.to_ascii_lowercase()).map_err(|_| "not a list of header names"))
            .collect::<Result<Vec<_>, _>>()
    };
    if let Some(names) = value(data, "hide-headers", invalid, header_names) {
        settings.hide_headers = names;
    }
    for (key, target) in [
        ("enable-underscores-in-headers", &mut settings.underscores_in_headers),
        ("proxy-add-original-uri-header", &mut settings.add_original_uri_header),
        ("retry-non-idempotent", &mut settings.policy.upstream.next_upstream.non_idempotent),
        ("allow-backend-server-header", &mut settings.backend_server_header),
    ] {
        if let Some(b) = value(data, key, invalid, values::boolean) {
            *target = b;
        }
    }
}

fn block_keys(key: &str, value: &str, invalid: &mut Report<'_>) -> Vec<BlockKey> {
    let mut keys = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = match item.strip_prefix("~*") {
            Some(p) => Some((p, true)),
            None => item.strip_prefix('~').map(|p| (p, false)),
        };
        match pattern {
            None => keys.push(BlockKey::Exact(item.to_owned())),
            Some((p, insensitive)) => match rewrite::compile(p.trim(), insensitive) {
                Ok(regex) => keys.push(BlockKey::Pattern(item.to_owned(), regex)),
                Err(_) => {
                    invalid(key, item, "not a regular expression Sluice accepts; that entry is skipped")
                }
            },
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_keys_are_strings_or_bounded_regexes() {
        let mut reported = Vec::new();
        let keys = {
            let mut invalid =
                |key: &str, value: &str, _reason: &'static str| reported.push(format!("{key}={value}"));
            block_keys("block-user-agents", "curl/8.0, ~^Go-http, ~*BOT, ~(unclosed", &mut invalid)
        };
        assert_eq!(reported, ["block-user-agents=~(unclosed"], "a bad regex is skipped with a report");
        assert_eq!(keys.len(), 3);
        let blocked = |ua: &str| keys.iter().any(|k| k.matches(ua));
        assert!(blocked("CURL/8.0") && !blocked("curl/8.01"));
        assert!(blocked("Go-http-client/1.1") && !blocked("go-http-client/1.1"), "~ is case-sensitive");
        assert!(blocked("SomeBot/2") && !blocked("Mozilla/5.0"));
    }
}
