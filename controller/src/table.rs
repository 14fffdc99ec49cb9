//! The [`RoutingTable`]: plain, immutable data built once per generation by
//! [`crate::translate`], and read by the data plane on every request.
//!
//! Lookup hashes the host (exact, then single-label wildcard, then the catch-all), then checks
//! the host's Exact paths in a hash map and its prefix paths in precedence order.

use std::collections::BTreeSet;
use std::sync::Arc;

pub use crate::backend::{Backend, BackendKey, Endpoint};
pub use gateway::{wildcard_covers, GatewayHosts, GatewayListener, GatewayMatch, ListenerRoutes, Precedence};

mod gateway;
use crate::matching::{normalize_host, wildcard_suffix, PathMatch};
use crate::policy::{Canary, GatewayRule, RoutePolicy};
use crate::rewrite::Rewrite;
use crate::settings::GlobalSettings;
use crate::tls::TlsCertificate;
use crate::FastMap;

/// One routing decision: a path rule of an Ingress and the backend it sends to.
#[derive(Debug, PartialEq)]
pub struct Route {
    /// How the request path is matched.
    pub path: PathMatch,
    /// The namespace of the Ingress that defined the route.
    pub namespace: Arc<str>,
    /// The name of the Ingress that defined the route.
    pub ingress: Arc<str>,
    /// The Service's name (for metrics and logs).
    pub service: Arc<str>,
    /// The rule host that defined the route (`_` for host-less rules and default backends),
    /// a bounded value for metric labels.
    pub host: Arc<str>,
    /// Whether plain-HTTP requests for this route are redirected to HTTPS (`ssl-redirect` with
    /// TLS on the host, or `force-ssl-redirect`).
    pub ssl_redirect: bool,
    /// Where the traffic goes.
    pub backend: Arc<Backend>,
    /// `rewrite-target`: the URI sent upstream.
    pub rewrite: Option<Rewrite>,
    /// A canary Ingress's backend for the same host and path, if any.
    pub canary: Option<Canary>,
    /// Everything else the route's Ingress annotations ask for.
    pub policy: Arc<RoutePolicy>,
    /// For a route compiled from an HTTPRoute rule: its conditions, weighted backends and
    /// filters (`None` for Ingress routes).
    pub gateway: Option<Box<GatewayRule>>,
}

/// The routes of one host (or of the catch-all).
#[derive(Debug, Clone, Default)]
pub struct HostRoutes {
    exact: FastMap<String, Arc<Route>>,
    ordered: Vec<Arc<Route>>,
    fallback: Option<Arc<Route>>,
}

