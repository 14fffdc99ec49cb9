//! Gateway API through the real binary: listeners on their own 127.0.0.x addresses, opened and
//! closed live; matches, weights, redirects, rewrites, header filters, ReferenceGrant-free 500s
//! and 404s, and the status on the admin listener.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;

use super::support::{free_port, manifests, service, wait_until, Backends, Client, Sluice};

fn class() -> String {
    "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: sluice}\n\
     spec: {controllerName: sluice.dev/gateway-controller}\n"
        .to_owned()
}

/// A Gateway in `demo` with one HTTP listener named `web` on `addr`.
fn gateway(name: &str, addr: SocketAddr, hostname: Option<&str>) -> String {
    let hostname = hostname.map(|h| format!("    hostname: \"{h}\"\n")).unwrap_or_default();
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: demo}}\n\
         spec:\n  gatewayClassName: sluice\n  addresses:\n  - {{type: IPAddress, value: \"{}\"}}\n\
         \x20 listeners:\n  - name: web\n    protocol: HTTP\n    port: {}\n{hostname}",
        addr.ip(),
        addr.port()
    )
}

/// An HTTPRoute in `demo` attached to Gateway `gw`, with `rules` as YAML (indented 2).
fn route(name: &str, hostnames: &[&str], rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: demo}}\n\
         spec:\n  parentRefs: [{{name: gw}}]\n  hostnames: {hostnames:?}\n  rules:\n{rules}"
    )
}

/// The Services `blue` (127.0.0.2) and `green` (127.0.0.3) over the echo backends.
fn blue_and_green(blue: &Backends, green: &Backends) -> String {
    [service("blue", blue.port, &["127.0.0.2"], true), service("green", green.port, &["127.0.0.3"], true)]
        .join("---\n")
}

async fn status_of(client: &Client, host: &str, path: &str) -> u16 {
    client.get(host, path).await.map_or(0, |(s, _, _)| s.as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_routes_match_filter_and_split_traffic_on_their_own_address() {
    let blue = Backends::start("blue", &["127.0.0.2"]).await;
    let green = Backends::start("green", &["127.0.0.3"]).await;
    let addr: SocketAddr = format!("127.0.0.41:{}", free_port()).parse().expect("addr");
    let rules = r#"  - matches:
    - path: {type: PathPrefix, value: /v2}
      headers: [{name: version, value: beta}]
    - path: {type: PathPrefix, value: /v2}
      queryParams: [{name: beta, value: "1"}]
    - path: {type: PathPrefix, value: /v2}
      method: DELETE
    backendRefs: [{name: green, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /split}}]
    backendRefs: [{name: blue, port: 80, weight: 3}, {name: green, port: 80, weight: 1}, {name: blue, port: 80, weight: 0}]
  - matches: [{path: {type: PathPrefix, value: /prefix/one}}]
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: rewritten.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /one}}
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: x-set, value: s}]
        add: [{name: x-add, value: a}]
        remove: [x-drop]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add: [{name: x-resp, value: r}]
    backendRefs: [{name: blue, port: 80}]
  - matches: [{path: {type: Exact, value: /full}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /replaced}}}]
    backendRefs: [{name: blue, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: new.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /cors}}]
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://www.foo.com", "https://*.bar.com"]
        allowMethods: [GET, OPTIONS]
        allowHeaders: [x-header-1]
        exposeHeaders: [x-header-3]
        allowCredentials: true
        maxAge: 3600
    backendRefs: [{name: blue, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /broken}}]
    backendRefs: [{name: missing, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: blue, port: 80}]
