//! The Kubernetes source: kube-rs watchers and reflector stores for every kind Sluice reads,
//! rebuilding the table through the same [`Pipeline`] as the manifests source, plus what only
//! a cluster has: Ingress status publishing (leader only, on a Lease) and Warning Events.
//!
//! Resilience: stores keep their objects while a watch fails; kube-rs relists with backoff, and a
//! relist replaces a store atomically on `InitDone`. The table is rebuilt on `Apply`, `Delete`
//! and `InitDone` (a relist's deletions show up only there), debounced, and only once every
//! kind has completed its first sync; so an apiserver outage never empties the table.

mod events;
mod gateway_status;
mod leader;
mod source;
mod status;
mod stores;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub use leader::{LeaderElection, LeaseSettings};
pub use source::{KubeSource, Ready};
pub use status::{PublishAddress, StatusTarget};

use crate::error::{Error, Result};
use crate::snapshot::Key;

/// Where the source looks, and what it writes back.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Only this namespace (`--watch-namespace`); all namespaces when None.
    pub namespace: Option<String>,
    /// The controller ConfigMap (`--configmap`), watched by name.
    pub configmap: Option<Key>,
    /// What goes into Ingress status (`--publish-status-address` / `--publish-service`).
    pub status: Option<StatusTarget>,
    /// The Lease that elects the replica writing status and Events.
    pub lease: LeaseSettings,
}

/// The client configuration from a kubeconfig file, or from the in-cluster environment when
/// `kubeconfig` is None (then `KUBECONFIG` and `~/.kube/config` are tried, as kubectl does).
/// Build the [`Client`] from it inside the runtime that will use it.
pub async fn config(kubeconfig: Option<&Path>) -> Result<Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let file =
                Kubeconfig::read_from(path).map_err(|e| Error::Kube(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kube(format!("{}: {e}", path.display())))?
        }
        None => Config::infer().await.map_err(|e| Error::Kube(format!("no cluster configuration: {e}")))?,
    })
}

/// Runs the whole kube side: source, leader election, status and events, until the client's
/// tasks end (they normally never do). `ready` fires once, after the first table is live. When
/// `stop` completes (SIGTERM), the Lease is released so that another replica takes over status
/// at once; routing keeps running.
pub async fn run(
    client: Client,
    pipeline: Arc<crate::Pipeline>,
    options: ClusterOptions,
    ready: Ready,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let election = LeaderElection::new(client.clone(), options.lease.clone());
    let leader = election.handle();
    tokio::spawn(election.run(stop));
    let source = KubeSource::new(client, pipeline, options, leader);
    source.run(ready).await;
}
