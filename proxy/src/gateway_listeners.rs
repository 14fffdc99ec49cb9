//! The sockets of Gateway listeners, opened and closed as the published table changes, with
//! no restart and without touching other sockets' connections.
//!
//! Pingora's listeners are fixed when the server starts, so Gateway sockets have their own
//! accept loops in a background service. Each accepted connection goes through the same
//! application as the Ingress listeners' (PROXY protocol, connection caps, first-head timeout,
//! the router), and HTTPS ones through a TLS acceptor with the same SNI resolver. A socket
//! whose address and port an Ingress listener already covers is not opened: that listener
//! serves it (the router picks Gateway routes by the connection's local address).
//!
//! Sockets are bound with `SO_REUSEPORT` and `IP_FREEBIND`, so a standby node can hold a VIP's
//! socket before Keepalived moves the address to it. Closing a socket stops new connections;
//! those already accepted run to their end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::listener::Listener as L4Listener;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use sluice_controller::table::GatewayListener;
use sluice_controller::Publisher;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::listener::PreTlsProxyProtocol;

/// How often a socket that could not be opened is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// The listen backlog of a Gateway socket.
const BACKLOG: i32 = 1024;

/// The background service that keeps Gateway sockets in line with the live table.
pub struct GatewaySockets<A> {
    publisher: Arc<Publisher>,
    app: Arc<A>,
    tls: Arc<Acceptor>,
    pre_tls: Arc<PreTlsProxyProtocol>,
    /// The Ingress listeners' addresses (they serve Gateway listeners on the same socket).
    ingress: Vec<SocketAddr>,
    /// Addresses no Gateway socket may share (the admin listener): with `SO_REUSEPORT` the
    /// kernel would spread their connections over both.
    reserved: Vec<SocketAddr>,
}

impl<A> GatewaySockets<A> {
    /// A service serving `app` on the Gateway sockets of `publisher`'s tables; `tls` terminates
    /// HTTPS listeners; `ingress` are the addresses the Ingress listeners are bound to, and
    /// `reserved` those no Gateway socket may take (the admin listener).
    pub fn new(
        publisher: Arc<Publisher>,
        app: A,
        tls: Acceptor,
        pre_tls: PreTlsProxyProtocol,
        ingress: Vec<SocketAddr>,
        reserved: Vec<SocketAddr>,
    ) -> Self {
        let (app, tls, pre_tls) = (Arc::new(app), Arc::new(tls), Arc::new(pre_tls));
        GatewaySockets { publisher, app, tls, pre_tls, ingress, reserved }
    }
}

/// Whether an Ingress listener bound to one of `bound` serves the Gateway socket `addr`: it
/// covers the address, or the Gateway names no address (the bind address, every address) and
/// shares the Ingress listener of its port.
fn covered(bound: &[SocketAddr], addr: SocketAddr) -> bool {
    bound.iter().any(|i| overlaps(*i, addr))
}

/// Whether sockets on `a` and `b` would share connections (same port, overlapping addresses).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// A listening socket on `addr` with `SO_REUSEADDR`, `SO_REUSEPORT` and freebind.
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_freebind_v6(true)?;
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    tokio::net::TcpListener::from_std(socket.into())
}

