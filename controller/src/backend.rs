//! A [`Backend`]: the ready endpoints of one Service port, and the ways of choosing one of them
//! (round robin, EWMA, consistent hashing for `upstream-hash-by` and cookie affinity).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// An upstream address: one ready endpoint of a Service port.
pub type Endpoint = SocketAddr;

/// Names one backend: a Service port in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendKey {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// The Service port as the Ingress names it (a number or a port name).
    pub port: String,
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.namespace, self.service, self.port)
    }
}

/// A Service port with its ready endpoints, and the balancing state shared by every route that
/// points at it (the round-robin cursor, the EWMA latency scores).
#[derive(Debug)]
pub struct Backend {
    /// Which Service port this is.
    pub key: BackendKey,
    /// Ready, non-terminating endpoints, deduplicated and sorted.
    pub endpoints: Vec<Endpoint>,
    cursor: AtomicUsize,
    /// Per endpoint: the EWMA of response times in microseconds (0: no sample yet).
    ewma: Vec<AtomicU64>,
    /// Per endpoint: its stable hash, for rendezvous hashing and session pins.
    hashes: Vec<u64>,
}

impl PartialEq for Backend {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.endpoints == other.endpoints
    }
}

/// A hash that is the same in every replica and every run, so that a session cookie or an
/// `upstream-hash-by` key picks the same endpoint whichever replica the request reaches.
pub fn stable_hash(data: &[u8]) -> u64 {
    ahash::RandomState::with_seeds(0x51, 0x7c, 0xe1, 0xc3).hash_one(data)
}

/// SplitMix64's finaliser: spreads a combined key and endpoint hash over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Weight of a new sample in the EWMA (ingress-nginx decays by time; a fixed weight is close).
const EWMA_WEIGHT: u64 = 8;

impl Backend {
    /// A backend over the given endpoints (sorted and deduplicated here).
    pub fn new(key: BackendKey, mut endpoints: Vec<Endpoint>) -> Self {
        endpoints.sort_unstable();
        endpoints.dedup();
        let ewma = endpoints.iter().map(|_| AtomicU64::new(0)).collect();
        let mut text = Vec::with_capacity(64);
        let hashes = endpoints
            .iter()
            .map(|ep| {
                text.clear();
                crate::addr_text::push_socket_addr(&mut text, *ep);
                stable_hash(&text)
            })
            .collect();
        Backend { key, endpoints, cursor: AtomicUsize::new(0), ewma, hashes }
    }

    /// The next endpoint in round-robin order, skipping `avoid` (an endpoint that just failed)
    /// when another one exists. `None` when the backend has no ready endpoint.
    pub fn select(&self, avoid: Option<Endpoint>) -> Option<Endpoint> {
        let n = self.endpoints.len();
        if n == 0 {
            return None;
        }
        let first = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        let pick = self.endpoints[first];
        if n > 1 && Some(pick) == avoid {
            let next = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
            let alt = self.endpoints[next];
            if Some(alt) == avoid {
                return Some(self.endpoints[(next + 1) % n]);
            }
            return Some(alt);
        }
        Some(pick)
    }

    /// Consistent hashing (rendezvous): the endpoint with the highest hash of (`key`, endpoint).
    /// Adding or removing an endpoint moves only the keys that it wins or held.
    pub fn select_by_key(&self, key: &[u8], avoid: Option<Endpoint>) -> Option<Endpoint> {
        let key = stable_hash(key);
        let only_one = self.endpoints.len() == 1;
        self.endpoints
            .iter()
            .zip(&self.hashes)
            .filter(|(ep, _)| only_one || Some(**ep) != avoid)
            .max_by_key(|(_, h)| mix(key ^ **h))
            .map(|(ep, _)| *ep)
    }

