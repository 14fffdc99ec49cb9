//! Gateway API status in the cluster: while this replica leads, the conditions translate
//! computed are written to the status of each served GatewayClass, Gateway and HTTPRoute (a
//! merge patch of the status subresource), when they change.
//!
//! An HTTPRoute's `status.parents` keeps the entries other controllers wrote; Sluice's own are
//! those with its `controllerName`. `lastTransitionTime` is the time of the write that changed
//! the conditions; `observedGeneration` the generation they were computed for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::leader::LeaderHandle;
use crate::gateway_api::{Condition, Gateway, GatewayClass, GatewayStatuses, HttpRoute, GROUP};

/// Status is re-written at least this often while leading (an object recreated with the same
/// conditions gets them back).
const RESYNC: Duration = Duration::from_secs(30);

/// An object's status key: kind, namespace, name.
type StatusKey = (&'static str, String, String);
/// What was last written per object, without timestamps.
type Written = HashMap<StatusKey, Value>;
/// The last write error per object.
type Failed = HashMap<StatusKey, String>;

/// Writes Gateway API status while this replica leads.
pub struct GatewayStatusWriter {
    client: Client,
    leader: LeaderHandle,
    controller_name: String,
}

/// The conditions as the API holds them.
fn conditions(list: &[Condition], generation: Option<i64>, now: &Value) -> Vec<Value> {
    list.iter()
        .map(|c| {
            // A message is required, and apiservers before 1.21 read an empty one as null.
            let message = if c.message.is_empty() { c.reason } else { c.message.as_str() };
            json!({"type": c.type_, "status": c.status, "reason": c.reason, "message": message,
                   "observedGeneration": generation.unwrap_or(0), "lastTransitionTime": now})
        })
        .collect()
}

/// The status bodies to write, keyed by (kind, namespace, name); `now` stamps the conditions.
fn bodies(
    statuses: &GatewayStatuses,
    controller_name: &str,
    now: &Value,
) -> Vec<((&'static str, String, String), Value)> {
    let mut out = Vec::new();
    for class in &statuses.gateway_classes {
        let body =
            json!({"status": {"conditions": conditions(&class.conditions, class.observed_generation, now)}});
        out.push((("GatewayClass", String::new(), class.name.clone()), body));
    }
    for gw in &statuses.gateways {
        let listeners: Vec<Value> = gw
            .listeners
            .iter()
            .map(|l| {
                let kinds: Vec<Value> =
                    l.supported_kinds.iter().map(|k| json!({"group": GROUP, "kind": k})).collect();
                json!({"name": l.name, "supportedKinds": kinds, "attachedRoutes": l.attached_routes,
                       "conditions": conditions(&l.conditions, gw.observed_generation, now)})
            })
            .collect();
        let addresses: Vec<Value> = gw
            .addresses
            .iter()
            .filter(|a| a.parse::<std::net::IpAddr>().is_ok_and(|ip| !ip.is_unspecified()))
            .map(|a| json!({"type": "IPAddress", "value": a}))
            .collect();
        let body = json!({"status": {"addresses": addresses, "listeners": listeners,
            "conditions": conditions(&gw.conditions, gw.observed_generation, now)}});
        out.push((("Gateway", gw.namespace.clone(), gw.name.clone()), body));
    }
    for route in &statuses.http_routes {
        let mut parents: Vec<Value> = route
            .parents
            .iter()
            .map(|p| {
                json!({"parentRef": p.parent_ref, "controllerName": controller_name,
                       "conditions": conditions(&p.conditions, route.observed_generation, now)})
            })
            .collect();
        parents.extend(route.other_parents.iter().cloned());
        let body = json!({"status": {"parents": parents}});
        out.push((("HTTPRoute", route.namespace.clone(), route.name.clone()), body));
    }
    out
}

impl GatewayStatusWriter {
    /// A writer for the objects of `controller_name`, active while `leader` leads.
    pub fn new(client: Client, leader: LeaderHandle, controller_name: String) -> Self {
        GatewayStatusWriter { client, leader, controller_name }
    }

    /// Writes on every new status, on gaining leadership, and every [`RESYNC`].
    pub async fn run(self, mut statuses: watch::Receiver<Arc<GatewayStatuses>>) {
        let mut leadership = self.leader.changes();
        // What was last written, without timestamps, per object.
        let mut written = Written::new();
        // The last error per object, logged once until it changes.
        let mut failed = Failed::new();
        let mut last_full = tokio::time::Instant::now();
        loop {
            if self.leader.is_leader() {
                if last_full.elapsed() >= RESYNC {
                    written.clear();
                    last_full = tokio::time::Instant::now();
                }
                let current = statuses.borrow_and_update().clone();
                self.sync(&current, &mut written, &mut failed).await;
            } else {
                written.clear();
            }
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_secs(2), statuses.changed()) => {}
                _ = leadership.changed() => {}
            }
        }
    }

    async fn sync(&self, statuses: &GatewayStatuses, written: &mut Written, failed: &mut Failed) {
        let stamp = Value::Null;
        let now = serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).unwrap_or(Value::Null);
        for (key, unstamped) in bodies(statuses, &self.controller_name, &stamp) {
            if written.get(&key) == Some(&unstamped) {
                continue;
            }
            let body = bodies_one(&unstamped, &now);
            let (kind, ns, name) = &key;
            let params = PatchParams::default();
            let result = match *kind {
                "GatewayClass" => Api::<GatewayClass>::all(self.client.clone())
                    .patch_status(name, &params, &Patch::Merge(&body))
                    .await
                    .map(drop),
                "Gateway" => Api::<Gateway>::namespaced(self.client.clone(), ns)
                    .patch_status(name, &params, &Patch::Merge(&body))
                    .await
                    .map(drop),
                _ => Api::<HttpRoute>::namespaced(self.client.clone(), ns)
                    .patch_status(name, &params, &Patch::Merge(&body))
                    .await
                    .map(drop),
            };
            match result {
                Ok(()) => {
                    info!(kind, object = %format!("{ns}/{name}"), "Published Gateway API status");
                    failed.remove(&key);
                    written.insert(key, unstamped);
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    debug!(kind, %name, "Object gone before its status was written")
                }
                Err(error) => {
                    warn!(kind, object = %format!("{ns}/{name}"), %error, "Cannot write Gateway API status; retrying")
                }
            }
        }
    }
}

