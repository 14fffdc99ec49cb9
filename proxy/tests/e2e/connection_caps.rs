//! Connection caps, bounded and on loopback: `max-connections-per-client` refuses a client's
//! extra connection; at `max-worker-connections` the oldest connection still reading its first
//! head makes room for a new one, and when none is left the new one is refused; the refusals are
//! counted by reason.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::support::{config_map, ingress, ingress_class, manifests, service, wait_until, Backends, Sluice};

/// A connection to `to` from the source address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from.parse::<IpAddr>().expect("ip"), 0)).expect("bind");
    socket.connect(to).await.expect("connect")
}

/// Sends one keepalive request; the status code, or None when the connection was closed
/// without an answer.
async fn request(stream: &mut TcpStream) -> Option<u16> {
    stream.write_all(b"GET / HTTP/1.1\r\nHost: caps.test\r\n\r\n").await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.ok()?.ok()?;
    std::str::from_utf8(buf.get(9..12)?).ok().filter(|_| n > 12)?.parse().ok()
}

/// Whether the server closed `stream` (EOF or reset) within 5 s.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

fn refused(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("sluice_connections_refused_total{{reason=\"{reason}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_refuse_per_client_and_make_room_by_closing_the_oldest_unfinished_heads() {
    let backend = Backends::start("capped", &["127.0.0.150"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("capped", backend.port, &["127.0.0.150"], true)),
        ("ing.yaml", ingress("caps", "caps.test", &[("Prefix", "/", "capped")])),
        ("config.yaml", config_map(&[("max-worker-connections", "20"), ("max-connections-per-client", "8")])),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;
    let to = sluice.http;

    // Per client: 8 connections from one address are served, the 9th is closed unanswered;
    // another address is not affected.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = connect_from("127.0.0.151", to).await;
        assert_eq!(request(&mut s).await, Some(200));
        held.push(s);
    }
    let mut ninth = connect_from("127.0.0.151", to).await;
    assert_eq!(request(&mut ninth).await, None, "the 9th connection from one client is refused");
    // 4 connections that never finish their head, then idle ones up to the cap of 20.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from("127.0.0.152", to).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: caps.te").await.expect("partial head");
        slow.push(s);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..8 {
        let mut s = connect_from("127.0.0.153", to).await;
        assert_eq!(request(&mut s).await, Some(200));
        held.push(s);
    }
    // At the cap: each new connection is served in the place of the oldest unfinished head.
    for (i, from) in ["127.0.0.154", "127.0.0.154", "127.0.0.155", "127.0.0.155"].into_iter().enumerate() {
        let mut s = connect_from(from, to).await;
        assert_eq!(request(&mut s).await, Some(200), "new connection {i} at the cap");
        assert!(closed(&mut slow[i]).await, "the oldest unfinished head ({i}) was closed to make room");
        held.push(s);
    }
    // No unfinished head is left: a new connection is refused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from("127.0.0.156", to).await;
    assert_eq!(request(&mut over).await, None, "past the cap with no head to close");
    let counted = wait_until(Duration::from_secs(5), || async {
        let m = sluice.metrics().await;
        refused(&m, "per_client") == 1
            && refused(&m, "unfinished_head_closed") == 4
            && refused(&m, "max_connections") == 1
    })
    .await;
    assert!(counted, "refusals counted by reason:\n{}", sluice.metrics().await);
    // Closing connections frees their places.
    held.truncate(10);
    let reopened = wait_until(Duration::from_secs(5), || async {
        let mut s = connect_from("127.0.0.156", to).await;
        request(&mut s).await == Some(200)
    })
    .await;
    assert!(reopened, "a place freed by a closed connection is taken again");
}
