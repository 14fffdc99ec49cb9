//! Watching the manifests folder: file-system events (the `notify` crate) trigger a rescan after
//! a short quiet period, and a periodic rescan catches anything the events missed.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tracing::{info_span, warn};

use super::{ManifestSource, Scan};
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// Wait this long after the last event before rescanning (editors write in several steps).
const QUIET: Duration = Duration::from_millis(40);
/// Rescan at most this long after the first event, even if events keep coming.
const MAX_DELAY: Duration = Duration::from_millis(250);
/// Rescan this often without events.
const POLL: Duration = Duration::from_secs(2);

/// Keeps the watcher thread alive; dropping it does not stop the thread (it runs for the life of
/// the process), but the handle lets callers join it in tests.
#[derive(Debug)]
pub struct WatchHandle {
    /// The watcher thread.
    pub thread: JoinHandle<()>,
}

/// Starts watching `source`'s folder on a thread of its own. `on_change` runs on that thread
/// with the new snapshot and the scan after every scan that changed something or failed a file.
pub fn watch<F>(mut source: ManifestSource, mut on_change: F) -> Result<WatchHandle>
where
    F: FnMut(Snapshot, &Scan) + Send + 'static,
{
    let root = source.root().to_owned();
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .map_err(|e| Error::Watch { path: root.clone(), source: e })?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| Error::Watch { path: root.clone(), source: e })?;
    let thread_root = root.clone();
    let thread = std::thread::Builder::new()
        .name("sluice-manifests".into())
        .spawn(move || {
            let _watcher = watcher;
            let span = info_span!("manifests", dir = %thread_root.display());
            let _enter = span.enter();
            let mut last_failed = Vec::new();
            loop {
                let seen = match rx.recv_timeout(POLL) {
                    Ok(_) => {
                        let first = Instant::now();
                        while first.elapsed() < MAX_DELAY && rx.recv_timeout(QUIET).is_ok() {}
                        Some(first)
                    }
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                match source.scan() {
                    Ok(mut scan) if scan.changed || scan.failed != last_failed => {
                        scan.seen = seen;
                        last_failed = scan.failed.clone();
                        on_change(source.snapshot(), &scan);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        warn!(%error, "Cannot read the manifests folder; the last table keeps serving")
                    }
                }
            }
        })
        .map_err(|e| Error::Io { path: root, source: e })?;
    Ok(WatchHandle { thread })
}
