//! Gateway API into the routing table: the GatewayClasses whose `controllerName` is Sluice's,
//! their Gateways' listeners (sockets, hostnames, certificates, which routes may attach), and
//! the HTTPRoutes attached to them ([`routes`]), with the status the spec defines.
//!
//! A listener is served on `A:P` for every `IPAddress` A of its Gateway's `spec.addresses`, or
//! on the bind address (`--gateway-bind-address`) when it has none.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::gateway_api::{
    ClassStatus, Condition, Gateway, GatewayStatus, GatewayStatuses, Listener, ListenerStatus,
};
use crate::snapshot::{Key, ObjectKind, ObjectRef, Snapshot};
use crate::table::RoutingTable;

use listeners::{listener, mark_conflicts};

use super::endpoints::Endpoints;
use super::tls::Certificates;
use super::warning::{Invalid, Warning};

mod filters;
mod grants;
mod listeners;
mod matches;
mod routes;
mod values;

/// Which Gateways are Sluice's, and where listeners without addresses are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayOptions {
    /// `--gateway-controller-name`: GatewayClasses with this `controllerName` are served.
    pub controller_name: String,
    /// `--gateway-bind-address`: the address of listeners whose Gateway has no addresses.
    pub bind_address: IpAddr,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            controller_name: "sluice.dev/gateway-controller".to_owned(),
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// A listener of a served Gateway, as validated.
struct Served<'s> {
    key: Key,
    spec: &'s Listener,
    /// The listener hostname (lowercase; `None`: any).
    hostname: Option<String>,
    port: u16,
    tls: bool,
    addresses: Arc<[IpAddr]>,
    /// Accepted, not conflicted, references resolved: routes may attach and it is programmed.
    ready: bool,
    /// Whether HTTPRoutes are among the allowed kinds.
    takes_http_routes: bool,
    attached: u32,
    conditions: Vec<Condition>,
}

/// Adds the Gateway API routes of `snapshot` to `table`; returns the status of every served
/// object. `endpoints` and `certificates` are shared with the Ingress translation.
pub(super) fn add(
    snapshot: &Snapshot,
    options: &GatewayOptions,
    defaults: &crate::policy::RoutePolicy,
    endpoints: &mut Endpoints<'_>,
    certificates: &mut Certificates<'_>,
    table: &mut RoutingTable,
    warnings: &mut Vec<Warning>,
) -> GatewayStatuses {
    let mut status = GatewayStatuses::default();
    let classes: Vec<&str> = snapshot
        .gateway_classes
        .values()
        .filter(|c| c.spec.controller_name == options.controller_name)
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    for name in &classes {
        let conditions = vec![Condition::yes("Accepted", "Accepted")];
        let generation = snapshot
            .gateway_classes
            .get(&(String::new(), (*name).to_owned()))
            .and_then(|c| c.metadata.generation);
        status.gateway_classes.push(ClassStatus {
            name: (*name).to_owned(),
            observed_generation: generation,
            conditions,
        });
    }
    let mut gateways: Vec<(&Key, &Gateway)> = snapshot
        .gateways
        .iter()
        .filter(|(_, g)| classes.contains(&g.spec.gateway_class_name.as_str()))
        .map(|(k, g)| (k, &**g))
        .collect();
    gateways.sort_by_key(|(k, g)| (g.metadata.creation_timestamp.as_ref().map(|t| t.0), *k));

    let mut listeners = Vec::new();
    for (key, gateway) in gateways {
        let object = ObjectRef::from_meta(ObjectKind::Gateway, &gateway.metadata);
        let (addresses, bad_address) = addresses(gateway, options);
        let first = listeners.len();
        for spec in &gateway.spec.listeners {
            listeners.push(listener(snapshot, key, spec, addresses.clone(), certificates, table));
        }
        mark_conflicts(&mut listeners[first..]);
        for l in &listeners[first..] {
            if !l.ready {
                let what = format!("listener {:?}", l.spec.name);
                let failed = l.conditions.iter().find(|c| !c.holds() && c.type_ != "Conflicted");
                let failed = failed.or(l.conditions.iter().find(|c| c.type_ == "Conflicted" && c.holds()));
                if let Some(c) = failed {
                    let reason = Invalid::Gateway { what, reason: c.reason, message: c.message.clone() };
                    warnings.push(Warning { object: object.clone(), reason });
                }
            }
        }
        let mut conditions = Vec::new();
        match &bad_address {
            Some(value) => {
                let message = format!("address {value:?} is not an IPAddress Sluice can bind");
                conditions.push(Condition::no("Accepted", "UnsupportedAddress", message.clone()));
                conditions.push(Condition::no("Programmed", "AddressNotUsable", message.clone()));
                let what = "spec.addresses".to_owned();
                let reason = Invalid::Gateway { what, reason: "UnsupportedAddress", message };
                warnings.push(Warning { object: object.clone(), reason });
            }
            None => {
                let any_ready = listeners[first..].iter().any(|l| l.ready);
                conditions.push(Condition::yes("Accepted", "Accepted"));
                conditions.push(if any_ready || listeners.len() == first {
                    Condition::yes("Programmed", "Programmed")
                } else {
                    Condition::no("Programmed", "Invalid", "no listener is valid")
                });
            }
        }
        if bad_address.is_some() {
            listeners[first..].iter_mut().for_each(|l| l.ready = false);
        }
        for l in listeners[first..].iter().filter(|l| l.ready) {
            for ip in l.addresses.iter() {
                table.gateway_mut(SocketAddr::new(*ip, l.port)).listener_mut(l.hostname.as_deref(), l.tls);
            }
        }
        status.gateways.push(GatewayStatus {
            namespace: key.0.clone(),
            name: key.1.clone(),
            observed_generation: gateway.metadata.generation,
            addresses: addresses.iter().map(IpAddr::to_string).collect(),
            conditions,
            listeners: Vec::new(),
        });
    }

    status.http_routes = routes::attach(
        snapshot,
        &options.controller_name,
        defaults,
        &mut listeners,
        endpoints,
        table,
        warnings,
    );
    for gateway in &mut status.gateways {
        let key = (gateway.namespace.clone(), gateway.name.clone());
        gateway.listeners = listeners
            .iter()
            .filter(|l| l.key == key)
            .map(|l| ListenerStatus {
                name: l.spec.name.clone(),
                supported_kinds: if l.takes_http_routes { vec!["HTTPRoute".to_owned()] } else { Vec::new() },
                attached_routes: l.attached,
                conditions: l.conditions.clone(),
            })
            .collect();
    }
    status
}

/// The IPAddress addresses of a Gateway (the bind address when it names none), and the first
/// address Sluice cannot serve, if any.
fn addresses(gateway: &Gateway, options: &GatewayOptions) -> (Arc<[IpAddr]>, Option<String>) {
    let mut ips = Vec::new();
    let mut bad = None;
    for a in &gateway.spec.addresses {
        let is_ip = a.type_.as_deref().is_none_or(|t| t == "IPAddress");
        match a.value.parse::<IpAddr>() {
            Ok(ip) if is_ip => ips.push(ip),
            // An IPAddress without a value asks the implementation to choose: the bind address.
            _ if is_ip && a.value.is_empty() => ips.push(options.bind_address),
            _ => {
                bad.get_or_insert_with(|| a.value.clone());
            }
        }
    }
    if ips.is_empty() {
        ips.push(options.bind_address);
    }
    ips.sort_unstable();
    ips.dedup();
    (Arc::from(ips), bad)
}
