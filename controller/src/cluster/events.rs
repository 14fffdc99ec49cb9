//! Warning Events for objects Sluice cannot use, written by the leader, rate-limited per
//! object and reason, naming the object and the reason.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;
use tracing::warn;

use super::leader::LeaderHandle;
use crate::translate::Warning;

/// The same warning is not repeated within this window.
const REPEAT_AFTER: Duration = Duration::from_secs(600);
/// At most this many Events per rebuild (a bad rollout must not flood the apiserver).
const MAX_PER_REBUILD: usize = 20;

/// Publishes warnings as Kubernetes Events.
pub struct EventReporter {
    recorder: Recorder,
    leader: LeaderHandle,
    sent: Mutex<HashMap<Warning, Instant>>,
}

impl EventReporter {
    /// A reporter named `sluice`.
    pub fn new(client: Client, leader: LeaderHandle) -> Self {
        let reporter = Reporter { controller: "sluice".to_owned(), instance: std::env::var("POD_NAME").ok() };
        EventReporter { recorder: Recorder::new(client, reporter), leader, sent: Mutex::new(HashMap::new()) }
    }

    /// Emits the warnings not emitted within [`REPEAT_AFTER`] (leader only).
    pub async fn report(&self, warnings: &[Warning]) {
        if !self.leader.is_leader() {
            return;
        }
        let due: Vec<Warning> = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            sent.retain(|_, at| at.elapsed() < REPEAT_AFTER);
            let due: Vec<Warning> =
                warnings.iter().filter(|w| !sent.contains_key(*w)).take(MAX_PER_REBUILD).cloned().collect();
            due.iter().for_each(|w| {
                sent.insert(w.clone(), Instant::now());
            });
            due
        };
        for w in due {
            let reference = ObjectReference {
                api_version: Some(w.object.kind.api_version().to_owned()),
                kind: Some(w.object.kind.as_str().to_owned()),
                namespace: Some(w.object.namespace.clone()).filter(|n| !n.is_empty()),
                name: Some(w.object.name.clone()),
                ..ObjectReference::default()
            };
            let event = Event {
                type_: EventType::Warning,
                reason: w.reason.code().to_owned(),
                note: Some(w.reason.to_string()),
                action: "Translate".to_owned(),
                secondary: None,
            };
            if let Err(error) = self.recorder.publish(&event, &reference).await {
                warn!(object = %w.object, %error, "Cannot publish a Warning Event");
            }
        }
    }
}
