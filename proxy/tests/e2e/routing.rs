//! Routing through the real binary: hosts, paths, default backend, 404, 503, round robin,
//! connect retry, forwarding headers, bodies and WebSocket.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio_tungstenite::tungstenite::Message;

use super::support::{ingress, ingress_class, manifests, service, Backends, Sluice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_and_path_and_answers_404_and_503_itself() {
    let blue = Backends::start("blue", &["127.0.0.2"]).await;
    let green = Backends::start("green", &["127.0.0.3"]).await;
    let fallback = Backends::start("fallback", &["127.0.0.4"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        (
            "svc.yaml",
            [
                service("blue", blue.port, &["127.0.0.2"], true),
                service("green", green.port, &["127.0.0.3"], true),
                service("fallback", fallback.port, &["127.0.0.4"], true),
                service("down", blue.port, &["127.0.0.2"], false),
            ]
            .join("---\n"),
        ),
        (
            "app.yaml",
            ingress(
                "app",
                "app.test",
                &[("Prefix", "/", "blue"), ("Prefix", "/api", "green"), ("Exact", "/exact", "fallback")],
            ),
        ),
        ("down.yaml", ingress("down", "down.test", &[("Prefix", "/", "down")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let backend = |e: Option<sluice_proxy::echo::Echo>| e.map(|e| e.backend);

    assert_eq!(backend(c.echo("app.test", "/").await).as_deref(), Some("blue"));
    assert_eq!(backend(c.echo("APP.test:8080", "/apix").await).as_deref(), Some("blue"));
    assert_eq!(backend(c.echo("app.test", "/api/v1?q=1").await).as_deref(), Some("green"));
    assert_eq!(backend(c.echo("app.test", "/exact").await).as_deref(), Some("fallback"));
    assert_eq!(backend(c.echo("app.test", "/exact/no").await).as_deref(), Some("blue"));
    let echoed = c.echo("app.test", "/api/v1?q=1").await.expect("echo");
    assert_eq!(echoed.uri, "/api/v1?q=1", "path and query pass unchanged");

    let (status, headers, body) = c.get("nowhere.test", "/").await.expect("404");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers.get("server").and_then(|v| v.to_str().ok()), Some("sluice"));
    assert!(String::from_utf8_lossy(&body).contains("404"));

    let (status, _, _) = c.get("down.test", "/").await.expect("503");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // A default backend added later catches what no rule matches.
    let catch_all = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: catch-all, namespace: demo}\n\
                     spec:\n  ingressClassName: sluice\n  defaultBackend:\n    service: {name: fallback, port: {number: 80}}\n";
    sluice.write("catch-all.yaml", catch_all);
    let routed = super::support::wait_until(std::time::Duration::from_secs(5), || async {
        c.echo("nowhere.test", "/x").await.is_some_and(|e| e.backend == "fallback")
    })
    .await;
    assert!(routed, "default backend not live; stderr:\n{}", sluice.stderr());
    // Hosts with rules keep their own routes.
    assert_eq!(backend(c.echo("app.test", "/").await).as_deref(), Some("blue"));

    let metrics = sluice.metrics().await;
    assert!(metrics.contains(r#"nginx_ingress_controller_requests{host="app.test",ingress="app",method="GET",namespace="demo",service="green",status="200"} 2"#), "{metrics}");
    assert!(metrics.contains("sluice_config_generation 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_evenly_over_ten_endpoints() {
    let ips: Vec<String> = (10..20).map(|i| format!("127.0.0.{i}")).collect();
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    let pool = Backends::start("pool", &ips).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("pool", pool.port, &ips, true)),
        ("ing.yaml", ingress("pool", "rr.test", &[("Prefix", "/", "pool")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..200 {
        let e = c.echo("rr.test", "/").await.expect("200 from the pool");
        *seen.entry(e.local_addr).or_default() += 1;
    }
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert!(seen.values().all(|&n| n == 20), "uneven spread: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_is_retried_on_another_endpoint() {
    // 127.0.0.30 has no listener on the port; 127.0.0.31 has one.
    let live = Backends::start("live", &["127.0.0.31"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("half", live.port, &["127.0.0.30", "127.0.0.31"], true)),
        ("ing.yaml", ingress("half", "retry.test", &[("Prefix", "/", "half")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    for i in 0..20 {
        let e = c.echo("retry.test", "/").await;
        assert_eq!(e.map(|e| e.local_addr), Some(format!("127.0.0.31:{}", live.port)), "request {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_set_and_the_host_is_kept() {
    let b = Backends::start("fwd", &["127.0.0.5"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("fwd", b.port, &["127.0.0.5"], true)),
        ("ing.yaml", ingress("fwd", "fwd.test", &[("Prefix", "/", "fwd")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let req = Request::get("/h")
        .header("host", "fwd.test")
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "secret")
        .body(Full::default())
        .expect("request");
    let (status, _, body) = c.send(req).await.expect("response");
    assert_eq!(status, StatusCode::OK);
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo json");
    let h = |k: &str| e.headers.get(k).cloned().unwrap_or_default();
    assert_eq!(h("host"), "fwd.test");
    assert_eq!(h("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    assert_eq!(h("x-real-ip"), "127.0.0.1");
    assert_eq!(h("x-forwarded-proto"), "http");
    assert_eq!(h("x-forwarded-host"), "fwd.test");
    assert_eq!(h("x-forwarded-port"), sluice.http.port().to_string());
    assert_eq!(h("x-request-id").len(), 32);
    assert!(!e.headers.contains_key("x-hop"), "headers named in Connection are hop-by-hop");

    let req = Request::get("/h")
        .header("host", "fwd.test")
        .header("x-request-id", "trace-42")
        .body(Full::default());
    let (_, _, body) = c.send(req.expect("request")).await.expect("response");
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo json");
    assert_eq!(e.headers.get("x-request-id").map(String::as_str), Some("trace-42"));

    let big = Bytes::from(vec![b'x'; 900 * 1024]);
    let req = Request::post("/upload").header("host", "fwd.test").body(Full::new(big.clone()));
    let (_, _, body) = c.send(req.expect("request")).await.expect("response");
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo json");
    assert_eq!((e.method.as_str(), e.body_len), ("POST", big.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_through() {
    let b = Backends::start("ws", &["127.0.0.6"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("ws", b.port, &["127.0.0.6"], true)),
        ("ing.yaml", ingress("ws", "ws.test", &[("Prefix", "/", "ws")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let stream = tokio::net::TcpStream::connect(sluice.http).await.expect("connect");
    let (mut ws, response) =
        tokio_tungstenite::client_async("ws://ws.test/chat", stream).await.expect("handshake");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    for i in 0..5 {
        ws.send(Message::text(format!("hello {i}"))).await.expect("send");
        let reply = ws.next().await.expect("a reply").expect("a frame");
        assert_eq!(reply.into_text().expect("text").as_str(), format!("hello {i}"));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.expect("send");
    assert_eq!(ws.next().await.expect("reply").expect("frame").into_data().as_ref(), &[0u8, 1, 2, 255]);
    ws.close(None).await.expect("close");
}
