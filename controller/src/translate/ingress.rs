//! Turns the rules of one Ingress into routes of the table under construction, resolving
//! conflicts in favour of Ingresses added earlier (the caller adds the oldest first, and all
//! main Ingresses before the canaries that attach to their rules).

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, Ingress, IngressBackend, IngressServiceBackend, ServiceBackendPort,
};

use super::annotations::{AuthSpec, IngressAnnotations};
use super::basic_auth::basic_auth;
use super::endpoints::Endpoints;
use super::header_maps;
use super::rules::{path_match, validate_host};
use super::tls::TlsHosts;
use super::upstream_tls::upstream_tls;
use super::warning::{Invalid, Warning};
use super::Translation;
use crate::matching::PathMatch;
use crate::policy::{Auth, Canary, ExternalAuth, RoutePolicy};
use crate::rewrite::Rewrite;
use crate::settings::GlobalSettings;
use crate::snapshot::{ObjectKind, ObjectRef, Snapshot};
use crate::table::{Backend, Route, RoutingTable};
use crate::FastMap;

/// Who holds a host and path: the route's index in `pending`, and its owner and canary.
struct Claim {
    owner: ObjectRef,
    index: usize,
    canary: Option<ObjectRef>,
}

/// Accumulates routes from Ingresses, oldest first.
pub struct TableBuilder<'a> {
    table: RoutingTable,
    settings: &'a GlobalSettings,
    tls: &'a TlsHosts,
    endpoints: Endpoints<'a>,
    snapshot: &'a Snapshot,
    /// Hosts (None: host-less rules) where some Ingress asks for regex paths.
    regex_hosts: HashSet<Option<String>>,
    claimed: FastMap<(Option<String>, PathMatch), Claim>,
    pending: Vec<(Option<String>, Route)>,
    /// `from-to-www-redirect`: (alias, host) pairs, installed for aliases no rule defines.
    www: Vec<(String, String)>,
    /// `server-alias`: (alias, host, Ingress) triples, installed for aliases no rule defines.
    aliases: Vec<(String, String, ObjectRef)>,
    warnings: Vec<Warning>,
    /// The default backend of the oldest Ingress that has no rules (the ingress-nginx catch-all).
    ruleless_default: Option<Arc<Route>>,
    /// The default backend of the oldest Ingress that has rules too.
    any_default: Option<Arc<Route>>,
}

/// The Ingress a route comes from, with the names and policy shared by all its routes.
struct Origin<'i> {
    object: ObjectRef,
    annotations: &'i IngressAnnotations,
    policy: Arc<RoutePolicy>,
    /// The policy of routes on `no-auth-locations`: `policy` without authentication.
    open_policy: Arc<RoutePolicy>,
    namespace: Arc<str>,
    name: Arc<str>,
}

impl<'a> TableBuilder<'a> {
    /// An empty table over the Services and EndpointSlices of `snapshot`; `warnings` are those
    /// found before routes are built (ConfigMap, TLS, annotations); `regex_hosts` are the hosts
    /// whose paths are regular expressions.
    pub fn new(
        snapshot: &'a Snapshot,
        settings: &'a GlobalSettings,
        tls: &'a TlsHosts,
        regex_hosts: HashSet<Option<String>>,
        warnings: Vec<Warning>,
    ) -> Self {
        TableBuilder {
            table: RoutingTable::default(),
            settings,
            tls,
            endpoints: Endpoints::new(snapshot),
            snapshot,
            regex_hosts,
            claimed: FastMap::default(),
            pending: Vec::new(),
            www: Vec::new(),
            aliases: Vec::new(),
            warnings,
            ruleless_default: None,
            any_default: None,
        }
    }