    /// EWMA with two random choices: of two endpoints picked with `roll`, the one with the lower
    /// latency score (an endpoint without samples counts as fastest, so it gets tried).
    pub fn select_ewma(&self, roll: u64, avoid: Option<Endpoint>) -> Option<Endpoint> {
        let n = self.endpoints.len();
        if n <= 2 {
            return self.select(avoid);
        }
        let a = (roll % n as u64) as usize;
        let b = (a + 1 + ((roll >> 32) % (n as u64 - 1)) as usize) % n;
        let score = |i: usize| {
            let penalty = if Some(self.endpoints[i]) == avoid { u64::MAX / 2 } else { 0 };
            self.ewma[i].load(Ordering::Relaxed).saturating_add(penalty)
        };
        let pick = if score(a) <= score(b) { a } else { b };
        Some(self.endpoints[pick])
    }

    /// Records a response time for `endpoint` (used by EWMA balancing).
    pub fn observe(&self, endpoint: Endpoint, latency: Duration) {
        let Ok(i) = self.endpoints.binary_search(&endpoint) else {
            return;
        };
        let sample = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        let slot = &self.ewma[i];
        let old = slot.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { (old * (EWMA_WEIGHT - 1) + sample) / EWMA_WEIGHT };
        slot.store(new, Ordering::Relaxed);
    }

    /// The endpoint whose [`Backend::pin`] value is `pin`, if it is still ready.
    pub fn pinned(&self, pin: &str) -> Option<Endpoint> {
        let wanted = u64::from_str_radix(pin, 16).ok()?;
        self.hashes.iter().position(|h| *h == wanted).map(|i| self.endpoints[i])
    }

    /// The opaque session-cookie value that names `endpoint` (`affinity-mode: persistent`).
    pub fn pin(endpoint: &Endpoint) -> String {
        format!("{:016x}", stable_hash(endpoint.to_string().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(n: u8) -> Backend {
        let eps = (1..=n).map(|i| SocketAddr::from(([127, 0, 0, i], 80))).collect();
        Backend::new(BackendKey { namespace: "d".into(), service: "s".into(), port: "80".into() }, eps)
    }

    #[test]
    fn round_robin_visits_every_endpoint_evenly() {
        let b = backend(3);
        let mut seen = std::collections::HashMap::new();
        for _ in 0..30 {
            *seen.entry(b.select(None).expect("endpoint")).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.values().all(|&c| c == 10), "{seen:?}");
    }

    #[test]
    fn select_avoids_the_failed_endpoint_when_another_exists() {
        let b = backend(2);
        let bad = SocketAddr::from(([127, 0, 0, 1], 80));
        for _ in 0..10 {
            assert_ne!(b.select(Some(bad)), Some(bad));
        }
        let single = backend(1);
        assert_eq!(single.select(Some(bad)), Some(bad));
        assert_eq!(backend(0).select(None), None);
    }

    #[test]
    fn consistent_hashing_moves_few_keys_when_an_endpoint_is_added() {
        let (small, big) = (backend(4), backend(5));
        let keys: Vec<String> = (0..1000).map(|i| format!("session-{i}")).collect();
        let moved = keys
            .iter()
            .filter(|k| small.select_by_key(k.as_bytes(), None) != big.select_by_key(k.as_bytes(), None))
            .count();
        // Ideal is 1/5 of the keys; allow sampling noise.
        assert!((120..=280).contains(&moved), "{moved} of 1000 keys moved");
        let k = b"same";
        assert_eq!(small.select_by_key(k, None), small.select_by_key(k, None));
    }

    #[test]
    fn ewma_prefers_the_faster_endpoint() {
        let b = backend(3);
        for (i, ms) in [(1u8, 50u64), (2, 1), (3, 50)] {
            let ep = SocketAddr::from(([127, 0, 0, i], 80));
            b.observe(ep, Duration::from_millis(ms));
        }
        let fast = SocketAddr::from(([127, 0, 0, 2], 80));
        let picks =
            (0..300u64).filter(|r| b.select_ewma(r.wrapping_mul(0x9e37_79b9_7f4a_7c15), None) == Some(fast));
        // The fast endpoint wins every draw it is part of: 2 of the 3 possible pairs.
        assert!(picks.count() > 150);
    }

    #[test]
    fn pins_name_endpoints_stably() {
        let b = backend(3);
        let ep = b.endpoints[1];
        assert_eq!(b.pinned(&Backend::pin(&ep)), Some(ep));
        assert_eq!(backend(1).pinned(&Backend::pin(&ep)), None);
    }
}
