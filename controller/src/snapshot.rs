//! A [`Snapshot`]: every object a source has collected, keyed by namespace and name.
//!
//! Sources fill it; [`crate::translate`] reads it. It holds only the kinds Sluice uses.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::gateway_api::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};

/// The kinds of object Sluice reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// `networking.k8s.io/v1` Ingress.
    Ingress,
    /// `networking.k8s.io/v1` IngressClass (cluster-scoped).
    IngressClass,
    /// `v1` Service.
    Service,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
    /// `v1` Secret.
    Secret,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `v1` Namespace (cluster-scoped; its labels select Gateway listeners' routes).
    Namespace,
    /// `gateway.networking.k8s.io/v1` GatewayClass (cluster-scoped).
    GatewayClass,
    /// `gateway.networking.k8s.io/v1` Gateway.
    Gateway,
    /// `gateway.networking.k8s.io/v1` HTTPRoute.
    HttpRoute,
    /// `gateway.networking.k8s.io/v1beta1` ReferenceGrant.
    ReferenceGrant,
}

impl ObjectKind {
    /// The `apiVersion` Sluice reads the kind at.
    pub fn api_version(self) -> &'static str {
        match self {
            ObjectKind::Ingress | ObjectKind::IngressClass => "networking.k8s.io/v1",
            ObjectKind::EndpointSlice => "discovery.k8s.io/v1",
            ObjectKind::Service | ObjectKind::Secret | ObjectKind::ConfigMap | ObjectKind::Namespace => "v1",
            ObjectKind::GatewayClass | ObjectKind::Gateway | ObjectKind::HttpRoute => {
                "gateway.networking.k8s.io/v1"
            }
            ObjectKind::ReferenceGrant => "gateway.networking.k8s.io/v1beta1",
        }
    }

    /// The Kubernetes `kind` name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Ingress => "Ingress",
            ObjectKind::IngressClass => "IngressClass",
            ObjectKind::Service => "Service",
            ObjectKind::EndpointSlice => "EndpointSlice",
            ObjectKind::Secret => "Secret",
            ObjectKind::ConfigMap => "ConfigMap",
            ObjectKind::Namespace => "Namespace",
            ObjectKind::GatewayClass => "GatewayClass",
            ObjectKind::Gateway => "Gateway",
            ObjectKind::HttpRoute => "HTTPRoute",
            ObjectKind::ReferenceGrant => "ReferenceGrant",
        }
    }

    /// Whether objects of the kind have no namespace.
    pub fn is_cluster_scoped(self) -> bool {
        matches!(self, ObjectKind::IngressClass | ObjectKind::Namespace | ObjectKind::GatewayClass)
    }
}

/// A reference to one object: kind, namespace (empty for cluster-scoped kinds) and name.
/// Used to key snapshots and to name the object a warning is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The object's kind.
    pub kind: ObjectKind,
    /// The namespace, or empty for cluster-scoped objects.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

impl ObjectRef {
    /// A reference from a kind and an object's metadata (a missing namespace means `default`
    /// for namespaced kinds, as kubectl assumes).
    pub fn from_meta(kind: ObjectKind, meta: &ObjectMeta) -> Self {
        let namespace = if kind.is_cluster_scoped() {
            String::new()
        } else {
            meta.namespace.clone().unwrap_or_else(|| "default".to_owned())
        };
        ObjectRef { kind, namespace, name: meta.name.clone().unwrap_or_default() }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind.as_str(), self.name)
        } else {
            write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
        }
    }
}

/// Namespace and name, the key of every map in a [`Snapshot`].
pub type Key = (String, String);

/// The key an annotation or ConfigMap value such as `NAME` or `NAMESPACE/NAME` refers to;
/// `NAME` alone is in `default_ns`.
pub fn object_key(reference: &str, default_ns: &str) -> Key {
    let reference = reference.trim();
    match reference.split_once('/') {
        Some((ns, name)) => (ns.to_owned(), name.to_owned()),
        None => (default_ns.to_owned(), reference.to_owned()),
    }
}

impl ObjectRef {
    /// The key `reference` names, which must be in this object's namespace (Ingress annotations
    /// never reach into another namespace's Secrets or ConfigMaps).
    pub fn own_namespace_key(&self, reference: &str) -> Result<Key, &'static str> {
        let key = object_key(reference, &self.namespace);
        if key.0 == self.namespace {
            Ok(key)
        } else {
            Err("must be in the Ingress's namespace")
        }
    }
}

