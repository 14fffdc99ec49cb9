//! Per-client rate and concurrency limits, with nginx's `limit_req` (`nodelay`) and
//! `limit_conn` semantics: one zone per Ingress, keyed by the resolved client address, counted
//! in this replica only.
//!
//! `limit_req` is a leaky bucket: a client may send `burst + 1` requests at once and then one per
//! `1/rate`; the state is kept as GCRA's theoretical arrival time. Zones live outside the
//! routing table, so a configuration change does not reset them; a zone whose Ingress no
//! longer sets limits is removed when the next table goes live ([`Limiter::prune`]).
//!
//! Memory is bounded: a zone keeps at most [`MAX_KEYS`] buckets (per-second and per-minute
//! together) in 16 shards. A full shard first drops the buckets that have drained (they carry
//! no information: a new bucket is full too), then the buckets closest to drained, until it is
//! 7/8 full ([`crate::bounded::make_room`]); the tables then hold at most 8.65 MB per zone
//! (measured with one million distinct addresses in `limits::tests`). A flood of new addresses, each with one request,
//! therefore evicts its own kind: a client that has used its burst keeps its debt and stays
//! limited, and a new client always gets a bucket. At most [`MAX_KEYS`] clients are counted
//! for `limit-connections` at once; a new client past that is refused (nginx's `limit_conn`
//! answers so when its zone is full), clients already counted are not.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sluice_controller::client::canonical;
use sluice_controller::policy::RateLimits;
use sluice_controller::RoutingTable;

use crate::bounded::make_room;

/// Buckets kept per zone, and clients counted per zone for `limit-connections`.
pub const MAX_KEYS: usize = 65_536;
const SHARDS: usize = 16;
const SHARD_KEYS: usize = MAX_KEYS / SHARDS;

/// Names a zone: the Ingress's namespace and name.
type ZoneKey = (Arc<str>, Arc<str>);

/// Every zone, by (namespace, Ingress).
pub struct Limiter {
    zones: RwLock<HashMap<ZoneKey, Arc<Zone>>>,
    /// The instant all zone times count from.
    epoch: Instant,
    /// The table generation the zones were last pruned for.
    pruned: AtomicU64,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter { zones: RwLock::default(), epoch: Instant::now(), pruned: AtomicU64::new(0) }
    }
}

/// The state of one Ingress's limits.
#[derive(Default)]
pub struct Zone {
    /// Per client: the theoretical arrival time, in nanoseconds since the epoch.
    requests: [Mutex<HashMap<IpAddr, u64>>; SHARDS],
    /// Per client: requests in flight.
    in_flight: [Mutex<HashMap<IpAddr, u32>>; SHARDS],
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over `limit-rps` / `limit-rpm` (status: `limit-req-status-code`).
    Rate,
    /// Over `limit-connections` (status: `limit-conn-status-code`).
    Connections,
}

/// Holds one slot of `limit-connections` until the request ends.
pub struct ConnectionSlot {
    zone: Arc<Zone>,
    client: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut shard = lock(&self.zone.in_flight[shard_of(&self.client)]);
        if let Some(n) = shard.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                shard.remove(&self.client);
            }
        }
    }
}

fn shard_of(ip: &IpAddr) -> usize {
    let h = match ip {
        IpAddr::V4(v4) => u32::from(*v4) as usize,
        IpAddr::V6(v6) => (u128::from(*v6) as usize) ^ ((u128::from(*v6) >> 64) as usize),
    };
    (h ^ (h >> 7) ^ (h >> 17)) % SHARDS
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Limiter {
    fn zone(&self, namespace: &Arc<str>, ingress: &Arc<str>) -> Arc<Zone> {
        let key = (namespace.clone(), ingress.clone());
        if let Some(zone) = self.zones.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return zone.clone();
        }
        let mut zones = self.zones.write().unwrap_or_else(|p| p.into_inner());
        zones.entry(key).or_default().clone()
    }

    /// Checks a request from `client` against `limits`. On success, returns the connection slot
    /// to hold for the request's lifetime (when `limit-connections` is set).
    pub fn admit(
        &self,
        namespace: &Arc<str>,
        ingress: &Arc<str>,
        limits: &RateLimits,
        client: IpAddr,
    ) -> Result<Option<ConnectionSlot>, Refusal> {
        let client = canonical(client);
        if limits.exempt.iter().any(|n| n.contains(&client)) {
            return Ok(None);
        }
        let zone = self.zone(namespace, ingress);
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let rates =
            [(limits.rps, Duration::from_secs(1), false), (limits.rpm, Duration::from_secs(60), true)];
        for (rate, per, per_minute) in rates.into_iter().filter_map(|(r, per, m)| r.map(|r| (r, per, m))) {
            let interval = (per.as_nanos() / u128::from(rate.max(1))) as u64;
            let burst = u64::from(rate.saturating_mul(limits.burst_multiplier));
            let key = if per_minute { rpm_key(client) } else { client };
            if !zone.take(key, now, interval, burst) {
                return Err(Refusal::Rate);
            }
        }
        let Some(max) = limits.connections else {
            return Ok(None);
        };
        let mut shard = lock(&zone.in_flight[shard_of(&client)]);
        if shard.len() >= SHARD_KEYS && !shard.contains_key(&client) {
            return Err(Refusal::Connections);
        }
        let n = shard.entry(client).or_insert(0);
        if *n >= max {
            return Err(Refusal::Connections);
        }
        *n += 1;
        drop(shard);
        Ok(Some(ConnectionSlot { zone, client }))
    }
}

