//! `client-header-timeout` for new plain connections: the first request head must arrive, from
//! accept to its blank line, within the timeout, or the connection is closed without an answer
//! (as nginx closes it). This also bounds a connection that never sends a byte.
//!
//! The head is read here into a buffer that grows with what arrives (a slow client costs what
//! it has sent, not a full read buffer), then handed back to the stream
//! ([`pingora::protocols::l4::stream::Stream::rewind`]) for Pingora to parse: one read of the
//! head either way, so the system calls per request do not change. Later requests on a
//! keep-alive connection wait under `keep-alive`, as Pingora applies it per read.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// How much is read at a time while a head is incomplete.
const STEP: usize = 2048;

/// Reads from `stream` until the bytes hold a complete request head (a blank line, CRLF or
/// bare LF as nginx accepts; the HTTP/2 preface has one too) or `max` bytes, within `timeout`.
/// `None` when the time ran out, the client closed, or reading failed.
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S, timeout: Duration, max: usize) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        buf.reserve(STEP.min(max.saturating_sub(buf.len())).max(1));
        let scanned = buf.len().saturating_sub(3);
        let n = match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => return None,
        };
        if n == 0 {
            return None;
        }
        if complete(&buf[scanned..]) || buf.len() >= max {
            return Some(buf);
        }
    }
}

/// Whether `bytes` contain the end of a head.
fn complete(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"\r\n\r\n") || bytes.windows(2).any(|w| w == b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_head_sent_in_pieces_is_returned_whole() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for piece in [&b"GET / HTTP/1.1\r"[..], b"\nHost: a\r\n", b"\r", b"\nbody"] {
                client.write_all(piece).await.expect("write");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            client
        });
        let head = read(&mut server, Duration::from_secs(5), 1 << 16).await.expect("head");
        assert!(head.starts_with(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        drop(writer.await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_client_is_cut_off_at_the_deadline() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for b in b"GET / HTTP/1.1\r\nHost: a\r\n".iter() {
                if client.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let started = Instant::now();
        assert!(read(&mut server, Duration::from_secs(3), 1 << 16).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        writer.abort();
    }

    #[tokio::test]
    async fn a_client_that_closes_early_gets_nothing() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET /").await.expect("write");
        drop(client);
        assert!(read(&mut server, Duration::from_secs(1), 1 << 16).await.is_none());
    }
}
