//! Leader election on a `coordination.k8s.io/v1` Lease, so that only one replica writes Ingress
//! status and Events. Optimistic concurrency (resourceVersion) decides races: a conflict means
//! another replica won this round.
//!
//! Hand-over is immediate, not a lease-duration wait: when the process is told to stop, the
//! leader releases the Lease (holder cleared, duration 1 s, as client-go's `ReleaseOnCancel`),
//! and followers watch the Lease, so the next replica acquires it as soon as it is released.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::{watch, Notify};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};
use tracing::{debug, info, warn};

/// Which Lease, and how this replica names itself in it.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name (`--election-id`).
    pub name: String,
    /// This replica's identity (the pod name in a cluster).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (and others retry).
    pub retry: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        let host = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "sluice".to_owned());
        LeaseSettings {
            namespace: std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".to_owned()),
            name: "sluice-leader".to_owned(),
            identity: format!("{host}-{}", std::process::id()),
            duration: Duration::from_secs(15),
            retry: Duration::from_secs(2),
        }
    }
}

/// Tells whether this replica currently leads, and when that changes.
#[derive(Debug, Clone)]
pub struct LeaderHandle(Arc<watch::Sender<bool>>);

impl Default for LeaderHandle {
    fn default() -> Self {
        LeaderHandle(Arc::new(watch::channel(false).0))
    }
}

impl LeaderHandle {
    /// Whether this replica holds the Lease.
    pub fn is_leader(&self) -> bool {
        *self.0.borrow()
    }

    /// A receiver that sees every change of leadership (status is written at once on gaining it).
    pub fn changes(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Sets leadership; returns the previous value.
    fn set(&self, leading: bool) -> bool {
        self.0.send_replace(leading)
    }
}

/// The election loop.
pub struct LeaderElection {
    api: Api<Lease>,
    settings: LeaseSettings,
    handle: LeaderHandle,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

impl LeaderElection {
    /// An election on `settings`' Lease.
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        let api = Api::namespaced(client, &settings.namespace);
        LeaderElection { api, settings, handle: LeaderHandle::default() }
    }

    /// A handle reporting this replica's leadership.
    pub fn handle(&self) -> LeaderHandle {
        self.handle.clone()
    }

    /// Tries to acquire or renew every `retry` (a follower also as soon as the Lease changes)
    /// until `stop` completes; then releases the Lease if this replica holds it. Leadership is
    /// dropped as soon as a renewal fails for longer than the lease duration, or another holder
    /// appears.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let changed = Arc::new(Notify::new());
        let watch_task =
            tokio::spawn(watch_lease(self.api.clone(), self.settings.name.clone(), changed.clone()));
        tokio::pin!(stop);
        let mut last_success = tokio::time::Instant::now();
        loop {
            let leading = match self.try_acquire_or_renew().await {
                Ok(leading) => {
                    last_success = tokio::time::Instant::now();
                    leading
                }
                Err(error) => {
                    warn!(lease = %self.settings.name, %error, "Lease update failed");
                    self.handle.is_leader() && last_success.elapsed() < self.settings.duration
                }
            };
            if leading != self.handle.set(leading) {
                info!(lease = %self.settings.name, identity = %self.settings.identity, leading, "Leadership changed");
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.retry) => {}
                () = changed.notified(), if !leading => {}
                () = &mut stop => break,
            }
        }
        watch_task.abort();
        self.release().await;
    }

    /// Gives the Lease up if this replica holds it: holder cleared and a 1 s duration, so that
    /// any follower may take it at once.
    async fn release(&self) {
        if !self.handle.set(false) {
            return;
        }
        let name = &self.settings.name;
        let result = async {
            let mut lease = self.api.get(name).await?;
            let spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
                return Ok(false);
            }
            lease.spec = Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: spec.lease_transitions,
                ..LeaseSpec::default()
            });
            self.api.replace(name, &PostParams::default(), &lease).await.map(|_| true)
        }
        .await;
        match result {
            Ok(true) => info!(lease = %name, identity = %self.settings.identity, "Released the leader Lease"),
            Ok(false) => {}
            Err(error) => {
                warn!(lease = %name, %error, "Cannot release the leader Lease; it expires by itself")
            }
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.settings.duration.as_secs() as i32),
            acquire_time: Some(acquired.unwrap_or_else(now)),
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let name = &self.settings.name;
        let Some(mut lease) = self.api.get_opt(name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(name.clone()), ..ObjectMeta::default() },
                spec: Some(self.spec(0, None)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let transitions = spec.lease_transitions.unwrap_or(0);
        if holder == Some(self.settings.identity.as_str()) {
            lease.spec = Some(self.spec(transitions, spec.acquire_time));
        } else {
            let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
            let expired = spec.renew_time.as_ref().is_none_or(|t| t.0 + duration < Timestamp::now());
            if holder.is_some() && !expired {
                return Ok(false);
            }
            lease.spec = Some(self.spec(transitions + 1, None));
        }
        conflict_is_false(self.api.replace(name, &PostParams::default(), &lease).await)
    }
}

/// Wakes the election loop on every change of the Lease (a follower then tries at once).
async fn watch_lease(api: Api<Lease>, name: String, changed: Arc<Notify>) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(_) => changed.notify_one(),
            Err(error) => debug!(lease = %name, %error, "Lease watch interrupted; retrying"),
        }
    }
}

fn conflict_is_false(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
