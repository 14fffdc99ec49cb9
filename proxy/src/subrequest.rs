//! The pooled HTTP/1 client for Sluice's own requests: to auth services (`auth-url`, `http://` or
//! `https://`), to error backends (`custom-http-errors`) and to mirrors (`mirror-target`).
//! Connections are kept and reused per address.
//!
//! HTTPS auth services and mirrors get SNI but their certificates are not verified: ingress-nginx's
//! `auth_request` and `mirror` run with nginx's default `proxy_ssl_verify off`, and in-cluster auth services
//! commonly present self-signed certificates that no annotation can name a CA for.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The body of a subrequest: empty for auth and error pages, streamed for mirrors.
pub type SubBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// The shared client (a clone shares its connection pool).
#[derive(Clone)]
pub struct Subrequests {
    client: Client<HttpsConnector<HttpConnector>, SubBody>,
}

impl Default for Subrequests {
    fn default() -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            // A static fact, not input: ring's provider has suites for TLS 1.2 and 1.3.
            .expect("ring supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
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
        let req = req.map(|empty| empty.map_err(|never| match never {}).boxed_unsync());
        self.send_body(req, timeout, max_body).await
    }

    /// Sends `req` with its body and reads at most `max_body` bytes of the answer, all within
    /// `timeout`.
    pub async fn send_body(
        &self,
        req: Request<SubBody>,
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

/// nginx's `proxy_ssl_verify off`: any certificate is accepted, but the handshake signatures are
/// still checked, so the connection is encrypted to whoever holds the presented key.
#[derive(Debug)]
pub struct Unverified(pub Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
