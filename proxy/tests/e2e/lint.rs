//! `sluice lint` on folders of real-world-shaped Ingresses.

use std::process::Command;

use super::support::{annotate, ingress, manifests};

fn lint(dir: &tempfile::TempDir) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["lint", "--manifests"])
        .arg(dir.path())
        .env("RUST_LOG", "error")
        .output()
        .expect("run sluice lint");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn lint_reports_each_annotation_and_fails_when_behaviour_would_differ() {
    let clean = annotate(
        &ingress("shop", "shop.example.com", &[("Prefix", "/", "shop")]),
        &[
            ("nginx.ingress.kubernetes.io/ssl-redirect", "true"),
            ("nginx.ingress.kubernetes.io/proxy-body-size", "20m"),
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "120"),
            ("nginx.ingress.kubernetes.io/enable-cors", "true"),
            ("nginx.ingress.kubernetes.io/cors-allow-origin", "https://app.example.com"),
        ],
    );
    let legacy = annotate(
        &ingress("legacy", "legacy.example.com", &[("ImplementationSpecific", "/api(/|$)(.*)", "api")]),
        &[
            ("nginx.ingress.kubernetes.io/use-regex", "true"),
            ("nginx.ingress.kubernetes.io/rewrite-target", "/$2"),
            (
                "nginx.ingress.kubernetes.io/configuration-snippet",
                "more_set_headers \"X-Frame-Options: DENY\";",
            ),
            ("nginx.ingress.kubernetes.io/enable-opentelemetry", "true"),
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "soon"),
            ("kubernetes.io/ingress.class", "nginx"),
        ],
    );
    let oauth = annotate(
        &ingress("dashboard", "dash.example.com", &[("Prefix", "/", "dash")]),
        &[
            (
                "nginx.ingress.kubernetes.io/auth-url",
                "http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth",
            ),
            ("nginx.ingress.kubernetes.io/auth-signin", "https://$host/oauth2/start?rd=$escaped_request_uri"),
            (
                "nginx.ingress.kubernetes.io/auth-response-headers",
                "X-Auth-Request-User, X-Auth-Request-Email",
            ),
        ],
    );
    let dir = manifests(&[("shop.yaml", clean.clone()), ("legacy.yaml", legacy), ("oauth.yaml", oauth)]);
    let (code, out) = lint(&dir);
    assert_eq!(code, 1, "{out}");
    for line in [
        "demo/shop: ok",
        "  supported   proxy-body-size",
        "demo/legacy: would behave differently",
        "  refused     configuration-snippet: raw nginx configuration",
        "  unsupported enable-opentelemetry: not implemented yet",
        "  partial     rewrite-target: Rust regex syntax",
        "  invalid     proxy-read-timeout: \"soon\": not a number of seconds",
        "demo/dashboard: would behave differently",
        "  partial     auth-url: variables $host, $http_host",
        "  supported   auth-signin",
        "3 Ingresses, 2 would behave differently under Sluice",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    let only_clean = manifests(&[("shop.yaml", clean)]);
    let (code, out) = lint(&only_clean);
    assert_eq!((code, out.lines().last()), (0, Some("1 Ingresses, 0 would behave differently under Sluice")));
}
