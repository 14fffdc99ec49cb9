//! Idle keep-alive connections wait for their next request without a session (patched Pingora,
//! `idle_without_session`): plain and TLS connections serve the request after a pause, and are
//! closed, unanswered, at the `keep-alive` timeout.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{config_map, ingress_class, manifests, service, Backends, Sluice};
use super::tls_client::{self, certificate, secret, tls_ingress};

/// Sends `GET /` and reads one whole answer (Content-Length framed); its status.
async fn get<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Option<u16> {
    stream.write_all(b"GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n").await.ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse().ok())?;
        if body.len() >= length {
            return head.get(9..12)?.parse().ok();
        }
    }
}

/// Seconds until the server closes `stream` (EOF or reset), at most 10.
async fn closed_after<S: AsyncRead + Unpin>(stream: &mut S, since: Instant) -> Option<f64> {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => Some(since.elapsed().as_secs_f64()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_serve_their_next_request_and_close_at_the_keepalive_timeout() {
    let backend = Backends::start("idle", &["127.0.0.157"]).await;
    let (cert, key, _) = certificate(&["idle.test"]);
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("idle", backend.port, &["127.0.0.157"], true)),
        (
            "ing.yaml",
            tls_ingress(
                "idle",
                "idle.test",
                "idle",
                Some(("idle-tls", &["idle.test"])),
                &[("nginx.ingress.kubernetes.io/ssl-redirect", "false")],
            ),
        ),
        ("secret.yaml", secret("idle-tls", &cert, &key)),
        ("config.yaml", config_map(&[("keep-alive", "2")])),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;

    let mut plain = TcpStream::connect(sluice.http).await.expect("connect");
    let mut tls = tls_client::connect(sluice.https, "idle.test", &[b"http/1.1"]).await.expect("tls").stream;
    for round in 0..3 {
        assert_eq!(get(&mut plain).await, Some(200), "plain, request {round} after a pause");
        assert_eq!(get(&mut tls).await, Some(200), "TLS, request {round} after a pause");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let since = Instant::now();
    let plain_closed = closed_after(&mut plain, since).await;
    let tls_closed = closed_after(&mut tls, since).await;
    for (name, closed) in [("plain", plain_closed), ("TLS", tls_closed)] {
        let secs = closed.unwrap_or_else(|| panic!("{name}: the idle connection was not closed"));
        // 2 s of keep-alive, of which 0.7 s had passed since the last answer.
        assert!((0.8..4.0).contains(&secs), "{name}: closed {secs:.2} s later, expected about 1.3 s");
    }
}
