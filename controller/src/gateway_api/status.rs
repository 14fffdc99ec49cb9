//! The status Sluice computes for Gateway API objects, as the spec defines its conditions:
//! written to the cluster by the leader, and logged and served on the admin listener
//! (`/status/gateways`) in manifests mode.

use serde::Serialize;

use super::ParentRef;

/// One status condition (`type`, `status`, `reason`, `message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// The condition type (`Accepted`, `Programmed`, `ResolvedRefs`, `Conflicted`).
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// `True` or `False`.
    pub status: &'static str,
    /// The spec's reason.
    pub reason: &'static str,
    /// A human-readable message.
    pub message: String,
}

impl Condition {
    /// A condition that holds.
    pub fn yes(type_: &'static str, reason: &'static str) -> Self {
        Condition { type_, status: "True", reason, message: String::new() }
    }

    /// A condition that does not hold, with why.
    pub fn no(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Condition { type_, status: "False", reason, message: message.into() }
    }

    /// Whether the condition holds.
    pub fn holds(&self) -> bool {
        self.status == "True"
    }
}

/// The status of a GatewayClass Sluice serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassStatus {
    /// The class's name.
    pub name: String,
    /// The `metadata.generation` the conditions were computed for.
    pub observed_generation: Option<i64>,
    /// `Accepted`.
    pub conditions: Vec<Condition>,
}

/// The status of a Gateway of a served class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// The Gateway's namespace.
    pub namespace: String,
    /// The Gateway's name.
    pub name: String,
    /// The `metadata.generation` the conditions were computed for.
    pub observed_generation: Option<i64>,
    /// The addresses its listeners are served on.
    pub addresses: Vec<String>,
    /// `Accepted` and `Programmed`.
    pub conditions: Vec<Condition>,
    /// Per listener.
    pub listeners: Vec<ListenerStatus>,
}

/// The status of one listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    /// The listener's name.
    pub name: String,
    /// The route kinds it serves (`HTTPRoute`, or none when its allowed kinds exclude it).
    pub supported_kinds: Vec<String>,
    /// The number of routes attached.
    pub attached_routes: u32,
    /// `Accepted`, `Programmed`, `ResolvedRefs` and `Conflicted`.
    pub conditions: Vec<Condition>,
}

/// The status of an HTTPRoute, per parent that Sluice serves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// The route's namespace.
    pub namespace: String,
    /// The route's name.
    pub name: String,
    /// The `metadata.generation` the conditions were computed for.
    pub observed_generation: Option<i64>,
    /// One entry per parentRef naming a Gateway of a served class.
    pub parents: Vec<ParentStatus>,
    /// The entries other controllers wrote in `status.parents` (kept as they are when Sluice
    /// writes its own).
    #[serde(skip)]
    pub other_parents: Vec<serde_json::Value>,
}

/// The status of a route for one parentRef.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentStatus {
    /// The parentRef as written.
    pub parent_ref: ParentRef,
    /// `Accepted` and `ResolvedRefs`.
    pub conditions: Vec<Condition>,
}

/// Everything translate says about Gateway API objects in one generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatuses {
    /// Served GatewayClasses.
    pub gateway_classes: Vec<ClassStatus>,
    /// Gateways of served classes.
    pub gateways: Vec<GatewayStatus>,
    /// HTTPRoutes attached (or trying to attach) to those Gateways.
    pub http_routes: Vec<RouteStatus>,
}
