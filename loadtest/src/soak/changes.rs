//! The changes a soak applies, and the ways files really change on disk.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::fixtures::{self, Addresses, Authority};

/// One kind of change, applied in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Kind {
    /// The main Ingress rewritten in place (truncate, then write in two pieces).
    IngressInPlace,
    /// Service `a`'s endpoints changed (write then rename).
    EndpointsA,
    /// The main Ingress replaced by rename.
    IngressRename,
    /// Service `b`'s port number changed (the Ingresses refer to it by name).
    ServicePort,
    /// Service `b`'s endpoints changed, rewritten in place.
    EndpointsB,
    /// The TLS Secret rotated to a new key and certificate (write then rename).
    TlsRotation,
    /// The controller ConfigMap edited in place.
    ConfigMap,
    /// The second Ingress deleted, then re-created a moment later.
    IngressRecreate,
}

impl Kind {
    /// Every kind, in the order a soak cycles through them.
    pub const ALL: [Kind; 8] = [
        Kind::IngressInPlace,
        Kind::EndpointsA,
        Kind::IngressRename,
        Kind::ServicePort,
        Kind::EndpointsB,
        Kind::TlsRotation,
        Kind::ConfigMap,
        Kind::IngressRecreate,
    ];
}

/// Writes the folder's first version.
pub fn initial(dir: &Path, addrs: &Addresses, ca: &Authority) -> Result<()> {
    let files = [
        ("00-config.yaml", fixtures::config(0)),
        ("10-service-a.yaml", fixtures::service("a", 80, 0)),
        ("10-service-b.yaml", fixtures::service("b", 80, 0)),
        ("11-endpoints-a.yaml", fixtures::endpoints("a", &addrs.a, addrs.dead, addrs.port, 0)),
        ("11-endpoints-b.yaml", fixtures::endpoints("b", &addrs.b, addrs.dead, addrs.port, 0)),
        ("20-app.yaml", fixtures::app_ingress(0)),
        ("21-extra.yaml", fixtures::extra_ingress(0)),
        ("30-app-tls.yaml", ca.secret(0)?),
    ];
    for (name, text) in files {
        fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    Ok(())
}

/// Applies change number `rev` (1-based) of kind `kind`.
pub fn apply(dir: &Path, kind: Kind, rev: usize, addrs: &Addresses, ca: &Authority) -> Result<()> {
    match kind {
        Kind::IngressInPlace => in_place(&dir.join("20-app.yaml"), &fixtures::app_ingress(rev)),
        Kind::IngressRename => renamed(dir, "20-app.yaml", &fixtures::app_ingress(rev)),
        Kind::EndpointsA => renamed(
            dir,
            "11-endpoints-a.yaml",
            &fixtures::endpoints("a", &addrs.a, addrs.dead, addrs.port, rev),
        ),
        Kind::EndpointsB => in_place(
            &dir.join("11-endpoints-b.yaml"),
            &fixtures::endpoints("b", &addrs.b, addrs.dead, addrs.port, rev),
        ),
        Kind::ServicePort => {
            let number = if rev % 2 == 0 { 80 } else { 8080 };
            renamed(dir, "10-service-b.yaml", &fixtures::service("b", number, rev))
        }
        Kind::TlsRotation => renamed(dir, "30-app-tls.yaml", &ca.secret(rev)?),
        Kind::ConfigMap => in_place(&dir.join("00-config.yaml"), &fixtures::config(rev)),
        Kind::IngressRecreate => {
            let path = dir.join("21-extra.yaml");
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            std::thread::sleep(Duration::from_millis(20));
            in_place(&path, &fixtures::extra_ingress(rev))
        }
    }
}

/// As the shell's `> file` followed by a writer that writes in pieces: truncate, write half,
/// pause, write the rest. A reader in between sees an empty file, then a prefix.
fn in_place(path: &Path, text: &str) -> Result<()> {
    let ctx = || format!("writing {} in place", path.display());
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path).with_context(ctx)?;
    std::thread::sleep(Duration::from_millis(2));
    let (head, tail) = text.as_bytes().split_at(text.len() / 2);
    file.write_all(head).with_context(ctx)?;
    file.flush().with_context(ctx)?;
    std::thread::sleep(Duration::from_millis(2));
    file.write_all(tail).with_context(ctx)?;
    Ok(())
}

/// As editors and `kubectl`-style tools: write a hidden temporary file, then rename it over.
fn renamed(dir: &Path, name: &str, text: &str) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(name)).with_context(|| format!("renaming onto {name}"))
}
