//! `spec.tls[]`: which hosts have TLS, and which certificate each one presents.
//!
//! Ingresses are read oldest first, so the oldest Ingress that lists a host picks its
//! certificate. A missing or invalid Secret, or one whose certificate does not cover the host, is
//! a warning: the host still counts as having TLS (so HTTP is redirected), and it is served with
//! the default certificate, as ingress-nginx does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::networking::v1::Ingress;

use super::warning::{Invalid, Warning};
use crate::matching::wildcard_suffix;
use crate::snapshot::{Key, ObjectKind, ObjectRef, Snapshot};
use crate::table::RoutingTable;
use crate::tls::TlsCertificate;

/// The TLS view of all our Ingresses.
#[derive(Debug, Default)]
pub struct TlsHosts {
    with_tls: HashSet<String>,
    /// `foo.com` for every listed `*.foo.com`.
    wildcard_suffixes: HashSet<String>,
    certificates: Vec<(String, Arc<TlsCertificate>)>,
}

impl TlsHosts {
    /// Whether a rule host has TLS (listed itself, or covered by a listed `*.` host).
    pub fn has_tls(&self, host: &str) -> bool {
        self.with_tls.contains(host)
            || (!host.starts_with("*.")
                && wildcard_suffix(host).is_some_and(|s| self.wildcard_suffixes.contains(s)))
    }

    /// Moves the certificates into the table.
    pub fn install(self, table: &mut RoutingTable) {
        for (host, cert) in self.certificates {
            table.add_certificate(&host, cert);
        }
    }
}

/// Loads Secrets once per translation, remembering failures.
pub struct Certificates<'a> {
    snapshot: &'a Snapshot,
    now: SystemTime,
    loaded: HashMap<Key, Result<Arc<TlsCertificate>, Invalid>>,
}

impl<'a> Certificates<'a> {
    /// A loader over the snapshot's Secrets; `now` decides expiry.
    pub fn new(snapshot: &'a Snapshot, now: SystemTime) -> Self {
        Certificates { snapshot, now, loaded: HashMap::new() }
    }

    /// The certificate of Secret `namespace/name`.
    pub fn load(&mut self, namespace: &str, name: &str) -> Result<Arc<TlsCertificate>, Invalid> {
        let key = (namespace.to_owned(), name.to_owned());
        let (snapshot, now) = (self.snapshot, self.now);
        self.loaded
            .entry(key.clone())
            .or_insert_with(|| {
                let secret = snapshot
                    .secrets
                    .get(&key)
                    .ok_or_else(|| Invalid::SecretNotFound { secret: name.to_owned() })?;
                let object = ObjectRef::from_meta(ObjectKind::Secret, &secret.metadata);
                TlsCertificate::from_secret(object, secret, now)
                    .map(Arc::new)
                    .map_err(|reason| Invalid::InvalidCertificate { secret: name.to_owned(), reason })
            })
            .clone()
    }
}

/// Reads `spec.tls` of every Ingress (oldest first).
pub fn collect(
    ingresses: &[&Ingress],
    certs: &mut Certificates<'_>,
    warnings: &mut Vec<Warning>,
) -> TlsHosts {
    let mut out = TlsHosts::default();
    let mut claimed = HashSet::new();
    for ingress in ingresses {
        let Some(spec) = ingress.spec.as_ref() else { continue };
        let object = ObjectRef::from_meta(ObjectKind::Ingress, &ingress.metadata);
        let rule_hosts: Vec<String> = spec
            .rules
            .iter()
            .flatten()
            .filter_map(|r| r.host.as_deref())
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        for tls in spec.tls.iter().flatten() {
            let listed: Vec<String> = tls.hosts.iter().flatten().map(|h| h.to_ascii_lowercase()).collect();
            let hosts = if listed.is_empty() { rule_hosts.clone() } else { listed };
            let cert = match tls.secret_name.as_deref().filter(|s| !s.is_empty()) {
                None => None,
                Some(name) => match certs.load(&object.namespace, name) {
                    Ok(cert) => Some(cert),
                    Err(reason) => {
                        warnings.push(Warning { object: object.clone(), reason });
                        None
                    }
                },
            };
            for host in hosts {
                if let Some(suffix) = host.strip_prefix("*.") {
                    out.wildcard_suffixes.insert(suffix.to_owned());
                }
                out.with_tls.insert(host.clone());
                let Some(cert) = &cert else { continue };
                if !cert.covers(&host) {
                    let reason = Invalid::CertificateHostMismatch {
                        secret: cert.secret.name.clone(),
                        host: host.clone(),
                    };
                    warnings.push(Warning { object: object.clone(), reason });
                    continue;
                }
                if claimed.insert(host.clone()) {
                    out.certificates.push((host, cert.clone()));
                }
            }
        }
    }
    out
}