impl Zone {
    /// GCRA: admits when the bucket of `key` (capacity `burst + 1`, one slot freed every
    /// `interval` ns) has room.
    fn take(&self, key: IpAddr, now: u64, interval: u64, burst: u64) -> bool {
        let mut shard = lock(&self.requests[shard_of(&key)]);
        let tolerance = interval.saturating_mul(burst);
        let tat = shard.get(&key).copied().unwrap_or(0).max(now);
        if tat - now > tolerance {
            return false;
        }
        if !shard.contains_key(&key) {
            make_room(&mut shard, SHARD_KEYS, |t| *t <= now, |t| *t);
        }
        shard.insert(key, tat + interval);
        true
    }

    /// Clients tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.requests.iter().map(|s| lock(s).len()).sum()
    }

    /// The heap the zone's tables hold now: allocated buckets times entry size (hashbrown
    /// keeps one control byte per bucket beside each entry).
    pub fn heap_bytes(&self) -> usize {
        let requests: usize = self.requests.iter().map(|s| lock(s).capacity()).sum();
        let in_flight: usize = self.in_flight.iter().map(|s| lock(s).capacity()).sum();
        // `capacity()` is 7/8 of the buckets.
        let buckets = |capacity: usize| capacity * 8 / 7;
        buckets(requests) * (std::mem::size_of::<(IpAddr, u64)>() + 1)
            + buckets(in_flight) * (std::mem::size_of::<(IpAddr, u32)>() + 1)
    }
}

/// The per-minute state of a client, kept apart from its per-second state: the IPv4 address
/// mapped into a reserved IPv6 range (IPv6 clients flip the last bit of their first group).
fn rpm_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(v4) => {
            IpAddr::V6(std::net::Ipv6Addr::from((0x0100u128 << 112) | u128::from(u32::from(v4))))
        }
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) ^ (1u128 << 112))),
    }
}

impl Limiter {
    /// Drops the zones of Ingresses that no longer set limits in `table` (deleted, or their
    /// annotations removed). Cheap when `generation` was already pruned for: one atomic load.
    pub fn prune(&self, generation: u64, table: &RoutingTable) {
        if self.pruned.load(Ordering::Relaxed) == generation {
            return;
        }
        self.pruned.store(generation, Ordering::Relaxed);
        let live: HashSet<(&str, &str)> = table
            .routes()
            .filter(|r| r.policy.limits.is_some())
            .map(|r| (&*r.namespace, &*r.ingress))
            .collect();
        let mut zones = self.zones.write().unwrap_or_else(|p| p.into_inner());
        zones.retain(|(ns, ing), _| live.contains(&(&**ns, &**ing)));
    }

