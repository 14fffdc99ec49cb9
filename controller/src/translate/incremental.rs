//! Incremental translation: when only Ingresses changed, rebuild only the hosts they reach and
//! keep the rest of the previous table.
//!
//! The result is the table [`translate`](super::translate) would build (a test checks this
//! over random edits): every host is a function of the Ingresses that reach it, so the hosts
//! an edit reaches are rebuilt from all the Ingresses that reach them, and every other host is
//! the previous table's. An Ingress *reaches* its rule hosts, their `www.` twins
//! (`from-to-www-redirect`), its `server-alias` names and its TLS hosts. Rebuilt hosts pull in
//! what they share state with, until nothing new joins: the other hosts of each Ingress that
//! reaches them (aliases copy routes across hosts) and the Ingresses with TLS or rules for
//! their wildcard (`ssl-redirect` looks at wildcard TLS).
//!
//! Every host of a selected Ingress is rebuilt (the catch-all of host-less rules counts as the
//! host `""`), so that its warnings, which name no host, are those of a whole translation.
//!
//! A whole translation runs instead when anything but Ingresses changed (Services, endpoints,
//! Secrets, ConfigMaps, classes, Gateway API objects), when a changed Ingress reaches beyond
//! its hosts (a `defaultBackend`, which may become the table's default; a wildcard TLS host,
//! which decides `ssl-redirect` under it), and when the edit reaches a quarter of the
//! Ingresses or more.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::networking::v1::Ingress;

use super::{build, translate, Options, Translation, Warning, ANNOTATION_PREFIX};
use crate::matching::wildcard_suffix;
use crate::snapshot::{Key, ObjectKind, Snapshot};
use crate::table::RoutingTable;
use crate::FastMap;

/// What the previous translation started from and produced.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    /// The snapshot it translated.
    pub snapshot: &'a Snapshot,
    /// Its table (or the live table equal to it).
    pub table: &'a RoutingTable,
    /// Its warnings.
    pub warnings: &'a [Warning],
}

/// Translates `snapshot`, reusing `previous` where the changes since allow it (see the module
/// docs); the result equals [`translate`]'s.
pub fn translate_incremental(
    previous: Option<Previous<'_>>,
    snapshot: &Snapshot,
    options: &Options,
    now: SystemTime,
) -> Translation {
    previous
        .and_then(|previous| incremental(previous, snapshot, options, now))
        .unwrap_or_else(|| translate(snapshot, options, now))
}

fn incremental(
    previous: Previous<'_>,
    snapshot: &Snapshot,
    options: &Options,
    now: SystemTime,
) -> Option<Translation> {
    let before = previous.snapshot;
    let others_unchanged = same(&before.ingress_classes, &snapshot.ingress_classes)
        && same(&before.services, &snapshot.services)
        && same(&before.endpoint_slices, &snapshot.endpoint_slices)
        && same(&before.secrets, &snapshot.secrets)
        && same(&before.config_maps, &snapshot.config_maps)
        && same(&before.namespaces, &snapshot.namespaces)
        && before.gateway_classes.is_empty()
        && snapshot.gateway_classes.is_empty();
    if !others_unchanged {
        return None;
    }
    let changed = changed_keys(&before.ingresses, &snapshot.ingresses);
    if changed.is_empty() {
        return None;
    }
    let mut seeds = BTreeSet::new();
    for key in &changed {
        for ingress in [before.ingresses.get(key), snapshot.ingresses.get(key)].into_iter().flatten() {
            seeds.extend(local_reach(ingress)?);
        }
    }
    let index = ReachIndex::new(snapshot);
    let (hosts, selected) = index.closure(seeds);
    if selected.len() * 4 >= snapshot.ingresses.len().max(4) {
        return None;
    }
    let partial = build(snapshot, options, now, Some(&selected));
    let table = previous.table.with_hosts_from(partial.table, &hosts);
    let replaced = |w: &Warning| {
        w.object.kind == ObjectKind::Ingress && {
            let key = (w.object.namespace.clone(), w.object.name.clone());
            selected.contains(&key) || changed.contains(&key)
        }
    };
    let mut seen = HashSet::new();
    let warnings = previous
        .warnings
        .iter()
        .filter(|w| !replaced(w))
        .cloned()
        .chain(partial.warnings)
        .filter(|w| seen.insert(w.clone()))
        .collect();
    Some(Translation {
        table,
        warnings,
        gateway_status: Default::default(),
        rebuilt_hosts: Some(hosts.len()),
    })
}

/// Whether two maps hold the same objects (the same allocation, or equal).
fn same<T: PartialEq>(a: &BTreeMap<Key, Arc<T>>, b: &BTreeMap<Key, Arc<T>>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && (Arc::ptr_eq(va, vb) || va == vb))
}

