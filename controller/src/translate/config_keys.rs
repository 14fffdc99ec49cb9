//! The controller ConfigMap keys Sluice reads. Any other key gets one warning listing it, so
//! that a migration shows what ingress-nginx settings have no effect here; `*-snippet` keys
//! (`http-snippet`, `server-snippet`, `main-snippet`, ...) are refused as the annotations are.

use std::collections::BTreeMap;

use super::warning::Invalid;

/// Every key Sluice interprets, sorted.
pub const KEYS: &[&str] = &[
    "add-headers",
    "allow-backend-server-header",
    "allowlist-source-range",
    "block-cidrs",
    "block-referers",
    "block-user-agents",
    "brotli-level",
    "brotli-min-length",
    "brotli-types",
    "client-body-timeout",
    "client-header-timeout",
    "compute-full-forwarded-for",
    "custom-http-errors",
    "denylist-source-range",
    "enable-brotli",
    "enable-underscores-in-headers",
    "force-ssl-redirect",
    "forwarded-for-header",
    "global-allowed-response-headers",
    "global-auth-always-set-cookie",
    "global-auth-cache-duration",
    "global-auth-cache-key",
    "global-auth-method",
    "global-auth-request-redirect",
    "global-auth-response-headers",
    "global-auth-signin",
    "global-auth-signin-redirect-param",
    "global-auth-url",
    "gzip-level",
    "gzip-min-length",
    "gzip-types",
    "hide-headers",
    "hsts",
    "hsts-include-subdomains",
    "hsts-max-age",
    "hsts-preload",
    "http-redirect-code",
    "keep-alive",
    "large-client-header-buffers",
    "limit-conn-status-code",
    "limit-rate",
    "limit-rate-after",
    "limit-req-status-code",
    "load-balance",
    "max-connections-per-client",
    "max-unfinished-heads",
    "max-worker-connections",
    "no-auth-locations",
    "no-tls-redirect-locations",
    "proxy-add-original-uri-header",
    "proxy-body-size",
    "proxy-connect-timeout",
    "proxy-next-upstream",
    "proxy-next-upstream-timeout",
    "proxy-next-upstream-tries",
    "proxy-protocol-header-timeout",
    "proxy-read-timeout",
    "proxy-real-ip-cidr",
    "proxy-send-timeout",
    "proxy-set-headers",
    "retry-non-idempotent",
    "ssl-redirect",
    "upstream-keepalive-timeout",
    "use-forwarded-headers",
    "use-gzip",
    "use-proxy-protocol",
    "whitelist-source-range",
];

/// The warnings for keys Sluice does not read: snippets refused, the rest ignored.
pub(super) fn unsupported(data: &BTreeMap<String, String>) -> Vec<Invalid> {
    let (mut snippets, mut ignored) = (Vec::new(), Vec::new());
    for key in data.keys().filter(|k| KEYS.binary_search(&k.as_str()).is_err()) {
        if key.ends_with("-snippet") {
            snippets.push(key.clone());
        } else {
            ignored.push(key.clone());
        }
    }
    let mut out = Vec::new();
    if !snippets.is_empty() {
        out.push(Invalid::SnippetRefused { annotations: snippets });
    }
    if !ignored.is_empty() {
        out.push(Invalid::UnsupportedConfigKeys { keys: ignored });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_for_the_binary_search() {
        assert!(KEYS.windows(2).all(|w| w[0] <= w[1]), "KEYS must stay sorted");
    }

    #[test]
    fn the_readme_lists_exactly_these_keys() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
        let line: Vec<String> = KEYS.iter().map(|k| format!("`{k}`")).collect();
        let line = format!("{}.", line.join(", "));
        assert!(readme.lines().any(|l| l == line), "README's ConfigMap keys section must read:\n{line}");
    }

    #[test]
    fn unknown_keys_and_snippets_are_reported_apart() {
        let data: BTreeMap<String, String> =
            [("use-gzip", "true"), ("ssl-ciphers", "X"), ("http-snippet", "y")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let found = unsupported(&data);
        assert!(
            matches!(&found[0], Invalid::SnippetRefused { annotations } if annotations == &["http-snippet"])
        );
        assert!(matches!(&found[1], Invalid::UnsupportedConfigKeys { keys } if keys == &["ssl-ciphers"]));
        assert_eq!(found.len(), 2);
    }
}