    /// Number of zones (for tests).
    pub fn zone_count(&self) -> usize {
        self.zones.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The zone of an Ingress, if it has seen traffic (for tests).
    pub fn zone_of(&self, namespace: &str, ingress: &str) -> Option<Arc<Zone>> {
        let zones = self.zones.read().unwrap_or_else(|p| p.into_inner());
        zones.iter().find(|((ns, ing), _)| &**ns == namespace && &**ing == ingress).map(|(_, z)| z.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rps: Option<u32>, connections: Option<u32>) -> RateLimits {
        RateLimits {
            rps,
            rpm: None,
            connections,
            burst_multiplier: 2,
            exempt: vec!["10.0.0.0/8".parse().expect("net")],
            status: 503,
            connection_status: 503,
        }
    }

    #[test]
    fn a_burst_of_rate_times_multiplier_plus_one_passes_then_requests_are_refused() {
        let limiter = Limiter::default();
        let (ns, ing): (Arc<str>, Arc<str>) = (Arc::from("d"), Arc::from("i"));
        let l = limits(Some(5), None);
        let client: IpAddr = "192.0.2.1".parse().expect("ip");
        let admitted = (0..20).filter(|_| limiter.admit(&ns, &ing, &l, client).is_ok()).count();
        assert_eq!(admitted, 11, "burst 10 plus one");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limiter.admit(&ns, &ing, &l, other).is_ok(), "clients have separate buckets");
        let exempt: IpAddr = "10.1.2.3".parse().expect("ip");
        assert!((0..50).all(|_| limiter.admit(&ns, &ing, &l, exempt).is_ok()));
    }

    #[test]
    fn connection_slots_are_released_on_drop() {
        let limiter = Limiter::default();
        let (ns, ing): (Arc<str>, Arc<str>) = (Arc::from("d"), Arc::from("i"));
        let l = limits(None, Some(2));
        let client: IpAddr = "192.0.2.1".parse().expect("ip");
        let a = limiter.admit(&ns, &ing, &l, client).expect("first");
        let _b = limiter.admit(&ns, &ing, &l, client).expect("second");
        assert_eq!(limiter.admit(&ns, &ing, &l, client).err(), Some(Refusal::Connections));
        drop(a);
        assert!(limiter.admit(&ns, &ing, &l, client).is_ok());
    }

    /// The table of one Ingress `d/i` on `/`, with `limit-rps` or without.
    fn table(limited: bool) -> RoutingTable {
        let dir = tempfile::tempdir().expect("tempdir");
        let annotations =
            if limited { "  annotations: {nginx.ingress.kubernetes.io/limit-rps: \"5\"}\n" } else { "" };
        let yaml = format!(
            "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {{name: sluice}}\n\
             spec: {{controller: sluice.dev/ingress-controller}}\n---\n\
             apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\n  namespace: d\n\
             {annotations}spec:\n  ingressClassName: sluice\n  rules:\n  - http:\n      paths:\n      \
             - {{path: /, pathType: Prefix, backend: {{service: {{name: s, port: {{number: 80}}}}}}}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: s, namespace: d}}\nspec: {{ports: [{{port: 80}}]}}\n"
        );
        std::fs::write(dir.path().join("all.yaml"), yaml).expect("write");
        let mut source = sluice_controller::manifests::ManifestSource::new(dir.path());
        source.scan().expect("scan");
        let options = sluice_controller::Options::default();
        sluice_controller::translate(&source.snapshot(), &options, std::time::SystemTime::now()).table
    }

    #[test]
    fn zones_of_ingresses_without_limits_are_dropped_when_the_table_changes() {
        let limiter = Limiter::default();
        let (ns, ing): (Arc<str>, Arc<str>) = (Arc::from("d"), Arc::from("i"));
        let client: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(limiter.admit(&ns, &ing, &limits(Some(5), None), client).is_ok());
        let (limited, unlimited) = (table(true), table(false));
        assert_eq!(limited.route_count(), 1);
        limiter.prune(1, &limited);
        assert_eq!(limiter.zone_count(), 1, "the Ingress still sets limits");
        limiter.prune(2, &unlimited);
        assert_eq!(limiter.zone_count(), 0, "its limits are gone, and so is its zone");
        assert!(limiter.admit(&ns, &ing, &limits(Some(5), None), client).is_ok());
        limiter.prune(2, &unlimited);
        assert_eq!(limiter.zone_count(), 1, "a generation is pruned once");
    }

    /// One million distinct IPv6 clients, one request each, against a zone where one client
    /// has used its whole burst: memory stays at the bound, the limited client stays limited,
    /// and a new client is admitted.
    #[test]
    fn a_flood_of_addresses_neither_grows_memory_nor_resets_or_blocks_clients() {
        let limiter = Limiter::default();
        let (ns, ing): (Arc<str>, Arc<str>) = (Arc::from("d"), Arc::from("i"));
        let l = RateLimits { rpm: Some(1), ..limits(Some(1), None) };
        let heavy: IpAddr = "2001:db8::1".parse().expect("ip");
        let admitted = (0..10).filter(|_| limiter.admit(&ns, &ing, &l, heavy).is_ok()).count();
        assert_eq!(admitted, 3, "burst 2 plus one (the per-minute bucket allows as many)");
        for i in 0..1_000_000u128 {
            let client = IpAddr::V6(std::net::Ipv6Addr::from((0x2001_0db9u128 << 96) | i));
            let _ = limiter.admit(&ns, &ing, &l, client);
        }
        let zone = limiter.zone_of("d", "i").expect("zone");
        assert!(zone.tracked() <= MAX_KEYS, "{} buckets tracked", zone.tracked());
        let bytes = zone.heap_bytes();
        eprintln!("zone after 1M addresses: {} buckets, {bytes} bytes of tables", zone.tracked());
        // 16 shards of at most 16,384 hash buckets (hashbrown grows once under churn, then
        // rehashes in place) of 33 bytes: 8.65 MB, reached and never passed.
        assert!(bytes <= 16 * 16_384 * 33, "{bytes} bytes");
        assert_eq!(
            limiter.admit(&ns, &ing, &l, heavy).err(),
            Some(Refusal::Rate),
            "the limited client kept its debt"
        );
        let newcomer: IpAddr = "2001:db8::2".parse().expect("ip");
        assert!(limiter.admit(&ns, &ing, &l, newcomer).is_ok(), "a new client gets a bucket");
    }
}
