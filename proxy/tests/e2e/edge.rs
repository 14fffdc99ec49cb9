//! The edge, end to end: the client address behind trusted and untrusted proxies, allow and
//! deny lists (IPv4 and IPv6), and the rate and connection limits, with requests from several
//! 127.0.0.x client addresses.

use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::Full;

use super::support::{
    annotate, config_map, ingress, ingress_class, manifests, service, Backends, Client, Sluice,
};

async fn get(
    c: &Client,
    host: &str,
    path: &str,
    xff: Option<&str>,
) -> (StatusCode, Option<sluice_proxy::echo::Echo>) {
    let headers: Vec<(&str, &str)> = xff.map(|x| ("x-forwarded-for", x)).into_iter().collect();
    let (status, _, body) = c.get_with(host, path, &headers).await;
    (status, serde_json::from_slice(&body).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_forwarded_for_and_source_ranges() {
    let b = Backends::start("edge", &["127.0.0.101"]).await;
    let allow = annotate(
        &ingress("allow", "allow.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/whitelist-source-range", "127.0.0.102/32, 2001:db8::/32")],
    );
    let deny = annotate(
        &ingress("deny", "deny.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/denylist-source-range", "127.0.0.103, 2001:db8:bad::/48")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.101"], true)),
        ("allow.yaml", allow),
        ("deny.yaml", deny),
        (
            "config.yaml",
            config_map(&[("use-forwarded-headers", "true"), ("proxy-real-ip-cidr", "127.0.0.1/32")]),
        ),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;
    let trusted = Client::from_address(sluice.http, "127.0.0.1");
    let untrusted = Client::from_address(sluice.http, "127.0.0.102");
    let denied = Client::from_address(sluice.http, "127.0.0.103");
    let other = Client::from_address(sluice.http, "127.0.0.104");

    // A trusted peer reports an IPv6 client inside the allowed range.
    let (status, echo) = get(&trusted, "allow.test", "/", Some("198.51.100.9, 2001:db8::5")).await;
    assert_eq!(status, StatusCode::OK);
    let e = echo.expect("echo");
    assert_eq!(e.headers.get("x-real-ip").map(String::as_str), Some("2001:db8::5"));
    assert_eq!(
        e.headers.get("x-forwarded-for").map(String::as_str),
        Some("198.51.100.9, 2001:db8::5, 127.0.0.1"),
        "the peer is appended (compute-full-forwarded-for)"
    );
    assert_eq!(get(&trusted, "allow.test", "/", Some("2001:db9::1")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&trusted, "allow.test", "/", None).await.0, StatusCode::FORBIDDEN, "the peer itself");

    // An untrusted peer's header is ignored: it is judged by its own address.
    let (status, echo) = get(&untrusted, "allow.test", "/", Some("2001:db9::1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo.expect("echo").headers.get("x-real-ip").map(String::as_str), Some("127.0.0.102"));
    assert_eq!(get(&other, "allow.test", "/", Some("2001:db8::5")).await.0, StatusCode::FORBIDDEN);

    assert_eq!(
        get(&denied, "deny.test", "/", Some("127.0.0.9")).await.0,
        StatusCode::FORBIDDEN,
        "no spoofing"
    );
    assert_eq!(get(&other, "deny.test", "/", None).await.0, StatusCode::OK);
    assert_eq!(get(&trusted, "deny.test", "/", Some("2001:db8:bad::1")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&trusted, "deny.test", "/", Some("2001:db8:600d::1")).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_connection_limits_per_client() {
    let b = Backends::start("limited", &["127.0.0.105"]).await;
    let rps = annotate(
        &ingress("rps", "rps.test", &[("Prefix", "/", "web")]),
        &[
            ("nginx.ingress.kubernetes.io/limit-rps", "2"),
            ("nginx.ingress.kubernetes.io/limit-burst-multiplier", "2"),
            ("nginx.ingress.kubernetes.io/limit-whitelist", "127.0.0.113"),
        ],
    );
    let rpm = annotate(
        &ingress("rpm", "rpm.test", &[("Prefix", "/", "web")]),
        &[
            ("nginx.ingress.kubernetes.io/limit-rpm", "3"),
            ("nginx.ingress.kubernetes.io/limit-burst-multiplier", "1"),
        ],
    );
    let conns = annotate(
        &ingress("conns", "conns.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/limit-connections", "1")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.105"], true)),
        ("rps.yaml", rps),
        ("rpm.yaml", rpm),
        ("conns.yaml", conns),
        ("config.yaml", config_map(&[("limit-req-status-code", "429")])),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;

    // A burst of rate x multiplier, plus one, passes at once; then 429 (limit-req-status-code).
    for ip in ["127.0.0.111", "127.0.0.112"] {
        let c = Client::from_address(sluice.http, ip);
        let mut statuses = Vec::new();
        for _ in 0..8 {
            statuses.push(get(&c, "rps.test", "/", None).await.0.as_u16());
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429], "client {ip}");
    }
    let exempt = Client::from_address(sluice.http, "127.0.0.113");
    for _ in 0..20 {
        assert_eq!(get(&exempt, "rps.test", "/", None).await.0, StatusCode::OK, "limit-whitelist");
    }
    // The bucket refills at the rate: one request per 500 ms.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = Client::from_address(sluice.http, "127.0.0.111");
    assert_eq!(get(&c, "rps.test", "/", None).await.0, StatusCode::OK);
    assert_eq!(get(&c, "rps.test", "/", None).await.0.as_u16(), 429);

    let c = Client::from_address(sluice.http, "127.0.0.114");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&c, "rpm.test", "/", None).await.0.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "limit-rpm 3 with a burst of 3");

    // limit-connections: a second request while one is in flight gets 503.
    let slow = Client::from_address(sluice.http, "127.0.0.115");
    let in_flight = tokio::spawn({
        let slow = slow.clone();
        async move { get(&slow, "conns.test", "/?delay_ms=1500", None).await.0 }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = Client::from_address(sluice.http, "127.0.0.115");
    assert_eq!(get(&second, "conns.test", "/", None).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let neighbour = Client::from_address(sluice.http, "127.0.0.116");
    assert_eq!(
        get(&neighbour, "conns.test", "/", None).await.0,
        StatusCode::OK,
        "other clients are not affected"
    );
    assert_eq!(in_flight.await.expect("task"), StatusCode::OK);
    assert_eq!(get(&second, "conns.test", "/", None).await.0, StatusCode::OK, "the slot was released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_size_limits_follow_large_client_header_buffers() {
    let b = Backends::start("headers", &["127.0.0.106"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.106"], true)),
        ("ing.yaml", ingress("h", "h.test", &[("Prefix", "/", "web")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let send = |path: String, headers: Vec<(String, String)>| {
        let c = c.clone();
        async move {
            let mut req = Request::get(path).header("host", "h.test");
            for (k, v) in headers {
                req = req.header(k, v);
            }
            c.send(req.body(Full::default()).expect("request")).await.expect("response").0
        }
    };
    let big = |n: usize| "x".repeat(n);
    assert_eq!(send("/".into(), vec![("x-a".into(), big(7000))]).await, StatusCode::OK);
    assert_eq!(
        send("/".into(), vec![("x-a".into(), big(9000))]).await,
        StatusCode::BAD_REQUEST,
        "one line over 8k"
    );
    let many = (0..5).map(|i| (format!("x-{i}"), big(7000))).collect();
    assert_eq!(send("/".into(), many).await, StatusCode::BAD_REQUEST, "over 4 x 8k in all");
    assert_eq!(send(format!("/{}", big(9000)), vec![]).await, StatusCode::URI_TOO_LONG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_rate_slows_response_bodies_after_the_free_allowance() {
    let b = Backends::start("big", &["127.0.0.140"]).await;
    let slow = annotate(
        &ingress("slow", "slow.test", &[("Prefix", "/", "big")]),
        &[
            ("nginx.ingress.kubernetes.io/limit-rate", "8"),
            ("nginx.ingress.kubernetes.io/limit-rate-after", "16"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("big", b.port, &["127.0.0.140"], true)),
        ("slow.yaml", slow),
        ("fast.yaml", ingress("fast", "fast.test", &[("Prefix", "/", "big")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let timed = |host: &'static str, bytes: usize| {
        let c = &c;
        async move {
            let started = std::time::Instant::now();
            let (status, _, body) = c.get(host, &format!("/?bytes={bytes}")).await.expect("response");
            assert_eq!((status, body.len()), (StatusCode::OK, bytes), "{host}");
            started.elapsed()
        }
    };
    // 16 KiB go at full speed, the next 16 KiB at 8 KiB/s: at least 2 s in all.
    let limited = timed("slow.test", 32 * 1024).await;
    assert!(limited >= Duration::from_millis(1900), "the limited body took only {limited:?}");
    let free = timed("slow.test", 16 * 1024).await;
    let unlimited = timed("fast.test", 32 * 1024).await;
    assert!(free < limited && unlimited < limited, "{free:?} / {unlimited:?} vs {limited:?}");
}
