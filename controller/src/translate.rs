//! The pure `translate` function: a [`Snapshot`] in, a [`RoutingTable`] and warnings out.
//!
//! No I/O, no clients: every Kubernetes semantic of Sluice lives here, so it can be tested
//! exhaustively and benchmarked. A bad object never aborts translation; it becomes a [`Warning`]
//! and the rest of the table is built as usual.

mod annotations;
mod basic_auth;
mod class;
pub mod compat;
mod compression;
pub(crate) mod config;
pub mod config_keys;
mod endpoints;
mod gateway;
mod header_maps;
mod incremental;
mod ingress;
mod request_rules;
pub(crate) mod rules;
mod tls;
mod upstream_tls;
mod values;
mod warning;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::time::SystemTime;

use k8s_openapi::api::networking::v1::Ingress;

pub use crate::settings::{BlockKey, Codec, Compression, GlobalSettings};
pub use annotations::{IngressAnnotations, FALLBACK_SERVICE, PREFIX as ANNOTATION_PREFIX};
pub use class::{is_ours, ClassSettings, DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION};
pub use endpoints::SERVICE_NAME_LABEL;
pub use gateway::GatewayOptions;
pub use header_maps::header_map_references;
pub use incremental::{translate_incremental, Previous};
pub use values::parse_bool;
pub use warning::{Invalid, Warning};

use crate::snapshot::{Key, ObjectKind, ObjectRef, Snapshot};
use crate::table::RoutingTable;

/// What translation needs besides the objects: which Ingresses are ours, and which ConfigMap
/// and Secret hold the global settings and the default certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Which Ingresses belong to this controller.
    pub classes: ClassSettings,
    /// The controller ConfigMap (`--configmap NS/NAME`).
    pub configmap: Option<Key>,
    /// The default certificate's Secret (`--default-ssl-certificate NS/NAME`).
    pub default_certificate: Option<Key>,
    /// Which Gateways are served, and where.
    pub gateway: GatewayOptions,
}

/// The result of one translation.
#[derive(Debug, Default)]
pub struct Translation {
    /// The table to publish.
    pub table: RoutingTable,
    /// Everything that was skipped, and why.
    pub warnings: Vec<Warning>,
    /// The status of the Gateway API objects Sluice serves.
    pub gateway_status: crate::gateway_api::GatewayStatuses,
    /// `Some(n)` when only `n` hosts were rebuilt and the rest of the previous table was kept
    /// ([`translate_incremental`]); `None` for a whole translation.
    pub rebuilt_hosts: Option<usize>,
}

/// Builds the routing table from every Ingress that belongs to this controller.
///
/// Ingresses are applied oldest first (creationTimestamp, then namespace/name), so that when
/// two of them define the same host and path, the older one keeps it, as in ingress-nginx.
/// `now` decides which certificates have expired (passed in to keep this function pure).
pub fn translate(snapshot: &Snapshot, options: &Options, now: SystemTime) -> Translation {
    build(snapshot, options, now, None)
}

