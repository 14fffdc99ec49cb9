//! Ingress status: the leader writes `status.loadBalancer.ingress` of every Ingress Sluice owns
//! (the Keepalived VIP from `--publish-status-address`, or the SLB address copied from
//! `--publish-service`), and clears it from an Ingress that moved to another class.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::leader::LeaderHandle;
use crate::snapshot::{Key, Snapshot};
use crate::translate::{is_ours, ClassSettings};

/// How often status is re-checked even without changes (the SLB address can change).
const RESYNC: Duration = Duration::from_secs(30);

/// One status entry: an IP or a hostname.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PublishAddress {
    /// An IP address (`ip`).
    Ip(IpAddr),
    /// A DNS name (`hostname`).
    Hostname(String),
}

impl PublishAddress {
    /// `10.0.0.1` is an IP, anything else a hostname.
    pub fn parse(s: &str) -> Self {
        match s.parse() {
            Ok(ip) => PublishAddress::Ip(ip),
            Err(_) => PublishAddress::Hostname(s.to_owned()),
        }
    }

    /// One `status.loadBalancer.ingress[]` entry (of an Ingress or a Service): the IP if set,
    /// else the hostname.
    fn from_status(ip: Option<&str>, hostname: Option<&str>) -> Option<Self> {
        match (ip, hostname) {
            (Some(ip), _) => Some(PublishAddress::parse(ip)),
            (None, Some(h)) => Some(PublishAddress::Hostname(h.to_owned())),
            _ => None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            PublishAddress::Ip(ip) => json!({"ip": ip.to_string()}),
            PublishAddress::Hostname(h) => json!({"hostname": h}),
        }
    }
}

/// Where the published addresses come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusTarget {
    /// Fixed addresses (`--publish-status-address`, the VIP case).
    Addresses(Vec<PublishAddress>),
    /// A Service's `status.loadBalancer.ingress` (`--publish-service`, the SLB case).
    Service(Key),
}

/// Writes status while this replica leads.
pub struct StatusWriter {
    client: Client,
    target: StatusTarget,
    classes: ClassSettings,
    leader: LeaderHandle,
}

fn current(ingress: &Ingress) -> Vec<PublishAddress> {
    let mut out: Vec<PublishAddress> = ingress
        .status
        .iter()
        .flat_map(|s| s.load_balancer.iter())
        .flat_map(|lb| lb.ingress.iter().flatten())
        .filter_map(|i| PublishAddress::from_status(i.ip.as_deref(), i.hostname.as_deref()))
        .collect();
    out.sort();
    out
}

impl StatusWriter {
    /// A writer for `target`; `classes` decides which Ingresses are ours.
    pub fn new(client: Client, target: StatusTarget, classes: ClassSettings, leader: LeaderHandle) -> Self {
        StatusWriter { client, target, classes, leader }
    }

    async fn addresses(&self) -> Result<Vec<PublishAddress>, kube::Error> {
        let mut out = match &self.target {
            StatusTarget::Addresses(a) => a.clone(),
            StatusTarget::Service((ns, name)) => {
                let service = Api::<Service>::namespaced(self.client.clone(), ns).get(name).await?;
                service
                    .status
                    .iter()
                    .flat_map(|s| s.load_balancer.iter())
                    .flat_map(|lb| lb.ingress.iter().flatten())
                    .filter_map(|i| PublishAddress::from_status(i.ip.as_deref(), i.hostname.as_deref()))
                    .collect()
            }
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Re-checks on every new snapshot, on gaining leadership, and every 2 s.
    pub async fn run(self, mut snapshots: watch::Receiver<Arc<Snapshot>>) {
        let mut leadership = self.leader.changes();
        loop {
            if self.leader.is_leader() {
                let snapshot = snapshots.borrow_and_update().clone();
                if let Err(error) = self.sync(&snapshot).await {
                    warn!(%error, "Cannot publish Ingress status; retrying");
                }
            }
            // A new snapshot, a change of leadership (a successor writes at once), or a resync.
            tokio::select! {
                _ = tokio::time::timeout(RESYNC.min(Duration::from_secs(2)), snapshots.changed()) => {}
                _ = leadership.changed() => {}
            }
        }
    }

    async fn sync(&self, snapshot: &Snapshot) -> Result<(), kube::Error> {
        let addresses = self.addresses().await?;
        for ((ns, name), ingress) in &snapshot.ingresses {
            let ours = is_ours(ingress, snapshot, &self.classes);
            let have = current(ingress);
            let want = if ours {
                addresses.clone()
            } else if !have.is_empty() && have == addresses {
                Vec::new() // It moved to another class: take our address back.
            } else {
                continue;
            };
            if have == want {
                continue;
            }
            let body = json!({"status": {"loadBalancer": {"ingress": want.iter().map(PublishAddress::to_json).collect::<Vec<_>>()}}});
            let api = Api::<Ingress>::namespaced(self.client.clone(), ns);
            match api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body)).await {
                Ok(_) => {
                    info!(ingress = %format!("{ns}/{name}"), addresses = ?want, "Published Ingress status")
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    debug!(ingress = %name, "Ingress gone before its status was written")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