/// `body` with every `lastTransitionTime` set to `now`.
fn bodies_one(body: &Value, now: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k == "lastTransitionTime" { now.clone() } else { bodies_one(v, now) };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| bodies_one(v, now)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway_api::{GatewayStatus, ListenerStatus};

    #[test]
    fn gateway_bodies_carry_listeners_kinds_and_stamped_conditions() {
        let statuses = GatewayStatuses {
            gateways: vec![GatewayStatus {
                namespace: "ns".into(),
                name: "gw".into(),
                observed_generation: Some(3),
                addresses: vec!["127.0.0.10".into(), "0.0.0.0".into()],
                conditions: vec![Condition::yes("Accepted", "Accepted")],
                listeners: vec![ListenerStatus {
                    name: "http".into(),
                    supported_kinds: vec!["HTTPRoute".into()],
                    attached_routes: 2,
                    conditions: vec![Condition::yes("Programmed", "Programmed")],
                }],
            }],
            ..GatewayStatuses::default()
        };
        let now = json!("2026-12-04T00:00:00Z");
        let all = bodies(&statuses, "sluice.dev/gateway-controller", &Value::Null);
        let body = bodies_one(&all[0].1, &now);
        assert_eq!(body["status"]["addresses"], json!([{"type": "IPAddress", "value": "127.0.0.10"}]));
        let listener = &body["status"]["listeners"][0];
        assert_eq!(listener["attachedRoutes"], 2);
        assert_eq!(listener["supportedKinds"][0]["kind"], "HTTPRoute");
        assert_eq!(listener["conditions"][0]["lastTransitionTime"], now);
        assert_eq!(body["status"]["conditions"][0]["observedGeneration"], 3);
    }
}
