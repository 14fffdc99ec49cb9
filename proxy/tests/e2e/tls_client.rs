//! A real rustls client for the TLS tests: it records the certificate the server presents (and
//! checks the handshake signatures), and speaks HTTP/2 or HTTP/1.1 over the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::support::Reply;

/// Accepts any certificate (the tests compare it byte for byte instead) but verifies the
/// handshake signatures, so the server must hold the certificate's key.
pub struct Tls {
    pub stream: TlsStream<TcpStream>,
    /// The leaf certificate the server presented (DER).
    pub leaf: Vec<u8>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
}

/// Connects to `addr` with SNI `sni` (an IP-literal-free name) offering `alpn`.
pub async fn connect(addr: SocketAddr, sni: &str, alpn: &[&[u8]]) -> Result<Tls, String> {
    connect_after(addr, sni, alpn, &[]).await
}

/// As [`connect`], sending `preamble` (a PROXY protocol header) before the TLS handshake.
pub async fn connect_after(
    addr: SocketAddr,
    sni: &str,
    alpn: &[&[u8]],
    preamble: &[u8],
) -> Result<Tls, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(sluice_proxy::subrequest::Unverified(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tokio::io::AsyncWriteExt::write_all(&mut tcp, preamble).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let stream = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| e.to_string())?;
    let (_, conn) = stream.get_ref();
    let leaf = conn.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).unwrap_or_default();
    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
    Ok(Tls { stream, leaf, alpn })
}

/// An HTTP/2 connection over TLS; requests share it until it is dropped.
pub struct H2 {
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    pub leaf: Vec<u8>,
}

impl H2 {
    /// Connects with ALPN `h2` and fails unless the server picks it.
    pub async fn connect(addr: SocketAddr, sni: &str) -> Result<H2, String> {
        let tls = connect(addr, sni, &[b"h2", b"http/1.1"]).await?;
        if tls.alpn.as_deref() != Some(b"h2".as_slice()) {
            return Err(format!("ALPN negotiated {:?}, not h2", tls.alpn));
        }
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls.stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(H2 { sender, leaf: tls.leaf })
    }

    /// GET `https://{host}{path}` on this connection.
    pub async fn get(&mut self, host: &str, path: &str) -> Result<Reply, String> {
        let req =
            Request::get(format!("https://{host}{path}")).body(Full::default()).map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let resp = self.sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}

/// A fresh self-signed certificate for `names`: (cert PEM, key PEM, cert DER).
pub fn certificate(names: &[&str]) -> (String, String, Vec<u8>) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(names).expect("params").self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// A TLS acceptor for test servers behind Sluice (HTTPS backends, HTTPS auth services), with a
/// fresh self-signed certificate for `names`.
pub fn acceptor(names: &[&str]) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    let (cert_pem, key_pem, _) = certificate(names);
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>().expect("certs");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A `kubernetes.io/tls` Secret in `demo` (with `stringData`, as a manifest may carry it).
pub fn secret(name: &str, cert_pem: &str, key_pem: &str) -> String {
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: demo}}\ntype: kubernetes.io/tls\n\
         stringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(cert_pem),
        indent(key_pem)
    )
}

/// An Ingress in `demo` routing `host` `/` to `service`, with TLS from `secret` for `tls_hosts`
/// and the given annotations.
pub fn tls_ingress(
    name: &str,
    host: &str,
    service: &str,
    tls: Option<(&str, &[&str])>,
    annotations: &[(&str, &str)],
) -> String {
    let annotations: String = annotations.iter().map(|(k, v)| format!("    {k}: \"{v}\"\n")).collect();
    let tls = tls.map_or(String::new(), |(secret, hosts)| {
        let hosts: String = hosts.iter().map(|h| format!("    - \"{h}\"\n")).collect();
        format!("  tls:\n  - secretName: {secret}\n    hosts:\n{hosts}")
    });
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: demo\n  annotations:\n{annotations}    x: \"y\"\n\
         spec:\n  ingressClassName: sluice\n{tls}  rules:\n  - host: \"{host}\"\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service: {{name: {service}, port: {{number: 80}}}}\n"
    )
}