"#;
    let dir = manifests(&[
        ("class.yaml", class()),
        ("svc.yaml", blue_and_green(&blue, &green)),
        ("gw.yaml", gateway("gw", addr, Some("*.example"))),
        ("route.yaml", route("shop", &["shop.example"], rules)),
    ]);
    let sluice = Sluice::start(dir).await;
    let client = Client::new(addr);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            status_of(&client, "shop.example", "/").await == 200
        })
        .await,
        "{}",
        sluice.stderr()
    );

    let backend = |e: Option<sluice_proxy::echo::Echo>| e.map(|e| e.backend).unwrap_or_default();
    assert_eq!(backend(client.echo("shop.example", "/v2/x").await), "blue");
    let reply = client.get_with("shop.example", "/v2/x", &[("version", "beta")]).await;
    assert_eq!(reply.1.get("x-backend").map(|v| v.as_bytes()), Some(&b"green"[..]));
    assert_eq!(backend(client.echo("shop.example", "/v2/x?beta=1").await), "green");

    // Weights 3:1 (and 0): of 400 requests, blue gets 300 ± 60 (over 4 standard deviations).
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..400 {
        *counts.entry(backend(client.echo("shop.example", "/split").await)).or_default() += 1;
    }
    let blue_share = counts.get("blue").copied().unwrap_or(0);
    assert!((240..=360).contains(&blue_share), "{counts:?}");
    assert_eq!(counts.values().sum::<u32>(), 400, "{counts:?}");

    let reply =
        client.get_with("shop.example", "/prefix/one/two?q=1", &[("x-drop", "1"), ("x-add", "first")]).await;
    assert_eq!(reply.0, StatusCode::OK);
    assert_eq!(reply.1.get("x-resp").map(|v| v.as_bytes()), Some(&b"r"[..]));
    let echo: sluice_proxy::echo::Echo = serde_json::from_slice(&reply.2).expect("echo");
    assert_eq!(echo.uri, "/one/two?q=1");
    assert_eq!(echo.headers.get("host").map(String::as_str), Some("rewritten.example"));
    assert_eq!(echo.headers.get("x-set").map(String::as_str), Some("s"));
    assert_eq!(echo.headers.get("x-add").map(String::as_str), Some("first, a"));
    assert!(!echo.headers.contains_key("x-drop"));
    assert_eq!(client.echo("shop.example", "/full").await.map(|e| e.uri), Some("/replaced".to_owned()));

    let reply = client.get("shop.example", "/old/path?a=b").await.expect("redirect");
    assert_eq!(reply.0, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(reply.1.get("location").map(|v| v.as_bytes()), Some(&b"https://new.example/new/path?a=b"[..]));
    assert_eq!(status_of(&client, "shop.example", "/broken").await, 500, "an invalid backendRef answers 500");
    assert_eq!(status_of(&client, "other.example", "/").await, 404, "a host no route serves");
    assert_eq!(status_of(&client, "shop.other", "/").await, 404, "a host outside the listener's");

    // CORS: a preflight from an allowed (wildcard) origin is answered here; others are not.
    let preflight = |origin: &'static str| {
        http::Request::options(format!("http://{addr}/cors"))
            .header("host", "shop.example")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(http_body_util::Full::default())
            .expect("request")
    };
    let (status, headers, _) = client.send(preflight("https://www.bar.com")).await.expect("preflight");
    assert_eq!(status, StatusCode::NO_CONTENT);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("https://www.bar.com"));
    assert_eq!(header("access-control-allow-methods").as_deref(), Some("GET, OPTIONS"));
    assert_eq!(header("access-control-max-age").as_deref(), Some("3600"));
    assert_eq!(header("access-control-allow-credentials").as_deref(), Some("true"));
    let (_, headers, _) = client.send(preflight("https://foobar.com")).await.expect("preflight");
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "an origin not listed gets no CORS headers"
    );

    let status = reqwest_like_get(sluice.admin, "/status/gateways").await;
    assert!(status.contains("\"attachedRoutes\": 1"), "{status}");
    assert!(status.contains("BackendNotFound"), "{status}");
}

