//! `proxy-ssl-secret`: the client certificate Sluice presents to HTTPS (and GRPCS) upstreams,
//! and the CAs it verifies them against when `proxy-ssl-verify` is on.

use std::any::Any;
use std::fmt;
use std::sync::OnceLock;

/// The parts of a `proxy-ssl-secret`, each already parsed once, so that the data plane can
/// build its own form of them without failing.
pub struct UpstreamTls {
    /// The Secret, `namespace/name`.
    pub secret: String,
    /// `tls.crt`, leaf first (DER); empty when the Secret has no client certificate.
    pub chain: Vec<Vec<u8>>,
    /// `tls.key` (DER: PKCS#8, PKCS#1 or SEC1).
    pub key: Vec<u8>,
    /// `ca.crt` (DER); empty when the Secret names no CA.
    pub ca: Vec<Vec<u8>>,
    /// The data plane's form of the above, built on first use and kept with the table.
    pub prepared: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl UpstreamTls {
    /// Whether a client certificate is presented.
    pub fn has_client_certificate(&self) -> bool {
        !self.chain.is_empty()
    }
}

impl PartialEq for UpstreamTls {
    fn eq(&self, other: &Self) -> bool {
        (&self.secret, &self.chain, &self.key, &self.ca)
            == (&other.secret, &other.chain, &other.key, &other.ca)
    }
}

impl Eq for UpstreamTls {}

impl fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("secret", &self.secret)
            .field("chain", &self.chain.len())
            .field("ca", &self.ca.len())
            .finish_non_exhaustive()
    }
}
