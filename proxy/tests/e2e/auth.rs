//! Authentication end to end: basic auth from an htpasswd Secret (file and map), and external
//! auth against a test auth service shaped like oauth2-proxy (allow, deny, sign-in redirect,
//! response headers copied, cached answers, auth service down).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::support::{
    annotate, config_map, data_config_map, ingress, ingress_class, manifests, opaque_secret, service,
    Backends, Client, Sluice,
};
use super::tls_client::acceptor;

async fn get(
    c: &Client,
    host: &str,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let headers: Vec<(&str, &str)> = authorization.map(|a| ("authorization", a)).into_iter().collect();
    c.get_with(host, path, &headers).await
}

fn h<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_htpasswd_secrets() {
    let b = Backends::start("private", &["127.0.0.131"]).await;
    let bcrypt = bcrypt::hash("b0b-pass", 4).expect("bcrypt");
    // "password", as `htpasswd -m` (apr1) writes it.
    let file = format!("alice:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00\nbob:{bcrypt}\n");
    let basic = |name: &str, host: &str, secret: &str, extra: &[(&str, &str)]| {
        let mut a = vec![
            ("nginx.ingress.kubernetes.io/auth-type", "basic"),
            ("nginx.ingress.kubernetes.io/auth-secret", secret),
            ("nginx.ingress.kubernetes.io/auth-realm", "Sluice test"),
        ];
        a.extend_from_slice(extra);
        annotate(&ingress(name, host, &[("Prefix", "/", "web")]), &a)
    };
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.131"], true)),
        (
            "secrets.yaml",
            [
                opaque_secret("htpasswd", &[("auth", &file)]),
                opaque_secret("users", &[("carol", "{PLAIN}c4r0l")]),
            ]
            .join("---\n"),
        ),
        ("file.yaml", basic("file", "basic.test", "htpasswd", &[])),
        (
            "map.yaml",
            basic(
                "map",
                "map.test",
                "demo/users",
                &[("nginx.ingress.kubernetes.io/auth-secret-type", "auth-map")],
            ),
        ),
        ("missing.yaml", basic("missing", "missing.test", "nope", &[])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();
    let basic_header = |user: &str, pass: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
    };

    let (status, headers, _) = get(&c, "basic.test", "/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h(&headers, "www-authenticate"), "Basic realm=\"Sluice test\"");
    assert_eq!(
        get(&c, "basic.test", "/", Some(&basic_header("alice", "wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&c, "basic.test", "/", Some(&basic_header("mallory", "password"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(&c, "basic.test", "/", Some("Basic !!!")).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body) = get(&c, "basic.test", "/", Some(&basic_header("alice", "password"))).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(
        get(&c, "basic.test", "/", Some(&basic_header("bob", "b0b-pass"))).await.0,
        StatusCode::OK,
        "bcrypt"
    );
    assert_eq!(
        get(&c, "map.test", "/", Some(&basic_header("carol", "c4r0l"))).await.0,
        StatusCode::OK,
        "auth-map"
    );
    assert_eq!(
        get(&c, "map.test", "/", Some(&basic_header("alice", "password"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = get(&c, "missing.test", "/", Some(&basic_header("alice", "password"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a missing Secret fails closed");
    assert!(sluice.stderr().contains("auth secret \"nope\": not found"), "{}", sluice.stderr());
}

/// A test auth service: `Bearer good` is allowed (with identity headers and a cookie),
/// `Bearer forbidden` gets 403, anything else 401. Counts calls and keeps the last request.
struct AuthService {
    port: u16,
    calls: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<http::HeaderMap>>>,
}

async fn auth_service(ip: &str) -> AuthService {
    auth_service_with(ip, None).await
}

/// The test auth service, over TLS when `tls` is given.
async fn auth_service_with(ip: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> AuthService {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let calls = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(None));
    let (c, l) = (calls.clone(), last.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (c, l, tls) = (c.clone(), l.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve_auth(stream, c, l).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_auth(stream, c, l).await
                        }
                    }
                }
            });
        }
    });
    AuthService { port, calls, last }
}

async fn serve_auth<I>(stream: I, c: Arc<AtomicUsize>, l: Arc<Mutex<Option<http::HeaderMap>>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let call = c.fetch_add(1, Ordering::SeqCst) + 1;
        *l.lock().expect("lock") = Some(req.headers().clone());
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        async move {
            let mut resp = Response::new(Full::new(Bytes::from_static(b"auth")));
            match auth.as_str() {
                "Bearer good" => {
                    let h = resp.headers_mut();
                    h.insert("x-auth-request-user", "alice".parse().expect("v"));
                    h.insert("x-auth-request-email", "alice@example.com".parse().expect("v"));
                    h.insert("x-not-copied", "secret".parse().expect("v"));
                    let cookie = format!("_oauth2_proxy=abc{call}; Path=/");
                    h.insert("set-cookie", cookie.parse().expect("v"));
                }
                "Bearer plain" => {
                    resp.headers_mut().insert("x-auth-request-user", "carol".parse().expect("v"));
                }
                "Bearer forbidden" => *resp.status_mut() = StatusCode::FORBIDDEN,
                _ => {
                    *resp.status_mut() = StatusCode::UNAUTHORIZED;
                    resp.headers_mut()
                        .insert("www-authenticate", "Bearer realm=\"test\"".parse().expect("v"));
                }
            }
            Ok::<_, hyper::Error>(resp)
        }
    });
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_auth_like_oauth2_proxy() {
    let b = Backends::start("app", &["127.0.0.132"]).await;
    let auth = auth_service("127.0.0.133").await;
    let url = format!("http://127.0.0.133:{}/oauth2/auth", auth.port);
    let signin = annotate(
        &ingress("signin", "app.test", &[("Prefix", "/", "web")]),
        &[
            ("nginx.ingress.kubernetes.io/auth-url", &url),
            ("nginx.ingress.kubernetes.io/auth-signin", "https://$host/oauth2/start?rd=$escaped_request_uri"),
            (
                "nginx.ingress.kubernetes.io/auth-response-headers",
                "X-Auth-Request-User, X-Auth-Request-Email",
            ),
        ],
    );
    let cached = annotate(
        &ingress("cached", "api.test", &[("Prefix", "/", "web")]),
        &[
            ("nginx.ingress.kubernetes.io/auth-url", &url),
            ("nginx.ingress.kubernetes.io/auth-cache-key", "$http_authorization"),
            ("nginx.ingress.kubernetes.io/auth-cache-duration", "200 60s"),
        ],
    );
    let down = annotate(
        &ingress("down", "down.test", &[("Prefix", "/", "web")]),
        &[("nginx.ingress.kubernetes.io/auth-url", "http://127.0.0.134:9/auth")],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.132"], true)),
        ("signin.yaml", signin),
        ("cached.yaml", cached),
        ("down.yaml", down),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    let (status, headers, body) = get(&c, "app.test", "/page?a=1", Some("Bearer good")).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = h(&headers, "set-cookie");
    assert!(
        cookie.starts_with("_oauth2_proxy=abc") && cookie.ends_with("; Path=/"),
        "the auth cookie reaches the client"
    );
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert_eq!(e.headers.get("x-auth-request-user").map(String::as_str), Some("alice"));
    assert_eq!(e.headers.get("x-auth-request-email").map(String::as_str), Some("alice@example.com"));
    assert!(!e.headers.contains_key("x-not-copied"), "only auth-response-headers are copied");
    let seen = auth.last.lock().expect("lock").clone().expect("the auth service was asked");
    assert_eq!(h(&seen, "x-original-url"), "http://app.test/page?a=1");
    assert_eq!(h(&seen, "x-original-method"), "GET");
    assert_eq!(h(&seen, "authorization"), "Bearer good", "client headers are passed");
    assert_eq!(h(&seen, "host"), format!("127.0.0.133:{}", auth.port));

    let (status, headers, _) = get(&c, "app.test", "/page?a=1", None).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(h(&headers, "location"), "https://app.test/oauth2/start?rd=%2Fpage%3Fa%3D1");
    assert_eq!(get(&c, "app.test", "/", Some("Bearer forbidden")).await.0, StatusCode::FORBIDDEN);

    let (status, headers, _) = get(&c, "api.test", "/", Some("Bearer nope")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "without auth-signin the 401 is passed on");
    assert_eq!(h(&headers, "www-authenticate"), "Bearer realm=\"test\"");

    let before = auth.calls.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(get(&c, "api.test", "/", Some("Bearer plain")).await.0, StatusCode::OK);
    }
    assert_eq!(auth.calls.load(Ordering::SeqCst) - before, 1, "answers are cached per auth-cache-key");
    // An answer that sets a cookie is never cached: each client gets its own cookie.
    let before = auth.calls.load(Ordering::SeqCst);
    let mut cookies = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) = get(&c, "api.test", "/", Some("Bearer good")).await;
        assert_eq!(status, StatusCode::OK);
        cookies.push(h(&headers, "set-cookie").to_owned());
    }
    assert_eq!(auth.calls.load(Ordering::SeqCst) - before, 3, "answers with Set-Cookie are not cached");
    cookies.dedup();
    assert_eq!(cookies.len(), 3, "no cookie was replayed to another request: {cookies:?}");
    let before = auth.calls.load(Ordering::SeqCst);
    assert_eq!(get(&c, "api.test", "/", Some("Bearer forbidden")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&c, "api.test", "/", Some("Bearer forbidden")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(auth.calls.load(Ordering::SeqCst) - before, 2, "403 is not in auth-cache-duration");

    assert_eq!(get(&c, "down.test", "/", Some("Bearer good")).await.0, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_auth_over_https_with_host_variable_and_relative_signin() {
    let b = Backends::start("app", &["127.0.0.137"]).await;
    // `$host` must resolve, so this auth service sits on localhost, with a self-signed
    // certificate (not verified, as nginx's auth_request does not verify by default).
    let auth = auth_service_with("127.0.0.1", Some(acceptor(&["localhost"]))).await;
    let ing = annotate(
        &ingress("oauth", "localhost", &[("Prefix", "/", "web")]),
        &[
            ("nginx.ingress.kubernetes.io/auth-url", &format!("https://$host:{}/oauth2/auth", auth.port)),
            ("nginx.ingress.kubernetes.io/auth-signin", "/oauth2/start"),
            ("nginx.ingress.kubernetes.io/auth-response-headers", "X-Auth-Request-User"),
            ("nginx.ingress.kubernetes.io/auth-proxy-set-headers", "auth-headers"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.137"], true)),
        ("oauth.yaml", ing),
        ("headers.yaml", data_config_map("demo", "auth-headers", &[("X-Auth-Extra", "42")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    let (status, _, body) = get(&c, "localhost", "/in", Some("Bearer good")).await;
    assert_eq!(status, StatusCode::OK, "{body:?}\n{}", sluice.stderr());
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert_eq!(e.headers.get("x-auth-request-user").map(String::as_str), Some("alice"));
    let seen = auth.last.lock().expect("lock").clone().expect("the auth service was asked");
    assert_eq!(h(&seen, "host"), format!("localhost:{}", auth.port), "$host filled in from the request");
    assert_eq!(h(&seen, "x-forwarded-proto"), "http");
    assert_eq!(h(&seen, "x-auth-extra"), "42", "auth-proxy-set-headers");

    let (status, headers, _) = get(&c, "localhost", "/in?x=1", None).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(h(&headers, "location"), "/oauth2/start?rd=http%3A%2F%2Flocalhost%2Fin%3Fx%3D1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_auth_no_auth_locations_and_satisfy() {
    let b = Backends::start("app", &["127.0.0.138"]).await;
    let auth = auth_service("127.0.0.139").await;
    let config = config_map(&[
        ("global-auth-url", &format!("http://127.0.0.139:{}/auth", auth.port)),
        ("global-auth-response-headers", "X-Auth-Request-User"),
        ("no-auth-locations", "/.well-known/acme-challenge, /public"),
    ]);
    let basic = [
        ("nginx.ingress.kubernetes.io/auth-type", "basic"),
        ("nginx.ingress.kubernetes.io/auth-secret", "htpasswd"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = basic.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let path = |name: &str, host: &str, p: &str| ingress(name, host, &[("Prefix", p, "web")]);
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("config.yaml", config),
        ("svc.yaml", service("web", b.port, &["127.0.0.138"], true)),
        ("secret.yaml", opaque_secret("htpasswd", &[("auth", "alice:{PLAIN}pw")])),
        ("foo.yaml", path("foo", "global.test", "/foo")),
        (
            "bar.yaml",
            annotate(
                &path("bar", "global.test", "/bar"),
                &[("nginx.ingress.kubernetes.io/enable-global-auth", "false")],
            ),
        ),
        ("public.yaml", path("public", "global.test", "/public")),
        ("own.yaml", annotate(&path("own", "global.test", "/own"), &basic)),
        (
            "in.yaml",
            annotate(
                &path("in", "any-in.test", "/"),
                &with(&[
                    ("nginx.ingress.kubernetes.io/allowlist-source-range", "127.0.0.0/8"),
                    ("nginx.ingress.kubernetes.io/satisfy", "any"),
                ]),
            ),
        ),
        (
            "out.yaml",
            annotate(
                &path("out", "any-out.test", "/"),
                &with(&[
                    ("nginx.ingress.kubernetes.io/allowlist-source-range", "10.0.0.0/8"),
                    ("nginx.ingress.kubernetes.io/satisfy", "any"),
                ]),
            ),
        ),
        (
            "all.yaml",
            annotate(
                &path("all", "all.test", "/"),
                &with(&[("nginx.ingress.kubernetes.io/allowlist-source-range", "127.0.0.0/8")]),
            ),
        ),
    ]);
    let sluice = Sluice::start_with(dir, &["--configmap", "demo/sluice-config"]).await;
    let c = sluice.client();
    let alice = "Basic YWxpY2U6cHc="; // alice:pw

    // global-auth-url protects every Ingress without auth of its own ...
    assert_eq!(get(&c, "global.test", "/foo", None).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body) = get(&c, "global.test", "/foo", Some("Bearer good")).await;
    assert_eq!(status, StatusCode::OK);
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    assert_eq!(e.headers.get("x-auth-request-user").map(String::as_str), Some("alice"));
    // ... unless it opts out, its path is a no-auth location, or it has auth of its own.
    assert_eq!(get(&c, "global.test", "/bar", None).await.0, StatusCode::OK, "enable-global-auth: false");
    assert_eq!(get(&c, "global.test", "/public/x", None).await.0, StatusCode::OK, "no-auth-locations");
    let calls = auth.calls.load(Ordering::SeqCst);
    assert_eq!(get(&c, "global.test", "/own", Some("Bearer good")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&c, "global.test", "/own", Some(alice)).await.0, StatusCode::OK);
    assert_eq!(auth.calls.load(Ordering::SeqCst), calls, "the Ingress's own basic auth replaces global auth");

    // satisfy any: an allowed address needs no credentials; others may still authenticate.
    assert_eq!(get(&c, "any-in.test", "/", None).await.0, StatusCode::OK);
    let (status, headers, _) = get(&c, "any-out.test", "/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "auth's answer wins over the range's 403");
    assert!(h(&headers, "www-authenticate").starts_with("Basic"));
    assert_eq!(get(&c, "any-out.test", "/", Some(alice)).await.0, StatusCode::OK);
    // satisfy all (the default): both must pass.
    assert_eq!(get(&c, "all.test", "/", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&c, "all.test", "/", Some(alice)).await.0, StatusCode::OK);
}
