//! The edge against hostile input: a path-scoped control (basic auth, an allow-list, a rate
//! limit; on Prefix, Exact and regex paths) cannot be sidestepped by spelling the path another
//! way; invalid hosts are refused and absolute-form targets route by their authority; clients
//! cannot create metric series; slow clients are cut off while others are served.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{
    annotate, config_map, ingress, ingress_class, manifests, opaque_secret, raw_exchange, service, Backends,
    Sluice,
};

/// Ways of writing `path` (which starts with `/` and a letter) that nginx reads as `path`.
fn spellings(path: &str) -> Vec<String> {
    let rest = &path[1..];
    let first = rest.as_bytes()[0];
    let encoded_first = format!("/%{first:02x}{}", &rest[1..]);
    let mut all = vec![
        path.to_owned(),
        format!("/{path}"),
        format!("//{rest}"),
        format!("/.{path}"),
        format!("/./{rest}"),
        format!("/x/..{path}"),
        format!("/x/y/../..{path}"),
        encoded_first.clone(),
        format!("/%{first:02X}{}", &rest[1..]),
        format!("/%2e{path}"),
        format!("/%2E/{rest}"),
        format!("/x/%2e%2e{path}"),
        format!("/x/.%2e{path}"),
        format!("/x%2f..%2f{rest}"),
        format!("/%2f{rest}"),
        format!("{path}?x=1"),
        format!("/.//./x/../{rest}"),
    ];
    // The last segment's last letter encoded as well.
    let last = path.len() - 1;
    if path.as_bytes()[last].is_ascii_alphanumeric() {
        all.push(format!("{}%{:02x}", &path[..last], path.as_bytes()[last]));
    }
    all
}

