//! `mirror-target` end to end: copies of requests (method, URI, headers, body) reach a mirror
//! whose answers are dropped; `mirror-host` and `mirror-request-body: off`.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::support::{annotate, ingress, ingress_class, manifests, service, Backends, Sluice};

/// A copy as the mirror saw it.
#[derive(Debug)]
struct Copy {
    method: String,
    uri: String,
    host: String,
    header: String,
    body: Bytes,
}

/// A mirror on `ip` that records every request and answers 500 (which must not reach clients).
async fn mirror(ip: &str) -> (u16, mpsc::UnboundedReceiver<Copy>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let text = |name: &str| {
                            req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
                        };
                        let (method, uri) = (req.method().to_string(), req.uri().to_string());
                        let (host, header) = (text("host"), text("x-test"));
                        let body = req.into_body().collect().await?.to_bytes();
                        let _ = tx.send(Copy { method, uri, host, header, body });
                        let mut resp = Response::new(Full::new(Bytes::from_static(b"mirror")));
                        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        Ok::<_, hyper::Error>(resp)
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    (port, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Copy>) -> Copy {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a copy within 5 s").expect("copy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_target_gets_copies_and_its_answers_are_dropped() {
    let b = Backends::start("main", &["127.0.0.143"]).await;
    let (port, mut copies) = mirror("127.0.0.144").await;
    let full = annotate(
        &ingress("full", "full.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/mirror-target", &format!("http://127.0.0.144:{port}$request_uri"))],
    );
    let headless = annotate(
        &ingress("headless", "headless.test", &[("Prefix", "/", "web")]),
        &[
            (
                "nginx.ingress.kubernetes.io/mirror-target",
                &format!("http://127.0.0.144:{port}/shadow$request_uri"),
            ),
            ("nginx.ingress.kubernetes.io/mirror-host", "shadow.test"),
            ("nginx.ingress.kubernetes.io/mirror-request-body", "off"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.143"], true)),
        ("full.yaml", full),
        ("headless.yaml", headless),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let post = |host: &str, body: &'static str| {
        Request::post("/orders?id=7")
            .header("host", host)
            .header("x-test", "copied")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("request")
    };

    let (status, _, body) = c.send(post("full.test", "a body of 19 bytes!")).await.expect("response");
    assert_eq!(status, StatusCode::OK, "the mirror's 500 never reaches the client");
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert_eq!((e.method.as_str(), e.body_len), ("POST", 19), "the main request keeps its body");
    let copy = next(&mut copies).await;
    assert_eq!((copy.method.as_str(), copy.uri.as_str()), ("POST", "/orders?id=7"));
    assert_eq!(copy.host, "127.0.0.144", "the target's host name, as ingress-nginx sets it");
    assert_eq!((copy.header.as_str(), &copy.body[..]), ("copied", &b"a body of 19 bytes!"[..]));

    let (status, _, _) = c.send(post("headless.test", "not copied")).await.expect("response");
    assert_eq!(status, StatusCode::OK);
    let copy = next(&mut copies).await;
    assert_eq!((copy.uri.as_str(), copy.host.as_str()), ("/shadow/orders?id=7", "shadow.test"));
    assert!(copy.body.is_empty(), "mirror-request-body: off");

    // A large streamed body is copied whole, chunk by chunk.
    let big = vec![b'z'; 512 * 1024];
    let req = Request::post("/upload")
        .header("host", "full.test")
        .body(Full::new(Bytes::from(big.clone())))
        .expect("request");
    assert_eq!(c.send(req).await.expect("response").0, StatusCode::OK);
    let copy = next(&mut copies).await;
    assert_eq!((copy.uri.as_str(), copy.body.len()), ("/upload", big.len()));
}