/// [`translate`] over the Ingresses whose keys are in `only` (all when `None`); the Gateway
/// pass runs only for a whole translation.
fn build(
    snapshot: &Snapshot,
    options: &Options,
    now: SystemTime,
    only: Option<&HashSet<&Key>>,
) -> Translation {
    let mut warnings = Vec::new();
    let mut ours: Vec<&Ingress> = snapshot
        .ingresses
        .iter()
        .filter(|(key, _)| only.is_none_or(|only| only.contains(key)))
        .map(|(_, i)| &**i)
        .filter(|i| is_ours(i, snapshot, &options.classes))
        .collect();
    ours.sort_by(|a, b| oldest_first(a, b));

    let controller_config =
        options.configmap.as_ref().and_then(|key| snapshot.config_maps.get(key)).map(|c| &**c);
    let mut settings = config::global_settings(controller_config, &mut warnings);
    header_maps::global(&mut settings, controller_config, snapshot, &mut warnings);
    let mut certificates = tls::Certificates::new(snapshot, now);
    let tls_hosts = tls::collect(&ours, &mut certificates, &mut warnings);
    let default_certificate = options.default_certificate.as_ref().and_then(|(ns, name)| {
        certificates
            .load(ns, name)
            .map_err(|reason| {
                let object =
                    ObjectRef { kind: ObjectKind::Secret, namespace: ns.clone(), name: name.clone() };
                warnings.push(Warning { object, reason });
            })
            .ok()
    });

    let parsed: Vec<(&Ingress, IngressAnnotations)> = ours
        .into_iter()
        .map(|ing| {
            let object = ObjectRef::from_meta(ObjectKind::Ingress, &ing.metadata);
            (ing, annotations::parse(ing, &object, &settings, &mut warnings))
        })
        .collect();
    let regex_hosts = regex_hosts(&parsed);
    let mut builder = ingress::TableBuilder::new(snapshot, &settings, &tls_hosts, regex_hosts, warnings);
    // Main Ingresses first, so that every canary finds the rule it attaches to.
    let (canaries, mains): (Vec<_>, Vec<_>) = parsed.iter().partition(|(_, a)| a.canary.is_some());
    for (ing, annotations) in mains.into_iter().chain(canaries) {
        builder.add(ing, annotations);
    }
    let mut translation = builder.finish();
    if only.is_none() && !snapshot.gateway_classes.is_empty() {
        // Indexed again only when Gateway API objects exist (a cluster of Ingresses pays nothing).
        let mut endpoints = endpoints::Endpoints::new(snapshot);
        translation.gateway_status = gateway::add(
            snapshot,
            &options.gateway,
            &settings.policy,
            &mut endpoints,
            &mut certificates,
            &mut translation.table,
            &mut translation.warnings,
        );
        translation.table.finish();
    }
    tls_hosts.install(&mut translation.table);
    if let Some(cert) = default_certificate {
        translation.table.set_default_certificate(cert);
    }
    translation.table.settings = settings;
    // One warning per object and reason, however many rules ran into it.
    let mut seen = HashSet::new();
    translation.warnings.retain(|w| seen.insert(w.clone()));
    translation
}

/// The warnings the annotations of `ingress` produce on their own (invalid values, unsupported
/// and refused annotations), with the default settings: what `sluice lint` reports.
pub fn annotation_warnings(ingress: &Ingress) -> Vec<Warning> {
    let object = ObjectRef::from_meta(ObjectKind::Ingress, &ingress.metadata);
    let mut warnings = Vec::new();
    annotations::parse(ingress, &object, &GlobalSettings::default(), &mut warnings);
    warnings
}

/// The hosts whose paths are all regular expressions: as in ingress-nginx, one Ingress with
/// `use-regex` (or a `rewrite-target`) makes every path of its hosts a regex, whichever Ingress
/// defines them.
fn regex_hosts(parsed: &[(&Ingress, IngressAnnotations)]) -> HashSet<Option<String>> {
    let mut hosts = HashSet::new();
    for (ing, annotations) in parsed.iter().filter(|(_, a)| a.canary.is_none()) {
        let paths: Vec<&str> = ing
            .spec
            .iter()
            .flat_map(|s| s.rules.iter().flatten())
            .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
            .map(|p| p.path.as_deref().unwrap_or("/"))
            .collect();
        if annotations.wants_regex(&paths) {
            hosts.extend(rules::rule_hosts(ing));
        }
    }
    hosts
}

fn oldest_first(a: &Ingress, b: &Ingress) -> Ordering {
    fn key(i: &Ingress) -> (Option<k8s_openapi::jiff::Timestamp>, Option<&str>, Option<&str>) {
        let m = &i.metadata;
        (m.creation_timestamp.as_ref().map(|t| t.0), m.namespace.as_deref(), m.name.as_deref())
    }
    key(a).cmp(&key(b))
}
