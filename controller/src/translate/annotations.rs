//! The `nginx.ingress.kubernetes.io/*` annotations Sluice interprets, parsed into typed values.
//! An invalid value is a warning naming the Ingress and the annotation; the route keeps the
//! safe default.

use k8s_openapi::api::networking::v1::Ingress;

use super::config::parse_bool;
use super::warning::{Invalid, Warning};
use crate::snapshot::ObjectRef;

/// The annotation prefix ingress-nginx uses.
pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// Per-Ingress settings from annotations; `None` means "use the global setting".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngressAnnotations {
    /// `ssl-redirect`: redirect to HTTPS when the host has TLS.
    pub ssl_redirect: Option<bool>,
    /// `force-ssl-redirect`: redirect to HTTPS even without TLS.
    pub force_ssl_redirect: Option<bool>,
}

/// Parses the annotations of `ingress`.
pub fn parse(ingress: &Ingress, object: &ObjectRef, warnings: &mut Vec<Warning>) -> IngressAnnotations {
    let mut parsed = IngressAnnotations::default();
    let Some(annotations) = ingress.metadata.annotations.as_ref() else {
        return parsed;
    };
    let mut boolean = |name: &str| -> Option<bool> {
        let value = annotations.get(&format!("{PREFIX}{name}"))?;
        let b = parse_bool(value.trim());
        if b.is_none() {
            warnings.push(Warning {
                object: object.clone(),
                reason: Invalid::InvalidAnnotation {
                    annotation: format!("{PREFIX}{name}"),
                    value: value.clone(),
                    reason: "not a boolean",
                },
            });
        }
        b
    };
    parsed.ssl_redirect = boolean("ssl-redirect");
    parsed.force_ssl_redirect = boolean("force-ssl-redirect");
    parsed
}
