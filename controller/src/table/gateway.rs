//! Gateway API routes in the table: per listener socket, the routes of each effective
//! hostname (the intersection of listener and route hostnames) in the spec's precedence order.
//!
//! Host selection follows the Gateway API: an exact hostname first, then the longest wildcard
//! whose suffix matches (`*.example.com` matches any number of labels before `example.com`,
//! never `example.com` itself), then the routes without a hostname. Within the chosen host,
//! the first route (in precedence order) whose path and conditions hold serves the request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use http::{HeaderMap, Method};

use super::{Route, RoutingTable};
use crate::matching::normalize_host;
use crate::FastMap;

/// A socket Gateway listeners are served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GatewayListener {
    /// The address and port.
    pub addr: SocketAddr,
    /// Whether connections start with a TLS handshake (an HTTPS listener).
    pub tls: bool,
}

/// The precedence of one compiled HTTPRoute match, smallest first: Exact paths, then regular
/// expressions (the spec leaves their rank to implementations; Envoy Gateway's order), then
/// the longest prefix; within a kind the longer path; then a method match, then more header
/// matches, then more query matches, then the oldest route, then namespace/name, then the order
/// of rules and matches within the route.
pub type Precedence = (
    u8,
    std::cmp::Reverse<usize>,
    u8,
    std::cmp::Reverse<usize>,
    std::cmp::Reverse<usize>,
    (i64, i32),
    String,
    usize,
    usize,
);

/// The routes of one effective hostname, with their precedence (sorted by `finish`).
type Ranked = Vec<(Precedence, Arc<Route>)>;

/// The Gateway listeners served on one socket, each with its routes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayHosts {
    listeners: Vec<ListenerRoutes>,
}

/// One listener hostname of a socket (listeners of several Gateways with the same hostname on
/// one socket share it) and the routes attached to it, by effective hostname.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenerRoutes {
    /// The listener hostname (`None`: any host).
    hostname: Option<String>,
    /// Whether it is an HTTPS listener.
    tls: bool,
    exact: FastMap<String, Ranked>,
    /// Wildcard suffixes (`example.com` for `*.example.com`), longest first after `finish`.
    wildcards: Vec<(String, Ranked)>,
    any: Ranked,
}

/// What the Gateway routes of a socket say about a request.
#[derive(Debug)]
pub enum GatewayMatch<'t> {
    /// No Gateway listener is served on the socket.
    NotGateway,
    /// A Gateway listener is, but no route of it matches (404, or the Ingress routes when the
    /// socket is shared with them).
    NoRoute,
    /// On an HTTPS socket, the TLS server name selects another listener than the Host (421).
    Misdirected,
    /// This route serves the request.
    Route(&'t Arc<Route>),
}

/// Whether `wildcard` (`*.example.com`) covers `name`: one or more labels before the suffix.
pub fn wildcard_covers(wildcard: &str, name: &str) -> bool {
    wildcard.strip_prefix("*.").is_some_and(|suffix| under_suffix(suffix, name))
}

/// Whether `name` is one or more labels followed by `.suffix`.
fn under_suffix(suffix: &str, name: &str) -> bool {
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

impl GatewayHosts {
    /// The listener with `hostname` on this socket (added when new).
    pub fn listener_mut(&mut self, hostname: Option<&str>, tls: bool) -> &mut ListenerRoutes {
        match self.listeners.iter().position(|l| l.hostname.as_deref() == hostname) {
            Some(i) => &mut self.listeners[i],
            None => {
                let hostname = hostname.map(str::to_owned);
                self.listeners.push(ListenerRoutes { hostname, tls, ..ListenerRoutes::default() });
                let last = self.listeners.len() - 1;
                &mut self.listeners[last]
            }
        }
    }

    /// The listener a host name selects: the exact hostname, else the longest wildcard that
    /// covers it, else the listener without a hostname.
    fn select(&self, host: &str) -> Option<usize> {
        let exact = self.listeners.iter().position(|l| l.hostname.as_deref() == Some(host));
        exact
            .or_else(|| {
                let covering = self.listeners.iter().enumerate().filter(|(_, l)| {
                    l.hostname.as_deref().is_some_and(|h| h.starts_with("*.") && wildcard_covers(h, host))
                });
                covering.max_by_key(|(_, l)| l.hostname.as_ref().map_or(0, String::len)).map(|(i, _)| i)
            })
            .or_else(|| self.listeners.iter().position(|l| l.hostname.is_none()))
    }

    fn finish(&mut self) {
        self.listeners.iter_mut().for_each(ListenerRoutes::finish);
    }

    fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.listeners.iter().flat_map(ListenerRoutes::routes)
    }
}

