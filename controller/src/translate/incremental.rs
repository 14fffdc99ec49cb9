//! Incremental translation: when only Ingresses, Services or EndpointSlices changed, rebuild
//! only the hosts the change reaches and keep the rest of the previous table.
//!
//! The result is the table [`translate`](super::translate) would build (a test checks this
//! over random edits): every host is a function of the Ingresses that reach it and of the
//! Services they use, so the hosts a change reaches are rebuilt from all the Ingresses that
//! reach them, and every other host is the previous table's. What an Ingress reaches is in
//! [`reach`]. A change starts from the hosts and Services of the changed Ingresses and from the
//! changed Services (a changed EndpointSlice changes its Service), and pulls in what shares
//! state with them until nothing new joins: every Ingress that reaches a rebuilt host or
//! Service, with all it reaches (aliases copy routes across hosts, and routes to one Service
//! share one backend), and the Ingresses with TLS or rules for a rebuilt host's wildcard
//! (`ssl-redirect` looks at wildcard TLS). The catch-all of host-less rules is the host `""`.
//!
//! A whole translation runs instead when anything else changed (Secrets, ConfigMaps, classes,
//! Namespaces, Gateway API objects); when a certificate of the previous table has expired
//! since, or the previous translation refused one (validity depends on the time); when a
//! changed Ingress reaches beyond its hosts (a `defaultBackend`, which may become the table's
//! default; a wildcard TLS host, which decides `ssl-redirect` under it); when a rebuilt Service
//! is some Ingress's `defaultBackend`; and when the change reaches a quarter of the Ingresses
//! or more.

mod reach;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;

use super::{build, translate, Invalid, Options, Translation, Warning, SERVICE_NAME_LABEL};
use crate::snapshot::{Key, ObjectKind, Snapshot};
use crate::table::RoutingTable;
use reach::ReachIndex;

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
        && same(&before.secrets, &snapshot.secrets)
        && same(&before.config_maps, &snapshot.config_maps)
        && same(&before.namespaces, &snapshot.namespaces)
        && before.gateway_classes.is_empty()
        && snapshot.gateway_classes.is_empty();
    // Certificate validity depends on the time: one that expired since is refused by a
    // translation now, and one refused before (perhaps not valid yet) may be taken now,
    // wherever they are used.
    let now_s = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let refused_certificate =
        previous.warnings.iter().any(|w| matches!(w.reason, Invalid::InvalidCertificate { .. }));
    if !others_unchanged || refused_certificate || previous.table.has_expired_certificate(now_s) {
        return None;
    }
    let changed = changed_keys(&before.ingresses, &snapshot.ingresses);
    let changed_slices = changed_keys(&before.endpoint_slices, &snapshot.endpoint_slices);
    let mut services = changed_keys(&before.services, &snapshot.services);
    for key in &changed_slices {
        let versions = [before.endpoint_slices.get(key), snapshot.endpoint_slices.get(key)];
        services.extend(versions.into_iter().flatten().filter_map(|s| service_of(key, s)));
    }
    if changed.is_empty() && services.is_empty() {
        return None;
    }
    let slice_warned: HashSet<Key> = previous
        .warnings
        .iter()
        .filter(|w| w.object.kind == ObjectKind::EndpointSlice)
        .filter_map(|w| {
            let key = (w.object.namespace.clone(), w.object.name.clone());
            before.endpoint_slices.get(&key).and_then(|s| service_of(&key, s))
        })
        .collect();
    let mut hosts = BTreeSet::new();
    for key in &changed {
        for ingress in [before.ingresses.get(key), snapshot.ingresses.get(key)].into_iter().flatten() {
            if !is_local(ingress) {
                return None;
            }
            hosts.extend(reach::hosts(ingress));
            // A slice warning of a Service it used may no longer hold: rebuild every route to
            // that Service, so that the warning is given again only if it does.
            let warned = reach::services(key, ingress).into_iter().filter(|s| slice_warned.contains(s));
            services.extend(warned);
        }
    }
    let closure = ReachIndex::new(&snapshot.ingresses).closure(hosts, services);
    if closure.ingresses.len() * 4 >= snapshot.ingresses.len().max(4) {
        return None;
    }
    // The table's default backend is kept from the previous table: not if its Service changed.
    let default_rebuilt =
        closure.ingresses.iter().map(|key| (key, &snapshot.ingresses[*key])).any(|(key, i)| {
            let default =
                i.spec.as_ref().and_then(|s| s.default_backend.as_ref()).and_then(|b| b.service.as_ref());
            default.is_some_and(|s| closure.services.contains(&(key.0.clone(), s.name.clone())))
        });
    if default_rebuilt {
        return None;
    }
    let partial = build(snapshot, options, now, Some(&closure.ingresses));
    let table = previous.table.with_hosts_from(partial.table, &closure.hosts);
    // Warnings the rebuild gives again if they still hold: those of the rebuilt and changed
    // Ingresses, and those of the slices of rebuilt Services.
    let slice_of_rebuilt = |key: &Key| {
        changed_slices.contains(key)
            || [before.endpoint_slices.get(key), snapshot.endpoint_slices.get(key)]
                .into_iter()
                .flatten()
                .filter_map(|s| service_of(key, s))
                .any(|service| closure.services.contains(&service))
    };
    let replaced = |w: &Warning| {
        let key = (w.object.namespace.clone(), w.object.name.clone());
        match w.object.kind {
            ObjectKind::Ingress => closure.ingresses.contains(&key) || changed.contains(&key),
            ObjectKind::EndpointSlice => slice_of_rebuilt(&key),
            _ => false,
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
    let rebuilt_hosts = Some(closure.hosts.len());
    Some(Translation { table, warnings, gateway_status: Default::default(), rebuilt_hosts })
}

/// Whether a changed Ingress reaches only its own hosts: not with a `defaultBackend` (it may be
/// the table's default) or a wildcard TLS host (`ssl-redirect` of every host under it depends
/// on it).
fn is_local(ingress: &Ingress) -> bool {
    let Some(spec) = ingress.spec.as_ref() else {
        return true;
    };
    let wildcard_tls =
        spec.tls.iter().flatten().flat_map(|t| t.hosts.iter().flatten()).any(|h| h.starts_with("*."));
    spec.default_backend.is_none() && !wildcard_tls
}

/// The Service a slice (keyed `key`) belongs to.
fn service_of(key: &Key, slice: &EndpointSlice) -> Option<Key> {
    let labels = slice.metadata.labels.as_ref()?;
    labels.get(SERVICE_NAME_LABEL).map(|name| (key.0.clone(), name.clone()))
}

/// Whether two maps hold the same objects (the same allocation, or equal).
fn same<T: PartialEq>(a: &BTreeMap<Key, Arc<T>>, b: &BTreeMap<Key, Arc<T>>) -> bool {
    changed_keys(a, b).is_empty()
}

/// Keys added, removed or changed between two maps (one pass over both, in key order).
fn changed_keys<T: PartialEq>(a: &BTreeMap<Key, Arc<T>>, b: &BTreeMap<Key, Arc<T>>) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => return out,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
        };
        match order {
            std::cmp::Ordering::Less => out.extend(a.next().map(|(k, _)| k.clone())),
            std::cmp::Ordering::Greater => out.extend(b.next().map(|(k, _)| k.clone())),
            std::cmp::Ordering::Equal => {
                if let (Some((k, x)), Some((_, y))) = (a.next(), b.next()) {
                    if !(Arc::ptr_eq(x, y) || x == y) {
                        out.insert(k.clone());
                    }
                }
            }
        }
    }
}
