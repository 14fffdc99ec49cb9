//! TLS certificates from `kubernetes.io/tls` Secrets: PEM parsing and validation (chain, key
//! matching the certificate, validity period, names covered), done once per table so that a
//! handshake only looks a certificate up.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::snapshot::ObjectRef;

/// The Secret key holding the PEM certificate chain.
pub const CERT_KEY: &str = "tls.crt";
/// The Secret key holding the PEM private key.
pub const KEY_KEY: &str = "tls.key";

/// A validated certificate and key, ready for rustls.
pub struct TlsCertificate {
    /// The Secret it came from.
    pub secret: ObjectRef,
    /// The DNS names (SANs, or the CN without SANs) the leaf certificate covers.
    pub names: Vec<String>,
    /// End of validity, in seconds since the Unix epoch.
    pub not_after: i64,
    /// The chain and signing key handed to rustls.
    pub certified: Arc<CertifiedKey>,
    fingerprint: Vec<u8>,
}

impl PartialEq for TlsCertificate {
    fn eq(&self, other: &Self) -> bool {
        self.secret == other.secret && self.fingerprint == other.fingerprint
    }
}

impl fmt::Debug for TlsCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCertificate")
            .field("secret", &self.secret)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl TlsCertificate {
    /// Whether the leaf certificate covers `host` (exactly, or by a single-label wildcard SAN).
    /// A `*.foo.com` host is covered only by a `*.foo.com` name.
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|name| {
            name == host
                || name.strip_prefix("*.").is_some_and(|suffix| {
                    host.split_once('.')
                        .is_some_and(|(label, rest)| !label.is_empty() && label != "*" && rest == suffix)
                })
        })
    }

    /// Builds a certificate from PEM bytes (used for Secrets and for the generated default).
    pub fn from_pem(
        secret: ObjectRef,
        cert_pem: &[u8],
        key_pem: &[u8],
        now: SystemTime,
    ) -> Result<Self, String> {
        let chain = pem_certificates(CERT_KEY, cert_pem)?;
        let Some(leaf) = chain.first() else {
            return Err(format!("{CERT_KEY} holds no certificate"));
        };
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| format!("{KEY_KEY} is not a valid PEM private key: {e}"))?;
        let (_, parsed) = X509Certificate::from_der(leaf.as_ref()).map_err(|e| format!("{CERT_KEY}: {e}"))?;
        let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let validity = parsed.validity();
        let not_after = validity.not_after.timestamp();
        if not_after < now_s {
            return Err(format!("the certificate expired at {}", validity.not_after));
        }
        if validity.not_before.timestamp() > now_s {
            return Err(format!("the certificate is not valid before {}", validity.not_before));
        }
        let names = dns_names(&parsed);
        let mut fingerprint = Vec::new();
        chain.iter().for_each(|c| fingerprint.extend_from_slice(c.as_ref()));
        fingerprint.extend_from_slice(key.secret_der());
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => "the private key does not match the certificate".to_owned(),
            e => format!("unusable key: {e}"),
        })?;
        Ok(TlsCertificate { secret, names, not_after, certified: Arc::new(certified), fingerprint })
    }

    /// Builds a certificate from a Secret's `tls.crt` and `tls.key` (`data`, or `stringData` as
    /// manifests may carry it).
    pub fn from_secret(secret_ref: ObjectRef, secret: &Secret, now: SystemTime) -> Result<Self, String> {
        let (Some(cert), Some(key)) = (secret_field(secret, CERT_KEY), secret_field(secret, KEY_KEY)) else {
            return Err(format!("the Secret has no {CERT_KEY} and {KEY_KEY}"));
        };
        Self::from_pem(secret_ref, &cert, &key, now)
    }
}

/// A Secret's value under `key`: from `data`, else from `stringData` (as manifests may carry it).
pub fn secret_field(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.as_bytes().to_vec()))
}

/// The certificates of the PEM value of the Secret field `field` (possibly none).
pub fn pem_certificates(field: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{field} is not valid PEM: {e}"))
}

fn dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.extend(
            cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase),
        );
    }
    names
}