/// GET on the admin listener; the body as text.
async fn reqwest_like_get(admin: SocketAddr, path: &str) -> String {
    let client = Client::new(admin);
    client
        .get("localhost", path)
        .await
        .map(|(_, _, b)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_listeners_open_and_close_live_and_routes_edit_without_a_failed_request() {
    let blue = Backends::start("blue", &["127.0.0.2"]).await;
    let green = Backends::start("green", &["127.0.0.3"]).await;
    let first: SocketAddr = format!("127.0.0.42:{}", free_port()).parse().expect("addr");
    let second: SocketAddr = format!("127.0.0.43:{}", free_port()).parse().expect("addr");
    let to = |svc: &str| format!("  - backendRefs: [{{name: {svc}, port: 80}}]\n");
    let dir = manifests(&[
        ("class.yaml", class()),
        ("svc.yaml", blue_and_green(&blue, &green)),
        ("gw.yaml", gateway("gw", first, None)),
        ("route.yaml", route("r", &[], &to("blue"))),
    ]);
    let sluice = Sluice::start(dir).await;
    let client = Client::new(first);
    let served_by = |c: Client| async move { c.echo("any.example", "/").await.map(|e| e.backend) };
    assert!(wait_until(Duration::from_secs(10), || served_by(client.clone()).then_some_eq("blue")).await);

    // Edit the route under load: every request succeeds, and green takes over.
    let load = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut failed = 0;
            for _ in 0..300 {
                if status_of(&client, "any.example", "/").await != 200 {
                    failed += 1;
                }
            }
            failed
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    sluice.write("route.yaml", &route("r", &[], &to("green")));
    assert!(wait_until(Duration::from_secs(5), || served_by(client.clone()).then_some_eq("green")).await);
    assert_eq!(load.await.expect("load"), 0, "no failed request across the edit");

    // Move the Gateway to another address: the new socket opens, the old one closes, and a
    // connection it accepted before keeps working (answered 404: its Gateway is gone, and a
    // Gateway socket never falls back to the Ingress routes).
    let mut kept = tokio::net::TcpStream::connect(first).await.expect("connect");
    assert_eq!(exchange(&mut kept).await, 200);
    sluice.write("gw.yaml", &gateway("gw", second, None));
    let moved = Client::new(second);
    assert!(
        wait_until(Duration::from_secs(5), || served_by(moved.clone()).then_some_eq("green")).await,
        "{}",
        sluice.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(5), || async { tokio::net::TcpStream::connect(first).await.is_err() })
            .await,
        "the old socket is closed"
    );
    assert_eq!(exchange(&mut kept).await, 404);
}

/// One keep-alive request on `stream`; the status (0 when the connection failed).
async fn exchange(stream: &mut tokio::net::TcpStream) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = b"GET / HTTP/1.1\r\nHost: any.example\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
                _ => return 0,
            }
            continue;
        };
        let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while answer.len() < end + 4 + length {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
                _ => return 0,
            }
        }
        return head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    }
}

