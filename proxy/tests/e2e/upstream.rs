//! The upstream annotations, end to end: timeouts (504), `proxy-next-upstream` (retry on
//! connect failure and, for idempotent requests, after a failure once the request was sent;
//! listed statuses), the `sluice.dev/fallback-service`, `default-backend` and
//! `custom-http-errors`, and gRPC through `backend-protocol: GRPC`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::support::{
    annotate, ingress, ingress_class, manifests, service, wait_until, Backends, Client, Sluice,
};

/// A misbehaving upstream on `ip:port`: reads each request header, then answers `reply` (or
/// closes the connection when `reply` is None). Counts the requests it saw.
async fn bad_upstream(ip: &str, port: u16, reply: Option<&'static str>) -> Arc<AtomicUsize> {
    let listener =
        TcpListener::bind((ip.parse::<std::net::IpAddr>().expect("ip"), port)).await.expect("bind");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        counter.fetch_add(1, Ordering::SeqCst);
                        match reply {
                            Some(r) => {
                                if s.write_all(r.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            None => return,
                        }
                    }
                }
            });
        }
    });
    seen
}

async fn status_of(c: &Client, method: &str, host: &str, path: &str) -> (StatusCode, String) {
    let req = Request::builder().method(method).uri(path).header("host", host);
    match c.send(req.body(Full::new(Bytes::from_static(b"payload"))).expect("request")).await {
        Ok((status, headers, _)) => {
            let backend = headers.get("x-backend").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            (status, backend)
        }
        Err(e) => panic!("{method} {host}{path} failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_upstream_retries_connect_failures_and_idempotent_requests_only() {
    let good = Backends::start("good", &["127.0.0.71", "127.0.0.74"]).await;
    let port = good.port;
    // 127.0.0.72: nothing listens (connect refused). 127.0.0.73: closes after the request header.
    // 127.0.0.75: answers 503.
    let closed = bad_upstream("127.0.0.73", port, None).await;
    let unavailable = bad_upstream(
        "127.0.0.75",
        port,
        Some("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"),
    )
    .await;
    let non_idempotent = annotate(
        &ingress("retry-post", "post.test", &[("Prefix", "/", "flaky")]),
        &[("nginx.ingress.kubernetes.io/proxy-next-upstream", "error timeout non_idempotent")],
    );
    let off = annotate(
        &ingress("retry-off", "off.test", &[("Prefix", "/", "refused")]),
        &[("nginx.ingress.kubernetes.io/proxy-next-upstream", "off")],
    );
    let statuses = annotate(
        &ingress("retry-503", "status.test", &[("Prefix", "/", "unavailable")]),
        &[("nginx.ingress.kubernetes.io/proxy-next-upstream", "error timeout http_503")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        (
            "svc.yaml",
            [
                service("refused", port, &["127.0.0.71", "127.0.0.72"], true),
                service("flaky", port, &["127.0.0.73", "127.0.0.74"], true),
                service("unavailable", port, &["127.0.0.74", "127.0.0.75"], true),
            ]
            .join("---\n"),
        ),
        ("refused.yaml", ingress("refused", "refused.test", &[("Prefix", "/", "refused")])),
        ("flaky.yaml", ingress("flaky", "flaky.test", &[("Prefix", "/", "flaky")])),
        ("post.yaml", non_idempotent),
        ("off.yaml", off),
        ("status.yaml", statuses),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    for _ in 0..8 {
        assert_eq!(
            status_of(&c, "GET", "refused.test", "/").await.0,
            StatusCode::OK,
            "connect failures retry"
        );
        assert_eq!(status_of(&c, "POST", "refused.test", "/").await.0, StatusCode::OK, "even for POST");
        assert_eq!(
            status_of(&c, "GET", "flaky.test", "/").await.0,
            StatusCode::OK,
            "GET retries after sending"
        );
        assert_eq!(
            status_of(&c, "POST", "post.test", "/").await.0,
            StatusCode::OK,
            "non_idempotent retries POST"
        );
        assert_eq!(status_of(&c, "GET", "status.test", "/").await.0, StatusCode::OK, "http_503 retries");
    }
    assert!(unavailable.load(Ordering::SeqCst) > 0, "the 503 endpoint was tried");

    // Without non_idempotent, a POST that reached the closing endpoint is not sent again.
    let before = closed.load(Ordering::SeqCst);
    let mut failed = 0;
    for _ in 0..8 {
        if status_of(&c, "POST", "flaky.test", "/").await.0 == StatusCode::BAD_GATEWAY {
            failed += 1;
        }
    }
    let reached = closed.load(Ordering::SeqCst) - before;
    assert!(
        reached > 0 && failed == reached,
        "{failed} POSTs failed, {reached} reached the closing endpoint"
    );

    let mut off_failed = 0;
    for _ in 0..8 {
        if status_of(&c, "GET", "off.test", "/").await.0 == StatusCode::BAD_GATEWAY {
            off_failed += 1;
        }
    }
    assert!(off_failed > 0, "proxy-next-upstream: off never retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_answer_504() {
    let b = Backends::start("slow", &["127.0.0.76"]).await;
    // A listener whose accept queue is full: SYNs are dropped, so connects time out.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from(([127, 0, 0, 77], b.port))).expect("bind");
    let _full = socket.listen(0).expect("listen");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(("127.0.0.77", b.port)),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let read = annotate(
        &ingress("read", "read.test", &[("Prefix", "/", "slow")]),
        &[
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "1"),
            ("nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "1"),
        ],
    );
    let connect = annotate(
        &ingress("connect", "connect.test", &[("Prefix", "/", "blackhole")]),
        &[
            ("nginx.ingress.kubernetes.io/proxy-connect-timeout", "1"),
            ("nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "2"),
        ],
    );
    // An upstream that accepts and never reads: a large body fills the socket buffers.
    let deaf = TcpListener::bind(("127.0.0.78", b.port)).await.expect("bind");
    let deaf_task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = deaf.accept().await {
            held.push(s);
        }
    });
    let send = annotate(
        &ingress("send", "send.test", &[("Prefix", "/", "deaf")]),
        &[
            ("nginx.ingress.kubernetes.io/proxy-send-timeout", "1"),
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "2"),
            ("nginx.ingress.kubernetes.io/proxy-body-size", "0"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        (
            "svc.yaml",
            [
                service("slow", b.port, &["127.0.0.76"], true),
                service("blackhole", b.port, &["127.0.0.77"], true),
                service("deaf", b.port, &["127.0.0.78"], true),
            ]
            .join("---\n"),
        ),
        ("read.yaml", read),
        ("connect.yaml", connect),
        ("send.yaml", send),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    assert_eq!(status_of(&c, "GET", "read.test", "/?delay_ms=200").await.0, StatusCode::OK);
    let t = Instant::now();
    assert_eq!(status_of(&c, "GET", "read.test", "/?delay_ms=3000").await.0, StatusCode::GATEWAY_TIMEOUT);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "read timeout took {took:?}"
    );

    let t = Instant::now();
    assert_eq!(status_of(&c, "GET", "connect.test", "/").await.0, StatusCode::GATEWAY_TIMEOUT);
    let took = t.elapsed();
    // Two tries of one second each, far below the 5 s default.
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_millis(4500),
        "connect timeouts took {took:?}"
    );
    drop(fillers);

    // proxy-send-timeout: the upstream stops reading a 256 MiB upload. Pingora then still waits
    // up to the read timeout for an early answer from the upstream, so the 504 comes after about
    // 1 s + 2 s (nginx answers at the send timeout).
    let mut s = tokio::net::TcpStream::connect(sluice.http).await.expect("connect");
    let total: usize = 256 << 20;
    let head = format!("POST /upload HTTP/1.1\r\nHost: send.test\r\nContent-Length: {total}\r\n\r\n");
    s.write_all(head.as_bytes()).await.expect("write head");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'z'; 1 << 20];
        for _ in 0..256 {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let t = Instant::now();
    let mut buf = vec![0u8; 256];
    let Ok(read) = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf)).await else {
        panic!("no answer to the stalled upload; stderr:\n{}", sluice.stderr());
    };
    let n = read.expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "send timeout took {took:?}"
    );
    writer.abort();
    deaf_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_service_default_backend_and_custom_errors() {
    let main = Backends::start("main", &["127.0.0.81"]).await;
    let fb = Backends::start("fallback", &["127.0.0.82"]).await;
    let errors = Backends::start("errors", &["127.0.0.83"]).await;
    let down = annotate(
        &ingress("down", "down.test", &[("Prefix", "/", "nothing-ready")]),
        &[("sluice.dev/fallback-service", "fb:80")],
    );
    // 127.0.0.84 refuses connections: every attempt fails, then the fallback gets the request.
    let refused = annotate(
        &ingress("refused", "refused.test", &[("Prefix", "/", "refusing")]),
        &[("sluice.dev/fallback-service", "fb:http")],
    );
    let errs = annotate(
        &ingress("pages", "pages.test", &[("Prefix", "/", "main")]),
        &[
            ("nginx.ingress.kubernetes.io/custom-http-errors", "404,503"),
            ("nginx.ingress.kubernetes.io/default-backend", "errors"),
        ],
    );
    let empty_default = annotate(
        &ingress("nodefault", "nodefault.test", &[("Prefix", "/", "nothing-ready")]),
        &[("nginx.ingress.kubernetes.io/default-backend", "errors")],
    );
    // Sluice's own 503 (no endpoint) and 502 (refused) get the catch-all default backend's page.
    let own = annotate(
        &ingress(
            "own",
            "own.test",
            &[("Prefix", "/empty", "nothing-ready"), ("Prefix", "/refused", "refusing")],
        ),
        &[
            ("nginx.ingress.kubernetes.io/custom-http-errors", "502,503"),
            ("nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "1"),
        ],
    );
    let catch_all = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: catch-all, namespace: demo}\n\
                     spec:\n  ingressClassName: sluice\n  defaultBackend:\n    service: {name: errors, port: {number: 80}}\n"
        .to_owned();
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("own.yaml", own),
        ("catch-all.yaml", catch_all),
        (
            "svc.yaml",
            [
                service("main", main.port, &["127.0.0.81"], true),
                service("fb", fb.port, &["127.0.0.82"], true),
                service("errors", errors.port, &["127.0.0.83"], true),
                service("nothing-ready", main.port, &["127.0.0.81"], false),
                service("refusing", main.port, &["127.0.0.84"], true),
            ]
            .join("---\n"),
        ),
        ("down.yaml", down),
        ("refused.yaml", refused),
        ("pages.yaml", errs),
        ("nodefault.yaml", empty_default),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    for _ in 0..3 {
        assert_eq!(status_of(&c, "GET", "down.test", "/").await, (StatusCode::OK, "fallback".to_owned()));
        assert_eq!(status_of(&c, "GET", "refused.test", "/").await, (StatusCode::OK, "fallback".to_owned()));
    }
    // The counter is written when each request is logged, just after its response.
    let counted = wait_until(Duration::from_secs(3), || async {
        let metrics = sluice.metrics().await;
        let count = |ingress: &str| {
            metrics
                .lines()
                .find(|l| {
                    l.starts_with("sluice_fallback_requests_total")
                        && l.contains(&format!("ingress=\"{ingress}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_owned)
        };
        count("down").as_deref() == Some("3") && count("refused").as_deref() == Some("3")
    })
    .await;
    assert!(counted, "fallback requests counted per Ingress:\n{}", sluice.metrics().await);

    // custom-http-errors: the upstream's 404 is replaced by the error backend's page.
    let req =
        Request::get("/missing?status=404").header("host", "pages.test").header("accept", "application/json");
    let (status, headers, body) =
        c.send(req.body(Full::default()).expect("request")).await.expect("response");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        headers.get("x-backend").map(|v| v.to_str().unwrap_or("")),
        None,
        "the page has no upstream headers"
    );
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("error backend echo");
    assert_eq!(e.backend, "errors");
    let h = |k: &str| e.headers.get(k).cloned().unwrap_or_default();
    assert_eq!(h("x-code"), "404");
    assert_eq!(h("x-format"), "application/json");
    assert_eq!(h("x-original-uri"), "/missing?status=404");
    assert_eq!((h("x-namespace").as_str(), h("x-ingress-name").as_str()), ("demo", "pages"));
    assert_eq!((h("x-service-name").as_str(), h("x-service-port").as_str()), ("main", "80"));
    assert_eq!(h("x-request-id").len(), 32);
    // As nginx's internal redirect to its `@custom_` location (checked against nginx 1.22): the
    // method, the query on `/`, the client's headers and body; its own X- headers win over the
    // client's; the forwarding headers of the normal location are not inherited.
    assert_eq!((e.method.as_str(), e.uri.as_str()), ("GET", "/?status=404"));
    let req = Request::post("/form/deep?status=404&b=2")
        .header("host", "pages.test")
        .header("x-custom", "kept")
        .header("x-code", "999")
        .header("cookie", "session=1")
        .body(Full::from("field=value"))
        .expect("request");
    let (status, _, body) = c.send(req).await.expect("response");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("error backend echo");
    let h = |k: &str| e.headers.get(k).cloned();
    assert_eq!((e.method.as_str(), e.uri.as_str()), ("POST", "/?status=404&b=2"));
    assert_eq!((e.body_len, h("content-length").as_deref()), (11, Some("11")));
    assert_eq!((h("x-custom").as_deref(), h("cookie").as_deref()), (Some("kept"), Some("session=1")));
    assert_eq!(h("x-code").as_deref(), Some("404"), "the client cannot set X-Code");
    assert_eq!(h("x-original-uri").as_deref(), Some("/form/deep?status=404&b=2"));
    assert_eq!(h("host").as_deref(), Some("pages.test"));
    assert_eq!((h("x-format"), h("x-forwarded-for")), (None, None), "no Accept: no X-Format");
    // Codes not listed pass through.
    let (status, backend) = status_of(&c, "GET", "pages.test", "/x?status=418").await;
    assert_eq!((status.as_u16(), backend.as_str()), (418, "main"));

    for (path, code) in [("/empty", 503u16), ("/refused", 502)] {
        let (status, _, body) = c.get("own.test", path).await.expect("response");
        let e: sluice_proxy::echo::Echo =
            serde_json::from_slice(&body).expect("error page from the default backend");
        assert_eq!(
            (status.as_u16(), e.headers.get("x-code").map(String::as_str)),
            (code, Some(code.to_string().as_str()))
        );
    }

    // default-backend serves when the route's Service has no ready endpoint.
    let req = Request::get("/").header("host", "nodefault.test").body(Full::default()).expect("request");
    match c.send(req).await {
        Ok((status, headers, _)) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers.get("x-backend").map(|v| v.to_str().unwrap_or("")), Some("errors"));
        }
        Err(e) => panic!("the default-backend request failed: {e}\n{}", sluice.stderr()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unary_and_streaming_through_backend_protocol_grpc() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("orders", tonic_health::ServingStatus::Serving).await;
    let listener = TcpListener::bind("127.0.0.85:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server =
        tokio::spawn(tonic::transport::Server::builder().add_service(health).serve_with_incoming(incoming));

    let grpc = annotate(
        &ingress("grpc", "grpc.test", &[("Prefix", "/", "health")]),
        &[("nginx.ingress.kubernetes.io/backend-protocol", "GRPC")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("health", port, &["127.0.0.85"], true)),
        ("grpc.yaml", grpc),
    ]);
    let sluice = Sluice::start(dir).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", sluice.http))
        .expect("endpoint")
        .origin("http://grpc.test".parse().expect("origin"))
        .connect()
        .await
        .expect("h2c connection to sluice");
    let mut client = HealthClient::new(channel);

    let reply = client.check(HealthCheckRequest { service: "orders".into() }).await.expect("unary call");
    assert_eq!(reply.into_inner().status(), ServingStatus::Serving);
    let missing = client.check(HealthCheckRequest { service: "nope".into() }).await.expect_err("NOT_FOUND");
    assert_eq!(missing.code(), tonic::Code::NotFound, "grpc-status trailers pass through");

    let mut stream =
        client.watch(HealthCheckRequest { service: "orders".into() }).await.expect("stream").into_inner();
    let first = stream.message().await.expect("first message").expect("some");
    assert_eq!(first.status(), ServingStatus::Serving);
    reporter.set_service_status("orders", tonic_health::ServingStatus::NotServing).await;
    let second = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.expect("in time");
    assert_eq!(second.expect("second message").expect("some").status(), ServingStatus::NotServing);
    server.abort();
}
