//! The rebuild loop: store changes in, debounced rebuilds out through the shared pipeline.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::{mpsc, watch};
use tracing::{info, info_span, warn, Instrument};

use super::events::EventReporter;
use super::gateway_status::GatewayStatusWriter;
use super::leader::LeaderHandle;
use super::status;
use super::stores::{Change, Stores};
use super::ClusterOptions;
use crate::pipeline::Pipeline;
use crate::snapshot::{ObjectKind, Snapshot};

/// Rebuild this long after the last change of a burst...
const QUIET: Duration = Duration::from_millis(25);
/// ...but no later than this after its first change.
const MAX_DELAY: Duration = Duration::from_millis(150);

/// A one-shot callback fired when the first table is live (the listeners' start signal).
pub struct Ready(Option<Box<dyn FnOnce() + Send>>);

impl Ready {
    /// Wraps the callback.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Ready(Some(Box::new(f)))
    }

    fn fire(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Watches the cluster and publishes tables.
pub struct KubeSource {
    client: Client,
    pipeline: Arc<Pipeline>,
    options: ClusterOptions,
    leader: LeaderHandle,
}

/// What the debounce gathered.
#[derive(Default)]
struct Batch {
    oldest: Option<Instant>,
}

impl KubeSource {
    /// A source over `client`; `leader` gates status and Events.
    pub fn new(
        client: Client,
        pipeline: Arc<Pipeline>,
        options: ClusterOptions,
        leader: LeaderHandle,
    ) -> Self {
        KubeSource { client, pipeline, options, leader }
    }

    /// Runs until the watchers stop. The first table is published once every kind has
    /// completed its first list; `ready` fires then.
    pub async fn run(self, mut ready: Ready) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let gateway_api = super::stores::gateway_api_installed(&self.client).await;
        if !gateway_api {
            warn!("Gateway API CRDs (gateway.networking.k8s.io v1 and v1beta1) are not installed; serving Ingresses only");
        }
        let stores = Stores::start(&self.client, &self.options, gateway_api, tx);
        let (gateway_statuses, gateway_rx) = watch::channel(self.pipeline.gateway_status());
        if gateway_api {
            let writer = GatewayStatusWriter::new(
                self.client.clone(),
                self.leader.clone(),
                self.pipeline.options().gateway.controller_name.clone(),
            );
            tokio::spawn(writer.run(gateway_rx).instrument(info_span!("gateway status")));
        }
        let (snapshots, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
        if let Some(target) = self.options.status.clone() {
            let writer = status::StatusWriter::new(
                self.client.clone(),
                target,
                self.pipeline.options().classes.clone(),
                self.leader.clone(),
            );
            tokio::spawn(writer.run(snapshot_rx).instrument(info_span!("status")));
        }
        let events = Arc::new(EventReporter::new(self.client.clone(), self.leader.clone()));
        let mut unsynced: HashSet<ObjectKind> = stores.kinds();
        let mut batch = Batch::default();
        let absorb = |change: Change, batch: &mut Batch, unsynced: &mut HashSet<ObjectKind>| {
            if change.synced {
                unsynced.remove(&change.kind);
            }
            batch.oldest = Some(batch.oldest.map_or(change.seen, |t| t.min(change.seen)));
        };
        while let Some(change) = rx.recv().await {
            absorb(change, &mut batch, &mut unsynced);
            let deadline = Instant::now() + MAX_DELAY;
            while Instant::now() < deadline {
                match tokio::time::timeout(QUIET, rx.recv()).await {
                    Ok(Some(change)) => absorb(change, &mut batch, &mut unsynced),
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if !unsynced.is_empty() {
                continue;
            }
            let options = self.pipeline.options();
            let snapshot =
                Arc::new(stores.snapshot(options.default_certificate.as_ref(), options.configmap.as_ref()));
            let (_, warnings) = self.pipeline.apply(snapshot.clone(), true, batch.oldest.take());
            if ready.0.is_some() {
                info!("First sync of every kind done; routing table live");
                ready.fire();
            }
            snapshots.send_replace(snapshot);
            let gateway_status = self.pipeline.gateway_status();
            gateway_statuses.send_if_modified(|current| {
                let changed = **current != *gateway_status;
                *current = gateway_status;
                changed
            });
            let events = events.clone();
            tokio::spawn(async move { events.report(&warnings).await });
        }
    }
}