/// `Some(x) == want` as a future's output.
trait ThenSomeEq {
    fn then_some_eq(self, want: &'static str) -> impl std::future::Future<Output = bool>;
}

impl<F: std::future::Future<Output = Option<String>>> ThenSomeEq for F {
    async fn then_some_eq(self, want: &'static str) -> bool {
        self.await.as_deref() == Some(want)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listeners_pick_certificates_by_sni_and_refuse_misdirected_requests() {
    use super::tls_client::{certificate, secret, H2};
    let blue = Backends::start("blue", &["127.0.0.2"]).await;
    let green = Backends::start("green", &["127.0.0.3"]).await;
    let addr: SocketAddr = format!("127.0.0.44:{}", free_port()).parse().expect("addr");
    let (a_cert, a_key, a_der) = certificate(&["a.example"]);
    let (b_cert, b_key, b_der) = certificate(&["b.example"]);
    let gateway = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: demo}}\n\
         spec:\n  gatewayClassName: sluice\n  addresses: [{{value: \"{ip}\"}}]\n  listeners:\n\
         \x20 - {{name: a, protocol: HTTPS, port: {port}, hostname: a.example, tls: {{certificateRefs: [{{name: a-tls}}]}}}}\n\
         \x20 - {{name: b, protocol: HTTPS, port: {port}, hostname: b.example, tls: {{certificateRefs: [{{name: b-tls}}]}}}}\n",
        ip = addr.ip(),
        port = addr.port()
    );
    let attach = |name: &str, section: &str, svc: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: demo}}\n\
             spec:\n  parentRefs: [{{name: gw, sectionName: {section}}}]\n  rules:\n\
             \x20 - matches: [{{path: {{type: PathPrefix, value: /slow}}}}]\n    timeouts: {{request: 300ms}}\n\
             \x20   backendRefs: [{{name: {svc}, port: 80}}]\n\
             \x20 - backendRefs: [{{name: {svc}, port: 80}}]\n"
        )
    };
    let dir = manifests(&[
        ("class.yaml", class()),
        ("svc.yaml", blue_and_green(&blue, &green)),
        ("tls.yaml", [secret("a-tls", &a_cert, &a_key), secret("b-tls", &b_cert, &b_key)].join("---\n")),
        ("gw.yaml", gateway),
        ("routes.yaml", [attach("ra", "a", "blue"), attach("rb", "b", "green")].join("---\n")),
    ]);
    let sluice = Sluice::start(dir).await;
    let connected =
        wait_until(Duration::from_secs(10), || async { H2::connect(addr, "a.example").await.is_ok() }).await;
    assert!(connected, "{}", sluice.stderr());

    let mut a = H2::connect(addr, "a.example").await.expect("a.example");
    assert_eq!(a.leaf, a_der, "the a listener's certificate");
    let (status, headers, _) = a.get("a.example", "/").await.expect("request");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("x-backend").map(|v| v.as_bytes()), Some(&b"blue"[..]));
    let (status, _, _) = a.get("b.example", "/").await.expect("request");
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "a connection for a.example asks for b.example");
    let (status, _, _) = a.get("a.example", "/slow?delay_ms=2000").await.expect("request");
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "timeouts.request 300ms");

    let mut b = H2::connect(addr, "b.example").await.expect("b.example");
    assert_eq!(b.leaf, b_der, "the b listener's certificate");
    let (_, headers, _) = b.get("b.example", "/").await.expect("request");
    assert_eq!(headers.get("x-backend").map(|v| v.as_bytes()), Some(&b"green"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_addresses_shares_the_ingress_listener_of_its_port() {
    use super::support::{ingress, ingress_class};
    let blue = Backends::start("blue", &["127.0.0.2"]).await;
    let green = Backends::start("green", &["127.0.0.3"]).await;
    let dir = manifests(&[
        ("class.yaml", [ingress_class(), class()].join("---\n")),
        ("svc.yaml", blue_and_green(&blue, &green)),
        ("ingress.yaml", ingress("app", "app.test", &[("Prefix", "/", "blue")])),
    ]);
    let sluice = Sluice::start(dir).await;
    let port = sluice.http.port();
    let gateway = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: demo}}\n\
         spec:\n  gatewayClassName: sluice\n  listeners:\n  - {{name: web, protocol: HTTP, port: {port}}}\n"
    );
    let routes = r#"  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: green, port: 80}]
"#;
    sluice.write("gw.yaml", &[gateway, route("r", &["app.test", "shop.test"], routes)].join("---\n"));
    let client = sluice.client();
    let moved = wait_until(Duration::from_secs(10), || async {
        client.echo("app.test", "/api/x").await.is_some_and(|e| e.backend == "green")
    })
    .await;
    assert!(moved, "the HTTPRoute does not serve on the Ingress listener; {}", sluice.stderr());
    let backend = |host: &'static str, path: &'static str| {
        let c = client.clone();
        async move { c.echo(host, path).await.map(|e| e.backend) }
    };
    assert_eq!(
        backend("app.test", "/").await.as_deref(),
        Some("blue"),
        "the Ingress keeps what the route does not match"
    );
    assert_eq!(backend("shop.test", "/api").await.as_deref(), Some("green"));
    assert_eq!(status_of(&client, "shop.test", "/other").await, 404);
    let log = sluice.stderr();
    assert!(!log.contains("Cannot open a Gateway socket"), "{log}");
}