/// Routes compare by value, but a route shared with the live table (an incremental
/// translation keeps every host it did not rebuild) is equal without looking inside.
impl PartialEq for HostRoutes {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &Arc<Route>, b: &Arc<Route>) -> bool {
            Arc::ptr_eq(a, b) || a == b
        }
        self.exact.len() == other.exact.len()
            && self.exact.iter().all(|(path, a)| other.exact.get(path).is_some_and(|b| same(a, b)))
            && self.ordered.len() == other.ordered.len()
            && self.ordered.iter().zip(&other.ordered).all(|(a, b)| same(a, b))
            && match (&self.fallback, &other.fallback) {
                (Some(a), Some(b)) => same(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

impl HostRoutes {
    /// Adds a route. Conflicts are resolved by the caller (translate); a second route with the same
    /// exact path replaces nothing and is ignored.
    pub fn add(&mut self, route: Arc<Route>) {
        match &route.path {
            PathMatch::Exact(p) => {
                self.exact.entry(p.clone()).or_insert(route);
            }
            _ => self.ordered.push(route),
        }
    }

    /// Sets the route used when no path matches (the Ingress `defaultBackend`), unless one is set.
    pub fn set_fallback(&mut self, route: Arc<Route>) {
        self.fallback.get_or_insert(route);
    }

    /// Sorts prefix routes into precedence order; called once when the table is built.
    fn finish(&mut self) {
        self.ordered.sort_by(|a, b| a.path.precedence(&b.path));
    }

    fn lookup(&self, path: &str) -> Option<&Arc<Route>> {
        if let Some(route) = self.exact.get(path) {
            return Some(route);
        }
        self.ordered.iter().find(|r| r.path.matches(path))
    }

    fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.exact.values().chain(self.ordered.iter()).chain(self.fallback.iter())
    }

    /// Number of path routes (not counting the fallback).
    pub fn len(&self) -> usize {
        self.exact.len() + self.ordered.len()
    }

    /// Whether this host has no path route.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The whole routing state of one generation. Immutable once built.
#[derive(Debug, Default, PartialEq)]
pub struct RoutingTable {
    hosts: FastMap<String, HostRoutes>,
    wildcards: FastMap<String, HostRoutes>,
    catch_all: HostRoutes,
    default_backend: Option<Arc<Route>>,
    certificates: FastMap<String, Arc<TlsCertificate>>,
    wildcard_certificates: FastMap<String, Arc<TlsCertificate>>,
    default_certificate: Option<Arc<TlsCertificate>>,
    /// `from-to-www-redirect`: alias host to the host it redirects to.
    host_redirects: FastMap<String, String>,
    /// Gateway API routes by the listener socket that serves them.
    gateways: FastMap<std::net::SocketAddr, GatewayHosts>,
    /// Global settings from the controller ConfigMap.
    pub settings: GlobalSettings,
}

impl RoutingTable {
    /// The routes of a host: `foo.com`, `*.foo.com`, or `None` for host-less rules.
    /// The host must already be lowercase.
    pub fn host_mut(&mut self, host: Option<&str>) -> &mut HostRoutes {
        match host {
            None => &mut self.catch_all,
            Some(h) => match h.strip_prefix("*.") {
                Some(suffix) => self.wildcards.entry(suffix.to_owned()).or_default(),
                None => self.hosts.entry(h.to_owned()).or_default(),
            },
        }
    }

    /// Whether some rule defines `host` (exactly, not through a wildcard).
    pub fn has_host(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    /// Serves `alias` with the routes of `host` (`server-alias`), unless `alias` has rules of
    /// its own. Returns whether the alias was added.
    pub fn add_alias(&mut self, alias: &str, host: &str) -> bool {
        if self.hosts.contains_key(alias) {
            return false;
        }
        match self.hosts.get(host).cloned() {
            Some(routes) => {
                self.hosts.insert(alias.to_owned(), routes);
                true
            }
            None => false,
        }
    }

    /// Redirects requests for `alias` to `host` (`from-to-www-redirect`).
    pub fn add_host_redirect(&mut self, alias: String, host: String) {
        self.host_redirects.entry(alias).or_insert(host);
    }

    /// The host a request for `host` is redirected to (`from-to-www-redirect`), if any.
    pub fn host_redirect(&self, host: &str) -> Option<&str> {
        if self.host_redirects.is_empty() {
            return None;
        }
        self.host_redirects.get(normalize_host(host).as_ref()).map(String::as_str)
    }

    /// Sets the table-wide default backend (used when a request matches no rule).
    pub fn set_default_backend(&mut self, route: Arc<Route>) {
        self.default_backend.get_or_insert(route);
    }

    /// The table-wide default backend's route, if any (serves `custom-http-errors` pages when
    /// an Ingress has no `default-backend`).
    pub fn default_route(&self) -> Option<&Arc<Route>> {
        self.default_backend.as_ref()
    }

    /// Sets the certificate presented for SNI `host` (`foo.com` or `*.foo.com`), unless one is set.
    pub fn add_certificate(&mut self, host: &str, cert: Arc<TlsCertificate>) {
        let map = match host.strip_prefix("*.") {
            Some(suffix) => self.wildcard_certificates.entry(suffix.to_owned()),
            None => self.certificates.entry(host.to_owned()),
        };
        map.or_insert(cert);
    }

    /// Sets the certificate for unknown SNI names (`--default-ssl-certificate`).
    pub fn set_default_certificate(&mut self, cert: Arc<TlsCertificate>) {
        self.default_certificate = Some(cert);
    }

    /// The certificate for a TLS handshake: the exact SNI name, then a single-label wildcard,
    /// then the configured default. `None` means "use the built-in default".
    pub fn certificate(&self, sni: Option<&str>) -> Option<&Arc<TlsCertificate>> {
        let by_name = sni.map(normalize_host).and_then(|name| {
            self.certificates
                .get(name.as_ref())
                .or_else(|| wildcard_suffix(&name).and_then(|s| self.wildcard_certificates.get(s)))
        });
        by_name.or(self.default_certificate.as_ref())
    }

    /// This table with the hosts named in `rebuilt` taken from `partial` (or removed, when
    /// `partial` has none): their routes, certificates and `from-to-www-redirect` entries.
    /// `*.suffix` names a wildcard host and `""` the catch-all of host-less rules. Everything
    /// else (other hosts, the default backend and certificate, Gateway routes) is this
    /// table's, shared, not rebuilt.
    /// `partial` must have been translated with the same settings.
    pub fn with_hosts_from(&self, mut partial: RoutingTable, rebuilt: &BTreeSet<String>) -> RoutingTable {
        let wildcard = |suffix: &str| rebuilt.contains(&format!("*.{suffix}"));
        fn merge<V: Clone>(
            mine: &FastMap<String, V>,
            theirs: &mut FastMap<String, V>,
            taken: impl Fn(&str) -> bool,
        ) -> FastMap<String, V> {
            let mut out: FastMap<String, V> =
                mine.iter().filter(|(k, _)| !taken(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
            out.extend(theirs.drain().filter(|(k, _)| taken(k)));
            out
        }
        let exact = |host: &str| rebuilt.contains(host);
        RoutingTable {
            hosts: merge(&self.hosts, &mut partial.hosts, exact),
            wildcards: merge(&self.wildcards, &mut partial.wildcards, wildcard),
            catch_all: if rebuilt.contains("") { partial.catch_all } else { self.catch_all.clone() },
            default_backend: self.default_backend.clone(),
            certificates: merge(&self.certificates, &mut partial.certificates, exact),
            wildcard_certificates: merge(
                &self.wildcard_certificates,
                &mut partial.wildcard_certificates,
                wildcard,
            ),
            default_certificate: self.default_certificate.clone(),
            host_redirects: merge(&self.host_redirects, &mut partial.host_redirects, exact),
            gateways: self.gateways.clone(),
            settings: partial.settings,
        }
    }

    /// Whether some certificate of the table has expired by `now_s` (seconds since the Unix
    /// epoch): a translation at `now_s` would refuse it, so the table cannot be kept as it is.
    pub fn has_expired_certificate(&self, now_s: i64) -> bool {
        let mut all = self.certificates.values().chain(self.wildcard_certificates.values());
        all.any(|c| c.not_after < now_s)
            || self.default_certificate.as_ref().is_some_and(|c| c.not_after < now_s)
    }

    /// Puts routes into precedence order. Called once by translate before the table is published.
    pub fn finish(&mut self) {
        self.hosts.values_mut().for_each(HostRoutes::finish);
        self.wildcards.values_mut().for_each(HostRoutes::finish);
        self.catch_all.finish();
        self.finish_gateways();
    }

    /// Finds the route for a request. `host` is the raw Host header or authority (port and case
    /// are ignored); `path` is the request path without its query string.
    ///
    /// A host that has rules selects only its own routes (as an nginx `server` block does); if
    /// none matches, its Ingress `defaultBackend` applies, then the table's default backend.
    pub fn lookup(&self, host: &str, path: &str) -> Option<&Arc<Route>> {
        let host = normalize_host(host);
        let routes = self
            .hosts
            .get(host.as_ref())
            .or_else(|| wildcard_suffix(&host).and_then(|s| self.wildcards.get(s)))
            .unwrap_or(&self.catch_all);
        routes.lookup(path).or(routes.fallback.as_ref()).or(self.default_backend.as_ref())
    }

    /// Every route of the table: each host's paths and fallback, and the default backend.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.hosts
            .values()
            .chain(self.wildcards.values())
            .chain(std::iter::once(&self.catch_all))
            .flat_map(HostRoutes::routes)
            .chain(self.default_backend.iter())
            .chain(self.gateway_routes())
    }

    /// Distinct backends that routes point at but that have no ready endpoint (they answer 503).
    pub fn backends_without_endpoints(&self) -> usize {
        let mut empty: Vec<&BackendKey> =
            self.routes().filter(|r| r.backend.endpoints.is_empty()).map(|r| &r.backend.key).collect();
        empty.sort_unstable();
        empty.dedup();
        empty.len()
    }

    /// Number of exact and wildcard hosts (for logs and metrics).
    pub fn host_count(&self) -> usize {
        self.hosts.len() + self.wildcards.len()
    }

    /// Number of path routes over all hosts (for logs and metrics).
    pub fn route_count(&self) -> usize {
        self.hosts.values().chain(self.wildcards.values()).map(HostRoutes::len).sum::<usize>()
            + self.catch_all.len()
            + self.gateway_routes().count()
    }
}
