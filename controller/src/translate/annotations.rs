//! The `nginx.ingress.kubernetes.io/*` annotations Sluice interprets, parsed into typed values.
//! An invalid value is a warning naming the Ingress and the annotation; the route keeps the
//! safe default.

use k8s_openapi::api::networking::v1::Ingress;

use super::config::parse_bool;
use super::warning::{Invalid, Warning};
use crate::snapshot::ObjectRef;

/// The annotation prefix ingress-nginx uses.
pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// The annotations Sluice interprets today (without the prefix).
pub const SUPPORTED: [&str; 2] = ["ssl-redirect", "force-ssl-redirect"];

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
    report_unsupported(annotations.keys(), object, warnings);
    parsed
}

/// One warning per Ingress listing the `nginx.ingress.kubernetes.io/*` annotations that Sluice
/// ignores, and one listing the `*-snippet` annotations it refuses: raw nginx configuration
/// injected through annotations is how IngressNightmare (CVE-2025-1974) and its predecessors
/// happened, so snippets are never interpreted.
fn report_unsupported<'a>(
    keys: impl Iterator<Item = &'a String>,
    object: &ObjectRef,
    warnings: &mut Vec<Warning>,
) {
    let (mut snippets, mut ignored) = (Vec::new(), Vec::new());
    for name in keys.filter_map(|k| k.strip_prefix(PREFIX)) {
        if name.ends_with("-snippet") {
            snippets.push(name.to_owned());
        } else if !SUPPORTED.contains(&name) {
            ignored.push(name.to_owned());
        }
    }
    if !snippets.is_empty() {
        warnings.push(Warning {
            object: object.clone(),
            reason: Invalid::SnippetRefused { annotations: snippets },
        });
    }
    if !ignored.is_empty() {
        warnings.push(Warning {
            object: object.clone(),
            reason: Invalid::UnsupportedAnnotations { annotations: ignored },
        });
    }
}