/// Every object a source currently holds. Objects are shared (`Arc`), so building a snapshot
/// from a source's store, or cloning one, copies no object.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Ingresses by namespace/name.
    pub ingresses: BTreeMap<Key, Arc<Ingress>>,
    /// IngressClasses by name (namespace empty).
    pub ingress_classes: BTreeMap<Key, Arc<IngressClass>>,
    /// Services by namespace/name.
    pub services: BTreeMap<Key, Arc<Service>>,
    /// EndpointSlices by namespace/name.
    pub endpoint_slices: BTreeMap<Key, Arc<EndpointSlice>>,
    /// Secrets by namespace/name.
    pub secrets: BTreeMap<Key, Arc<Secret>>,
    /// ConfigMaps by namespace/name.
    pub config_maps: BTreeMap<Key, Arc<ConfigMap>>,
    /// Namespaces by name (namespace empty).
    pub namespaces: BTreeMap<Key, Arc<Namespace>>,
    /// GatewayClasses by name (namespace empty).
    pub gateway_classes: BTreeMap<Key, Arc<GatewayClass>>,
    /// Gateways by namespace/name.
    pub gateways: BTreeMap<Key, Arc<Gateway>>,
    /// HTTPRoutes by namespace/name.
    pub http_routes: BTreeMap<Key, Arc<HttpRoute>>,
    /// ReferenceGrants by namespace/name.
    pub reference_grants: BTreeMap<Key, Arc<ReferenceGrant>>,
}

/// One object of a kind that Sluice reads.
#[derive(Debug, Clone)]
pub enum Object {
    /// An Ingress.
    Ingress(Arc<Ingress>),
    /// An IngressClass.
    IngressClass(Arc<IngressClass>),
    /// A Service.
    Service(Arc<Service>),
    /// An EndpointSlice.
    EndpointSlice(Arc<EndpointSlice>),
    /// A Secret.
    Secret(Arc<Secret>),
    /// A ConfigMap.
    ConfigMap(Arc<ConfigMap>),
    /// A Namespace.
    Namespace(Arc<Namespace>),
    /// A GatewayClass.
    GatewayClass(Arc<GatewayClass>),
    /// A Gateway.
    Gateway(Arc<Gateway>),
    /// An HTTPRoute.
    HttpRoute(Arc<HttpRoute>),
    /// A ReferenceGrant.
    ReferenceGrant(Arc<ReferenceGrant>),
}

/// Sets a missing namespace to `default` (for namespaced kinds), as kubectl assumes.
fn with_namespace<T: k8s_openapi::Metadata<Ty = ObjectMeta>>(mut object: T, kind: ObjectKind) -> Arc<T> {
    if !kind.is_cluster_scoped() && object.metadata().namespace.as_deref().is_none_or(str::is_empty) {
        object.metadata_mut().namespace = Some("default".to_owned());
    }
    Arc::new(object)
}

impl Object {
    /// Wraps an Ingress (a missing namespace becomes `default`).
    pub fn ingress(o: Ingress) -> Self {
        Object::Ingress(with_namespace(o, ObjectKind::Ingress))
    }
    /// Wraps an IngressClass.
    pub fn ingress_class(o: IngressClass) -> Self {
        Object::IngressClass(Arc::new(o))
    }
    /// Wraps a Service (a missing namespace becomes `default`).
    pub fn service(o: Service) -> Self {
        Object::Service(with_namespace(o, ObjectKind::Service))
    }
    /// Wraps an EndpointSlice (a missing namespace becomes `default`).
    pub fn endpoint_slice(o: EndpointSlice) -> Self {
        Object::EndpointSlice(with_namespace(o, ObjectKind::EndpointSlice))
    }
    /// Wraps a Secret (a missing namespace becomes `default`).
    pub fn secret(o: Secret) -> Self {
        Object::Secret(with_namespace(o, ObjectKind::Secret))
    }
    /// Wraps a ConfigMap (a missing namespace becomes `default`).
    pub fn config_map(o: ConfigMap) -> Self {
        Object::ConfigMap(with_namespace(o, ObjectKind::ConfigMap))
    }
    /// Wraps a Namespace.
    pub fn namespace(o: Namespace) -> Self {
        Object::Namespace(Arc::new(o))
    }
    /// Wraps a GatewayClass.
    pub fn gateway_class(o: GatewayClass) -> Self {
        Object::GatewayClass(Arc::new(o))
    }
    /// Wraps a Gateway (a missing namespace becomes `default`).
    pub fn gateway(o: Gateway) -> Self {
        Object::Gateway(with_namespace(o, ObjectKind::Gateway))
    }
    /// Wraps an HTTPRoute (a missing namespace becomes `default`).
    pub fn http_route(o: HttpRoute) -> Self {
        Object::HttpRoute(with_namespace(o, ObjectKind::HttpRoute))
    }
    /// Wraps a ReferenceGrant (a missing namespace becomes `default`).
    pub fn reference_grant(o: ReferenceGrant) -> Self {
        Object::ReferenceGrant(with_namespace(o, ObjectKind::ReferenceGrant))
    }

