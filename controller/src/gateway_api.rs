//! The Gateway API objects Sluice reads (`gateway.networking.k8s.io`): GatewayClass, Gateway
//! and HTTPRoute at `v1`, ReferenceGrant at `v1beta1`, and Namespaces for listeners'
//! `allowedRoutes` selectors.
//!
//! These are the spec's shapes, trimmed to the fields Sluice acts on; unknown fields are
//! ignored, so newer CRD versions still parse. Validation happens in `translate`, never here.

pub use http_route::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};
pub use status::{
    ClassStatus, Condition, GatewayStatus, GatewayStatuses, ListenerStatus, ParentStatus, RouteStatus,
};

mod http_route;
mod resource;
mod status;

/// The API group of every Gateway API kind.
pub const GROUP: &str = "gateway.networking.k8s.io";

/// A GatewayClass: which controller serves the Gateways of a class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayClass {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The class's spec.
    #[serde(default)]
    pub spec: GatewayClassSpec,
}

/// `GatewayClass.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayClassSpec {
    /// The controller that serves this class (`--gateway-controller-name` for Sluice).
    #[serde(default)]
    pub controller_name: String,
}

/// A Gateway: listeners (port, protocol, hostname) on addresses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The Gateway's spec.
    #[serde(default)]
    pub spec: GatewaySpec,
}

/// `Gateway.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// The GatewayClass's name.
    #[serde(default)]
    pub gateway_class_name: String,
    /// The listeners.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Requested addresses (`IPAddress` ones are bound).
    #[serde(default)]
    pub addresses: Vec<GatewayAddress>,
}

/// One requested Gateway address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayAddress {
    /// `IPAddress` (the default) or `Hostname`, or an implementation-specific type.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// The address.
    #[serde(default)]
    pub value: String,
}

/// `Gateway.spec.listeners[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// The listener's name (the `sectionName` routes attach to).
    #[serde(default)]
    pub name: String,
    /// The hostname requests must carry (exact or `*.` wildcard); none means any.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The port.
    #[serde(default)]
    pub port: i32,
    /// `HTTP` or `HTTPS` (Sluice's); `TLS`, `TCP` and `UDP` are not supported.
    #[serde(default)]
    pub protocol: String,
    /// TLS settings for HTTPS.
    #[serde(default)]
    pub tls: Option<ListenerTls>,
    /// Which routes may attach.
    #[serde(default)]
    pub allowed_routes: Option<AllowedRoutes>,
}

/// `listeners[].tls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTls {
    /// `Terminate` (the default) or `Passthrough`.
    #[serde(default)]
    pub mode: Option<String>,
    /// The certificates (Secrets of type `kubernetes.io/tls`).
    #[serde(default)]
    pub certificate_refs: Vec<ObjectReference>,
}

/// `listeners[].allowedRoutes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AllowedRoutes {
    /// The namespaces routes may come from.
    #[serde(default)]
    pub namespaces: Option<RouteNamespaces>,
    /// The route kinds allowed (default: HTTPRoute for HTTP and HTTPS).
    #[serde(default)]
    pub kinds: Option<Vec<RouteGroupKind>>,
}

/// `allowedRoutes.namespaces`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteNamespaces {
    /// `Same` (the default), `All` or `Selector`.
    #[serde(default)]
    pub from: Option<String>,
    /// The Namespace label selector for `Selector`.
    #[serde(default)]
    pub selector: Option<LabelSelector>,
}

/// A route kind (`allowedRoutes.kinds[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteGroupKind {
    /// The group (default `gateway.networking.k8s.io`).
    #[serde(default)]
    pub group: Option<String>,
    /// The kind.
    #[serde(default)]
    pub kind: String,
}

/// A reference to an object by group, kind, name and optional namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectReference {
    /// The group (empty: core).
    #[serde(default)]
    pub group: Option<String>,
    /// The kind (default `Secret` for certificates).
    #[serde(default)]
    pub kind: Option<String>,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The namespace (default: the referrer's).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A ReferenceGrant: lets objects of one namespace refer to objects in the grant's namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceGrant {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The grant's spec.
    #[serde(default)]
    pub spec: ReferenceGrantSpec,
}

/// `ReferenceGrant.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceGrantSpec {
    /// Who may refer.
    #[serde(default)]
    pub from: Vec<GrantFrom>,
    /// To what.
    #[serde(default)]
    pub to: Vec<GrantTo>,
}

/// `ReferenceGrant.spec.from[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrantFrom {
    /// The referrer's group.
    #[serde(default)]
    pub group: String,
    /// The referrer's kind.
    #[serde(default)]
    pub kind: String,
    /// The referrer's namespace.
    #[serde(default)]
    pub namespace: String,
}

/// `ReferenceGrant.spec.to[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrantTo {
    /// The target's group (empty: core).
    #[serde(default)]
    pub group: String,
    /// The target's kind.
    #[serde(default)]
    pub kind: String,
    /// One object's name, or every object of the kind when absent.
    #[serde(default)]
    pub name: Option<String>,
}
