//! Backend resolution: an Ingress backend (Service name + port number or name) becomes a
//! [`Backend`] with the ready endpoints from the Service's EndpointSlices.
//!
//! The Service port is found by number (`port`) or name. Its EndpointSlice port is the one whose
//! name equals the Service port's name (that is how the EndpointSlice controller writes the
//! resolved `targetPort`); for hand-written slices, a numeric `targetPort` also matches by number.
//! An endpoint is used when `conditions.ready` is true or absent and it is not terminating.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::IngressServiceBackend;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::warning::{Invalid, Warning};
use crate::snapshot::{ObjectKind, ObjectRef, Snapshot};
use crate::table::{Backend, BackendKey};
use crate::FastMap;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Indexes the snapshot's Services and EndpointSlices, and memoises resolved backends so that
/// routes to the same Service port share one [`Backend`] (and one round-robin cursor).
pub struct Endpoints<'a> {
    snapshot: &'a Snapshot,
    /// Slices by namespace and service-name label, for the namespaces in `indexed`.
    slices: FastMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    /// Namespaces indexed so far: a namespace is indexed when a backend in it is first
    /// resolved, so that translating a few Ingresses does not index every slice.
    indexed: HashSet<String>,
    resolved: FastMap<BackendKey, Arc<Backend>>,
}

impl<'a> Endpoints<'a> {
    /// An index over the snapshot's slices, filled one namespace at a time.
    pub fn new(snapshot: &'a Snapshot) -> Self {
        Endpoints {
            snapshot,
            slices: FastMap::default(),
            indexed: HashSet::new(),
            resolved: FastMap::default(),
        }
    }

    /// Indexes the slices of `namespace` (by their service-name label), once.
    fn index(&mut self, namespace: &str) {
        if self.indexed.contains(namespace) {
            return;
        }
        self.indexed.insert(namespace.to_owned());
        let start = (namespace.to_owned(), String::new());
        for ((ns, _), slice) in self.snapshot.endpoint_slices.range(start..) {
            if ns != namespace {
                break;
            }
            let service = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL));
            if let Some(service) = service {
                self.slices.entry((ns.as_str(), service.as_str())).or_default().push(slice);
            }
        }
    }

    /// Resolves an Ingress service backend in `namespace`. Bad endpoint addresses are reported
    /// in `warnings` and skipped; a missing Service or port is an error for the caller's rule.
    pub fn resolve(
        &mut self,
        namespace: &str,
        backend: &IngressServiceBackend,
        warnings: &mut Vec<Warning>,
    ) -> Result<Arc<Backend>, Invalid> {
        let port_ref = backend.port.as_ref();
        let port_label = match (port_ref.and_then(|p| p.number), port_ref.and_then(|p| p.name.as_deref())) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) if !name.is_empty() => name.to_owned(),
            _ => return Err(Invalid::MissingPort { service: backend.name.clone() }),
        };
        let key =
            BackendKey { namespace: namespace.to_owned(), service: backend.name.clone(), port: port_label };
        if let Some(b) = self.resolved.get(&key) {
            return Ok(b.clone());
        }
        let service = self
            .snapshot
            .services
            .get(&(namespace.to_owned(), backend.name.clone()))
            .ok_or_else(|| Invalid::ServiceNotFound { service: backend.name.clone() })?;
        let spec = service.spec.as_ref();
        if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            return Err(Invalid::ExternalName { service: backend.name.clone() });
        }
        let service_port = find_service_port(service, &key.port).ok_or_else(|| {
            Invalid::ServicePortNotFound { service: backend.name.clone(), port: key.port.clone() }
        })?;
        let endpoints = self.ready_endpoints(namespace, &backend.name, service_port, warnings);
        let resolved = Arc::new(Backend::new(key.clone(), endpoints));
        self.resolved.insert(key, resolved.clone());
        Ok(resolved)
    }

    fn ready_endpoints(
        &mut self,
        namespace: &str,
        service: &str,
        service_port: &ServicePort,
        warnings: &mut Vec<Warning>,
    ) -> Vec<SocketAddr> {
        self.index(namespace);
        let mut out = Vec::new();
        let Some(slices) = self.slices.get(&(namespace, service)) else {
            return out;
        };
        for slice in slices {
            if slice.address_type == "FQDN" {
                continue;
            }
            let Some(port) = slice_port(slice, service_port) else {
                continue;
            };
            for endpoint in &slice.endpoints {
                let conditions = endpoint.conditions.as_ref();
                let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
                let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
                if !ready || terminating {
                    continue;
                }
                // Consumers use the first address only; the others are fungible.
                let Some(address) = endpoint.addresses.first() else {
                    continue;
                };
                match address.parse::<IpAddr>() {
                    Ok(ip) => out.push(SocketAddr::new(ip, port)),
                    Err(_) => warnings.push(Warning {
                        object: ObjectRef::from_meta(ObjectKind::EndpointSlice, &slice.metadata),
                        reason: Invalid::EndpointAddress { address: address.clone() },
                    }),
                }
            }
        }
        out
    }
}

fn find_service_port<'s>(service: &'s Service, port: &str) -> Option<&'s ServicePort> {
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    match port.parse::<i32>() {
        Ok(number) => ports.iter().find(|p| p.port == number),
        Err(_) => ports.iter().find(|p| p.name.as_deref() == Some(port)),
    }
}

/// The port number, in this slice, that serves `service_port`.
fn slice_port(slice: &EndpointSlice, service_port: &ServicePort) -> Option<u16> {
    let ports = slice.ports.as_ref()?;
    let wanted_name = service_port.name.as_deref().unwrap_or("");
    let by_name = ports.iter().find(|p| p.name.as_deref().unwrap_or("") == wanted_name);
    let found = by_name.or_else(|| match &service_port.target_port {
        Some(IntOrString::Int(n)) => ports.iter().find(|p| p.port == Some(*n)),
        Some(IntOrString::String(name)) => ports.iter().find(|p| p.name.as_deref() == Some(name.as_str())),
        None => ports.iter().find(|p| p.port == Some(service_port.port)),
    })?;
    u16::try_from(found.port?).ok().filter(|p| *p != 0)
}
