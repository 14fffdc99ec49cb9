//! PROXY protocol on Sluice's listeners, switched by the ConfigMap's `use-proxy-protocol` and
//! read from the live table for every new connection (no restart, no listener rebuild).
//!
//! * Plain HTTP: [`ProxyProtocolApp`] wraps the HTTP application and reads the header before
//!   the first request of a connection, then the first request head under
//!   `client-header-timeout` ([`crate::first_head`]).
//! * HTTPS: [`PreTlsProxyProtocol`] is Pingora's pre-TLS hook; the header comes before the
//!   ClientHello.
//!
//! The header's source address replaces the connection's peer address in its socket digest, so
//! that everything downstream (forwarding headers, access log, allow lists, limits) sees the
//! client. A connection with a missing, malformed, oversized or slow header is closed.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest, Stream};
use pingora::server::ShutdownWatch;
use sluice_controller::Publisher;

use crate::connections::{Admitted, Connections, Limits};
use crate::proxy_protocol::{self, HeaderError, Source};

/// Reads the PROXY header when the live settings ask for it; `Ok(None)` when they do not.
async fn read_if_enabled<S>(publisher: &Publisher, stream: &mut S) -> Result<Option<Source>, HeaderError>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let deadline = {
        let live = publisher.load();
        let client = &live.table.settings.client;
        if !client.use_proxy_protocol {
            return Ok(None);
        }
        client.proxy_protocol_timeout
    };
    proxy_protocol::read_header(stream, deadline).await.map(Some)
}

/// A socket digest for the connection on `fd` whose peer is `source`.
fn digest_with_peer(fd: std::os::unix::io::RawFd, source: std::net::SocketAddr) -> SocketDigest {
    let digest = SocketDigest::from_raw_fd(fd);
    let _ = digest.peer_addr.set(Some(PingoraAddr::Inet(source)));
    digest
}

fn refused(error: &HeaderError) {
    tracing::debug!(%error, "Connection closed: bad PROXY protocol header");
}

/// What a new connection is held to until its first request head is read.
struct FirstHead {
    limits: Limits,
    timeout: std::time::Duration,
    max: usize,
}

/// The HTTP application behind a PROXY protocol reader for plain connections, and the
/// connection caps for all of them.
pub struct ProxyProtocolApp<A> {
    inner: Arc<A>,
    publisher: Arc<Publisher>,
    connections: Arc<Connections>,
    threads: usize,
}

impl<A> ProxyProtocolApp<A> {
    /// Wraps `inner`; `publisher` gives the live `use-proxy-protocol` setting and connection
    /// caps (`max-worker-connections` counts per worker: `threads` of them).
    pub fn new(inner: A, publisher: Arc<Publisher>, connections: Arc<Connections>, threads: usize) -> Self {
        ProxyProtocolApp { inner: Arc::new(inner), publisher, connections, threads }
    }

    /// The settings a new connection is held to, read once from the live table: its caps, and
    /// `client-header-timeout` with the longest head for its first request.
    fn settings(&self) -> FirstHead {
        let live = self.publisher.load();
        let s = &live.table.settings;
        FirstHead {
            limits: Limits {
                connections: s.max_worker_connections.saturating_mul(self.threads),
                per_client: s.max_connections_per_client,
                unfinished_heads: s.max_unfinished_heads,
            },
            timeout: s.client_header_timeout,
            max: s.header_total_max + s.header_line_max,
        }
    }

    /// The wrapped application (to configure it before the service starts).
    pub fn inner_mut(&mut self) -> Option<&mut A> {
        Arc::get_mut(&mut self.inner)
    }

    /// Reads the first request head of a plain TCP connection under `client-header-timeout`
    /// and puts it back for Pingora to parse; `None` (close) when it does not arrive in time.
    async fn wait_for_head(&self, mut stream: Stream, first: &FirstHead) -> Option<Stream> {
        if !stream.as_any().is::<L4Stream>() {
            return Some(stream);
        }
        let slot = self.connections.reading_head(first.limits);
        let head = tokio::select! {
            head = crate::first_head::read(&mut stream, first.timeout, first.max) => head,
            () = slot.evicted() => {
                tracing::debug!("Connection closed: still reading its first head at the connection cap");
                return None;
            }
        };
        drop(slot);
        let Some(head) = head else {
            tracing::debug!("Connection closed: no complete request head within client-header-timeout");
            return None;
        };
        // Checked above: the stream is an L4 stream.
        let mut l4 = stream.into_any().downcast::<L4Stream>().ok()?;
        l4.rewind(&head);
        Some(l4)
    }

    /// Reads the PROXY header on a new plain connection (TLS ones were handled before the
    /// handshake), admits it under the connection caps, and reads its first request head;
    /// `None` (close) when any of these fails. The admission lasts as long as what it returns.
    async fn admit(&self, mut stream: Stream) -> Option<(Stream, Admitted)> {
        if stream.get_ssl().is_none() {
            match read_if_enabled(&self.publisher, &mut stream).await {
                Ok(Some(Some(source))) => {
                    let fd =
                        stream.as_any().downcast_ref::<L4Stream>().map(std::os::unix::io::AsRawFd::as_raw_fd);
                    if let Some(fd) = fd {
                        stream.set_socket_digest(digest_with_peer(fd, source));
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    refused(&error);
                    return None;
                }
            }
        }
        let first = self.settings();
        let client =
            stream.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let admitted = match self.connections.admit(client, first.limits) {
            Ok(admitted) => admitted,
            Err(reason) => {
                tracing::debug!(client = ?client, reason = reason.label(), "Connection refused at its cap");
                return None;
            }
        };
        if stream.get_ssl().is_none() {
            stream = self.wait_for_head(stream, &first).await?;
        }
        Some((stream, admitted))
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for ProxyProtocolApp<A> {
    /// Admits the connection ([`Self::admit`]), then serves every request of it.
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        // Boxed and freed once the first head is in: what admission awaits (the PROXY header,
        // the first head under its timeout) would otherwise keep its room in the connection's
        // future for the connection's whole life.
        let (stream, _admitted) = Box::pin(self.admit(stream)).await?;
        let mut next = self.inner.process_new(stream, shutdown).await;
        while let Some(stream) = next {
            next = self.inner.process_new(stream, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Pingora's pre-TLS hook reading the PROXY header on HTTPS connections.
pub struct PreTlsProxyProtocol {
    publisher: Arc<Publisher>,
}

impl PreTlsProxyProtocol {
    /// A hook reading the live `use-proxy-protocol` setting from `publisher`.
    pub fn new(publisher: Arc<Publisher>) -> Self {
        PreTlsProxyProtocol { publisher }
    }
}

#[async_trait]
impl PreTlsProcess for PreTlsProxyProtocol {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        match read_if_enabled(&self.publisher, stream).await {
            Ok(Some(Some(source))) => {
                let fd = std::os::unix::io::AsRawFd::as_raw_fd(&*stream);
                stream.set_socket_digest(digest_with_peer(fd, source));
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => {
                refused(&error);
                pingora::Error::e_explain(pingora::ErrorType::AcceptError, "bad PROXY protocol header")
            }
        }
    }
}
