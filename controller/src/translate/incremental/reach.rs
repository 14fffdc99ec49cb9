//! What an Ingress reaches, and the closure of an edit over it.
//!
//! An Ingress reaches hosts (its rule hosts, `""` for host-less rules, their `www.` twins, its
//! `server-alias` names and TLS hosts) and Services (its backends, `defaultBackend`, and the
//! `default-backend` and fallback annotations). A superset is always safe: reaching more only
//! costs rebuilding more.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, LazyLock};

use k8s_openapi::api::networking::v1::Ingress;

use super::super::{ANNOTATION_PREFIX, FALLBACK_SERVICE};
use crate::matching::wildcard_suffix;
use crate::snapshot::Key;
use crate::FastMap;

static ALIAS: LazyLock<String> = LazyLock::new(|| format!("{ANNOTATION_PREFIX}server-alias"));
static DEFAULT_BACKEND: LazyLock<String> = LazyLock::new(|| format!("{ANNOTATION_PREFIX}default-backend"));

/// The hosts an Ingress reaches, lowercase as the table keys them.
pub(super) fn hosts(ingress: &Ingress) -> Vec<String> {
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

/// The Services an Ingress reaches, as (namespace, name).
pub(super) fn services(key: &Key, ingress: &Ingress) -> Vec<Key> {
    let mut out = Vec::new();
    for_each_service(ingress, |name| out.push((key.0.clone(), name.to_owned())));
    out
}

/// The `www.` twin of a host (`from-to-www-redirect`): `www.a` for `a`, `a` for `www.a`.
fn twin(host: &str) -> Option<String> {
    if host.is_empty() || host.starts_with("*.") {
        return None;
    }
    Some(host.strip_prefix("www.").map_or_else(|| format!("www.{host}"), str::to_owned))
}

/// Calls `f` with every host name an Ingress names as written, and whether it is a rule host
/// (whose `www.` twin it reaches too).
fn for_each_name<'i>(ingress: &'i Ingress, mut f: impl FnMut(&'i str, bool)) {
    let Some(spec) = ingress.spec.as_ref() else {
        return;
    };
    for rule in spec.rules.iter().flatten() {
        f(rule.host.as_deref().unwrap_or(""), true);
    }
    let aliases = ingress.metadata.annotations.as_ref().and_then(|a| a.get(ALIAS.as_str()));
    for alias in aliases.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|a| !a.is_empty()) {
        f(alias, false);
    }
    for tls in spec.tls.iter().flatten() {
        tls.hosts.iter().flatten().for_each(|h| f(h, false));
    }
}

/// Calls `f` with the name of every Service an Ingress refers to (in its own namespace).
fn for_each_service<'i>(ingress: &'i Ingress, mut f: impl FnMut(&'i str)) {
    let Some(spec) = ingress.spec.as_ref() else {
        return;
    };
    let rules = spec.rules.iter().flatten().flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()));
    for backend in rules.map(|p| &p.backend).chain(spec.default_backend.iter()) {
        if let Some(service) = &backend.service {
            f(&service.name);
        }
    }
    let annotations = ingress.metadata.annotations.as_ref();
    if let Some(name) = annotations.and_then(|a| a.get(DEFAULT_BACKEND.as_str())) {
        f(name.trim());
    }
    if let Some(value) = annotations.and_then(|a| a.get(FALLBACK_SERVICE)) {
        f(value.rsplit_once(':').map_or(value.as_str(), |(name, _)| name).trim());
    }
}

/// What the closure rebuilds: hosts and Services, and the Ingresses that reach them.
#[derive(Debug, Default)]
pub(super) struct Closure<'s> {
    pub hosts: BTreeSet<String>,
    pub services: BTreeSet<Key>,
    pub ingresses: HashSet<&'s Key>,
}

/// A host or a Service still to visit.
enum Node {
    Host(String),
    Service(Key),
}

/// Which Ingresses reach each host and Service, over every Ingress of a snapshot. Names are
/// borrowed from the objects (lowercased only when they are not); `www.` twins are found at
/// lookup time, so building it allocates little.
pub(super) struct ReachIndex<'s> {
    by_host: FastMap<Cow<'s, str>, Vec<(&'s Key, bool)>>,
    by_service: FastMap<(&'s str, &'s str), Vec<&'s Key>>,
    ingresses: &'s BTreeMap<Key, Arc<Ingress>>,
}

impl<'s> ReachIndex<'s> {
    pub(super) fn new(ingresses: &'s BTreeMap<Key, Arc<Ingress>>) -> Self {
        let mut by_host: FastMap<Cow<'s, str>, Vec<(&Key, bool)>> = FastMap::default();
        let mut by_service: FastMap<(&str, &str), Vec<&Key>> = FastMap::default();
        by_host.reserve(ingresses.len() * 2);
        by_service.reserve(ingresses.len());
        for (key, ingress) in ingresses {
            for_each_name(ingress, |name, rule| {
                let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(name.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(name)
                };
                by_host.entry(name).or_default().push((key, rule));
            });
            for_each_service(ingress, |name| by_service.entry((key.0.as_str(), name)).or_default().push(key));
        }
        ReachIndex { by_host, by_service, ingresses }
    }

    /// The Ingresses that reach `host`: those naming it, those with a rule for its `www.`
    /// twin, and those with TLS or rules for its wildcard (which decides its `ssl-redirect`).
    fn reaching_host(&self, host: &str) -> impl Iterator<Item = &'s Key> + '_ {
        let named = self.by_host.get(host).into_iter().flatten().map(|(k, _)| *k);
        let by_twin = twin(host).and_then(|t| self.by_host.get(t.as_str())).into_iter().flatten();
        let by_twin = by_twin.filter(|(_, rule)| *rule).map(|(k, _)| *k);
        let wildcard = wildcard_suffix(host).filter(|_| !host.starts_with("*.")).map(|s| format!("*.{s}"));
        let by_wildcard =
            wildcard.and_then(|w| self.by_host.get(w.as_str())).into_iter().flatten().map(|(k, _)| *k);
        named.chain(by_twin).chain(by_wildcard)
    }

    /// Everything to rebuild, starting from `seed_hosts` and `seed_services`: each Ingress that reaches
    /// one of them joins, with everything it reaches, until nothing new joins.
    pub(super) fn closure(&self, seed_hosts: BTreeSet<String>, seed_services: BTreeSet<Key>) -> Closure<'s> {
        let mut out = Closure::default();
        let mut queue: Vec<Node> = seed_hosts.into_iter().map(Node::Host).collect();
        queue.extend(seed_services.into_iter().map(Node::Service));
        while let Some(node) = queue.pop() {
            let reaching: Vec<&'s Key> = match node {
                Node::Host(host) if !out.hosts.contains(&host) => {
                    let found = self.reaching_host(&host).collect();
                    out.hosts.insert(host);
                    found
                }
                Node::Service(service) if !out.services.contains(&service) => {
                    let found = self.by_service.get(&(service.0.as_str(), service.1.as_str())).cloned();
                    out.services.insert(service);
                    found.unwrap_or_default()
                }
                _ => continue,
            };
            for key in reaching {
                if out.ingresses.insert(key) {
                    let ingress = &self.ingresses[key];
                    queue.extend(hosts(ingress).into_iter().map(Node::Host));
                }
            }
        }
        out
    }
}
