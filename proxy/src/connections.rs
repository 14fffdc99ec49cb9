//! Caps on client connections, so that memory at the cap fits the pod: a global cap
//! (`max-worker-connections` per worker thread, ingress-nginx's key and default), a cap per
//! client address (`max-connections-per-client`), and a cap on connections still reading their
//! first request head (`max-unfinished-heads`).
//!
//! At the global cap a new connection first takes the place of the oldest connection still
//! reading its first head (a slowloris connection costs the attacker nothing to open, so it is
//! the one to go); only when there is none is the new connection refused. Refused and closed
//! connections are counted in `sluice_connections_refused_total{reason}`. A refused connection
//! is closed without an answer, as nginx does past `worker_connections`.
//!
//! Connections of one client address are counted while `max-connections-per-client` is set
//! (those opened before it was set are not). Plain connections are counted from accept; TLS
//! connections once their handshake is done (Pingora bounds the handshake itself, 60 s).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The caps in force (0: no cap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Open client connections in all.
    pub connections: usize,
    /// Open connections from one client address.
    pub per_client: usize,
    /// Connections still reading their first request head.
    pub unfinished_heads: usize,
}

/// Why a connection was refused or closed early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The global cap was reached and no unfinished head could make room.
    MaxConnections,
    /// The client's address had its cap of connections.
    PerClient,
    /// A connection still reading its first head was closed to make room for another.
    HeadEvicted,
}

impl Refusal {
    /// Every reason, in label order.
    pub const ALL: [Refusal; 3] = [Refusal::MaxConnections, Refusal::PerClient, Refusal::HeadEvicted];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::PerClient => "per_client",
            Refusal::HeadEvicted => "unfinished_head_closed",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    per_client: HashMap<IpAddr, usize>,
    /// Connections reading their first head, oldest first, with the signal that closes them.
    heads: BTreeMap<u64, Arc<Notify>>,
    next_head: u64,
}

/// The open connections, and the counts the metrics read.
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicUsize,
    state: Mutex<State>,
    refused: [AtomicU64; 3],
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    owner: Arc<Connections>,
    /// The client address, when it was counted against `per_client`.
    client: Option<IpAddr>,
}

/// A connection registered as reading its first head; [`HeadSlot::evicted`] completes when it
/// must close to make room.
#[derive(Debug)]
pub struct HeadSlot {
    owner: Arc<Connections>,
    id: u64,
    signal: Arc<Notify>,
}

impl Connections {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused or closed early for `reason` so far.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[reason as usize].load(Ordering::Relaxed)
    }

    fn count(&self, reason: Refusal) {
        self.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Admits a new connection from `client` under `limits`, closing the oldest unfinished head
    /// to make room at the global cap; Err when it must be refused.
    pub fn admit(self: &Arc<Self>, client: Option<IpAddr>, limits: Limits) -> Result<Admitted, Refusal> {
        // Clients are counted only while their cap is on, and the lock is taken only when a cap
        // is in play: below the global cap with no per-client cap, admitting is one atomic add.
        let counted = client.filter(|_| limits.per_client > 0);
        let at_cap = limits.connections > 0 && self.open() >= limits.connections;
        if counted.is_some() || at_cap {
            let mut state = self.state();
            if let Some(ip) = counted {
                if state.per_client.get(&ip).copied().unwrap_or(0) >= limits.per_client {
                    drop(state);
                    self.count(Refusal::PerClient);
                    return Err(Refusal::PerClient);
                }
            }
            if at_cap {
                let Some((_, oldest)) = state.heads.pop_first() else {
                    drop(state);
                    self.count(Refusal::MaxConnections);
                    return Err(Refusal::MaxConnections);
                };
                oldest.notify_one();
                self.count(Refusal::HeadEvicted);
            }
            if let Some(ip) = counted {
                *state.per_client.entry(ip).or_default() += 1;
            }
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Admitted { owner: self.clone(), client: counted })
    }

    /// Registers a connection that starts reading its first head, closing the oldest such
    /// connection when `limits.unfinished_heads` are already reading.
    pub fn reading_head(self: &Arc<Self>, limits: Limits) -> HeadSlot {
        let mut state = self.state();
        if limits.unfinished_heads > 0 && state.heads.len() >= limits.unfinished_heads {
            if let Some((_, oldest)) = state.heads.pop_first() {
                oldest.notify_one();
                self.count(Refusal::HeadEvicted);
            }
        }
        let id = state.next_head;
        state.next_head += 1;
        let signal = Arc::new(Notify::new());
        state.heads.insert(id, signal.clone());
        HeadSlot { owner: self.clone(), id, signal }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.owner.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(ip) = self.client {
            let mut state = self.owner.state();
            if let Some(n) = state.per_client.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    state.per_client.remove(&ip);
                }
            }
        }
    }
}

impl HeadSlot {
    /// Completes when this connection must close to make room for another.
    pub async fn evicted(&self) {
        self.signal.notified().await;
    }
}

impl Drop for HeadSlot {
    fn drop(&mut self) {
        self.owner.state().heads.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn the_global_cap_first_closes_the_oldest_unfinished_head_then_refuses() {
        let c = Arc::new(Connections::default());
        let limits = Limits { connections: 3, ..Limits::default() };
        let first = c.admit(ip(1), limits).expect("room");
        let first_head = c.reading_head(limits);
        let second = c.admit(ip(2), limits).expect("room");
        let second_head = c.reading_head(limits);
        let _third = c.admit(ip(3), limits).expect("room");
        // At the cap: the oldest head makes room.
        let fourth = c.admit(ip(4), limits).expect("the oldest head makes room");
        assert_eq!(c.refused(Refusal::HeadEvicted), 1);
        assert!(tokio_test_ready(&first_head), "the oldest head is told to close");
        assert!(!tokio_test_ready(&second_head));
        drop((first_head, first));
        // Heads that finished no longer count: with none left reading, a new one is refused.
        drop(second_head);
        assert_eq!(c.admit(ip(5), limits).err(), Some(Refusal::MaxConnections));
        drop((second, fourth));
        assert_eq!(c.open(), 1);
        assert!(c.admit(ip(5), limits).is_ok());
    }

    #[test]
    fn a_client_address_gets_at_most_its_cap_and_the_count_is_released() {
        let c = Arc::new(Connections::default());
        let limits = Limits { per_client: 2, ..Limits::default() };
        let a = c.admit(ip(1), limits).expect("1");
        let _b = c.admit(ip(1), limits).expect("2");
        assert_eq!(c.admit(ip(1), limits).err(), Some(Refusal::PerClient));
        assert!(c.admit(ip(2), limits).is_ok(), "another client is not affected");
        drop(a);
        assert!(c.admit(ip(1), limits).is_ok());
        assert_eq!(c.refused(Refusal::PerClient), 1);
    }

    #[test]
    fn the_head_cap_closes_the_oldest_reader() {
        let c = Arc::new(Connections::default());
        let limits = Limits { unfinished_heads: 2, ..Limits::default() };
        let one = c.reading_head(limits);
        let two = c.reading_head(limits);
        let three = c.reading_head(limits);
        assert!(tokio_test_ready(&one) && !tokio_test_ready(&two) && !tokio_test_ready(&three));
        assert_eq!(c.state().heads.len(), 2);
    }

    /// Whether the slot's eviction signal has fired (polled once, without waiting).
    fn tokio_test_ready(slot: &HeadSlot) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        runtime
            .block_on(async { tokio::time::timeout(std::time::Duration::ZERO, slot.evicted()).await.is_ok() })
    }
}
