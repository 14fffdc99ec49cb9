//! Listing the manifest files under a folder.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether `path` names a manifest (`*.yaml`, `*.yml`, `*.json`).
fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Every manifest file under `dir`, recursively and in path order. Hidden entries (names
/// starting with `.`) are skipped, which keeps a mounted ConfigMap's `..data` indirection from
/// being read twice; symlinks are followed, as a mounted ConfigMap's files are links.
pub(super) fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect(dir, &mut out, 0)?;
    Ok(out)
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
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() && depth < MAX_DEPTH {
            collect(&path, out, depth + 1)?;
        } else if meta.is_file() && is_manifest(&path) {
            out.push(path);
        }
    }
    Ok(())
}
