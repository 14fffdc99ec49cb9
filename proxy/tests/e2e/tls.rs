//! TLS termination through the real binary: certificates by SNI (exact, one-label wildcard,
//! default), HTTP/2, rotation under an open connection, HTTP-to-HTTPS redirects, and invalid
//! Secrets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use sluice_proxy::tls::FAKE_CERTIFICATE_CN;

use super::support::{ingress_class, manifests, service, wait_until, Backends, Sluice};
use super::tls_client::{certificate, connect, secret, tls_ingress, H2};

fn is_fake(der: &[u8]) -> bool {
    der.windows(FAKE_CERTIFICATE_CN.len()).any(|w| w == FAKE_CERTIFICATE_CN.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_each_hosts_certificate_and_unknown_names_get_the_default() {
    let web = Backends::start("web", &["127.0.0.50"]).await;
    let (a_pem, a_key, a_der) = certificate(&["a.test"]);
    let (b_pem, b_key, b_der) = certificate(&["b.test"]);
    let (w_pem, w_key, w_der) = certificate(&["*.w.test"]);
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", web.port, &["127.0.0.50"], true)),
        (
            "secrets.yaml",
            [secret("a", &a_pem, &a_key), secret("b", &b_pem, &b_key), secret("w", &w_pem, &w_key)]
                .join("---\n"),
        ),
        ("a.yaml", tls_ingress("a", "a.test", "web", Some(("a", &["a.test"])), &[])),
        ("b.yaml", tls_ingress("b", "b.test", "web", Some(("b", &["b.test"])), &[])),
        ("w.yaml", tls_ingress("w", "*.w.test", "web", Some(("w", &["*.w.test"])), &[])),
    ]);
    let sluice = Sluice::start(dir).await;

    let cases: [(&str, Option<&[u8]>); 6] = [
        ("a.test", Some(&a_der)),
        ("b.test", Some(&b_der)),
        ("x.w.test", Some(&w_der)),
        ("y.x.w.test", None), // a wildcard covers one label only
        ("w.test", None),
        ("unknown.test", None),
    ];
    for (sni, want) in cases {
        let tls = connect(sluice.https, sni, &[b"http/1.1"]).await.expect("handshake");
        match want {
            Some(der) => assert_eq!(tls.leaf, der, "SNI {sni}"),
            None => assert!(is_fake(&tls.leaf), "SNI {sni} should get the default certificate"),
        }
    }

    let mut h2 = H2::connect(sluice.https, "a.test").await.expect("h2 negotiated");
    assert_eq!(h2.leaf, a_der);
    let (status, headers, body) = h2.get("a.test", "/hello?x=1").await.expect("h2 request");
    assert_eq!(status, StatusCode::OK);
    let echo: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert_eq!(echo.uri, "/hello?x=1");
    assert_eq!(echo.headers.get("host").map(String::as_str), Some("a.test"));
    assert_eq!(echo.headers.get("x-forwarded-proto").map(String::as_str), Some("https"));
    assert_eq!(
        headers.get("strict-transport-security").and_then(|v| v.to_str().ok()),
        Some("max-age=31536000; includeSubDomains")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_secret_serves_new_handshakes_while_open_connections_keep_working() {
    let web = Backends::start("web", &["127.0.0.51"]).await;
    let (old_pem, old_key, old_der) = certificate(&["r.test"]);
    let (new_pem, new_key, new_der) = certificate(&["r.test"]);
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", web.port, &["127.0.0.51"], true)),
        ("secret.yaml", secret("r", &old_pem, &old_key)),
        ("r.yaml", tls_ingress("r", "r.test", "web", Some(("r", &["r.test"])), &[])),
    ]);
    let sluice = Sluice::start(dir).await;
    let mut open = H2::connect(sluice.https, "r.test").await.expect("h2");
    assert_eq!(open.leaf, old_der);

    let stop = Arc::new(AtomicBool::new(false));
    let load_stop = stop.clone();
    let load = tokio::spawn(async move {
        let (mut ok, mut failed) = (0usize, Vec::new());
        // Bounded: stops when told, or after 100k requests.
        while !load_stop.load(Ordering::Relaxed) && ok + failed.len() < 100_000 {
            match open.get("r.test", "/stream").await {
                Ok((StatusCode::OK, _, _)) => ok += 1,
                other => failed.push(format!("{:?}", other.map(|r| r.0))),
            }
        }
        (ok, failed, open)
    });

    tokio::time::sleep(Duration::from_millis(200)).await;
    sluice.write("secret.yaml", &secret("r", &new_pem, &new_key));
    let https = sluice.https;
    let rotated = wait_until(Duration::from_secs(5), || {
        let new_der = new_der.clone();
        async move { connect(https, "r.test", &[b"h2"]).await.is_ok_and(|t| t.leaf == new_der) }
    })
    .await;
    assert!(rotated, "new handshakes never saw the renewed certificate");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, mut open) = load.await.expect("load task");
    assert!(failed.is_empty(), "{} requests failed on the open connection: {failed:?}", failed.len());
    assert!(ok > 10, "only {ok} requests went through the open connection");
    let (status, _, _) = open.get("r.test", "/after").await.expect("the open connection still works");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open.leaf, old_der, "the open connection keeps its certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_redirected_to_https_as_ingress_nginx_does() {
    let web = Backends::start("web", &["127.0.0.52"]).await;
    let (pem, key, _) = certificate(&["tls.test", "optout.test"]);
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", web.port, &["127.0.0.52"], true)),
        ("secret.yaml", secret("s", &pem, &key)),
        ("tls.yaml", tls_ingress("tls", "tls.test", "web", Some(("s", &["tls.test"])), &[])),
        (
            "optout.yaml",
            tls_ingress(
                "optout",
                "optout.test",
                "web",
                Some(("s", &["optout.test"])),
                &[("nginx.ingress.kubernetes.io/ssl-redirect", "false")],
            ),
        ),
        (
            "force.yaml",
            tls_ingress(
                "force",
                "force.test",
                "web",
                None,
                &[("nginx.ingress.kubernetes.io/force-ssl-redirect", "true")],
            ),
        ),
        ("plain.yaml", tls_ingress("plain", "plain.test", "web", None, &[])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let port = sluice.https.port();

    let (status, headers, _) = c.get("tls.test:8080", "/a/b?q=1&r=2").await.expect("redirect");
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    let location = headers.get("location").and_then(|v| v.to_str().ok());
    assert_eq!(location, Some(format!("https://tls.test:{port}/a/b?q=1&r=2").as_str()));

    let (status, headers, _) = c.get("force.test", "/x").await.expect("forced redirect");
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("https://force.test:{port}/x").as_str())
    );

    assert_eq!(c.get("optout.test", "/").await.expect("opt-out").0, StatusCode::OK);
    assert_eq!(c.get("plain.test", "/").await.expect("no tls").0, StatusCode::OK);
    let acme = c.get("tls.test", "/.well-known/acme-challenge/token").await.expect("acme");
    assert_eq!(acme.0, StatusCode::OK, "ACME challenges are never redirected");
    assert!(acme.1.get("strict-transport-security").is_none(), "no HSTS over plain HTTP");

    // Over HTTPS the same route is proxied.
    let mut h2 = H2::connect(sluice.https, "tls.test").await.expect("h2");
    assert_eq!(h2.get("tls.test", "/a").await.expect("https").0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_secret_warns_and_only_its_host_falls_back_to_the_default_certificate() {
    let web = Backends::start("web", &["127.0.0.53"]).await;
    let (good_pem, good_key, good_der) = certificate(&["good.test"]);
    let (mismatch_pem, _, _) = certificate(&["mismatch.test"]);
    let (_, other_key, _) = certificate(&["mismatch.test"]);
    let expired = {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["expired.test".to_owned()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        (params.self_signed(&key).expect("cert").pem(), key.serialize_pem())
    };
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", web.port, &["127.0.0.53"], true)),
        (
            "secrets.yaml",
            [
                secret("good", &good_pem, &good_key),
                secret(
                    "garbage",
                    "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----",
                    &good_key,
                ),
                secret("mismatch", &mismatch_pem, &other_key),
                secret("expired", &expired.0, &expired.1),
            ]
            .join("---\n"),
        ),
        ("good.yaml", tls_ingress("good", "good.test", "web", Some(("good", &["good.test"])), &[])),
        (
            "garbage.yaml",
            tls_ingress("garbage", "garbage.test", "web", Some(("garbage", &["garbage.test"])), &[]),
        ),
        (
            "mismatch.yaml",
            tls_ingress("mismatch", "mismatch.test", "web", Some(("mismatch", &["mismatch.test"])), &[]),
        ),
        (
            "expired.yaml",
            tls_ingress("expired", "expired.test", "web", Some(("expired", &["expired.test"])), &[]),
        ),
        (
            "missing.yaml",
            tls_ingress("missing", "missing.test", "web", Some(("nope", &["missing.test"])), &[]),
        ),
    ]);
    let sluice = Sluice::start(dir).await;
    for (host, reason) in [
        ("garbage.test", "\"garbage\" is invalid"),
        ("mismatch.test", "does not match the certificate"),
        ("expired.test", "expired"),
        ("missing.test", "\"nope\" not found"),
    ] {
        let tls = connect(sluice.https, host, &[b"http/1.1"]).await.expect("handshake still succeeds");
        assert!(is_fake(&tls.leaf), "{host} should get the default certificate");
        let log = sluice.stderr();
        assert!(log.contains(reason), "no warning containing {reason:?} for {host}:\n{log}");
        // The host still routes over HTTPS with the default certificate.
        let mut h2 = H2::connect(sluice.https, host).await.expect("h2");
        assert_eq!(h2.get(host, "/").await.expect("request").0, StatusCode::OK, "{host}");
    }
    let tls = connect(sluice.https, "good.test", &[b"http/1.1"]).await.expect("handshake");
    assert_eq!(tls.leaf, good_der, "a valid Secret is unaffected by the invalid ones");
}
