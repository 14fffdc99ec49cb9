//! The admin listener: `/healthz` (the process is alive and serving), `/readyz` (a first routing
//! table is live and the proxy listeners accept connections), `/metrics` (Prometheus text) and
//! `/status/gateways` (the Gateway API status conditions as JSON, for manifests mode).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use sluice_controller::Pipeline;

use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;

/// Serves the admin endpoints.
pub struct Admin {
    pipeline: Arc<Pipeline>,
    lifecycle: Arc<Lifecycle>,
    metrics: Metrics,
    listeners: Vec<SocketAddr>,
    listening: AtomicBool,
}

impl Admin {
    /// An admin app over the pipeline's state, the shutdown state and the metrics registry.
    /// `listeners` are the proxy's addresses: `/readyz` connects to each once before it first
    /// answers 200 (Pingora binds them after the admin service may already be up).
    pub fn new(
        pipeline: Arc<Pipeline>,
        lifecycle: Arc<Lifecycle>,
        metrics: Metrics,
        listeners: Vec<SocketAddr>,
    ) -> Self {
        let listeners = listeners.into_iter().map(probe_address).collect();
        Admin { pipeline, lifecycle, metrics, listeners, listening: AtomicBool::new(false) }
    }

    async fn listeners_up(&self) -> bool {
        if self.listening.load(Ordering::Acquire) {
            return true;
        }
        for addr in &self.listeners {
            let connect = tokio::net::TcpStream::connect(addr);
            if !matches!(tokio::time::timeout(Duration::from_millis(500), connect).await, Ok(Ok(_))) {
                return false;
            }
        }
        self.listening.store(true, Ordering::Release);
        true
    }
}

/// Where to connect to reach a listener bound to `addr` (the loopback for a wildcard address).
fn probe_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

fn text(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    if let Ok(value) = response.body().len().to_string().parse() {
        response.headers_mut().insert(http::header::CONTENT_LENGTH, value);
    }
    response
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let plain = "text/plain; charset=utf-8";
        let draining = self.lifecycle.is_draining();
        match session.req_header().uri.path() {
            "/healthz" | "/readyz" if draining => {
                text(StatusCode::SERVICE_UNAVAILABLE, plain, b"shutting down\n".to_vec())
            }
            "/healthz" => text(StatusCode::OK, plain, b"ok\n".to_vec()),
            "/readyz" if !self.pipeline.publisher().is_ready() => {
                text(StatusCode::SERVICE_UNAVAILABLE, plain, b"no routing table yet\n".to_vec())
            }
            "/readyz" if !self.listeners_up().await => {
                text(StatusCode::SERVICE_UNAVAILABLE, plain, b"listeners not up yet\n".to_vec())
            }
            "/readyz" => text(StatusCode::OK, plain, b"ready\n".to_vec()),
            "/status/gateways" => match serde_json::to_vec_pretty(&*self.pipeline.gateway_status()) {
                Ok(body) => text(StatusCode::OK, "application/json", body),
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, plain, b"status not encodable\n".to_vec()),
            },
            "/metrics" => {
                text(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.encode(&self.pipeline))
            }
            _ => text(StatusCode::NOT_FOUND, plain, b"not found\n".to_vec()),
        }
    }
}
