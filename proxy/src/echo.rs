//! `sluice echo`: a small backend for demos and tests. Every HTTP request gets a JSON
//! description of itself (backend name, method, URI, headers, body size); a WebSocket upgrade
//! gets an echo of every message.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// The JSON body an echo backend answers with.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Echo {
    /// The backend's name.
    pub backend: String,
    /// The address the request arrived on.
    pub local_addr: String,
    /// Request method.
    pub method: String,
    /// Request URI (path and query).
    pub uri: String,
    /// Request headers (lowercase names; repeated headers joined with ", ").
    pub headers: BTreeMap<String, String>,
    /// Size of the request body in bytes.
    pub body_len: usize,
}

/// Serves the echo backend on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, name: Arc<str>) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve_connection(stream, name.clone(), local));
    }
}

/// Serves one accepted connection (plain TCP, or a TLS stream for HTTPS backends in tests);
/// `local` is the address reported in the echo.
pub async fn serve_connection<IO>(io: IO, name: Arc<str>, local: SocketAddr)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, name.clone(), local));
    let _ = http1::Builder::new().serve_connection(TokioIo::new(io), service).with_upgrades().await;
}

async fn handle(
    mut req: Request<Incoming>,
    name: Arc<str>,
    local: SocketAddr,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let is_websocket = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_websocket {
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes()))
        else {
            return Ok(plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"));
        };
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_close() || ws.send(msg).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::CONNECTION, header::HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, header::HeaderValue::from_static("websocket"));
        if let Ok(v) = key.parse() {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        return Ok(response);
    }
    let mut headers = BTreeMap::<String, String>::new();
    for (k, v) in req.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers.entry(k.as_str().to_owned()).and_modify(|e| *e = format!("{e}, {v}")).or_insert(v);
    }
    // `?delay_ms=N` answers after N ms (at most 10 s): a slow request for drain tests.
    let delay = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("delay_ms=")))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |ms| ms.min(10_000));
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let status = requested_status(&req);
    // Each `X-Echo-Response-Header: NAME: VALUE` request header is added to the response.
    let extra: Vec<(header::HeaderName, header::HeaderValue)> = req
        .headers()
        .get_all("x-echo-response-header")
        .iter()
        .filter_map(|v| {
            let (name, value) = v.to_str().ok()?.split_once(':')?;
            Some((name.trim().parse().ok()?, value.trim().parse().ok()?))
        })
        .collect();
    // `?bytes=N` answers with N bytes of `x` (text/plain, at most 16 MiB) instead of the JSON
    // description: a large body for bandwidth and compression tests.
    let size = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("bytes=")))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = size {
        let mut response = Response::new(Full::new(Bytes::from(vec![b'x'; size.min(16 << 20)])));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
        return Ok(response);
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let body = req.into_body().collect().await?.to_bytes();
    let echo = Echo {
        backend: name.to_string(),
        local_addr: local.to_string(),
        method,
        uri,
        headers,
        body_len: body.len(),
    };
    let json = serde_json::to_vec(&echo).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(json)));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    h.insert(header::SERVER, header::HeaderValue::from_static("sluice-echo"));
    if let Ok(v) = name.parse() {
        h.insert("x-backend", v);
    }
    for (name, value) in extra {
        h.append(name, value);
    }
    Ok(response)
}

/// The status to answer with: `?status=N`, else the `X-Code` header (so that the echo backend
/// can stand in for ingress-nginx's custom error pages backend), else 200.
fn requested_status<B>(req: &Request<B>) -> StatusCode {
    let from_query = req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("status=")));
    let from_header = req.headers().get("x-code").and_then(|v| v.to_str().ok());
    from_query
        .or(from_header)
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK)
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// Runs `sluice echo`: one backend per address, all with the same name, until killed.
pub fn run(listen: &[SocketAddr], name: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let name: Arc<str> = Arc::from(name);
        let mut tasks = Vec::new();
        for addr in listen {
            let listener = TcpListener::bind(addr).await?;
            tracing::info!(%addr, name = %name, "Echo backend listening");
            tasks.push(tokio::spawn(serve(listener, name.clone())));
        }
        for task in tasks {
            task.await??;
        }
        Ok(())
    })
}
