//! ingress-nginx rewrite and redirect annotations, end to end: `use-regex` and `rewrite-target`
//! with captures, regex ordering, `x-forwarded-prefix`, `upstream-vhost`, `app-root`,
//! `permanent-redirect`, `temporal-redirect` and `from-to-www-redirect`.

use http::StatusCode;

use super::support::{annotate, ingress, ingress_class, manifests, service, Backends, Sluice};

fn location(headers: &http::HeaderMap) -> &str {
    headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_target_substitutes_captures_and_regex_paths_match_longest_first() {
    let b = Backends::start("rw", &["127.0.0.41", "127.0.0.42", "127.0.0.43"]).await;
    let rewrite = annotate(
        &ingress("rewrite", "rw.test", &[("ImplementationSpecific", "/something(/|$)(.*)", "a")]),
        &[
            ("nginx.ingress.kubernetes.io/use-regex", "true"),
            ("nginx.ingress.kubernetes.io/rewrite-target", "/$2"),
            ("nginx.ingress.kubernetes.io/x-forwarded-prefix", "/something"),
        ],
    );
    // No regex annotation here: the host is in regex mode because of the other Ingress.
    let plain = annotate(
        &ingress(
            "plain",
            "rw.test",
            &[("Prefix", "/api/v[0-9]+", "b"), ("Prefix", "/api/v[0-9]+/admin", "c")],
        ),
        &[("nginx.ingress.kubernetes.io/upstream-vhost", "internal.example")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        (
            "svc.yaml",
            [
                service("a", b.port, &["127.0.0.41"], true),
                service("b", b.port, &["127.0.0.42"], true),
                service("c", b.port, &["127.0.0.43"], true),
            ]
            .join("---\n"),
        ),
        ("rewrite.yaml", rewrite),
        ("plain.yaml", plain),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    let e = c.echo("rw.test", "/something/new/page?x=1").await.expect("rewritten request");
    assert_eq!((e.local_addr.starts_with("127.0.0.41"), e.uri.as_str()), (true, "/new/page?x=1"));
    assert_eq!(e.headers.get("x-forwarded-prefix").map(String::as_str), Some("/something"));
    let e = c.echo("rw.test", "/something").await.expect("rewritten request");
    assert_eq!(e.uri, "/");
    let e = c.echo("rw.test", "/SOMETHING/Case").await.expect("regex paths are case-insensitive");
    assert_eq!(e.uri, "/Case");

    let e = c.echo("rw.test", "/api/v2/users").await.expect("regex from host mode");
    assert!(e.local_addr.starts_with("127.0.0.42"), "{e:?}");
    assert_eq!(e.uri, "/api/v2/users", "no rewrite-target on this Ingress");
    assert_eq!(e.headers.get("host").map(String::as_str), Some("internal.example"));
    let e = c.echo("rw.test", "/api/v10/admin/x").await.expect("longest regex first");
    assert!(e.local_addr.starts_with("127.0.0.43"), "{e:?}");
    let (status, _, _) = c.get("rw.test", "/other").await.expect("response");
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_annotations_answer_with_their_codes() {
    let b = Backends::start("redir", &["127.0.0.44"]).await;
    let permanent = annotate(
        &ingress("permanent", "old.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/permanent-redirect", "https://new.example.com/landing")],
    );
    let permanent_308 = annotate(
        &ingress("permanent308", "old308.test", &[("Prefix", "/", "web")]),
        &[
            ("nginx.ingress.kubernetes.io/permanent-redirect", "https://new.example.com/"),
            ("nginx.ingress.kubernetes.io/permanent-redirect-code", "308"),
        ],
    );
    let temporal = annotate(
        &ingress("temporal", "tmp.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/temporal-redirect", "https://maint.example.com/")],
    );
    let app_root = annotate(
        &ingress("approot", "app.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/app-root", "/app1")],
    );
    let www = annotate(
        &ingress("www", "www.shop.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/from-to-www-redirect", "true")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.44"], true)),
        ("a.yaml", permanent),
        ("b.yaml", permanent_308),
        ("c.yaml", temporal),
        ("d.yaml", app_root),
        ("e.yaml", www),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let port = sluice.http.port();

    let (status, headers, _) = c.get("old.test", "/any/path").await.expect("response");
    assert_eq!((status.as_u16(), location(&headers)), (301, "https://new.example.com/landing"));
    let (status, headers, _) = c.get("old308.test", "/").await.expect("response");
    assert_eq!((status.as_u16(), location(&headers)), (308, "https://new.example.com/"));
    let (status, headers, _) = c.get("tmp.test", "/x").await.expect("response");
    assert_eq!((status.as_u16(), location(&headers)), (302, "https://maint.example.com/"));

    let host = format!("app.test:{port}");
    let (status, headers, _) = c.get(&host, "/").await.expect("response");
    assert_eq!((status.as_u16(), location(&headers)), (302, format!("http://{host}/app1").as_str()));
    assert!(c.echo("app.test", "/app1/page").await.is_some(), "other paths are proxied");

    let (status, headers, _) = c.get(&format!("shop.test:{port}"), "/cart?id=7").await.expect("response");
    assert_eq!(
        (status.as_u16(), location(&headers)),
        (308, format!("http://www.shop.test:{port}/cart?id=7").as_str())
    );
    assert!(c.echo("www.shop.test", "/cart").await.is_some(), "the www host itself is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_annotation_values_warn_and_keep_safe_defaults() {
    let b = Backends::start("inv", &["127.0.0.45"]).await;
    let bad = annotate(
        &ingress("bad", "bad.test", &[("Prefix", "/", "web")]),
        &[
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "soon"),
            ("nginx.ingress.kubernetes.io/permanent-redirect", "javascript:alert(1)"),
            ("nginx.ingress.kubernetes.io/proxy-body-size", "12t"),
            ("nginx.ingress.kubernetes.io/configuration-snippet", "return 200 'owned';"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.45"], true)),
        ("bad.yaml", bad),
    ]);
    let sluice = Sluice::start(dir).await;
    let e = sluice.client().echo("bad.test", "/").await.expect("the route still serves, unredirected");
    assert_eq!(e.backend, "inv");
    let logs = sluice.stderr();
    for needle in [
        "proxy-read-timeout: invalid value \"soon\"",
        "permanent-redirect: invalid value",
        "proxy-body-size: invalid value",
        "snippet annotations are refused",
    ] {
        assert!(logs.contains(needle), "missing warning {needle:?} in:\n{logs}");
    }
    assert!(logs.contains("object=Ingress demo/bad"), "warnings name the Ingress");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_redirect_and_proxy_cookie_rewrite_upstream_headers() {
    let b = Backends::start("hdr", &["127.0.0.44"]).await;
    let rewriting = annotate(
        &ingress("rewriting", "hdr.test", &[("Prefix", "/", "a")]),
        &[
            ("nginx.ingress.kubernetes.io/proxy-redirect-from", "http://backend.internal:8080/"),
            ("nginx.ingress.kubernetes.io/proxy-redirect-to", "https://hdr.test/app/"),
            ("nginx.ingress.kubernetes.io/proxy-cookie-domain", "backend.internal hdr.test"),
            ("nginx.ingress.kubernetes.io/proxy-cookie-path", "/internal/ /app/"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("a", b.port, &["127.0.0.44"], true)),
        ("rewriting.yaml", rewriting),
        ("plain.yaml", ingress("plain", "plain.test", &[("Prefix", "/", "a")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let upstream_headers = [
        ("x-echo-response-header", "Location: http://backend.internal:8080/login?next=%2F"),
        ("x-echo-response-header", "Set-Cookie: sid=1; Domain=backend.internal; Path=/internal/x; HttpOnly"),
        ("x-echo-response-header", "Set-Cookie: theme=dark; Path=/other"),
    ];
    let (status, headers, _) = c.get_with("hdr.test", "/?status=302", &upstream_headers).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location(&headers), "https://hdr.test/app/login?next=%2F");
    let cookies: Vec<&str> = headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(cookies, ["sid=1; Domain=hdr.test; Path=/app/x; HttpOnly", "theme=dark; Path=/other"]);

    // Without the annotations the headers pass as the backend sent them.
    let (_, headers, _) = c.get_with("plain.test", "/?status=302", &upstream_headers).await;
    assert_eq!(location(&headers), "http://backend.internal:8080/login?next=%2F");
    let cookies: Vec<&str> = headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(cookies[0], "sid=1; Domain=backend.internal; Path=/internal/x; HttpOnly");
}
