//! The pooled HTTP/1 client for Sluice's own requests: to auth services (`auth-url`) and to
//! error backends (`custom-http-errors`). Connections are kept and reused per address.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared client.
pub struct Subrequests {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Default for Subrequests {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        Subrequests { client: Client::builder(TokioExecutor::new()).build(connector) }
    }
}

impl Subrequests {
    /// Sends `req` and reads at most `max_body` bytes of the answer, all within `timeout`.
    pub async fn send(
        &self,
        req: Request<Empty<Bytes>>,
        timeout: Duration,
        max_body: usize,
    ) -> anyhow::Result<(http::response::Parts, Bytes)> {
        let exchange = async {
            let resp = self.client.request(req).await?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, max_body)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
                .to_bytes();
            anyhow::Ok((parts, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("timed out after {timeout:?}"))?
    }
}
