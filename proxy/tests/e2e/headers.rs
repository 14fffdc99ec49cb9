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