    /// Adds every rule of `ingress` (a main Ingress, or a canary when its annotations say so).
    pub fn add(&mut self, ingress: &Ingress, annotations: &IngressAnnotations) {
        let object = ObjectRef::from_meta(ObjectKind::Ingress, &ingress.metadata);
        let Some(spec) = ingress.spec.as_ref() else {
            return;
        };
        let rules = spec.rules.as_deref().unwrap_or_default();
        if annotations.canary.is_some() {
            for rule in rules {
                let host = rule.host.as_deref().filter(|h| !h.is_empty()).and_then(validate_host);
                for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                    self.add_canary(&object, annotations, host.as_deref(), path);
                }
            }
            return;
        }
        let policy = Arc::new(self.resolve_policy(&object, annotations));
        let open_policy = match policy.auth {
            Some(_) => Arc::new(RoutePolicy { auth: None, ..(*policy).clone() }),
            None => policy.clone(),
        };
        let origin = Origin {
            annotations,
            policy,
            open_policy,
            namespace: Arc::from(object.namespace.as_str()),
            name: Arc::from(object.name.as_str()),
            object,
        };
        let fallback =
            spec.default_backend.as_ref().and_then(|b| self.route(&origin, None, PathMatch::prefix("/"), b));
        let fallback = fallback.map(Arc::new);
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
                        self.warn(&origin.object, Invalid::InvalidHost { host: h.to_owned() });
                        continue;
                    }
                },
            };
            if let Some(h) = host.as_deref().filter(|h| !h.starts_with("*.")) {
                for alias in &annotations.aliases {
                    self.aliases.push((alias.clone(), h.to_owned(), origin.object.clone()));
                }
            }
            if let (true, Some(h)) = (annotations.from_to_www, host.as_deref()) {
                if !h.starts_with("*.") {
                    let alias = h.strip_prefix("www.").map_or_else(|| format!("www.{h}"), str::to_owned);
                    self.www.push((alias, h.to_owned()));
                }
            }
            let routes = self.table.host_mut(host.as_deref());
            if let Some(fallback) = &fallback {
                routes.set_fallback(fallback.clone());
            }
            for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                self.add_path(&origin, host.as_deref(), path);
            }
        }
    }

    /// `custom-headers`: the ConfigMap's headers join the ConfigMap's `add-headers` (replacing
    /// those of the same name) when `global-allowed-response-headers` allows every one; else,
    /// or when the ConfigMap is missing, the routes are refused, as ingress-nginx does.
    fn custom_headers(&mut self, object: &ObjectRef, reference: &str, policy: &mut RoutePolicy) {
        let Some(headers) = header_maps::read(self.snapshot, reference, object, true, &mut self.warnings)
        else {
            policy.denied = true;
            return;
        };
        let allowed = &self.settings.allowed_response_headers;
        let refused: Vec<String> = headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !allowed.iter().any(|a| a == n))
            .map(str::to_owned)
            .collect();
        if !refused.is_empty() {
            self.warn(object, Invalid::HeadersNotAllowed { headers: refused });
            policy.denied = true;
            return;
        }
        let own = header_maps::fixed(headers);
        let mut merged: Vec<_> = policy
            .response_headers
            .iter()
            .filter(|(n, _)| !own.iter().any(|(o, _)| o == n))
            .cloned()
            .collect();
        merged.extend(own);
        policy.response_headers = merged.into();
    }

    /// The Ingress's policy with its `default-backend` and fallback Services resolved.
    fn resolve_policy(&mut self, object: &ObjectRef, annotations: &IngressAnnotations) -> RoutePolicy {
        let mut policy = annotations.policy.clone();
        if let Some(name) = &annotations.default_backend {
            let port = self.snapshot.services.get(&(object.namespace.clone(), name.clone())).and_then(|s| {
                s.spec.as_ref().and_then(|spec| spec.ports.as_ref()).and_then(|p| p.first()).map(|p| p.port)
            });
            let port = ServiceBackendPort { number: Some(port.unwrap_or(80)), name: None };
            policy.error_backend = self.service_backend(object, name, port);
        }
        if let Some(reference) = &annotations.custom_headers {
            self.custom_headers(object, reference, &mut policy);
        }
        if let Some(reference) = &annotations.proxy_ssl_secret {
            policy.upstream.client_tls = upstream_tls(self.snapshot, object, reference, &mut self.warnings);
            policy.denied |= policy.upstream.client_tls.is_none();
        }
        policy.auth = match &annotations.auth {
            Some(AuthSpec::Broken) => Some(Auth::Broken),
            Some(AuthSpec::External(e)) => match &annotations.auth_headers {
                None => Some(Auth::External(Arc::new((**e).clone()))),
                Some(reference) => Some(
                    header_maps::read(self.snapshot, reference, object, true, &mut self.warnings).map_or(
                        Auth::Broken,
                        |headers| {
                            let set_headers = header_maps::fixed(headers);
                            Auth::External(Arc::new(ExternalAuth { set_headers, ..(**e).clone() }))
                        },
                    ),
                ),
            },
            Some(AuthSpec::Basic { secret, map, challenge }) => {
                Some(basic_auth(self.snapshot, object, secret, *map, challenge, &mut self.warnings))
            }
            // The ConfigMap's global-auth-url, shared by every Ingress that takes it.
            None if annotations.global_auth => self.settings.global_auth.clone(),
            None => None,
        };
        if let Some((name, port)) = &annotations.fallback {
            let port = match port.parse::<i32>() {
                Ok(n) => ServiceBackendPort { number: Some(n), name: None },
                Err(_) => ServiceBackendPort { number: None, name: Some(port.clone()) },
            };
            policy.fallback = self.service_backend(object, name, port);
        }
        policy
    }

    fn service_backend(
        &mut self,
        object: &ObjectRef,
        name: &str,
        port: ServiceBackendPort,
    ) -> Option<Arc<Backend>> {
        let service = IngressServiceBackend { name: name.to_owned(), port: Some(port) };
        match self.endpoints.resolve(&object.namespace, &service, &mut self.warnings) {
            Ok(backend) => Some(backend),
            Err(reason) => {
                self.warn(object, reason);
                None
            }
        }
    }

    fn add_path(&mut self, origin: &Origin<'_>, host: Option<&str>, path: &HTTPIngressPath) {
        let regex = self.regex_hosts.contains(&host.map(str::to_owned));
        let matcher = match path_match(path, regex) {
            Ok(m) => m,
            Err(reason) => return self.warn(&origin.object, reason),
        };
        let claim = (host.map(str::to_owned), matcher.clone());
        if let Some(winner) = self.claimed.get(&claim) {
            let reason = Invalid::ConflictLost {
                host: host.unwrap_or("*").to_owned(),
                path: matcher.path().to_owned(),
                winner: winner.owner.clone(),
            };
            return self.warn(&origin.object, reason);
        }
        let rewrite = match (&matcher, origin.annotations.rewrite_target.as_deref()) {
            (PathMatch::Regex(r), Some(target)) => match Rewrite::new(r.source(), target) {
                Ok(rw) => Some(rw),
                Err(reason) => {
                    let what = format!("{}rewrite-target", super::ANNOTATION_PREFIX);
                    let pattern = format!("{} -> {target}", r.source());
                    self.warn(&origin.object, Invalid::InvalidRegex { what, pattern, reason });
                    None
                }
            },
            _ => None,
        };
        if let Some(mut route) = self.route(origin, host, matcher, &path.backend) {
            route.rewrite = rewrite;
            let claim_value = Claim { owner: origin.object.clone(), index: self.pending.len(), canary: None };
            self.claimed.insert(claim, claim_value);
            self.pending.push((host.map(str::to_owned), route));
        }
    }

    /// Attaches a canary Ingress's path to the main route with the same host and path.
    fn add_canary(
        &mut self,
        object: &ObjectRef,
        annotations: &IngressAnnotations,
        host: Option<&str>,
        path: &HTTPIngressPath,
    ) {
        let Some(spec) = &annotations.canary else {
            return;
        };
        let regex = self.regex_hosts.contains(&host.map(str::to_owned));
        let matcher = match path_match(path, regex) {
            Ok(m) => m,
            Err(reason) => return self.warn(object, reason),
        };
        let host_label = host.unwrap_or("*").to_owned();
        let Some(claim) = self.claimed.get(&(host.map(str::to_owned), matcher.clone())) else {
            let reason = Invalid::CanaryWithoutMain { host: host_label, path: matcher.path().to_owned() };
            return self.warn(object, reason);
        };
        if let Some(winner) = &claim.canary {
            let reason = Invalid::CanaryDuplicate {
                host: host_label,
                path: matcher.path().to_owned(),
                winner: winner.clone(),
            };
            return self.warn(object, reason);
        }
        let index = claim.index;
        let Some(service) = path.backend.service.as_ref() else {
            return self.warn(object, Invalid::MissingBackend);
        };
        let backend = match self.endpoints.resolve(&object.namespace, service, &mut self.warnings) {
            Ok(b) => b,
            Err(reason) => return self.warn(object, reason),
        };
        let canary = Canary {
            backend,
            ingress: Arc::from(object.name.as_str()),
            header: spec.header.clone(),
            cookie: spec.cookie.clone(),
            weight: spec.weight,
            weight_total: spec.weight_total,
        };
        self.pending[index].1.canary = Some(canary);
        if let Some(claim) = self.claimed.get_mut(&(host.map(str::to_owned), matcher)) {
            claim.canary = Some(object.clone());
        }
    }

    /// A route to `backend`, or `None` (with a warning) when the backend cannot be resolved.
    fn route(
        &mut self,
        origin: &Origin<'_>,
        host: Option<&str>,
        path: PathMatch,
        backend: &IngressBackend,
    ) -> Option<Route> {
        let resolved = match (&backend.service, &backend.resource) {
            (Some(service), _) => self
                .endpoints
                .resolve(&origin.object.namespace, service, &mut self.warnings)
                .map(|b| (service, b)),
            (None, Some(_)) => Err(Invalid::ResourceBackend),
            (None, None) => Err(Invalid::MissingBackend),
        };
        let no_auth = self.settings.no_auth_locations.iter().any(|l| path.path().starts_with(l.as_str()));
        let policy = if no_auth { origin.open_policy.clone() } else { origin.policy.clone() };
        match resolved {
            Ok((service, backend)) => Some(Route {
                ssl_redirect: host.is_some_and(|h| self.redirects(origin.annotations, h)),
                path,
                namespace: origin.namespace.clone(),
                ingress: origin.name.clone(),
                service: Arc::from(service.name.as_str()),
                host: Arc::from(host.unwrap_or("_")),
                backend,
                rewrite: None,
                canary: None,
                policy,
                gateway: None,
            }),
            Err(reason) => {
                self.warn(&origin.object, reason);
                None
            }
        }
    }

    /// ingress-nginx's rule: `force-ssl-redirect`, or `ssl-redirect` when the host has TLS;
    /// each annotation overrides its ConfigMap value.
    fn redirects(&self, annotations: &IngressAnnotations, host: &str) -> bool {
        let force = annotations.force_ssl_redirect.unwrap_or(self.settings.force_ssl_redirect);
        let ssl = annotations.ssl_redirect.unwrap_or(self.settings.ssl_redirect);
        force || (ssl && self.tls.has_tls(host))
    }

    fn warn(&mut self, object: &ObjectRef, reason: Invalid) {
        self.warnings.push(Warning { object: object.clone(), reason });
    }

    /// The finished table, routes in precedence order, with the catch-all default backend.
    pub fn finish(mut self) -> Translation {
        for (host, route) in self.pending {
            self.table.host_mut(host.as_deref()).add(Arc::new(route));
        }
        for (alias, host, object) in std::mem::take(&mut self.aliases) {
            if !self.table.add_alias(&alias, &host) {
                let reason = Invalid::AliasConflict { alias };
                self.warnings.push(Warning { object, reason });
            }
        }
        for (alias, host) in self.www {
            if !self.table.has_host(&alias) {
                self.table.add_host_redirect(alias, host);
            }
        }
        if let Some(default) = self.ruleless_default.or(self.any_default) {
            self.table.set_default_backend(default);
        }
        self.table.finish();
        Translation { table: self.table, warnings: self.warnings, ..Translation::default() }
    }
}