    /// The object's reference (kind, namespace, name).
    pub fn object_ref(&self) -> ObjectRef {
        let (kind, meta) = match self {
            Object::Ingress(o) => (ObjectKind::Ingress, &o.metadata),
            Object::IngressClass(o) => (ObjectKind::IngressClass, &o.metadata),
            Object::Service(o) => (ObjectKind::Service, &o.metadata),
            Object::EndpointSlice(o) => (ObjectKind::EndpointSlice, &o.metadata),
            Object::Secret(o) => (ObjectKind::Secret, &o.metadata),
            Object::ConfigMap(o) => (ObjectKind::ConfigMap, &o.metadata),
            Object::Namespace(o) => (ObjectKind::Namespace, &o.metadata),
            Object::GatewayClass(o) => (ObjectKind::GatewayClass, &o.metadata),
            Object::Gateway(o) => (ObjectKind::Gateway, &o.metadata),
            Object::HttpRoute(o) => (ObjectKind::HttpRoute, &o.metadata),
            Object::ReferenceGrant(o) => (ObjectKind::ReferenceGrant, &o.metadata),
        };
        ObjectRef::from_meta(kind, meta)
    }
}

impl Snapshot {
    /// Inserts (or replaces) one object, keyed by its namespace and name. Sources set a missing
    /// namespace to `default` before (see [`Object::new`]), as kubectl assumes.
    pub fn insert(&mut self, object: Object) {
        let r = object.object_ref();
        let key = (r.namespace, r.name);
        match object {
            Object::Ingress(o) => self.ingresses.insert(key, o).map(drop),
            Object::IngressClass(o) => self.ingress_classes.insert(key, o).map(drop),
            Object::Service(o) => self.services.insert(key, o).map(drop),
            Object::EndpointSlice(o) => self.endpoint_slices.insert(key, o).map(drop),
            Object::Secret(o) => self.secrets.insert(key, o).map(drop),
            Object::ConfigMap(o) => self.config_maps.insert(key, o).map(drop),
            Object::Namespace(o) => self.namespaces.insert(key, o).map(drop),
            Object::GatewayClass(o) => self.gateway_classes.insert(key, o).map(drop),
            Object::Gateway(o) => self.gateways.insert(key, o).map(drop),
            Object::HttpRoute(o) => self.http_routes.insert(key, o).map(drop),
            Object::ReferenceGrant(o) => self.reference_grants.insert(key, o).map(drop),
        };
    }

    /// Inserts `object` unless the snapshot already holds one with its reference: `false`, and
    /// nothing changes, when it does (one lookup, where `contains` then `insert` take two).
    pub fn insert_new(&mut self, object: Object) -> bool {
        fn put<T>(map: &mut BTreeMap<Key, Arc<T>>, key: Key, object: Arc<T>) -> bool {
            match map.entry(key) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(object);
                    true
                }
                std::collections::btree_map::Entry::Occupied(_) => false,
            }
        }
        let r = object.object_ref();
        let key = (r.namespace, r.name);
        match object {
            Object::Ingress(o) => put(&mut self.ingresses, key, o),
            Object::IngressClass(o) => put(&mut self.ingress_classes, key, o),
            Object::Service(o) => put(&mut self.services, key, o),
            Object::EndpointSlice(o) => put(&mut self.endpoint_slices, key, o),
            Object::Secret(o) => put(&mut self.secrets, key, o),
            Object::ConfigMap(o) => put(&mut self.config_maps, key, o),
            Object::Namespace(o) => put(&mut self.namespaces, key, o),
            Object::GatewayClass(o) => put(&mut self.gateway_classes, key, o),
            Object::Gateway(o) => put(&mut self.gateways, key, o),
            Object::HttpRoute(o) => put(&mut self.http_routes, key, o),
            Object::ReferenceGrant(o) => put(&mut self.reference_grants, key, o),
        }
    }

    /// Whether the snapshot already holds an object with this reference.
    pub fn contains(&self, r: &ObjectRef) -> bool {
        let key = (r.namespace.clone(), r.name.clone());
        match r.kind {
            ObjectKind::Ingress => self.ingresses.contains_key(&key),
            ObjectKind::IngressClass => self.ingress_classes.contains_key(&key),
            ObjectKind::Service => self.services.contains_key(&key),
            ObjectKind::EndpointSlice => self.endpoint_slices.contains_key(&key),
            ObjectKind::Secret => self.secrets.contains_key(&key),
            ObjectKind::ConfigMap => self.config_maps.contains_key(&key),
            ObjectKind::Namespace => self.namespaces.contains_key(&key),
            ObjectKind::GatewayClass => self.gateway_classes.contains_key(&key),
            ObjectKind::Gateway => self.gateways.contains_key(&key),
            ObjectKind::HttpRoute => self.http_routes.contains_key(&key),
            ObjectKind::ReferenceGrant => self.reference_grants.contains_key(&key),
        }
    }
}
