//! PROXY protocol v1 and v2 with the real binary: the header's source becomes the client for
//! the forwarding headers and the allow list, on HTTP and before TLS; truncated, oversized,
//! wrong and slow headers close the connection; the ConfigMap switch applies without a restart.

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{
    annotate, config_map, ingress, ingress_class, manifests, service, wait_until, Backends, Sluice,
};
use super::tls_client::{certificate, connect_after, secret, tls_ingress};

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn v2_tcp4(src: [u8; 4], sport: u16) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&443u16.to_be_bytes());
    h
}

/// Sends `preamble` then a GET for `host`, and returns the raw answer ("" when the connection
/// was closed without one).
async fn raw(sluice: &Sluice, preamble: &[u8], host: &str) -> String {
    let mut s = TcpStream::connect(sluice.http).await.expect("connect");
    s.write_all(preamble).await.expect("write");
    let req = format!("GET /pp HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A header the echo backend saw, from a raw `Connection: close` answer.
fn header(answer: &str, name: &str) -> Option<String> {
    let body = answer.split("\r\n\r\n").nth(1)?;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["headers"][name].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_v1_and_v2_set_the_client_and_bad_headers_close_the_connection() {
    let b = Backends::start("pp", &["127.0.0.121"]).await;
    let (cert, key, _) = certificate(&["pp.test"]);
    let allow = annotate(
        &ingress("allowed", "allowed.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/whitelist-source-range", "203.0.113.0/24")],
    );
    let config = |on: &str| {
        config_map(&[
            ("use-proxy-protocol", on),
            ("proxy-protocol-header-timeout", "1"),
            ("ssl-redirect", "false"),
        ])
    };
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.121"], true)),
        ("pp.yaml", tls_ingress("pp", "pp.test", "web", Some(("pp-tls", &["pp.test"])), &[])),
        ("secret.yaml", secret("pp-tls", &cert, &key)),
        ("allow.yaml", allow),
        ("config.yaml", config("true")),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;

    let answer = raw(&sluice, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n", "pp.test").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(header(&answer, "x-real-ip").as_deref(), Some("203.0.113.7"));
    assert_eq!(header(&answer, "x-forwarded-for").as_deref(), Some("203.0.113.7"));
    let answer = raw(&sluice, &v2_tcp4([198, 51, 100, 3], 4444), "pp.test").await;
    assert_eq!(header(&answer, "x-real-ip").as_deref(), Some("198.51.100.3"), "{answer}");

    // The allow list judges the PROXY source, not the balancer's address.
    assert!(raw(&sluice, b"PROXY TCP4 203.0.113.9 127.0.0.1 1 80\r\n", "allowed.test")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(raw(&sluice, &v2_tcp4([198, 51, 100, 3], 1), "allowed.test").await.starts_with("HTTP/1.1 403"));

    // Before TLS: the header, then the handshake.
    let tls = connect_after(sluice.https, "pp.test", &[b"http/1.1"], &v2_tcp4([203, 0, 113, 44], 7)).await;
    let tls = tls.expect("TLS after a PROXY v2 header");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls.stream)).await.expect("http1");
    tokio::spawn(conn);
    let req =
        Request::get("/tls").header("host", "pp.test").body(Full::<bytes::Bytes>::default()).expect("req");
    let resp = sender.send_request(req).await.expect("response");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert_eq!(e.headers.get("x-real-ip").map(String::as_str), Some("203.0.113.44"));
    assert_eq!(e.headers.get("x-forwarded-proto").map(String::as_str), Some("https"));
    assert!(
        connect_after(sluice.https, "pp.test", &[b"http/1.1"], b"").await.is_err(),
        "TLS without a header"
    );

    // Refused: no header, truncated, oversized v1, oversized v2, wrong v2 signature.
    assert_eq!(raw(&sluice, b"", "pp.test").await, "", "a plain request is not a header");
    let mut truncated = TcpStream::connect(sluice.http).await.expect("connect");
    truncated.write_all(b"PROXY TCP4 203.0.113.7").await.expect("write");
    truncated.shutdown().await.expect("half close");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), truncated.read_to_end(&mut out)).await;
    assert!(out.is_empty(), "truncated header: {:?}", String::from_utf8_lossy(&out));
    let long = format!("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80{}\r\n", " ".repeat(100));
    assert_eq!(raw(&sluice, long.as_bytes(), "pp.test").await, "");
    let mut big = V2_SIGNATURE.to_vec();
    big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    assert_eq!(raw(&sluice, &big, "pp.test").await, "");
    let mut wrong = v2_tcp4([203, 0, 113, 7], 1);
    wrong[5] = b'X';
    assert_eq!(raw(&sluice, &wrong, "pp.test").await, "");

    // Slowloris: a header trickling in is cut at proxy-protocol-header-timeout (1 s).
    let mut slow = TcpStream::connect(sluice.http).await.expect("connect");
    let t = Instant::now();
    slow.write_all(b"PROXY TCP4 ").await.expect("write");
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(4), async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"1").await.is_err() {
                return;
            }
            if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow header was not cut");
    assert!(t.elapsed() >= Duration::from_millis(900), "cut after {:?}", t.elapsed());

    // Switched off in the ConfigMap: plain requests work again, without a restart.
    sluice.write("config.yaml", &config("false"));
    let back = wait_until(Duration::from_secs(5), || async {
        raw(&sluice, b"", "pp.test").await.starts_with("HTTP/1.1 200")
    })
    .await;
    assert!(back, "use-proxy-protocol: false applies to new connections");
}
