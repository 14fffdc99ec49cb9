//! Per-object problems found while translating. They never abort translation: the object (or
//! the one rule) is skipped, the rest of the table is built, and the warning names the object.

use std::fmt;

use crate::snapshot::ObjectRef;

/// Why an object, or part of one, could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Invalid {
    /// The backend names a Service that does not exist.
    #[error("service {service:?} not found")]
    ServiceNotFound {
        /// The Service's name.
        service: String,
    },
    /// The Service has no port with this number or name.
    #[error("service {service:?} has no port {port}")]
    ServicePortNotFound {
        /// The Service's name.
        service: String,
        /// The port the Ingress asked for.
        port: String,
    },
    /// The backend has neither a port number nor a port name.
    #[error("backend for service {service:?} has no port")]
    MissingPort {
        /// The Service's name.
        service: String,
    },
    /// The backend is a `resource` backend, which an ingress controller cannot serve.
    #[error("resource backends are not supported")]
    ResourceBackend,
    /// The backend has neither `service` nor `resource`.
    #[error("backend has no service")]
    MissingBackend,
    /// The Service is of type ExternalName, which Sluice does not resolve.
    #[error("service {service:?} is of type ExternalName, which is not supported")]
    ExternalName {
        /// The Service's name.
        service: String,
    },
    /// The rule's host is not a valid DNS name or single-label wildcard.
    #[error("invalid host {host:?}")]
    InvalidHost {
        /// The host as written.
        host: String,
    },
    /// The path is not usable with its pathType.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another Ingress already defines the same host and path; the older one wins.
    #[error("host {host:?} path {path:?} is already defined by {winner}, which is older")]
    ConflictLost {
        /// The contested host (`*` for host-less rules).
        host: String,
        /// The contested path.
        path: String,
        /// The Ingress that keeps the route.
        winner: ObjectRef,
    },
    /// A controller ConfigMap value cannot be used; the default stays.
    #[error("{key}: invalid value {value:?}: {reason}")]
    InvalidConfig {
        /// The ConfigMap key.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An annotation value cannot be used; the route keeps the safe default.
    #[error("annotation {annotation}: invalid value {value:?}: {reason}")]
    InvalidAnnotation {
        /// The full annotation name.
        annotation: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A regular expression (a `use-regex` path, `rewrite-target`, `canary-by-header-pattern`)
    /// that cannot be compiled within Sluice's limits.
    #[error("{what}: invalid regular expression {pattern:?}: {reason}")]
    InvalidRegex {
        /// Where the pattern comes from.
        what: String,
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `auth-secret` of basic auth cannot be used (or some of its entries); what cannot be
    /// used refuses requests.
    #[error("auth secret {secret:?}: {reason}")]
    AuthSecret {
        /// The Secret's name.
        secret: String,
        /// What is wrong.
        reason: String,
    },
    /// The `proxy-ssl-secret` cannot be used; the Ingress's routes answer 503.
    #[error("proxy-ssl-secret {secret:?}: {reason}; the routes answer 503")]
    ProxySslSecret {
        /// The reference as written.
        secret: String,
        /// What is wrong.
        reason: String,
    },
    /// A ConfigMap of headers (`proxy-set-headers`, `add-headers`, `custom-headers`,
    /// `auth-proxy-set-headers`) cannot be used, or some of its entries.
    #[error("header ConfigMap {config_map:?}: {reason}")]
    HeaderMap {
        /// The reference as written.
        config_map: String,
        /// What is wrong.
        reason: String,
    },
    /// `custom-headers` names headers that `global-allowed-response-headers` does not list; the
    /// Ingress's routes are refused (503), as ingress-nginx denies the location.
    #[error("custom-headers: {headers:?} not listed in the ConfigMap's global-allowed-response-headers; the routes answer 503")]
    HeadersNotAllowed {
        /// The refused header names.
        headers: Vec<String>,
    },
    /// A `server-alias` names a host that rules define (or an alias already taken); ignored.
    #[error("server-alias {alias:?} is a host with rules of its own; ignored")]
    AliasConflict {
        /// The alias.
        alias: String,
    },
    /// A canary Ingress rule with no main Ingress rule for the same host and path; ignored.
    #[error("canary for host {host:?} path {path:?} has no main Ingress with that host and path; ignored")]
    CanaryWithoutMain {
        /// The rule host (`*` for host-less rules).
        host: String,
        /// The rule path.
        path: String,
    },
    /// A second canary for a rule that already has one; ingress-nginx uses one canary per rule.
    #[error("host {host:?} path {path:?} already has the canary {winner}; ignored")]
    CanaryDuplicate {
        /// The rule host (`*` for host-less rules).
        host: String,
        /// The rule path.
        path: String,
        /// The canary Ingress that is used.
        winner: ObjectRef,
    },
    /// `nginx.ingress.kubernetes.io/*` annotations that Sluice does not interpret (yet); they are
    /// ignored, so the Ingress may behave differently than under ingress-nginx.
    #[error("annotations not supported, ignored: {}", annotations.join(", "))]
    UnsupportedAnnotations {
        /// The annotation names, without the prefix.
        annotations: Vec<String>,
    },
    /// Controller ConfigMap keys that Sluice does not read; they have no effect.
    #[error("ConfigMap keys not supported, ignored: {}", keys.join(", "))]
    UnsupportedConfigKeys {
        /// The keys.
        keys: Vec<String>,
    },
    /// `*-snippet` annotations (or ConfigMap keys): raw nginx configuration, never interpreted (the IngressNightmare
    /// class of injection).
    #[error("snippet annotations are refused and never interpreted: {}", annotations.join(", "))]
    SnippetRefused {
        /// The annotation names, without the prefix.
        annotations: Vec<String>,
    },
    /// A TLS Secret named by the Ingress does not exist; its hosts get the default certificate.
    #[error("TLS secret {secret:?} not found; the default certificate is used")]
    SecretNotFound {
        /// The Secret's name.
        secret: String,
    },
    /// A TLS Secret cannot be used; its hosts get the default certificate.
    #[error("TLS secret {secret:?} is invalid ({reason}); the default certificate is used")]
    InvalidCertificate {
        /// The Secret's name.
        secret: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate does not cover a host listed with it; that host gets the default certificate.
    #[error("TLS secret {secret:?} has no name matching host {host:?}; the default certificate is used")]
    CertificateHostMismatch {
        /// The Secret's name.
        secret: String,
        /// The host listed in `spec.tls[].hosts`.
        host: String,
    },
    /// An EndpointSlice address is not an IP address of the slice's type.
    #[error("endpoint address {address:?} is not a valid IP address")]
    EndpointAddress {
        /// The address as written.
        address: String,
    },
    /// A Gateway API object (or part of one) is not served, with the spec's reason.
    #[error("{what}: {reason}: {message}")]
    Gateway {
        /// What part of the object (a listener, a rule, a backendRef, a parentRef).
        what: String,
        /// The spec's condition reason (`NotAllowedByListeners`, `BackendNotFound`, ...).
        reason: &'static str,
        /// Why.
        message: String,
    },
}

impl Invalid {
    /// A short PascalCase code for the problem (the `reason` of a Kubernetes Event).
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::ServiceNotFound { .. } => "ServiceNotFound",
            Invalid::ServicePortNotFound { .. } | Invalid::MissingPort { .. } => "BadServicePort",
            Invalid::ResourceBackend | Invalid::MissingBackend => "UnsupportedBackend",
            Invalid::ExternalName { .. } => "ExternalNameService",
            Invalid::InvalidHost { .. } => "InvalidHost",
            Invalid::InvalidPath { .. } => "InvalidPath",
            Invalid::ConflictLost { .. } => "RuleConflict",
            Invalid::InvalidConfig { .. } => "InvalidConfig",
            Invalid::InvalidAnnotation { .. } => "InvalidAnnotation",
            Invalid::InvalidRegex { .. } => "InvalidRegex",
            Invalid::AuthSecret { .. } => "InvalidAuthSecret",
            Invalid::HeaderMap { .. } => "InvalidHeaderMap",
            Invalid::ProxySslSecret { .. } => "InvalidProxySslSecret",
            Invalid::HeadersNotAllowed { .. } => "HeadersNotAllowed",
            Invalid::AliasConflict { .. } => "AliasConflict",
            Invalid::CanaryWithoutMain { .. } | Invalid::CanaryDuplicate { .. } => "CanaryIgnored",
            Invalid::UnsupportedAnnotations { .. } => "UnsupportedAnnotations",
            Invalid::UnsupportedConfigKeys { .. } => "UnsupportedConfigKeys",
            Invalid::SnippetRefused { .. } => "SnippetRefused",
            Invalid::SecretNotFound { .. } => "SecretNotFound",
            Invalid::InvalidCertificate { .. } | Invalid::CertificateHostMismatch { .. } => {
                "InvalidCertificate"
            }
            Invalid::EndpointAddress { .. } => "InvalidEndpoint",
            Invalid::Gateway { reason, .. } => reason,
        }
    }
}

/// One problem, with the object it is about. Shown as a log line locally and as a Kubernetes
/// Warning Event in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Warning {
    /// The object the warning is about.
    pub object: ObjectRef,
    /// What is wrong.
    pub reason: Invalid,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)
    }
}