async fn get_raw(addr: SocketAddr, host: &str, target: &str, extra: &str) -> u16 {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    match raw_exchange(addr, request.as_bytes()).await {
        Ok((status, _)) => status,
        Err(e) => panic!("{host} {target}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_paths_cannot_be_reached_by_another_spelling() {
    let b = Backends::start("web", &["127.0.0.141"]).await;
    let basic = [
        ("nginx.ingress.kubernetes.io/auth-type", "basic"),
        ("nginx.ingress.kubernetes.io/auth-secret", "htpasswd"),
    ];
    let regex = ("nginx.ingress.kubernetes.io/use-regex", "true");
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.141"], true)),
        ("secret.yaml", opaque_secret("htpasswd", &[("auth", "alice:{PLAIN}pw")])),
        ("open.yaml", ingress("open", "sec.test", &[("Prefix", "/", "web")])),
        ("admin.yaml", annotate(&ingress("admin", "sec.test", &[("Prefix", "/admin", "web")]), &basic)),
        (
            "secret-path.yaml",
            annotate(
                &ingress("exact", "sec.test", &[("Exact", "/secret/file", "web")]),
                &[("nginx.ingress.kubernetes.io/allowlist-source-range", "10.0.0.0/8")],
            ),
        ),
        (
            "limited.yaml",
            annotate(
                &ingress("limited", "sec.test", &[("Prefix", "/limited", "web")]),
                &[
                    ("nginx.ingress.kubernetes.io/limit-rps", "1"),
                    ("nginx.ingress.kubernetes.io/limit-burst-multiplier", "2"),
                ],
            ),
        ),
        (
            "rx-open.yaml",
            annotate(&ingress("rx-open", "rx.test", &[("ImplementationSpecific", "/", "web")]), &[regex]),
        ),
        (
            "rx-private.yaml",
            annotate(
                &ingress("rx-private", "rx.test", &[("ImplementationSpecific", "/private/[0-9]+", "web")]),
                &[regex, basic[0], basic[1]],
            ),
        ),
    ]);
    let sluice = Sluice::start(dir).await;
    let at = sluice.http;
    let alice = "Authorization: Basic YWxpY2U6cHc=\r\n";

    assert_eq!(get_raw(at, "sec.test", "/public", "").await, 200, "the open route serves");
    for spelling in spellings("/admin/page") {
        assert_eq!(get_raw(at, "sec.test", &spelling, "").await, 401, "Prefix with auth: {spelling}");
        assert_eq!(get_raw(at, "sec.test", &spelling, alice).await, 200, "with credentials: {spelling}");
    }
    for spelling in spellings("/secret/file") {
        assert_eq!(get_raw(at, "sec.test", &spelling, "").await, 403, "Exact with an allow-list: {spelling}");
    }
    for spelling in spellings("/private/42") {
        assert_eq!(get_raw(at, "rx.test", &spelling, "").await, 401, "regex with auth: {spelling}");
    }
    assert_eq!(get_raw(at, "rx.test", "/private/x", "").await, 200, "the regex does not match letters");

    // limit-rps 1 with burst 2: three requests pass at once, whatever their spelling.
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for spelling in spellings("/limited/x").into_iter().take(10) {
            out.push(get_raw(at, "sec.test", &spelling, "").await);
        }
        out
    };
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!(passed <= 4, "at most burst + 1 (+1 for a second boundary) pass: {statuses:?}");
    assert!(statuses.contains(&503), "the rest are refused: {statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_hosts_are_refused_and_absolute_form_routes_by_its_authority() {
    let b = Backends::start("web", &["127.0.0.142"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.142"], true)),
        ("secret.yaml", opaque_secret("htpasswd", &[("auth", "alice:{PLAIN}pw")])),
        ("open.yaml", ingress("open", "open.test", &[("Prefix", "/", "web")])),
        (
            "admin.yaml",
            annotate(
                &ingress("admin", "auth.test", &[("Prefix", "/", "web")]),
                &[
                    ("nginx.ingress.kubernetes.io/auth-type", "basic"),
                    ("nginx.ingress.kubernetes.io/auth-secret", "htpasswd"),
                ],
            ),
        ),
    ]);
    let sluice = Sluice::start(dir).await;
    let at = sluice.http;
    let send = |request: String| async move { raw_exchange(at, request.as_bytes()).await.expect("answer") };

    for host in
        ["a b", "open.test:99999", "open.test:8x", "open..test", "", ":80", "open.test/x", "u@open.test"]
    {
        let (status, _) = send(format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")).await;
        assert_eq!(status, 400, "Host {host:?}");
    }
    let (status, _) = send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n".into()).await;
    assert_eq!(status, 400, "HTTP/1.1 without Host");
    let (status, _) =
        send("GET / HTTP/1.1\r\nHost: open.test\r\nHost: auth.test\r\nConnection: close\r\n\r\n".into())
            .await;
    assert_eq!(status, 400, "two Host headers");
    let (status, _) = send("GET / HTTP/1.1\r\nHost: Open.Test.:80\r\nConnection: close\r\n\r\n".into()).await;
    assert_eq!(status, 200, "case, a trailing dot and a port are fine");

    // The request line's authority wins over the Host header, for routing and upstream.
    let (status, _) =
        send("GET http://auth.test/x HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n".into()).await;
    assert_eq!(status, 401, "routed by the absolute-form authority");
    let (status, text) = send(
        "GET http://open.test/a/../p?q=1 HTTP/1.1\r\nHost: auth.test\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert_eq!(status, 200);
    let body = &text[text.find('{').expect("echo body")..];
    let echo: sluice_proxy::echo::Echo = serde_json::from_str(body).expect("echo");
    assert_eq!(echo.uri, "/a/../p?q=1", "origin form of the client's target goes upstream");
    assert_eq!(echo.headers.get("host").map(String::as_str), Some("open.test"));
    let (status, _) =
        send("GET http://bad..host/ HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n".into()).await;
    assert_eq!(status, 400, "an invalid authority in the request line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_do_not_create_metric_series() {
    let b = Backends::start("web", &["127.0.0.143"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.143"], true)),
        ("open.yaml", ingress("open", "m.test", &[("Prefix", "/", "web")])),
    ]);
    let sluice = Sluice::start(dir).await;
    for i in 0..300 {
        let request = format!("M{i}X /x{i} HTTP/1.1\r\nHost: m.test\r\nConnection: close\r\n\r\n");
        raw_exchange(sluice.http, request.as_bytes()).await.expect("answer");
    }
    let request = "GET /y HTTP/1.1\r\nHost: unknown-host.test\r\nConnection: close\r\n\r\n";
    raw_exchange(sluice.http, request.as_bytes()).await.expect("answer");
    let metrics = sluice.metrics().await;
    let series: Vec<&str> =
        metrics.lines().filter(|l| l.starts_with("nginx_ingress_controller_requests{")).collect();
    assert!(!series.is_empty());
    assert!(series.len() <= 3, "one series per (route, status, method class): {series:#?}");
    assert!(series.iter().any(|l| l.contains("method=\"OTHER\"")), "{series:#?}");
    assert!(!metrics.contains("M17X") && !metrics.contains("unknown"), "no client text in label values");
}

/// Open file descriptors this process may have (the test holds one per slow connection).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_at_the_header_timeout_and_others_are_served() {
    // 5,000 as the issue asks, fewer only where the descriptor limit cannot hold them.
    let wanted: usize =
        std::env::var("SLUICE_SLOW_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let slow = wanted.min(open_files_limit().saturating_sub(200) / 2);
    let b = Backends::start("web", &["127.0.0.144"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("config.yaml", config_map(&[("client-header-timeout", "3")])),
        ("svc.yaml", service("web", b.port, &["127.0.0.144"], true)),
        ("open.yaml", ingress("open", "slow.test", &[("Prefix", "/", "web")])),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;
    let at = sluice.http;

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(slow);
    for _ in 0..slow {
        // Taken before connecting, so that it is no later than Sluice's accept.
        let opened = Instant::now();
        let mut stream = TcpStream::connect(at).await.expect("connect");
        tasks.push(tokio::spawn(async move {
            let head = b"GET / HTTP/1.1\r\nHost: slow.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            trickle(&mut stream, head, 200, Duration::from_millis(400), opened).await
        }));
    }
    eprintln!("{slow} slow connections open after {:?}", started.elapsed());

    // Meanwhile other clients are served.
    let client = sluice.client();
    for _ in 0..10 {
        assert_eq!(client.get("slow.test", "/fast").await.expect("served").0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut closed = Vec::with_capacity(slow);
    for task in tasks {
        closed.push(task.await.expect("task"));
    }
    let cut: Vec<Duration> = closed.iter().flatten().copied().collect();
    assert_eq!(cut.len(), slow, "every slow connection is closed by the server");
    let earliest = cut.iter().min().copied().unwrap_or_default();
    let latest = cut.iter().max().copied().unwrap_or_default();
    eprintln!("closed between {earliest:?} and {latest:?} after opening");
    assert!(earliest >= Duration::from_millis(2_900), "not before the timeout: {earliest:?}");
    assert!(latest < Duration::from_secs(30), "all well before the trickle ends: {latest:?}");
    // And a fresh client is still served.
    assert_eq!(client.get("slow.test", "/after").await.expect("served").0, StatusCode::OK);
}

/// Sends `bytes` bytes of `head` (repeated) one at a time, `pause` apart, until the server
/// closes the connection: the time from `since` to the close, or `None` when the server never
/// closed it or answered the unfinished head.
async fn trickle(
    stream: &mut TcpStream,
    head: &[u8],
    bytes: usize,
    pause: Duration,
    since: Instant,
) -> Option<Duration> {
    let mut buf = [0u8; 64];
    for byte in head.iter().cycle().take(bytes) {
        if stream.write_all(&[*byte]).await.is_err() {
            return Some(since.elapsed());
        }
        if let Ok(read) = tokio::time::timeout(pause, stream.read(&mut buf)).await {
            return match read {
                Ok(0) | Err(_) => Some(since.elapsed()),
                Ok(_) => None,
            };
        }
    }
    None
}

/// Reads one HTTP/1.1 response with a Content-Length from `stream`; its status.
async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("read response");
        assert!(n > 0, "closed before a whole response");
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            return head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_connection_trickling_its_next_head_is_cut_off() {
    let b = Backends::start("web", &["127.0.0.145"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("config.yaml", config_map(&[("client-header-timeout", "2"), ("keep-alive", "75")])),
        ("svc.yaml", service("web", b.port, &["127.0.0.145"], true)),
        ("open.yaml", ingress("open", "ka.test", &[("Prefix", "/", "web")])),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(sluice.http).await.expect("connect");
        tasks.push(tokio::spawn(async move {
            stream.write_all(b"GET /first HTTP/1.1\r\nHost: ka.test\r\n\r\n").await.expect("write");
            assert_eq!(read_response(&mut stream).await, 200, "the first request is served");
            // The next head starts, then trickles.
            let started = Instant::now();
            let head = b"GET /second HTTP/1.1\r\nHost: ka.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa";
            trickle(&mut stream, head, 100, Duration::from_millis(300), started).await
        }));
    }
    for task in tasks {
        let cut = task.await.expect("task").expect("the server closes the trickling connection");
        assert!(cut >= Duration::from_millis(1_900), "not before client-header-timeout: {cut:?}");
        assert!(cut < Duration::from_secs(15), "well before the trickle ends: {cut:?}");
    }
}
