//! A [`Snapshot`]: every object a source has collected, keyed by namespace and name.
//!
//! Sources fill it; [`crate::translate`] reads it. It holds only the kinds Sluice uses.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

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
}

impl ObjectKind {
    /// The `apiVersion` Sluice reads the kind at.
    pub fn api_version(self) -> &'static str {
        match self {
            ObjectKind::Ingress | ObjectKind::IngressClass => "networking.k8s.io/v1",
            ObjectKind::EndpointSlice => "discovery.k8s.io/v1",
            ObjectKind::Service | ObjectKind::Secret | ObjectKind::ConfigMap => "v1",
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
        }
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
        let namespace = match kind {
            ObjectKind::IngressClass => String::new(),
            _ => meta.namespace.clone().unwrap_or_else(|| "default".to_owned()),
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

/// Every object a source currently holds. Plain data: cloning or comparing it has no side effects.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Ingresses by namespace/name.
    pub ingresses: BTreeMap<Key, Ingress>,
    /// IngressClasses by name (namespace empty).
    pub ingress_classes: BTreeMap<Key, IngressClass>,
    /// Services by namespace/name.
    pub services: BTreeMap<Key, Service>,
    /// EndpointSlices by namespace/name.
    pub endpoint_slices: BTreeMap<Key, EndpointSlice>,
    /// Secrets by namespace/name.
    pub secrets: BTreeMap<Key, Secret>,
    /// ConfigMaps by namespace/name.
    pub config_maps: BTreeMap<Key, ConfigMap>,
}

/// One object of a kind that Sluice reads.
#[derive(Debug, Clone)]
pub enum Object {
    /// An Ingress.
    Ingress(Box<Ingress>),
    /// An IngressClass.
    IngressClass(Box<IngressClass>),
    /// A Service.
    Service(Box<Service>),
    /// An EndpointSlice.
    EndpointSlice(Box<EndpointSlice>),
    /// A Secret.
    Secret(Box<Secret>),
    /// A ConfigMap.
    ConfigMap(Box<ConfigMap>),
}

impl Object {
    /// The object's reference (kind, namespace, name).
    pub fn object_ref(&self) -> ObjectRef {
        let (kind, meta) = match self {
            Object::Ingress(o) => (ObjectKind::Ingress, &o.metadata),
            Object::IngressClass(o) => (ObjectKind::IngressClass, &o.metadata),
            Object::Service(o) => (ObjectKind::Service, &o.metadata),
            Object::EndpointSlice(o) => (ObjectKind::EndpointSlice, &o.metadata),
            Object::Secret(o) => (ObjectKind::Secret, &o.metadata),
            Object::ConfigMap(o) => (ObjectKind::ConfigMap, &o.metadata),
        };
        ObjectRef::from_meta(kind, meta)
    }
}

impl Snapshot {
    /// Inserts (or replaces) one object. The key is the object's namespace and name; a missing
    /// namespace is stored as `default`, so that references resolve as they would in a cluster.
    pub fn insert(&mut self, object: Object) {
        let r = object.object_ref();
        let key = (r.namespace, r.name);
        match object {
            Object::Ingress(mut o) => {
                o.metadata.namespace = Some(key.0.clone());
                self.ingresses.insert(key, *o);
            }
            Object::IngressClass(o) => {
                self.ingress_classes.insert(key, *o);
            }
            Object::Service(mut o) => {
                o.metadata.namespace = Some(key.0.clone());
                self.services.insert(key, *o);
            }
            Object::EndpointSlice(mut o) => {
                o.metadata.namespace = Some(key.0.clone());
                self.endpoint_slices.insert(key, *o);
            }
            Object::Secret(mut o) => {
                o.metadata.namespace = Some(key.0.clone());
                self.secrets.insert(key, *o);
            }
            Object::ConfigMap(mut o) => {
                o.metadata.namespace = Some(key.0.clone());
                self.config_maps.insert(key, *o);
            }
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
        }
    }
}