impl<A: ServerApp + Send + Sync + 'static> GatewaySockets<A> {
    /// The PROXY header and TLS handshake of an accepted connection (when `tls`); `None` when
    /// either fails.
    async fn handshake(self: Arc<Self>, mut stream: L4Stream, tls: bool) -> Option<Stream> {
        if !tls {
            return Some(Box::new(stream));
        }
        self.pre_tls.process(&mut stream).await.ok()?;
        match self.tls.tls_handshake(stream).await {
            Ok(tls) => Some(Box::new(tls)),
            Err(error) => {
                tracing::debug!(%error, "TLS handshake failed on a Gateway socket");
                None
            }
        }
    }

    /// Accepts on one socket until aborted; each connection is served in its own task.
    async fn accept_loop(self: Arc<Self>, listener: L4Listener, tls: bool, shutdown: ShutdownWatch) {
        loop {
            let stream = match listener.accept().await {
                Ok(stream) => stream,
                Err(error) => {
                    warn!(%error, "Gateway socket accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let this = self.clone();
            let shutdown = shutdown.clone();
            // Boxed and freed once done, so the connection's task does not keep the handshake's
            // room for the connection's whole life.
            let handshake = Box::pin(self.clone().handshake(stream, tls));
            tokio::spawn(async move {
                let Some(stream) = handshake.await else {
                    return;
                };
                let mut next = this.app.process_new(stream, &shutdown).await;
                while let Some(stream) = next {
                    next = this.app.process_new(stream, &shutdown).await;
                }
            });
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> BackgroundService for GatewaySockets<A> {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let this = Arc::new(GatewaySockets {
            publisher: self.publisher.clone(),
            app: self.app.clone(),
            tls: self.tls.clone(),
            pre_tls: self.pre_tls.clone(),
            ingress: self.ingress.clone(),
            reserved: self.reserved.clone(),
        });
        let mut open: HashMap<GatewayListener, JoinHandle<()>> = HashMap::new();
        let mut failed: HashMap<GatewayListener, String> = HashMap::new();
        let mut tables = self.publisher.subscribe();
        tables.mark_changed();
        loop {
            // A new table, or (while a socket could not be opened) a retry.
            tokio::select! {
                changed = tables.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(RETRY), if !failed.is_empty() => {}
                _ = shutdown.changed() => break,
            }
            let live = self.publisher.load();
            let wanted: Vec<GatewayListener> = live
                .table
                .gateway_listeners()
                .into_iter()
                .filter(|l| !covered(&self.ingress, l.addr))
                .collect();
            open.retain(|listener, task| {
                let keep = wanted.contains(listener);
                if !keep {
                    task.abort();
                    info!(addr = %listener.addr, tls = listener.tls, "Gateway socket closed");
                }
                keep
            });
            failed.retain(|l, _| wanted.contains(l));
            let missing: Vec<GatewayListener> =
                wanted.into_iter().filter(|l| !open.contains_key(l)).collect();
            for listener in missing {
                if self.reserved.iter().any(|r| overlaps(*r, listener.addr)) {
                    let text = "the address is the admin listener's".to_owned();
                    if failed.get(&listener) != Some(&text) {
                        warn!(addr = %listener.addr, "Gateway socket not opened: it would share the admin listener's port");
                    }
                    failed.insert(listener, text);
                    continue;
                }
                match bind(listener.addr) {
                    Ok(socket) => {
                        failed.remove(&listener);
                        info!(addr = %listener.addr, tls = listener.tls, "Gateway socket open");
                        let task = this.clone().accept_loop(
                            L4Listener::from(socket),
                            listener.tls,
                            shutdown.clone(),
                        );
                        open.insert(listener, tokio::spawn(task));
                    }
                    Err(error) => {
                        let text = error.to_string();
                        if failed.get(&listener) != Some(&text) {
                            warn!(addr = %listener.addr, %error, "Cannot open a Gateway socket; retrying");
                        }
                        failed.insert(listener, text);
                    }
                }
            }
        }
        for (_, task) in open {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_listeners_cover_their_port_on_their_addresses() {
        let any: SocketAddr = "0.0.0.0:80".parse().expect("addr");
        let one: SocketAddr = "127.0.0.1:443".parse().expect("addr");
        let ingress = [any, one];
        assert!(covered(&ingress, "127.0.0.9:80".parse().expect("addr")));
        assert!(covered(&ingress, "127.0.0.1:443".parse().expect("addr")));
        assert!(!covered(&ingress, "127.0.0.2:443".parse().expect("addr")));
        assert!(
            covered(&ingress, "0.0.0.0:443".parse().expect("addr")),
            "a Gateway without addresses shares the port"
        );
        assert!(!covered(&ingress, "127.0.0.1:8080".parse().expect("addr")));
        let admin: SocketAddr = "127.0.0.1:10254".parse().expect("addr");
        assert!(overlaps(admin, "0.0.0.0:10254".parse().expect("addr")));
        assert!(!overlaps(admin, "127.0.0.2:10254".parse().expect("addr")));
    }
}
