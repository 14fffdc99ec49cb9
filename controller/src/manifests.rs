//! The manifests source: every `*.yaml`, `*.yml` and `*.json` file under a folder (recursively,
//! multi-document), re-read when the folder changes.
//!
//! Each file is all-or-nothing: a file that fails to parse is reported (file, document, reason)
//! and its last good objects keep serving until it parses again. A file's new content is used
//! only once it has settled (see [`Settle`]), so that a file caught in the middle of a write
//! never reaches the routing table. Hidden entries (names starting with `.`) are skipped, which
//! also keeps the `..data` indirection of a mounted ConfigMap from being read twice.

mod files;
mod parse;
mod settle;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, warn};

pub use parse::{parse, ParseError, Parsed, Skipped};
pub use settle::Settle;
pub use watch::{watch, WatchHandle};

use crate::error::Result;
use crate::snapshot::{Object, Snapshot};
use settle::Pending;

/// One file's live state: the bytes in use, the objects of their last good parse, and the
/// error if those bytes failed to parse.
#[derive(Debug, Default)]
struct FileState {
    content: Vec<u8>,
    objects: Vec<Object>,
    error: Option<ParseError>,
}

/// The folder's files, their live objects, and the new content still settling.
#[derive(Debug)]
pub struct ManifestSource {
    root: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
    pending: BTreeMap<PathBuf, Pending>,
}

/// What one scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Whether any file was added, removed, or parsed to new objects.
    pub changed: bool,
    /// Files whose live bytes failed to parse (their last good objects are kept).
    pub failed: Vec<(PathBuf, ParseError)>,
    /// When the watcher saw the first file-system event of this change (None for a poll).
    pub seen: Option<Instant>,
    /// Files whose new content is still settling.
    pub settling: usize,
    /// When to scan again so that settling content is used as soon as it is due.
    pub next_check: Option<Instant>,
}

/// Settled content waits at most this many [`Settle::changed`] windows for other files still
/// settling (200 ms by default).
const HOLD_FACTOR: u32 = 4;

impl Scan {
    /// Notes a file still settling until `at`.
    fn wait_for(&mut self, at: Instant) {
        self.settling += 1;
        self.next_check = Some(self.next_check.map_or(at, |t| t.min(at)));
    }
}

impl ManifestSource {
    /// A source over `root`; nothing is read until [`ManifestSource::scan`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ManifestSource { root: root.into(), files: BTreeMap::new(), pending: BTreeMap::new() }
    }

    /// The folder this source reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads the folder and uses what it finds at once ([`Settle::NONE`]): the first load, and
    /// tools that read a folder nobody is writing. Fails only if the folder itself cannot be
    /// read; a bad file is reported in [`Scan::failed`].
    pub fn scan(&mut self) -> Result<Scan> {
        self.poll_at(Instant::now(), Settle::NONE)
    }

    /// Re-reads the folder at `now` and uses each file's new content only once it has settled
    /// (see [`Settle`]); [`Scan::next_check`] says when to call again for content still
    /// settling. Files whose bytes did not change are not parsed again.
    pub fn poll_at(&mut self, now: Instant, settle: Settle) -> Result<Scan> {
        self.poll_renamed_at(now, settle, &BTreeSet::new())
    }

    /// [`ManifestSource::poll_at`], with `renamed`: files that were just renamed into place
    /// and not written since (the watcher saw it). Their content is complete by construction,
    /// so a change to them is used at once rather than after [`Settle::changed`]; a file that
    /// lost all its objects still waits [`Settle::emptied`].
    pub fn poll_renamed_at(
        &mut self,
        now: Instant,
        settle: Settle,
        renamed: &BTreeSet<PathBuf>,
    ) -> Result<Scan> {
        let listed = files::list(&self.root)?;
        let mut paths: BTreeSet<PathBuf> = self.files.keys().chain(self.pending.keys()).cloned().collect();
        paths.extend(listed.iter().cloned());
        let listed: BTreeSet<PathBuf> = listed.into_iter().collect();
        let mut scan = Scan::default();
        // Settled content, and whether another file's change is still settling.
        let mut due = Vec::new();
        let mut holding = false;
        for path in paths {
            // A file removed between listing and reading counts as gone.
            let read = if listed.contains(&path) { std::fs::read(&path).ok() } else { None };
            let live = self.files.get(&path);
            let unchanged = match (&read, live) {
                (Some(content), Some(state)) => *content == state.content,
                (None, None) => true,
                _ => false,
            };
            if unchanged {
                self.pending.remove(&path);
                if let Some(err) = live.and_then(|s| s.error.clone()) {
                    scan.failed.push((path, err));
                }
                continue;
            }
            let live_objects = live.map_or(0, |s| s.objects.len());
            if let Some(err) = live.and_then(|s| s.error.clone()) {
                scan.failed.push((path.clone(), err));
            }
            let pending = match self.pending.remove(&path) {
                _ if renamed.contains(&path) => {
                    Pending::new(read, live_objects, now, Settle { changed: Duration::ZERO, ..settle })
                }
                Some(p) if p.content == read => p,
                _ => Pending::new(read, live_objects, now, settle),
            };
            if now < pending.due() {
                // A file still being written holds back the files written just before it, so
                // that one edit spread over several files lands as one table.
                holding |= pending.wait == settle.changed;
                scan.wait_for(pending.due());
                self.pending.insert(path, pending);
                continue;
            }
            due.push((path, pending));
        }
        // ...but not for long: a file that keeps changing must not hold the others back.
        let overdue = due.iter().any(|(_, p)| now >= p.due() + settle.changed * HOLD_FACTOR);
        if holding && !overdue {
            for (path, pending) in due {
                scan.wait_for((pending.due() + settle.changed * HOLD_FACTOR).min(now + settle.changed));
                self.pending.insert(path, pending);
            }
            return Ok(scan);
        }
        for (path, pending) in due {
            scan.failed.retain(|(p, _)| *p != path);
            self.commit(path, pending, &mut scan);
        }
        Ok(scan)
    }

    /// Makes settled content live.
    fn commit(&mut self, path: PathBuf, pending: Pending, scan: &mut Scan) {
        let (Some(content), Some(parsed)) = (pending.content, pending.parsed) else {
            if self.files.remove(&path).is_some_and(|s| !s.objects.is_empty()) {
                info!(file = %path.display(), "Manifest file removed; its objects are withdrawn");
            }
            scan.changed = true;
            return;
        };
        let state = self.files.entry(path.clone()).or_default();
        match parsed {
            Ok(parsed) => {
                for s in &parsed.skipped {
                    warn!(file = %path.display(), document = s.document, reason = %s.reason, "Manifest document skipped");
                }
                state.objects = parsed.objects;
                state.error = None;
                scan.changed = true;
            }
            Err(err) => {
                warn!(file = %path.display(), document = err.document, reason = %err.reason,
                    "Manifest file rejected; its last good objects keep serving");
                state.error = Some(err.clone());
                scan.failed.push((path, err));
            }
        }
        state.content = content;
    }

    /// All objects of all files. When two files define the same object, the first file in path
    /// order wins and the duplicate is reported.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (path, state) in &self.files {
            for object in &state.objects {
                if !snapshot.insert_new(object.clone()) {
                    let r = object.object_ref();
                    warn!(file = %path.display(), object = %r, "Duplicate object ignored; an earlier file defines it");
                }
            }
        }
        snapshot
    }
}
