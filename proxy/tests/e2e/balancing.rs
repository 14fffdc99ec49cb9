//! Endpoint choice and upstream protocol annotations, end to end: `upstream-hash-by`,
//! `affinity-mode: persistent`, and `backend-protocol: HTTPS` with and without verification.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::net::TcpListener;

use super::support::{
    annotate, ingress, ingress_class, manifests, service, wait_until, Backends, Client, Sluice,
};
use super::tls_client::acceptor;

async fn endpoint_with_cookie(
    c: &Client,
    host: &str,
    path: &str,
    cookie: Option<&str>,
) -> (String, Option<String>) {
    let sent: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
    let (status, headers, body) = c.get_with(host, path, &sent).await;
    assert_eq!(status, StatusCode::OK);
    let e: sluice_proxy::echo::Echo = serde_json::from_slice(&body).expect("echo");
    let set = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    (e.local_addr, set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_by_and_persistent_affinity_keep_keys_on_their_endpoints() {
    let ips = ["127.0.0.91", "127.0.0.92", "127.0.0.93"];
    let b = Backends::start("lb", &ips).await;
    let hashed = annotate(
        &ingress("hashed", "hash.test", &[("Prefix", "/", "lb")]),
        &[("nginx.ingress.kubernetes.io/upstream-hash-by", "$arg_user")],
    );
    let persistent = annotate(
        &ingress("persistent", "pin.test", &[("Prefix", "/", "lb")]),
        &[
            ("nginx.ingress.kubernetes.io/affinity", "cookie"),
            ("nginx.ingress.kubernetes.io/affinity-mode", "persistent"),
        ],
    );
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("lb", b.port, &ips, true)),
        ("hashed.yaml", hashed),
        ("pin.yaml", persistent),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    let mut owner = HashMap::new();
    for round in 0..3 {
        for user in 0..30 {
            let (addr, _) = endpoint_with_cookie(&c, "hash.test", &format!("/?user=u{user}"), None).await;
            let first = owner.entry(user).or_insert_with(|| addr.clone());
            assert_eq!(*first, addr, "user {user} moved in round {round}");
        }
    }
    let used: HashSet<&String> = owner.values().collect();
    assert_eq!(used.len(), 3, "30 keys use every endpoint");

    let (pinned, cookie) = endpoint_with_cookie(&c, "pin.test", "/", None).await;
    let cookie = cookie.expect("INGRESSCOOKIE set");
    assert!(cookie.starts_with("INGRESSCOOKIE="), "{cookie}");
    for _ in 0..6 {
        let (addr, again) = endpoint_with_cookie(&c, "pin.test", "/", Some(&cookie)).await;
        assert_eq!((addr.as_str(), again), (pinned.as_str(), None));
    }
    // Its endpoint goes away: the request moves and gets a new cookie naming the new endpoint.
    let pinned_ip = pinned.split(':').next().expect("ip").to_owned();
    let rest: Vec<&str> = ips.iter().copied().filter(|ip| *ip != pinned_ip).collect();
    sluice.write("svc.yaml", &service("lb", b.port, &rest, true));
    let moved = wait_until(Duration::from_secs(5), || async {
        !endpoint_with_cookie(&c, "pin.test", "/", Some(&cookie)).await.0.starts_with(&pinned_ip)
    })
    .await;
    assert!(moved, "the request left the removed endpoint");
    let (addr, renewed) = endpoint_with_cookie(&c, "pin.test", "/", Some(&cookie)).await;
    let renewed = renewed.expect("a new cookie");
    assert_ne!(renewed, cookie);
    for _ in 0..4 {
        assert_eq!(endpoint_with_cookie(&c, "pin.test", "/", Some(&renewed)).await.0, addr);
    }
}

/// An echo backend over TLS on `ip` (any port): its address and the task to abort.
async fn tls_echo(
    ip: &str,
    acceptor: tokio_rustls::TlsAcceptor,
    name: &'static str,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let local: SocketAddr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    sluice_proxy::echo::serve_connection(tls, Arc::from(name), local).await;
                }
            });
        }
    });
    (local, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_with_and_without_verification() {
    let (local, server) = tls_echo("127.0.0.94", acceptor(&["backend.internal"]), "tls-echo").await;
    let https = annotate(
        &ingress("https", "https.test", &[("Prefix", "/", "secure")]),
        &[("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS")],
    );
    let verified = annotate(
        &ingress("verified", "verified.test", &[("Prefix", "/", "secure")]),
        &[
            ("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),
            ("nginx.ingress.kubernetes.io/proxy-ssl-verify", "on"),
            ("nginx.ingress.kubernetes.io/proxy-ssl-name", "backend.internal"),
            ("nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "1"),
        ],
    );
    let plain = ingress("plain", "plain.test", &[("Prefix", "/", "secure")]);
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("secure", local.port(), &["127.0.0.94"], true)),
        ("https.yaml", https),
        ("verified.yaml", verified),
        ("plain.yaml", plain),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    let Some(e) = c.echo("https.test", "/over-tls").await else {
        panic!("not proxied over TLS: {:?}\n{}", c.get("https.test", "/").await, sluice.stderr());
    };
    assert_eq!((e.backend.as_str(), e.uri.as_str()), ("tls-echo", "/over-tls"));
    // A self-signed certificate is not trusted when verification is on.
    let (status, _, _) = c.get("verified.test", "/").await.expect("response");
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    // Plain HTTP to a TLS port fails: the protocol annotation is what makes it work.
    let (status, _, _) = c.get("plain.test", "/").await.expect("response");
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    server.abort();
}

/// A CA: its certificate (PEM) and what signs with it.
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        TestCa { cert: params.self_signed(&key).expect("ca"), key }
    }

    /// A certificate for `names` signed by this CA: (cert PEM, key PEM).
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed");
        (cert.pem(), key.serialize_pem())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_ssl_secret_presents_a_client_certificate_and_verifies_with_its_ca() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ca = TestCa::new("backend CA");
    let other_ca = TestCa::new("another CA");
    let (server_cert, server_key) = ca.issue(&["backend.internal"]);
    let (client_cert, client_key) = ca.issue(&["sluice.client"]);
    // The backend insists on a client certificate from `ca`.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.cert.der().to_vec())).expect("root");
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .expect("verifier");
    let certs =
        CertificateDer::pem_slice_iter(server_cert.as_bytes()).collect::<Result<_, _>>().expect("certs");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, PrivateKeyDer::from_pem_slice(server_key.as_bytes()).expect("key"))
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (local, server) = tls_echo("127.0.0.95", acceptor, "mtls-echo").await;
    let mtls_secret = |name: &str, ca_pem: &str| {
        let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: demo}}\ntype: Opaque\n\
             stringData:\n  tls.crt: |\n{}  tls.key: |\n{}  ca.crt: |\n{}",
            indent(&client_cert),
            indent(&client_key),
            indent(ca_pem)
        )
    };
    let https = |name: &str, host: &str, secret: Option<&str>| {
        let mut a = vec![
            ("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),
            ("nginx.ingress.kubernetes.io/proxy-ssl-verify", "on"),
            ("nginx.ingress.kubernetes.io/proxy-ssl-name", "backend.internal"),
            ("nginx.ingress.kubernetes.io/proxy-next-upstream-tries", "1"),
        ];
        if let Some(s) = secret {
            a.push(("nginx.ingress.kubernetes.io/proxy-ssl-secret", s));
        }
        annotate(&ingress(name, host, &[("Prefix", "/", "secure")]), &a)
    };
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("secure", local.port(), &["127.0.0.95"], true)),
        (
            "secrets.yaml",
            [mtls_secret("mtls", &ca.cert.pem()), mtls_secret("wrong-ca", &other_ca.cert.pem())]
                .join("---\n"),
        ),
        ("mtls.yaml", https("mtls", "mtls.test", Some("mtls"))),
        ("nocert.yaml", https("nocert", "nocert.test", None)),
        ("wrongca.yaml", https("wrongca", "wrongca.test", Some("wrong-ca"))),
        ("missing.yaml", https("missing", "missing.test", Some("no-such-secret"))),
    ]);
    let sluice = Sluice::start(dir).await;
    let c = sluice.client();

    let Some(e) = c.echo("mtls.test", "/mutual").await else {
        panic!("mTLS to the backend failed: {:?}\n{}", c.get("mtls.test", "/").await, sluice.stderr());
    };
    assert_eq!((e.backend.as_str(), e.uri.as_str()), ("mtls-echo", "/mutual"));
    let status = |host: &'static str| {
        let c = &c;
        async move { c.get(host, "/").await.expect("response").0 }
    };
    assert_eq!(
        status("nocert.test").await,
        StatusCode::BAD_GATEWAY,
        "the backend wants a client certificate"
    );
    assert_eq!(
        status("wrongca.test").await,
        StatusCode::BAD_GATEWAY,
        "ca.crt does not vouch for the backend"
    );
    assert_eq!(
        status("missing.test").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a missing Secret fails closed"
    );
    assert!(
        sluice.stderr().contains("proxy-ssl-secret \"no-such-secret\": not found"),
        "{}",
        sluice.stderr()
    );
    server.abort();
}
