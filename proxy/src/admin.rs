//! The admin listener: `/healthz` (the process is alive and serving), `/readyz` (a first routing
//! table is live) and `/metrics` (Prometheus text format).

use std::sync::Arc;

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
}

impl Admin {
    /// An admin app over the pipeline's state, the shutdown state and the metrics registry.
    pub fn new(pipeline: Arc<Pipeline>, lifecycle: Arc<Lifecycle>, metrics: Metrics) -> Self {
        Admin { pipeline, lifecycle, metrics }
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
            "/readyz" if self.pipeline.publisher().is_ready() => {
                text(StatusCode::OK, plain, b"ready\n".to_vec())
            }
            "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, plain, b"no routing table yet\n".to_vec()),
            "/metrics" => {
                text(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.encode(&self.pipeline))
            }
            _ => text(StatusCode::NOT_FOUND, plain, b"not found\n".to_vec()),
        }
    }
}