impl ListenerRoutes {
    /// Adds a route for the effective hostname `host` (`None`: no hostname at all).
    pub fn add(&mut self, host: Option<&str>, precedence: Precedence, route: Arc<Route>) {
        let bucket = match host {
            None => &mut self.any,
            Some(h) => match h.strip_prefix("*.") {
                Some(suffix) => match self.wildcards.iter().position(|(s, _)| s == suffix) {
                    Some(i) => &mut self.wildcards[i].1,
                    None => {
                        self.wildcards.push((suffix.to_owned(), Vec::new()));
                        let last = self.wildcards.len() - 1;
                        &mut self.wildcards[last].1
                    }
                },
                None => self.exact.entry(h.to_owned()).or_default(),
            },
        };
        bucket.push((precedence, route));
    }

    fn finish(&mut self) {
        let sort = |routes: &mut Ranked| routes.sort_by(|a, b| a.0.cmp(&b.0));
        self.exact.values_mut().for_each(sort);
        self.wildcards.iter_mut().for_each(|(_, routes)| sort(routes));
        sort(&mut self.any);
        self.wildcards.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    /// The routes for a request host (already normalized): its exact hostname, else the
    /// longest wildcard that covers it, else those without a hostname.
    fn host_routes(&self, host: &str) -> &[(Precedence, Arc<Route>)] {
        if let Some(routes) = self.exact.get(host) {
            return routes;
        }
        let wildcard = self.wildcards.iter().find(|(suffix, _)| under_suffix(suffix, host));
        wildcard.map_or(&self.any, |(_, routes)| routes)
    }

    fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        let exact = self.exact.values().flatten();
        let wild = self.wildcards.iter().flat_map(|(_, r)| r.iter());
        exact.chain(wild).chain(self.any.iter()).map(|(_, r)| r)
    }
}

impl RoutingTable {
    /// The Gateway routes served on `addr` (created empty when the listener has none yet).
    pub fn gateway_mut(&mut self, addr: SocketAddr) -> &mut GatewayHosts {
        self.gateways.entry(addr).or_default()
    }

    /// The sockets Gateway listeners are served on, sorted (HTTPS when any listener of the
    /// socket is).
    pub fn gateway_listeners(&self) -> Vec<GatewayListener> {
        let mut out: Vec<GatewayListener> = self
            .gateways
            .iter()
            .map(|(addr, socket)| GatewayListener {
                addr: *addr,
                tls: socket.listeners.iter().any(|l| l.tls),
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Sorts Gateway routes into precedence order (called by `finish`).
    pub(super) fn finish_gateways(&mut self) {
        self.gateways.values_mut().for_each(GatewayHosts::finish);
    }

    /// Every Gateway route.
    pub(super) fn gateway_routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.gateways.values().flat_map(GatewayHosts::routes)
    }

    /// Whether any Gateway route is in the table (requests skip the Gateway lookup otherwise).
    pub fn has_gateways(&self) -> bool {
        !self.gateways.is_empty()
    }

    /// The Gateway route for a request that arrived on `local` (the connection's local
    /// address): the socket's own listeners, else those of a listener on the same port bound to
    /// every address. The Host selects the listener (exact hostname, longest wildcard, none),
    /// and then the route; `sni` (the TLS server name, on HTTPS) must select the same listener,
    /// or the request is misdirected. `host` is the raw Host (port and case ignored); `path`
    /// the normalized path.
    #[allow(clippy::too_many_arguments)]
    pub fn gateway_lookup(
        &self,
        local: SocketAddr,
        sni: Option<&str>,
        host: &str,
        path: &str,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> GatewayMatch<'_> {
        if self.gateways.is_empty() {
            return GatewayMatch::NotGateway;
        }
        let any_v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), local.port());
        let any_v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), local.port());
        let socket = self
            .gateways
            .get(&local)
            .or_else(|| self.gateways.get(&any_v4))
            .or_else(|| self.gateways.get(&any_v6));
        let Some(socket) = socket else {
            return GatewayMatch::NotGateway;
        };
        let host = normalize_host(host);
        let chosen = socket.select(&host);
        if let Some(sni) = sni {
            let tls = chosen.is_some_and(|i| socket.listeners[i].tls);
            if tls && socket.select(&normalize_host(sni)) != chosen {
                return GatewayMatch::Misdirected;
            }
        }
        let Some(listener) = chosen.map(|i| &socket.listeners[i]) else {
            return GatewayMatch::NoRoute;
        };
        let found = listener.host_routes(&host).iter().map(|(_, r)| r).find(|r| {
            r.path.matches(path)
                && r.gateway.as_ref().is_none_or(|g| g.conditions.matches(method, headers, query))
        });
        found.map_or(GatewayMatch::NoRoute, GatewayMatch::Route)
    }
}
