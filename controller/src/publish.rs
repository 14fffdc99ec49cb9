//! `publish`: swaps a new [`RoutingTable`] into the one [`ArcSwap`] the data plane reads.
//!
//! Generations count published changes; a table equal to the live one is not swapped in.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::table::RoutingTable;

/// A published table with its generation and the time it went live.
#[derive(Debug)]
pub struct Published {
    /// 0 for the empty table before the first publish, then 1, 2, ... per change.
    pub generation: u64,
    /// When this generation went live.
    pub applied_at: Instant,
    /// The routing state.
    pub table: RoutingTable,
}

/// What one call to [`Publisher::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The table differed and is now live as this generation.
    Swapped(u64),
    /// The table equalled the live one; the live generation stays.
    Unchanged(u64),
}

/// Holds the live table. Cheap to share (`Arc<Publisher>`); readers call [`Publisher::load`]
/// once per request.
#[derive(Debug)]
pub struct Publisher {
    current: ArcSwap<Published>,
    /// The generation last published, for tasks that act on a new table (Gateway sockets).
    generations: tokio::sync::watch::Sender<u64>,
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}

impl Publisher {
    /// A publisher holding the empty generation 0, not yet ready.
    pub fn new() -> Self {
        let empty = Published { generation: 0, applied_at: Instant::now(), table: RoutingTable::default() };
        Publisher { current: ArcSwap::from_pointee(empty), generations: tokio::sync::watch::Sender::new(0) }
    }

    /// The live table. Hold the `Arc` for the whole request so that retries see one version.
    pub fn load(&self) -> Arc<Published> {
        self.current.load_full()
    }

    /// Makes `table` live unless it equals the live one. The first call marks the publisher ready. Only one task publishes, so compare-then-store
    /// needs no lock.
    pub fn publish(&self, table: RoutingTable) -> Outcome {
        let live = self.current.load();
        // Generation 0 is the placeholder: the first publish always counts, even if empty.
        if live.generation > 0 && live.table == table {
            return Outcome::Unchanged(live.generation);
        }
        let generation = live.generation + 1;
        drop(live);
        self.current.store(Arc::new(Published { generation, applied_at: Instant::now(), table }));
        self.generations.send_replace(generation);
        Outcome::Swapped(generation)
    }

    /// A receiver that wakes when a new table is published (its value is the generation).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generations.subscribe()
    }

    /// Whether a first table has been published (the `/readyz` condition): generation 0 is the
    /// placeholder, and the first publish always makes generation 1.
    pub fn is_ready(&self) -> bool {
        self.current.load().generation > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tables_keep_the_generation() {
        let p = Publisher::new();
        assert!(!p.is_ready());
        assert_eq!(p.publish(RoutingTable::default()), Outcome::Swapped(1));
        assert!(p.is_ready());
        assert_eq!(p.publish(RoutingTable::default()), Outcome::Unchanged(1));
        assert_eq!(p.load().generation, 1);
    }
}
