//! The pure `translate` function: a [`Snapshot`] in, a [`RoutingTable`] and warnings out.
//!
//! No I/O, no clients: every Kubernetes semantic of Sluice lives here, so it can be tested
//! exhaustively and benchmarked. A bad object never aborts translation; it becomes a [`Warning`]
//! and the rest of the table is built as usual.

mod class;
mod endpoints;
mod ingress;
mod warning;

use std::cmp::Ordering;

use k8s_openapi::api::networking::v1::Ingress;

pub use class::{is_ours, ClassSettings, DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION};
pub use endpoints::SERVICE_NAME_LABEL;
pub use warning::{Invalid, Warning};

use crate::snapshot::Snapshot;
use crate::table::RoutingTable;

/// The result of one translation.
#[derive(Debug, Default)]
pub struct Translation {
    /// The table to publish.
    pub table: RoutingTable,
    /// Everything that was skipped, and why.
    pub warnings: Vec<Warning>,
}

/// Builds the routing table from every Ingress that belongs to this controller.
///
/// Ingresses are applied oldest first (creationTimestamp, then namespace/name), so that when
/// two of them define the same host and path, the older one keeps it, as in ingress-nginx.
pub fn translate(snapshot: &Snapshot, settings: &ClassSettings) -> Translation {
    let mut ours: Vec<&Ingress> =
        snapshot.ingresses.values().filter(|i| is_ours(i, snapshot, settings)).collect();
    ours.sort_by(|a, b| oldest_first(a, b));
    let mut builder = ingress::TableBuilder::new(snapshot);
    for ing in ours {
        builder.add(ing);
    }
    builder.finish()
}

fn oldest_first(a: &Ingress, b: &Ingress) -> Ordering {
    let key = |i: &Ingress| {
        (
            i.metadata.creation_timestamp.as_ref().map(|t| t.0),
            i.metadata.namespace.clone(),
            i.metadata.name.clone(),
        )
    };
    key(a).cmp(&key(b))
}
