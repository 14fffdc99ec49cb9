//! ingress-nginx traffic annotations, end to end: canary by header, cookie and weight; cookie
//! affinity (balanced and persistent, across endpoint churn); CORS; `proxy-body-size`.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{
    annotate, ingress, ingress_class, manifests, service, wait_until, Backends, Client, Sluice,
};

async fn backend_of(c: &Client, host: &str, headers: &[(&str, &str)]) -> String {
    let (status, _, body) = c.get_with(host, "/", headers).await;
    assert_eq!(status, StatusCode::OK);
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    e.backend
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_by_header_then_cookie_then_weight() {
    let stable = Backends::start("stable", &["127.0.0.51"]).await;
    let canary = Backends::start("canary", &["127.0.0.52"]).await;
    let canary_ing = annotate(
        &ingress("app-canary", "canary.test", &[("Prefix", "/", "canary")]),
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-by-header", "X-Canary"),
            ("nginx.ingress.kubernetes.io/canary-by-cookie", "use_canary"),
            ("nginx.ingress.kubernetes.io/canary-weight", "30"),
        ],
    );
    let valued = annotate(
        &ingress("v-canary", "valued.test", &[("Prefix", "/", "canary")]),
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-by-header", "X-Version"),
            ("nginx.ingress.kubernetes.io/canary-by-header-value", "v2"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        (
            "svc.yaml",
            [
                service("stable", stable.port, &["127.0.0.51"], true),
                service("canary", canary.port, &["127.0.0.52"], true),
            ]
            .join("---\n"),
        ),
        ("main.yaml", ingress("app", "canary.test", &[("Prefix", "/", "stable")])),
        ("main2.yaml", ingress("v", "valued.test", &[("Prefix", "/", "stable")])),
        ("canary.yaml", canary_ing),
        ("valued.yaml", valued),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    // The header decides first: "always" and "never" override the cookie.
    for _ in 0..5 {
        assert_eq!(backend_of(&c, "canary.test", &[("x-canary", "always")]).await, "canary");
        let never = [("x-canary", "never"), ("cookie", "use_canary=always")];
        assert_eq!(backend_of(&c, "canary.test", &never).await, "stable");
        assert_eq!(backend_of(&c, "canary.test", &[("cookie", "use_canary=always")]).await, "canary");
        assert_eq!(backend_of(&c, "canary.test", &[("cookie", "a=b; use_canary=never")]).await, "stable");
        assert_eq!(backend_of(&c, "valued.test", &[("x-version", "v2")]).await, "canary");
        // A value that does not match falls through to the weight, which is 0 here.
        assert_eq!(backend_of(&c, "valued.test", &[("x-version", "v1")]).await, "stable");
    }

    // The weight: 30%. With n = 600 the standard deviation of the share is 1.9 points; the
    // tolerance of 8 points is more than 4 deviations (a false failure about once in 30,000 runs).
    let n = 600;
    let mut canary_hits = 0;
    for _ in 0..n {
        if backend_of(&c, "canary.test", &[("x-canary", "other")]).await == "canary" {
            canary_hits += 1;
        }
    }
    let share = f64::from(canary_hits) / f64::from(n);
    assert!((0.22..=0.38).contains(&share), "canary share {share:.3}, expected 0.30 +- 0.08");
    assert!(!sluice.stderr().contains("CanaryWithoutMain"));
}

fn session_cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_affinity_sticks_and_survives_endpoint_churn() {
    let ips = ["127.0.0.53", "127.0.0.54", "127.0.0.55", "127.0.0.56"];
    let b = Backends::start("sticky", &ips).await;
    let sticky = annotate(
        &ingress("sticky", "sticky.test", &[("Prefix", "/", "sticky")]),
        &[
            ("nginx.ingress.kubernetes.io/affinity", "cookie"),
            ("nginx.ingress.kubernetes.io/session-cookie-name", "route"),
            ("nginx.ingress.kubernetes.io/session-cookie-max-age", "172800"),
            ("nginx.ingress.kubernetes.io/session-cookie-samesite", "Strict"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("sticky", b.port, &ips, true)),
        ("sticky.yaml", sticky),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    // New sessions get a cookie with ingress-nginx's attributes, and spread over endpoints.
    let mut sessions = Vec::new();
    let mut spread = HashMap::new();
    for _ in 0..24 {
        let (status, headers, body) = c.get("sticky.test", "/").await.expect("response");
        assert_eq!(status, StatusCode::OK);
        let cookie = session_cookie(&headers, "route").expect("a session cookie");
        assert!(cookie.contains("; Path=/") && cookie.contains("; Max-Age=172800"), "{cookie}");
        assert!(cookie.contains("; SameSite=Strict") && cookie.ends_with("; HttpOnly"), "{cookie}");
        let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
        let value = cookie.split(';').next().expect("pair").to_owned();
        *spread.entry(e.local_addr.clone()).or_insert(0) += 1;
        sessions.push((value, e.local_addr));
    }
    assert!(spread.len() >= 3, "sessions spread over endpoints: {spread:?}");

    // A session keeps its endpoint, and is not given a new cookie.
    let endpoint_of = |pair: String| {
        let c = c.clone();
        async move {
            let req = Request::get("/").header("host", "sticky.test").header("cookie", pair);
            let (_, headers, body) =
                c.send(req.body(Full::default()).expect("request")).await.expect("response");
            let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
            (e.local_addr, session_cookie(&headers, "route"))
        }
    };
    for (pair, addr) in &sessions[..6] {
        for _ in 0..5 {
            let (now, new_cookie) = endpoint_of(pair.clone()).await;
            assert_eq!(&now, addr, "session {pair} moved");
            assert!(new_cookie.is_none());
        }
    }

    // Remove one endpoint: sessions on the others stay where they were.
    let removed = "127.0.0.56";
    let generation = |metrics: String| {
        let line = metrics.lines().find(|l| l.starts_with("sluice_config_generation ")).map(str::to_owned);
        line.and_then(|l| l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok())).unwrap_or(0)
    };
    let before = generation(sluice.metrics().await);
    sluice.write("svc.yaml", &service("sticky", b.port, &ips[..3], true));
    // Sampling new sessions cannot tell when the change is live (with 4 endpoints, 8 samples all
    // miss one endpoint 10% of the time): wait for the next table generation instead.
    let published =
        wait_until(Duration::from_secs(5), || async { generation(sluice.metrics().await) > before }).await;
    let gone = published && {
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(c.echo("sticky.test", "/").await.map(|e| e.local_addr).unwrap_or_default());
        }
        seen.iter().all(|a| !a.starts_with(removed))
    };
    assert!(gone, "the endpoint was removed");
    for (pair, addr) in sessions.iter().filter(|(_, a)| !a.starts_with(removed)) {
        assert_eq!(&endpoint_of(pair.clone()).await.0, addr, "session {pair} moved after churn");
    }
    for (pair, _) in sessions.iter().filter(|(_, a)| a.starts_with(removed)) {
        let (now, _) = endpoint_of(pair.clone()).await;
        assert!(!now.starts_with(removed), "a session on the removed endpoint moves");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_is_answered_and_allowed_origins_get_headers() {
    let b = Backends::start("cors", &["127.0.0.57"]).await;
    let cors = annotate(
        &ingress("cors", "cors.test", &[("Prefix", "/", "api")]),
        &[
            ("nginx.ingress.kubernetes.io/enable-cors", "true"),
            ("nginx.ingress.kubernetes.io/cors-allow-origin", "https://app.test, https://*.corp.test"),
            ("nginx.ingress.kubernetes.io/cors-expose-headers", "X-Total"),
            ("nginx.ingress.kubernetes.io/cors-max-age", "600"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("api", b.port, &["127.0.0.57"], true)),
        ("cors.yaml", cors),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let send = |method: &'static str, origin: &'static str| {
        let c = c.clone();
        async move {
            let req = Request::builder()
                .method(method)
                .uri("/items")
                .header("host", "cors.test")
                .header("origin", origin)
                .header("access-control-request-method", "PUT");
            c.send(req.body(Full::default()).expect("request")).await.expect("response")
        }
    };
    let h =
        |headers: &http::HeaderMap, k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);

    let (status, headers, body) = send("OPTIONS", "https://app.test").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty() && h(&headers, "x-backend").is_none(), "answered by Sluice");
    assert_eq!(h(&headers, "access-control-allow-origin").as_deref(), Some("https://app.test"));
    assert_eq!(h(&headers, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(
        h(&headers, "access-control-allow-methods").as_deref(),
        Some("GET, PUT, POST, DELETE, PATCH, OPTIONS")
    );
    assert!(h(&headers, "access-control-allow-headers").is_some_and(|v| v.contains("Authorization")));
    assert_eq!(h(&headers, "access-control-max-age").as_deref(), Some("600"));

    let (status, headers, _) = send("GET", "https://eu.corp.test").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h(&headers, "x-backend").as_deref(), Some("cors"));
    assert_eq!(h(&headers, "access-control-allow-origin").as_deref(), Some("https://eu.corp.test"));
    assert_eq!(h(&headers, "access-control-expose-headers").as_deref(), Some("X-Total"));

    let (status, headers, _) = send("GET", "https://evil.test").await;
    assert_eq!(status, StatusCode::OK);
    assert!(h(&headers, "access-control-allow-origin").is_none(), "other origins get no CORS headers");
    let (_, headers, _) = send("OPTIONS", "https://evil.test").await;
    assert_eq!(h(&headers, "x-backend").as_deref(), Some("cors"), "their preflights go upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_body_size_answers_413() {
    let b = Backends::start("body", &["127.0.0.58"]).await;
    let small = annotate(
        &ingress("small", "small.test", &[("Prefix", "/", "up")]),
        &[("nginx.ingress.kubernetes.io/proxy-body-size", "1k")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("up", b.port, &["127.0.0.58"], true)),
        ("small.yaml", small),
        ("default.yaml", ingress("dflt", "default.test", &[("Prefix", "/", "up")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let post = |host: &'static str, len: usize| {
        let c = c.clone();
        async move {
            let req =
                Request::post("/upload").header("host", host).body(Full::new(Bytes::from(vec![b'x'; len])));
            c.send(req.expect("request")).await.expect("response").0
        }
    };
    assert_eq!(post("small.test", 1024).await, StatusCode::OK);
    assert_eq!(post("small.test", 1025).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(post("default.test", 1024 * 1024).await, StatusCode::OK, "the default limit is 1m");
    assert_eq!(post("default.test", 1024 * 1024 + 1).await, StatusCode::PAYLOAD_TOO_LARGE);

    // A chunked body has no Content-Length: it is counted as it streams.
    let mut s = tokio::net::TcpStream::connect(sluice.http).await.expect("connect");
    let chunk = vec![b'y'; 4096];
    let head = "POST /upload HTTP/1.1\r\nHost: small.test\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.expect("write");
    s.write_all(&chunk).await.expect("write");
    s.write_all(b"\r\n0\r\n\r\n").await.expect("write");
    let mut buf = vec![0u8; 512];
    let n =
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("in time").expect("read");
    let status_line = String::from_utf8_lossy(&buf[..n]);
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");

    // Refused on its Content-Length, a body the client goes on sending is read and thrown away
    // (nginx's lingering close), so the client's writes succeed and the connection then ends
    // cleanly instead of with a reset that can destroy the 413 before the client reads it.
    let mut s = tokio::net::TcpStream::connect(sluice.http).await.expect("connect");
    let head = "POST /upload HTTP/1.1\r\nHost: small.test\r\nContent-Length: 65536\r\n\r\n";
    s.write_all(head.as_bytes()).await.expect("write");
    let n =
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("in time").expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.write_all(&[b'z'; 4096]).await.expect("the body is still being read");
    }
    let end = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("in time");
    assert!(matches!(end, Ok(0)), "a clean close after the body, not {end:?}");
}
