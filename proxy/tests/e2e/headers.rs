//! Headers from ConfigMaps, end to end: the ConfigMap keys `proxy-set-headers` (with a variable)
//! and `add-headers`, and the `custom-headers` annotation with `global-allowed-response-headers`
//! (allowed, refused, and a ConfigMap in another namespace); changes apply without a restart.

use std::time::Duration;

use http::StatusCode;

use super::support::{
    annotate, config_map, data_config_map, ingress, ingress_class, manifests, service, wait_until, Backends,
    Sluice,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_headers_reach_upstreams_and_clients() {
    let b = Backends::start("hdr", &["127.0.0.141"]).await;
    let custom = |name: &str, host: &str, reference: &str| {
        annotate(
            &ingress(name, host, &[("Prefix", "/", "web")]),
            &[("nginx.ingress.kubernetes.io/custom-headers", reference)],
        )
    };
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.141"], true)),
        (
            "config.yaml",
            config_map(&[
                ("proxy-set-headers", "demo/request-headers"),
                ("add-headers", "demo/response-headers"),
                ("global-allowed-response-headers", "X-Frame-Options, X-Team"),
            ]),
        ),
        (
            "maps.yaml",
            [
                data_config_map(
                    "demo",
                    "request-headers",
                    &[("X-Using-Sluice", "yes"), ("X-Client", "ip=$remote_addr")],
                ),
                data_config_map("demo", "response-headers", &[("X-Global", "1"), ("X-Team", "platform")]),
                data_config_map("demo", "team", &[("X-Frame-Options", "DENY"), ("X-Team", "payments")]),
                data_config_map("demo", "sneaky", &[("X-Powered-By", "x")]),
                data_config_map("other", "team", &[("X-Frame-Options", "SAMEORIGIN")]),
            ]
            .join("---\n"),
        ),
        ("plain.yaml", ingress("plain", "plain.test", &[("Prefix", "/", "web")])),
        ("team.yaml", custom("team", "team.test", "team")),
        ("sneaky.yaml", custom("sneaky", "sneaky.test", "sneaky")),
        ("foreign.yaml", custom("foreign", "foreign.test", "other/team")),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;
    let c = sluice.client();
    let header =
        |h: &http::HeaderMap, name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();

    let (status, headers, body) = c.get("plain.test", "/").await.expect("response");
    assert_eq!(status, StatusCode::OK, "{}", sluice.stderr());
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert_eq!(e.headers.get("x-using-sluice").map(String::as_str), Some("yes"));
    assert_eq!(
        e.headers.get("x-client").map(String::as_str),
        Some("ip=127.0.0.1"),
        "$remote_addr is evaluated"
    );
    assert_eq!((header(&headers, "x-global"), header(&headers, "x-team")), ("1".into(), "platform".into()));

    let (status, headers, _) = c.get("team.test", "/").await.expect("response");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    assert_eq!(header(&headers, "x-team"), "payments", "custom-headers replace add-headers of the same name");
    assert_eq!(header(&headers, "x-global"), "1");

    // A header the allowlist lacks, or a ConfigMap of another namespace, denies the Ingress.
    assert_eq!(c.get("sneaky.test", "/").await.expect("response").0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(c.get("foreign.test", "/").await.expect("response").0, StatusCode::SERVICE_UNAVAILABLE);
    let log = sluice.stderr();
    assert!(log.contains("HeadersNotAllowed") || log.contains("global-allowed-response-headers"), "{log}");
    assert!(log.contains("must be in the Ingress's namespace"), "{log}");

    // Editing a referenced ConfigMap applies without a restart.
    sluice.write(
        "maps.yaml",
        &[
            data_config_map("demo", "request-headers", &[("X-Using-Sluice", "still")]),
            data_config_map("demo", "response-headers", &[("X-Global", "2")]),
            data_config_map("demo", "team", &[("X-Frame-Options", "DENY")]),
        ]
        .join("---\n"),
    );
    let changed = wait_until(Duration::from_secs(10), || async {
        c.get("plain.test", "/").await.is_ok_and(|(_, h, _)| header(&h, "x-global") == "2")
    })
    .await;
    assert!(changed, "the new add-headers were not applied\n{}", sluice.stderr());
    let e = c.echo("plain.test", "/").await.expect("echo");
    assert_eq!(e.headers.get("x-using-sluice").map(String::as_str), Some("still"));
    assert!(!e.headers.contains_key("x-client"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_request_rules_block_hide_and_drop_headers() {
    let b = Backends::start("rules", &["127.0.0.145"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.145"], true)),
        (
            "config.yaml",
            config_map(&[
                ("block-user-agents", "BadBot/1.0, ~*crawler"),
                ("block-referers", "~^https://spam\\."),
                ("hide-headers", "X-Powered-By"),
                ("proxy-add-original-uri-header", "true"),
                ("retry-non-idempotent", "maybe"),
            ]),
        ),
        ("loud.yaml", ingress("loud", "loud.test", &[("Prefix", "/", "web")])),
        (
            "quiet.yaml",
            annotate(
                &ingress("quiet", "quiet.test", &[("Prefix", "/", "web")]),
                &[("nginx.ingress.kubernetes.io/enable-access-log", "false")],
            ),
        ),
    ]);
    let sluice = Sluice::start_logged(dir, &["--configmap", "demo/sluice-config"]).await;
    let c = sluice.client();
    let status = |headers: &'static [(&'static str, &'static str)]| {
        let c = &c;
        async move { c.get_with("loud.test", "/", headers).await.0 }
    };
    assert_eq!(status(&[("user-agent", "badbot/1.0")]).await, StatusCode::FORBIDDEN, "strings ignore case");
    assert_eq!(status(&[("user-agent", "Mega-CRAWLER 2")]).await, StatusCode::FORBIDDEN, "~* regex");
    assert_eq!(status(&[("user-agent", "BadBot/1.01")]).await, StatusCode::OK, "strings match whole");
    assert_eq!(status(&[("referer", "https://spam.example/")]).await, StatusCode::FORBIDDEN);
    assert_eq!(status(&[("referer", "https://ok.example/?https://spam.")]).await, StatusCode::OK);

    let headers = [
        ("x_real_ip", "10.6.6.6"),
        ("x-echo-response-header", "X-Powered-By: PHP/5"),
        ("x-echo-response-header", "X-Accel-Redirect: /internal/secret"),
    ];
    let (status, response, body) = c.get_with("loud.test", "/orig?q=1", &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert!(response.get("x-powered-by").is_none(), "hide-headers");
    assert!(response.get("x-accel-redirect").is_none(), "nginx's control headers never pass");
    let server = |h: &http::HeaderMap| h.get("server").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(server(&response), "sluice", "the backend's Server header is replaced");
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert!(!e.headers.contains_key("x_real_ip"), "underscored headers are dropped, as nginx does");
    assert_eq!(e.headers.get("x-original-uri").map(String::as_str), Some("/orig?q=1"));

    c.get("quiet.test", "/not-logged-7f3a").await.expect("response");
    c.get("loud.test", "/logged-7f3a").await.expect("response");
    let logged =
        wait_until(Duration::from_secs(5), || async { sluice.access_log().contains("/logged-7f3a") }).await;
    assert!(logged, "{}", sluice.access_log());
    assert!(!sluice.access_log().contains("/not-logged-7f3a"), "enable-access-log: false");
    assert!(sluice.stderr().contains("retry-non-idempotent"), "a bad value is reported");

    sluice.write("config.yaml", &config_map(&[("allow-backend-server-header", "true")]));
    let passed = wait_until(Duration::from_secs(10), || async {
        server(&c.get_with("loud.test", "/", &[]).await.1) == "sluice-echo"
    })
    .await;
    assert!(passed, "allow-backend-server-header passes the backend's Server");
    assert_eq!(
        c.get_with("loud.test", "/", &[("user-agent", "BadBot/1.0")]).await.0,
        StatusCode::OK,
        "unblocked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_gzip_compresses_the_configured_types_above_the_minimum_length() {
    use std::io::Read as _;
    let b = Backends::start("zip", &["127.0.0.146"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.146"], true)),
        (
            "config.yaml",
            config_map(&[
                ("use-gzip", "true"),
                ("gzip-level", "6"),
                ("gzip-min-length", "100"),
                ("gzip-types", "text/plain"),
            ]),
        ),
        ("zip.yaml", ingress("zip", "zip.test", &[("Prefix", "/", "web")])),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;
    let c = sluice.client();
    let encoding =
        |h: &http::HeaderMap| h.get("content-encoding").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let gzip = [("accept-encoding", "gzip")];

    let (status, headers, body) = c.get_with("zip.test", "/?bytes=5000", &gzip).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(encoding(&headers).as_deref(), Some("gzip"), "{headers:?}");
    assert!(body.len() < 5000, "compressed to {} bytes", body.len());
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain).expect("gzip");
    assert_eq!(plain, vec![b'x'; 5000]);

    let (_, headers, body) = c.get_with("zip.test", "/?bytes=50", &gzip).await;
    assert_eq!((encoding(&headers), body.len()), (None, 50), "below gzip-min-length");
    let (_, headers, _) = c.get_with("zip.test", "/?bytes=5000", &[]).await;
    assert_eq!(encoding(&headers), None, "the client did not ask for it");
    let (_, headers, body) = c.get_with("zip.test", "/json", &gzip).await;
    assert_eq!(encoding(&headers), None, "application/json is not in gzip-types here");
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
}
