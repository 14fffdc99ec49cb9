//! The manifests source: every `*.yaml`, `*.yml` and `*.json` file under a folder (recursively,
//! multi-document), re-read when the folder changes.
//!
//! Each file is all-or-nothing: a file that fails to parse is reported (file, document, reason)
//! and its last good objects keep serving until it parses again. Hidden entries (names starting
//! with `.`) are skipped, which also keeps the `..data` indirection of a mounted ConfigMap from
//! being read twice.

mod parse;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

pub use parse::{parse, ParseError, Parsed, Skipped};
pub use watch::{watch, WatchHandle};

use crate::error::{Error, Result};
use crate::snapshot::{Object, Snapshot};

/// One file's state: the bytes last read, the objects of its last good parse, and the error of
/// the last parse if it failed.
#[derive(Debug, Default)]
struct FileState {
    content: Vec<u8>,
    objects: Vec<Object>,
    error: Option<ParseError>,
}

/// The folder's files and their last good objects.
#[derive(Debug)]
pub struct ManifestSource {
    root: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
}

/// What one scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Whether any file was added, removed, or parsed to new objects.
    pub changed: bool,
    /// Files whose last read failed to parse (their last good objects are kept).
    pub failed: Vec<(PathBuf, ParseError)>,
    /// When the watcher saw the first file-system event of this scan (None for a poll).
    pub seen: Option<std::time::Instant>,
}

impl ManifestSource {
    /// A source over `root`; nothing is read until [`ManifestSource::scan`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ManifestSource { root: root.into(), files: BTreeMap::new() }
    }

    /// The folder this source reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Re-reads the folder. Files whose bytes did not change are not parsed again. Fails only if
    /// the folder itself cannot be read; a bad file is reported in [`Scan::failed`].
    pub fn scan(&mut self) -> Result<Scan> {
        let mut paths = Vec::new();
        collect(&self.root, &mut paths, 0)?;
        let mut scan = Scan::default();
        let before = self.files.len();
        self.files.retain(|p, _| paths.contains(p));
        scan.changed |= self.files.len() != before;
        for path in paths {
            let content = match std::fs::read(&path) {
                Ok(c) => c,
                Err(source) => {
                    // Removed between listing and reading: the next event rescans.
                    debug!(file = %path.display(), error = %source, "Manifest vanished while reading");
                    continue;
                }
            };
            let state = self.files.entry(path.clone()).or_default();
            if state.content == content && !state.content.is_empty() {
                if let Some(err) = &state.error {
                    scan.failed.push((path, err.clone()));
                }
                continue;
            }
            let text = String::from_utf8_lossy(&content);
            match parse(&text) {
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
                    scan.failed.push((path.clone(), err));
                }
            }
            state.content = content;
        }
        Ok(scan)
    }

    /// All objects of all files. When two files define the same object, the first file in path
    /// order wins and the duplicate is reported.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (path, state) in &self.files {
            for object in &state.objects {
                let r = object.object_ref();
                if snapshot.contains(&r) {
                    warn!(file = %path.display(), object = %r, "Duplicate object ignored; an earlier file defines it");
                    continue;
                }
                snapshot.insert(object.clone());
            }
        }
        snapshot
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    const MAX_DEPTH: usize = 16;
    let io = |source| Error::Io { path: dir.to_owned(), source };
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io)?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symlinks, as a mounted ConfigMap's files are links.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() && depth < MAX_DEPTH {
            collect(&path, out, depth + 1)?;
        } else if meta.is_file() && is_manifest(&path) {
            out.push(path);
        }
    }
    Ok(())
}
