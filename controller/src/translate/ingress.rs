//! Turns the rules of one Ingress into routes of the table under construction, resolving
//! conflicts in favour of Ingresses added earlier (the caller adds the oldest first).

use std::sync::Arc;

use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, IngressBackend};

use super::annotations::{self, IngressAnnotations};
use super::config::GlobalSettings;
use super::endpoints::Endpoints;
use super::tls::TlsHosts;
use super::warning::{Invalid, Warning};
use super::Translation;
use crate::matching::PathMatch;
use crate::snapshot::{ObjectKind, ObjectRef, Snapshot};
use crate::table::{Route, RoutingTable};
use crate::FastMap;

/// Accumulates routes from Ingresses, oldest first.
pub struct TableBuilder<'a> {
    table: RoutingTable,
    settings: &'a GlobalSettings,
    tls: &'a TlsHosts,
    endpoints: Endpoints<'a>,
    claimed: FastMap<(Option<String>, PathMatch), ObjectRef>,
    warnings: Vec<Warning>,
    /// The default backend of the oldest Ingress that has no rules (the ingress-nginx catch-all).
    ruleless_default: Option<Arc<Route>>,
    /// The default backend of the oldest Ingress that has rules too.
    any_default: Option<Arc<Route>>,
}

/// The Ingress a route comes from, with the names shared by all its routes.
struct Origin {
    object: ObjectRef,
    annotations: IngressAnnotations,
    namespace: Arc<str>,
    name: Arc<str>,
}

impl<'a> TableBuilder<'a> {
    /// An empty table over the Services and EndpointSlices of `snapshot`; `warnings` are those
    /// found before routes are built (ConfigMap, TLS).
    pub fn new(
        snapshot: &'a Snapshot,
        settings: &'a GlobalSettings,
        tls: &'a TlsHosts,
        warnings: Vec<Warning>,
    ) -> Self {
        TableBuilder {
            table: RoutingTable::default(),
            settings,
            tls,
            endpoints: Endpoints::new(snapshot),
            claimed: FastMap::default(),
            warnings,
            ruleless_default: None,
            any_default: None,
        }
    }

