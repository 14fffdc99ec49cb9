//! The Sluice control plane: sources collect Kubernetes objects into a [`Snapshot`], the pure
//! [`translate`] function turns a snapshot into one immutable [`RoutingTable`], and a
//! [`Publisher`] swaps it in for the data plane.
//!
//! This crate never depends on pingora: everything here is plain data and can be tested and
//! benchmarked without a proxy.

pub mod addr_text;
pub mod backend;
pub mod client;
pub mod cluster;
pub mod error;
pub mod gateway_api;
pub mod htpasswd;
pub mod manifests;
pub mod matching;
pub mod pipeline;
pub mod policy;
pub mod publish;
pub mod rewrite;
pub mod settings;
pub mod snapshot;
pub mod table;
pub mod tls;
pub mod translate;
pub mod uri;

/// Hash maps keyed by strings that can come from requests (Host headers) or objects: aHash
/// with a random seed, fast and resistant to collision attacks.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

pub use cluster::ClusterOptions;
pub use error::{Error, Result};
pub use pipeline::Pipeline;
pub use publish::{Outcome, Published, Publisher};
pub use snapshot::{ObjectKind, ObjectRef, Snapshot};
pub use table::{Backend, BackendKey, Endpoint, Route, RoutingTable};
pub use tls::TlsCertificate;
pub use translate::{
    translate, translate_incremental, BlockKey, ClassSettings, GatewayOptions, GlobalSettings, Invalid,
    Options, Previous, Translation, Warning,
};
