//! Watching the manifests folder: file-system events (the `notify` crate) trigger a rescan after
//! a short quiet period, content still settling is read again when it is due, and a periodic
//! rescan catches anything the events missed.
//!
//! Worst case from the end of a write to the table: [`MAX_DELAY`] + [`Settle::changed`] (0.3 s)
//! for a changed file ([`QUIET`] for a file renamed into place, which is complete when it
//! appears), [`MAX_DELAY`] + [`Settle::emptied`] (1.25 s) for an emptied or deleted one,
//! plus translation; [`POLL`] more if the file-system events were lost.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};
use tracing::{info_span, warn};

use super::{ManifestSource, Scan, Settle};
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// Wait this long after the last event before rescanning (editors write in several steps; the
/// settle rule, not this, is what keeps half-written files out).
const QUIET: Duration = Duration::from_millis(20);
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
    /// How many times the folder has been read.
    pub scans: Arc<AtomicU64>,
}

/// Starts watching `source`'s folder on a thread of its own. `on_change` runs on that thread
/// with the new snapshot and the scan after every scan that changed something or failed a file.
pub fn watch<F>(mut source: ManifestSource, mut on_change: F) -> Result<WatchHandle>
where
    F: FnMut(Snapshot, &Scan) + Send + 'static,
{
    let root = source.root().to_owned();
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Opening and reading a file are events too (inotify's OPEN and CLOSE_NOWRITE), and the
        // scan itself reads every file: counted as changes, they made each scan trigger the
        // next, a rescan every few milliseconds for the life of the process. A close after
        // writing is a change.
        let written = EventKind::Access(AccessKind::Close(AccessMode::Write));
        if event.as_ref().is_ok_and(|e| e.kind.is_access() && e.kind != written) {
            return;
        }
        let _ = tx.send(event);
    })
    .map_err(|e| Error::Watch { path: root.clone(), source: e })?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| Error::Watch { path: root.clone(), source: e })?;
    let thread_root = root.clone();
    let scans = Arc::new(AtomicU64::new(0));
    let counted = scans.clone();
    let thread = std::thread::Builder::new()
        .name("sluice-manifests".into())
        .spawn(move || {
            let _watcher = watcher;
            let span = info_span!("manifests", dir = %thread_root.display());
            let _enter = span.enter();
            let mut last_failed = Vec::new();
            // The first event not yet carried by a published snapshot (for the propagation metric).
            let mut seen = None;
            let mut next_check: Option<Instant> = None;
            loop {
                let wait = next_check.map_or(POLL, |t| t.saturating_duration_since(Instant::now()).min(POLL));
                let mut renamed = BTreeSet::new();
                match rx.recv_timeout(wait) {
                    Ok(event) => {
                        let first = Instant::now();
                        note_renamed(&mut renamed, event);
                        while first.elapsed() < MAX_DELAY {
                            match rx.recv_timeout(QUIET) {
                                Ok(event) => note_renamed(&mut renamed, event),
                                Err(_) => break,
                            }
                        }
                        seen = seen.or(Some(first));
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                counted.fetch_add(1, Ordering::Relaxed);
                match source.poll_renamed_at(Instant::now(), Settle::DEFAULT, &renamed) {
                    Ok(mut scan) => {
                        next_check = scan.next_check;
                        if scan.changed || scan.failed != last_failed {
                            scan.seen = seen;
                            last_failed = scan.failed.clone();
                            on_change(source.snapshot(), &scan);
                        }
                        if scan.settling == 0 {
                            seen = None;
                        }
                    }
                    Err(error) => {
                        warn!(%error, "Cannot read the manifests folder; the last table keeps serving")
                    }
                }
            }
        })
        .map_err(|e| Error::Io { path: root, source: e })?;
    Ok(WatchHandle { thread, scans })
}

/// Keeps `renamed` up to date with one event: the files renamed into place and not written
/// since. A rename's destination is complete the moment it appears (the writer finished the
/// temporary file first), so it need not settle; any later event on it (a write, a new
/// create) makes it an ordinary change again. An unreadable event forgets them all.
fn note_renamed(renamed: &mut BTreeSet<PathBuf>, event: notify::Result<notify::Event>) {
    let Ok(event) = event else {
        renamed.clear();
        return;
    };
    let into_place =
        matches!(event.kind, EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)));
    match event.paths.split_last() {
        Some((to, _)) if into_place => {
            renamed.insert(to.clone());
        }
        _ => {
            for path in &event.paths {
                renamed.remove(path);
            }
        }
    }
}