/// Keys added, removed or changed between two maps (one pass over both, in key order).
fn changed_keys<T: PartialEq>(a: &BTreeMap<Key, Arc<T>>, b: &BTreeMap<Key, Arc<T>>) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return out,
            (Some((ka, _)), None) => {
                out.insert((*ka).clone());
                a.next();
            }
            (None, Some((kb, _))) => {
                out.insert((*kb).clone());
                b.next();
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => {
                    out.insert((*ka).clone());
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    out.insert((*kb).clone());
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if !(Arc::ptr_eq(va, vb) || va == vb) {
                        out.insert((*ka).clone());
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
}

/// The hosts a changed Ingress reaches, or `None` when it reaches beyond its hosts: a
/// `defaultBackend` (it may be the table's default) or a wildcard TLS host (`ssl-redirect`
/// of every host under it depends on it).
fn local_reach(ingress: &Ingress) -> Option<Vec<String>> {
    let spec = ingress.spec.as_ref()?;
    let wildcard_tls =
        spec.tls.iter().flatten().flat_map(|t| t.hosts.iter().flatten()).any(|h| h.starts_with("*."));
    if spec.default_backend.is_some() || wildcard_tls {
        return None;
    }
    Some(reach(ingress))
}

/// Everything an Ingress reaches (a superset is fine: it only costs rebuilding more): rule
/// hosts (`""` for a host-less rule, the catch-all) with their `www.` twins, `server-alias`
/// names and TLS hosts, lowercase as the table keys them.
fn reach(ingress: &Ingress) -> Vec<String> {
    let mut keys = Vec::new();
    for_each_name(ingress, |name, rule| {
        let host = name.to_ascii_lowercase();
        if rule {
            keys.extend(twin(&host));
        }
        keys.push(host);
    });
    keys
}

/// The `www.` twin of a host (`from-to-www-redirect`): `www.a` for `a`, `a` for `www.a`.
fn twin(host: &str) -> Option<String> {
    if host.is_empty() || host.starts_with("*.") {
        return None;
    }
    Some(host.strip_prefix("www.").map_or_else(|| format!("www.{host}"), str::to_owned))
}

/// Calls `f` with every name an Ingress reaches as written (not lowercased), and whether it is
/// a rule host (whose `www.` twin it reaches too).
fn for_each_name<'i>(ingress: &'i Ingress, mut f: impl FnMut(&'i str, bool)) {
    let Some(spec) = ingress.spec.as_ref() else {
        return;
    };
    for rule in spec.rules.iter().flatten() {
        f(rule.host.as_deref().unwrap_or(""), true);
    }
    let aliases = ingress.metadata.annotations.as_ref().and_then(|a| a.get(ALIAS_ANNOTATION.as_str()));
    for alias in aliases.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|a| !a.is_empty()) {
        f(alias, false);
    }
    for tls in spec.tls.iter().flatten() {
        tls.hosts.iter().flatten().for_each(|h| f(h, false));
    }
}

static ALIAS_ANNOTATION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{ANNOTATION_PREFIX}server-alias"));

/// Which Ingresses name each host (as a rule host, alias or TLS host), over every Ingress of
/// the snapshot. Names are borrowed from the objects (lowercased only when they are not);
/// `www.` twins are found at lookup time, so building it allocates little.
struct ReachIndex<'s> {
    by_name: FastMap<Cow<'s, str>, Vec<(&'s Key, bool)>>,
    ingresses: &'s BTreeMap<Key, Arc<Ingress>>,
}

impl<'s> ReachIndex<'s> {
    fn new(snapshot: &'s Snapshot) -> Self {
        let mut by_name: FastMap<Cow<'s, str>, Vec<(&Key, bool)>> = FastMap::default();
        by_name.reserve(snapshot.ingresses.len() * 2);
        for (key, ingress) in &snapshot.ingresses {
            for_each_name(ingress, |name, rule| {
                let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(name.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(name)
                };
                by_name.entry(name).or_default().push((key, rule));
            });
        }
        ReachIndex { by_name, ingresses: &snapshot.ingresses }
    }

    /// The Ingresses that reach `host`: those naming it, those with a rule for its `www.`
    /// twin, and those with TLS or rules for its wildcard.
    fn reaching(&self, host: &str) -> impl Iterator<Item = &'s Key> + '_ {
        let named = self.by_name.get(host).into_iter().flatten().map(|(k, _)| *k);
        let twin = twin(host);
        let by_twin = twin.and_then(|t| self.by_name.get(t.as_str())).into_iter().flatten();
        let by_twin = by_twin.filter(|(_, rule)| *rule).map(|(k, _)| *k);
        let wildcard = wildcard_suffix(host).filter(|_| !host.starts_with("*.")).map(|s| format!("*.{s}"));
        let by_wildcard =
            wildcard.and_then(|w| self.by_name.get(w.as_str())).into_iter().flatten().map(|(k, _)| *k);
        named.chain(by_twin).chain(by_wildcard)
    }

    /// The hosts to rebuild, starting from `seeds`, and the Ingresses that reach them.
    fn closure(&self, seeds: BTreeSet<String>) -> (BTreeSet<String>, HashSet<&'s Key>) {
        let mut hosts = BTreeSet::new();
        let mut selected = HashSet::new();
        let mut queue: Vec<String> = seeds.into_iter().collect();
        while let Some(host) = queue.pop() {
            if !hosts.insert(host.clone()) {
                continue;
            }
            let newly: Vec<&Key> = self.reaching(&host).filter(|k| selected.insert(*k)).collect();
            for key in newly {
                queue.extend(reach(&self.ingresses[key]).into_iter().filter(|h| !hosts.contains(h)));
            }
        }
        (hosts, selected)
    }
}
