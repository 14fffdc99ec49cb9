//! TLS termination: certificates are picked per handshake by SNI from the live routing table.
//!
//! Pingora's rustls listener accepts a `rustls::server::ResolvesServerCert`; [`SniResolver`]
//! loads the current table on every ClientHello, so a new or renewed Secret applies to the next
//! handshake, with no restart and no effect on open connections. Unknown names get the
//! `--default-ssl-certificate` from the table, else a self-signed certificate generated at start
//! (ingress-nginx's "Fake Certificate").

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sluice_controller::{ObjectKind, ObjectRef, Publisher, TlsCertificate};

/// The common name ingress-nginx gives its generated default certificate.
pub const FAKE_CERTIFICATE_CN: &str = "Kubernetes Ingress Controller Fake Certificate";

/// Chooses the certificate for each handshake from the live table.
pub struct SniResolver {
    publisher: Arc<Publisher>,
    fallback: Arc<CertifiedKey>,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver").finish_non_exhaustive()
    }
}

impl SniResolver {
    /// A resolver over `publisher`'s tables, with `fallback` when the table has no certificate.
    pub fn new(publisher: Arc<Publisher>, fallback: Arc<CertifiedKey>) -> Self {
        SniResolver { publisher, fallback }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let live = self.publisher.load();
        let chosen = live.table.certificate(hello.server_name()).map(|c| c.certified.clone());
        Some(chosen.unwrap_or_else(|| self.fallback.clone()))
    }
}

/// Generates the self-signed default certificate (CN as ingress-nginx's, SAN `ingress.local`).
pub fn fake_certificate() -> anyhow::Result<TlsCertificate> {
    let mut params = CertificateParams::new(vec!["ingress.local".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, FAKE_CERTIFICATE_CN);
    params.distinguished_name.push(DnType::OrganizationName, "Acme Co");
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let source =
        ObjectRef { kind: ObjectKind::Secret, namespace: String::new(), name: "fake-certificate".into() };
    TlsCertificate::from_pem(source, cert.pem().as_bytes(), key.serialize_pem().as_bytes(), SystemTime::now())
        .map_err(|e| anyhow::anyhow!("generated default certificate: {e}"))
}

/// The TLS server name a client sent (SNI), kept in the connection's TLS digest so that the
/// router can tell a misdirected request (421) on Gateway HTTPS listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerName(pub String);

/// Records the server name after each handshake (one small string per TLS connection).
struct RecordServerName;

#[async_trait::async_trait]
impl TlsAccept for RecordServerName {
    async fn handshake_complete_callback(&self, tls: &TlsRef) -> Option<Arc<dyn Any + Send + Sync>> {
        let name = tls.server_name()?;
        Some(Arc::new(ServerName(name.to_owned())))
    }
}

/// Listener settings: TLS 1.2 and 1.3 (Pingora's rustls builder allows only these, with rustls's
/// AEAD-only suites), ALPN `h2` then `http/1.1`, certificates from `resolver`, the server name
/// recorded ([`ServerName`]).
pub fn listener_settings(resolver: Arc<SniResolver>) -> pingora::Result<TlsSettings> {
    let mut settings = TlsSettings::with_callbacks(Box::new(RecordServerName))?;
    settings.set_cert_resolver(resolver);
    settings.enable_h2();
    Ok(settings)
}
