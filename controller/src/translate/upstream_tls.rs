//! `proxy-ssl-secret`, read from a Secret of the Ingress's namespace when the table is built:
//! `tls.crt` and `tls.key` (the client certificate presented to TLS upstreams) and `ca.crt` (the
//! CAs that verify them under `proxy-ssl-verify`). Everything is parsed here, so that the data
//! plane never meets a certificate it cannot use.

use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::warning::{Invalid, Warning};
use crate::policy::UpstreamTls;
use crate::snapshot::{ObjectRef, Snapshot};
use crate::tls::{pem_certificates, secret_field};

/// The client TLS of `reference` (`NAME` or `NAMESPACE/NAME` of the Ingress's namespace); None,
/// with a warning, when it cannot be used (the caller then refuses the routes).
pub fn upstream_tls(
    snapshot: &Snapshot,
    object: &ObjectRef,
    reference: &str,
    warnings: &mut Vec<Warning>,
) -> Option<Arc<UpstreamTls>> {
    let found = object.own_namespace_key(reference).map_err(str::to_owned).and_then(|key| {
        let secret = snapshot.secrets.get(&key).ok_or_else(|| "not found".to_owned())?;
        parse(secret, format!("{}/{}", key.0, key.1))
    });
    found
        .map_err(|reason| {
            let reason = Invalid::ProxySslSecret { secret: reference.to_owned(), reason };
            warnings.push(Warning { object: object.clone(), reason });
        })
        .ok()
        .map(Arc::new)
}

fn parse(secret: &Secret, name: String) -> Result<UpstreamTls, String> {
    let field = |key: &str| secret_field(secret, key);
    let (chain, key) = match (field("tls.crt"), field("tls.key")) {
        (Some(crt), Some(key)) => {
            let chain = certificates("tls.crt", &crt)?;
            let key = PrivateKeyDer::from_pem_slice(&key)
                .map_err(|e| format!("tls.key is not a valid PEM private key: {e}"))?;
            (chain, key.secret_der().to_vec())
        }
        (None, None) => (Vec::new(), Vec::new()),
        _ => return Err("tls.crt and tls.key go together".to_owned()),
    };
    let ca = field("ca.crt").map(|pem| certificates("ca.crt", &pem)).transpose()?.unwrap_or_default();
    if chain.is_empty() && ca.is_empty() {
        return Err("has neither tls.crt and tls.key nor ca.crt".to_owned());
    }
    Ok(UpstreamTls { secret: name, chain, key, ca, prepared: OnceLock::new() })
}

/// The DER certificates of a PEM field, each parsed as X.509.
fn certificates(field: &str, pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certs = pem_certificates(field, pem)?;
    if certs.is_empty() {
        return Err(format!("{field} holds no certificate"));
    }
    for cert in &certs {
        X509Certificate::from_der(cert.as_ref()).map_err(|e| format!("{field}: {e}"))?;
    }
    Ok(certs.into_iter().map(|c| c.to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(data: serde_json::Value) -> Secret {
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": "s", "namespace": "d"}, "stringData": data}),
        )
        .expect("secret")
    }

    #[test]
    fn unusable_secrets_are_refused_with_a_reason() {
        let cert = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).expect("cert");
        let (crt, key) = (cert.cert.pem(), cert.key_pair.serialize_pem());
        let ok = parse(&secret(serde_json::json!({"tls.crt": crt, "tls.key": key})), "d/s".into())
            .expect("usable");
        assert!(ok.has_client_certificate() && ok.ca.is_empty());
        let ca_only = parse(&secret(serde_json::json!({"ca.crt": crt})), "d/s".into()).expect("usable");
        assert!(!ca_only.has_client_certificate() && ca_only.ca.len() == 1);
        for (data, reason) in [
            (serde_json::json!({"tls.crt": crt}), "go together"),
            (serde_json::json!({"tls.crt": crt, "tls.key": "nonsense"}), "tls.key"),
            (
                serde_json::json!({"ca.crt": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
                "ca.crt",
            ),
            (serde_json::json!({"other": "x"}), "neither"),
        ] {
            let error = parse(&secret(data), "d/s".into()).expect_err("refused");
            assert!(error.contains(reason), "{error}");
        }
    }
}
