//! The crate's error type. Per-object problems are not errors: they are [`crate::Warning`]s.

use std::path::PathBuf;

/// Errors that stop a source from working at all (as opposed to a bad object, which is a warning).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifests folder (or a file in it) could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file-system watcher could not be started.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The folder being watched.
        path: PathBuf,
        /// The underlying notify error.
        #[source]
        source: notify::Error,
    },
    /// The Kubernetes client could not be configured.
    #[error("kubernetes client: {0}")]
    Kube(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