    /// Adds every rule of `ingress`.
    pub fn add(&mut self, ingress: &Ingress) {
        let object = ObjectRef::from_meta(ObjectKind::Ingress, &ingress.metadata);
        let annotations = annotations::parse(ingress, &object, &mut self.warnings);
        let origin = Origin {
            annotations,
            namespace: Arc::from(object.namespace.as_str()),
            name: Arc::from(object.name.as_str()),
            object,
        };
        let Some(spec) = ingress.spec.as_ref() else {
            return;
        };
        let rules = spec.rules.as_deref().unwrap_or_default();
        let fallback =
            spec.default_backend.as_ref().and_then(|b| self.route(&origin, None, PathMatch::prefix("/"), b));
        if let Some(fallback) = &fallback {
            let slot = if rules.is_empty() { &mut self.ruleless_default } else { &mut self.any_default };
            slot.get_or_insert_with(|| fallback.clone());
        }
        for rule in rules {
            let host = match rule.host.as_deref().filter(|h| !h.is_empty()) {
                None => None,
                Some(h) => match validate_host(h) {
                    Some(h) => Some(h),
                    None => {
                        self.warn(&origin, Invalid::InvalidHost { host: h.to_owned() });
                        continue;
                    }
                },
            };
            let routes = self.table.host_mut(host.as_deref());
            if let Some(fallback) = &fallback {
                routes.set_fallback(fallback.clone());
            }
            for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                self.add_path(&origin, host.as_deref(), path);
            }
        }
    }

    fn add_path(&mut self, origin: &Origin, host: Option<&str>, path: &HTTPIngressPath) {
        let matcher = match path_match(path) {
            Ok(m) => m,
            Err(reason) => return self.warn(origin, reason),
        };
        let claim = (host.map(str::to_owned), matcher.clone());
        if let Some(winner) = self.claimed.get(&claim) {
            let reason = Invalid::ConflictLost {
                host: host.unwrap_or("*").to_owned(),
                path: matcher.path().to_owned(),
                winner: winner.clone(),
            };
            return self.warn(origin, reason);
        }
        if let Some(route) = self.route(origin, host, matcher, &path.backend) {
            self.claimed.insert(claim, origin.object.clone());
            self.table.host_mut(host).add(route);
        }
    }

    /// A route to `backend`, or `None` (with a warning) when the backend cannot be resolved.
    fn route(
        &mut self,
        origin: &Origin,
        host: Option<&str>,
        path: PathMatch,
        backend: &IngressBackend,
    ) -> Option<Arc<Route>> {
        let resolved = match (&backend.service, &backend.resource) {
            (Some(service), _) => self
                .endpoints
                .resolve(&origin.object.namespace, service, &mut self.warnings)
                .map(|b| (service, b)),
            (None, Some(_)) => Err(Invalid::ResourceBackend),
            (None, None) => Err(Invalid::MissingBackend),
        };
        match resolved {
            Ok((service, backend)) => Some(Arc::new(Route {
                ssl_redirect: host.is_some_and(|h| self.redirects(origin, h)),
                path,
                namespace: origin.namespace.clone(),
                ingress: origin.name.clone(),
                service: Arc::from(service.name.as_str()),
                host: Arc::from(host.unwrap_or("_")),
                backend,
            })),
            Err(reason) => {
                self.warn(origin, reason);
                None
            }
        }
    }

    /// ingress-nginx's rule: `force-ssl-redirect`, or `ssl-redirect` when the host has TLS;
    /// each annotation overrides its ConfigMap value.
    fn redirects(&self, origin: &Origin, host: &str) -> bool {
        let force = origin.annotations.force_ssl_redirect.unwrap_or(self.settings.force_ssl_redirect);
        let ssl = origin.annotations.ssl_redirect.unwrap_or(self.settings.ssl_redirect);
        force || (ssl && self.tls.has_tls(host))
    }

    fn warn(&mut self, origin: &Origin, reason: Invalid) {
        self.warnings.push(Warning { object: origin.object.clone(), reason });
    }

    /// The finished table, routes in precedence order, with the catch-all default backend.
    pub fn finish(mut self) -> Translation {
        if let Some(default) = self.ruleless_default.or(self.any_default) {
            self.table.set_default_backend(default);
        }
        self.table.finish();
        Translation { table: self.table, warnings: self.warnings }
    }
}

fn path_match(path: &HTTPIngressPath) -> Result<PathMatch, Invalid> {
    let raw = path.path.as_deref().filter(|p| !p.is_empty());
    let invalid = |reason| Invalid::InvalidPath { path: raw.unwrap_or("").to_owned(), reason };
    let text = match (path.path_type.as_str(), raw) {
        ("Exact", None) => return Err(invalid("an Exact path must not be empty")),
        (_, None) => "/",
        (_, Some(p)) => p,
    };
    if !text.starts_with('/') {
        return Err(invalid("a path must start with '/'"));
    }
    if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(invalid("a path must not contain spaces or control characters"));
    }
    match path.path_type.as_str() {
        "Exact" => Ok(PathMatch::Exact(text.to_owned())),
        "Prefix" => Ok(PathMatch::prefix(text)),
        // An empty pathType is what pre-v1 manifests carry: ingress-nginx treats it as ImplementationSpecific.
        "ImplementationSpecific" | "" => Ok(PathMatch::StringPrefix(text.to_owned())),
        _ => Err(invalid("pathType must be Exact, Prefix or ImplementationSpecific")),
    }
}

/// A rule host, lowercased, if it is a DNS-1123 subdomain or `*.` followed by one.
fn validate_host(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let name = host.strip_prefix("*.").unwrap_or(&host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (name.len() <= 253 && name.split('.').all(label_ok)).then_some(host)
}
