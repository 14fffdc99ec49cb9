//! `mirror-target`: a copy of each request goes to another URL, as nginx's `mirror` sends it,
//! and its answer is dropped. The copy has the request's method, URI variables and headers (Host
//! from `mirror-host`) and, with `mirror-request-body` on, the body as it streams in.
//!
//! The copy never slows the request down: body chunks are handed over through a small queue,
//! and a mirror that falls behind loses its copy (the mirror request fails) rather than holding
//! the client's body back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http::Request;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use pingora::http::RequestHeader;
use sluice_controller::policy::{render_url, Mirror};
use tokio::sync::mpsc;
use tracing::debug;

use crate::facts::request_uri;
use crate::forwarding::{content_length, not_for_subrequest};
use crate::subrequest::{SubBody, Subrequests};

/// Body chunks queued for a mirror at most.
const QUEUE: usize = 32;
/// The most of a mirror's answer read (and dropped).
const MAX_ANSWER: usize = 64 * 1024;

/// The request body's way to the mirror. Dropped before [`MirrorBody::finish`] (the mirror fell
/// behind, the request failed), it cuts the copy short with an error, so that a mirror never
/// receives a truncated body as if it were whole.
pub struct MirrorBody {
    tx: mpsc::Sender<Bytes>,
    broken: Arc<AtomicBool>,
    finished: bool,
}

impl MirrorBody {
    /// Hands a chunk to the mirror; false when the mirror fell behind (drop this then).
    pub fn push(&self, chunk: Bytes) -> bool {
        self.tx.try_send(chunk).is_ok()
    }

    /// The body is complete: the copy's body ends normally.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for MirrorBody {
    fn drop(&mut self) {
        if !self.finished {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// What the copy needs to know of the original request.
pub struct Original<'a> {
    /// The request header.
    pub req: &'a RequestHeader,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The Host header.
    pub host: &'a str,
}

impl Original<'_> {
    /// Whether the request announces a body (a non-zero Content-Length, or chunked).
    fn has_body(&self) -> bool {
        let headers = &self.req.headers;
        content_length(headers).is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
    }
}

/// Whether this request is copied: always, or for the mirror's sampled share.
pub fn sampled(mirror: &Mirror) -> bool {
    match mirror.sample {
        None => true,
        Some((numerator, denominator)) => {
            crate::traffic::random_u64() % u64::from(denominator.max(1)) < u64::from(numerator)
        }
    }
}

/// Starts the copy of a request; the returned `MirrorBody` (when the body is mirrored) takes
/// the body's chunks, and dropping it ends the copy's body.
pub fn start(
    client: &Subrequests,
    mirror: &Mirror,
    original: &Original<'_>,
    timeout: Duration,
) -> Option<MirrorBody> {
    let req = original.req;
    let url: http::Uri =
        render_url(&mirror.target, original.scheme, original.host, request_uri(req)).parse().ok()?;
    let mut builder = Request::builder().method(req.method.clone()).uri(url);
    let with_body = mirror.body && original.has_body();
    for (name, value) in req.headers.iter() {
        if !not_for_subrequest(name, with_body) {
            builder = builder.header(name, value);
        }
    }
    builder = builder.header(header::HOST, mirror.host.clone());
    let (body, sender): (SubBody, _) = if with_body {
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let broken = Arc::new(AtomicBool::new(false));
        let flag = broken.clone();
        let stream = futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|chunk| match chunk {
                Some(data) => Some(Ok(Frame::data(data))),
                None if flag.load(Ordering::Relaxed) => {
                    Some(Err(std::io::Error::other("the request body was not copied whole")))
                }
                None => None,
            })
        });
        (StreamBody::new(stream).boxed_unsync(), Some(MirrorBody { tx, broken, finished: false }))
    } else {
        (Empty::new().map_err(|never| match never {}).boxed_unsync(), None)
    };
    let request = builder.body(body).ok()?;
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(error) = client.send_body(request, timeout, MAX_ANSWER).await {
            debug!(%error, "Mirror request failed");
        }
    });
    sender
}
