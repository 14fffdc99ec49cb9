//! How Sluice treats every annotation that ingress-nginx documents: supported, partial (with
//! what differs), unsupported (ignored, with a warning) or refused (never interpreted, by
//! design). This list is the source of the README's compatibility table (a test keeps the two
//! in step) and of the per-Ingress "unsupported annotations" warning.

/// How Sluice treats one annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Same behaviour as ingress-nginx.
    Supported,
    /// Interpreted, with a documented difference.
    Partial(&'static str),
    /// Ignored (with a warning); the reason says why or what to use instead.
    Unsupported(&'static str),
    /// Never interpreted, by design.
    Refused(&'static str),
}

const SNIPPET: Support = Support::Refused(
    "raw nginx configuration; the injection class behind IngressNightmare (CVE-2025-1974) and CVE-2021-25742",
);
const PCRE: &str = "Rust regex syntax (linear time, size-limited): no look-around or back-references";

/// Every annotation ingress-nginx documents (without the prefix), and how Sluice treats it.
pub const ANNOTATIONS: &[(&str, Support)] = &[
    ("app-root", Support::Supported),
    ("affinity", Support::Supported),
    ("affinity-mode", Support::Supported),
    ("affinity-canary-behavior", Support::Unsupported("canary and affinity are independent in Sluice")),
    ("backend-protocol", Support::Partial("HTTP, HTTPS, GRPC, GRPCS and AUTO_HTTP; FCGI is refused")),
    ("canary", Support::Supported),
    ("canary-by-header", Support::Supported),
    ("canary-by-header-value", Support::Supported),
    ("canary-by-header-pattern", Support::Partial(PCRE)),
    ("canary-by-cookie", Support::Supported),
    ("canary-weight", Support::Supported),
    ("canary-weight-total", Support::Supported),
    (
        "client-body-buffer-size",
        Support::Unsupported("Sluice streams request bodies; nothing is buffered to disk"),
    ),
    ("configuration-snippet", SNIPPET),
    ("connection-proxy-header", Support::Unsupported("Sluice manages upstream connections itself")),
    ("cors-allow-credentials", Support::Supported),
    ("cors-allow-headers", Support::Supported),
    ("cors-allow-methods", Support::Supported),
    ("cors-allow-origin", Support::Supported),
    ("cors-expose-headers", Support::Supported),
    ("cors-max-age", Support::Supported),
    ("custom-headers", Support::Partial("the ConfigMap must be in the Ingress's namespace; values are literal (no nginx variables)")),
    ("custom-http-errors", Support::Supported),
    ("default-backend", Support::Partial("the Service's first port is used")),
    ("denylist-source-range", Support::Supported),
    ("enable-access-log", Support::Supported),
    ("enable-cors", Support::Supported),
    ("enable-global-auth", Support::Supported),
    ("enable-modsecurity", Support::Unsupported("no WAF is embedded")),
    ("enable-opentelemetry", Support::Unsupported("not implemented yet")),
    ("enable-owasp-core-rules", Support::Unsupported("no WAF is embedded")),
    ("enable-rewrite-log", Support::Unsupported("nginx debug logging has no equivalent")),
    ("force-ssl-redirect", Support::Supported),
    ("from-to-www-redirect", Support::Supported),
    ("http2-push-preload", Support::Unsupported("HTTP/2 server push is obsolete")),
    ("limit-burst-multiplier", Support::Supported),
    ("limit-connections", Support::Supported),
    ("limit-rate", Support::Partial("applies with proxy-buffering off too; the pause falls between the body chunks the backend sends")),
    ("limit-rate-after", Support::Supported),
    ("limit-rpm", Support::Supported),
    ("limit-rps", Support::Supported),
    ("limit-whitelist", Support::Supported),
    ("limit-allowlist", Support::Supported),
    ("load-balance", Support::Partial("round_robin and ewma; EWMA state restarts when endpoints change")),
    ("mirror-host", Support::Supported),
    ("mirror-request-body", Support::Supported),
    ("mirror-target", Support::Partial("copies go over HTTP/1.1 without verifying an https mirror's certificate; a mirror more than 32 body chunks behind loses that copy")),
    ("modsecurity-snippet", SNIPPET),
    ("modsecurity-transaction-id", Support::Unsupported("no WAF is embedded")),
    ("opentelemetry-trust-incoming-span", Support::Unsupported("not implemented yet")),
    ("permanent-redirect", Support::Partial("the URL is literal: nginx variables in it are not expanded")),
    ("permanent-redirect-code", Support::Supported),
    (
        "preserve-trailing-slash",
        Support::Unsupported("only affects ssl-redirect Locations, which keep the path as sent"),
    ),
    ("proxy-body-size", Support::Supported),
    ("proxy-buffer-size", Support::Unsupported("Sluice does not buffer responses")),
    (
        "proxy-buffering",
        Support::Partial("accepted; responses are always streamed (ingress-nginx's default, off)"),
    ),
    ("proxy-buffers-number", Support::Unsupported("Sluice does not buffer responses")),
    ("proxy-busy-buffers-size", Support::Unsupported("Sluice does not buffer responses")),
    ("proxy-connect-timeout", Support::Supported),
    ("proxy-cookie-domain", Support::Supported),
    ("proxy-cookie-path", Support::Partial("a path prefix; nginx's regular-expression form (~) is refused")),
    ("proxy-http-version", Support::Unsupported("HTTP/1.1 upstream (HTTP/2 with GRPC/GRPCS)")),
    ("proxy-max-temp-file-size", Support::Unsupported("Sluice does not buffer responses")),
    (
        "proxy-next-upstream",
        Support::Partial(
            "retries need a body-less or retry-buffered request; invalid_header counts as error",
        ),
    ),
    ("proxy-next-upstream-timeout", Support::Supported),
    ("proxy-next-upstream-tries", Support::Supported),
    ("proxy-read-timeout", Support::Supported),
    ("proxy-redirect-from", Support::Supported),
    ("proxy-redirect-to", Support::Supported),
    (
        "proxy-request-buffering",
        Support::Partial("accepted; request bodies are always streamed (as with off)"),
    ),
    (
        "proxy-send-timeout",
        Support::Partial("after a send timeout Pingora still waits up to the read timeout for an early upstream answer, then 504"),
    ),
    ("proxy-ssl-ciphers", Support::Unsupported("rustls's default suites are used")),
    ("proxy-ssl-name", Support::Supported),
    ("proxy-ssl-protocols", Support::Unsupported("TLS 1.2 and 1.3 are used")),
    ("proxy-ssl-secret", Support::Partial("the Secret must be in the Ingress's namespace")),
    ("proxy-ssl-server-name", Support::Supported),
    ("proxy-ssl-verify", Support::Partial("verifies against the ca.crt of proxy-ssl-secret, else the system roots; SNI is always sent")),
    ("proxy-ssl-verify-depth", Support::Unsupported("rustls verifies the whole chain")),
    ("rewrite-target", Support::Partial(PCRE)),
    ("satisfy", Support::Supported),
    (
        "server-alias",
        Support::Partial("hosts only (no regex); an alias's certificate comes from spec.tls like any host"),
    ),
    ("server-snippet", SNIPPET),
    (
        "service-upstream",
        Support::Unsupported("Sluice never sends traffic to ClusterIPs; it routes to endpoints"),
    ),
    ("session-cookie-change-on-failure", Support::Supported),
    ("session-cookie-conditional-samesite-none", Support::Supported),
    ("session-cookie-domain", Support::Supported),
    ("session-cookie-expires", Support::Supported),
    ("session-cookie-max-age", Support::Supported),
    ("session-cookie-name", Support::Supported),
    ("session-cookie-path", Support::Supported),
    ("session-cookie-samesite", Support::Supported),
    ("session-cookie-secure", Support::Supported),
    ("ssl-ciphers", Support::Unsupported("rustls's AEAD suites are used")),
    ("ssl-passthrough", Support::Unsupported("TLS is terminated by Sluice")),
    ("ssl-prefer-server-ciphers", Support::Unsupported("rustls's AEAD suites are used")),
    ("ssl-redirect", Support::Supported),
    ("stream-snippet", SNIPPET),
    ("auth-snippet", SNIPPET),
    ("auth-always-set-cookie", Support::Supported),
    ("auth-cache-duration", Support::Supported),
    ("auth-cache-key", Support::Supported),
    ("auth-keepalive", Support::Unsupported("auth connections are pooled by Sluice")),
    ("auth-keepalive-requests", Support::Unsupported("auth connections are pooled by Sluice")),
    ("auth-keepalive-share-vars", Support::Unsupported("auth connections are pooled by Sluice")),
    ("auth-keepalive-timeout", Support::Unsupported("auth connections are pooled by Sluice")),
    ("auth-method", Support::Supported),
    ("auth-proxy-set-headers", Support::Partial("the ConfigMap must be in the Ingress's namespace; values are literal")),
    ("auth-realm", Support::Supported),
    ("auth-request-redirect", Support::Supported),
    ("auth-response-headers", Support::Supported),
    ("auth-secret", Support::Partial("the Secret must be in the Ingress's namespace; htpasswd $apr1$, $1$, bcrypt, {SHA}, {SSHA}, {PLAIN}")),
    ("auth-secret-type", Support::Supported),
    ("auth-signin", Support::Supported),
    ("auth-signin-redirect-param", Support::Supported),
    ("auth-tls-error-page", Support::Unsupported("per-host client certificates need a TLS configuration per SNI, which Pingora's rustls listener does not offer")),
    ("auth-tls-match-cn", Support::Unsupported("per-host client certificates need a TLS configuration per SNI, which Pingora's rustls listener does not offer")),
    ("auth-tls-pass-certificate-to-upstream", Support::Unsupported("per-host client certificates need a TLS configuration per SNI, which Pingora's rustls listener does not offer")),
    ("auth-tls-secret", Support::Unsupported("per-host client certificates need a TLS configuration per SNI, which Pingora's rustls listener does not offer")),
    ("auth-tls-verify-client", Support::Unsupported("per-host client certificates need a TLS configuration per SNI, which Pingora's rustls listener does not offer")),
    ("auth-tls-verify-depth", Support::Unsupported("per-host client certificates need a TLS configuration per SNI, which Pingora's rustls listener does not offer")),
    ("auth-type", Support::Partial("basic only; digest fails closed (503)")),
    ("auth-url", Support::Partial("variables $host, $http_host, $scheme, $request_uri, $escaped_request_uri only; https certificates are not verified (nginx's default)")),
    (
        "upstream-hash-by",
        Support::Partial("$request_uri, $uri, $remote_addr, $host, $http_*, $cookie_*, $arg_* only"),
    ),
    ("upstream-hash-by-subset", Support::Unsupported("not implemented yet")),
    ("upstream-hash-by-subset-size", Support::Unsupported("not implemented yet")),
    ("upstream-vhost", Support::Supported),
    ("use-regex", Support::Partial(PCRE)),
    ("whitelist-source-range", Support::Supported),
    ("allowlist-source-range", Support::Supported),
    ("x-forwarded-prefix", Support::Supported),
];

/// How Sluice treats `name` (an annotation without the prefix). Names ingress-nginx does not
/// document are unsupported; any `*-snippet` is refused.
pub fn support(name: &str) -> Support {
    match ANNOTATIONS.iter().find(|(n, _)| *n == name) {
        Some((_, support)) => *support,
        None if name.ends_with("-snippet") => SNIPPET,
        None => Support::Unsupported("not an ingress-nginx annotation Sluice knows"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snippets_refused() {
        let mut names: Vec<&str> = ANNOTATIONS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate names");
        assert!(matches!(support("configuration-snippet"), Support::Refused(_)));
        assert!(matches!(support("some-new-snippet"), Support::Refused(_)));
        assert_eq!(support("rewrite-target"), Support::Partial(PCRE));
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The README's compatibility table lists every annotation with the status given here.
    #[test]
    fn the_readme_table_matches_this_list() {
        let readme = include_str!("../../../README.md");
        for (name, support) in ANNOTATIONS {
            let word = match support {
                Support::Supported => "supported",
                Support::Partial(_) => "partial",
                Support::Unsupported(_) => "unsupported",
                Support::Refused(_) => "refused",
            };
            let row = format!("| `{name}` | {word} |");
            assert!(readme.contains(&row), "README lacks the row {row:?}");
        }
        let rows = readme
            .lines()
            .skip_while(|l| !l.starts_with("| Annotation (`nginx.ingress.kubernetes.io/`)"))
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .count();
        assert_eq!(rows, ANNOTATIONS.len(), "README has rows for annotations not in the list");
    }
}
