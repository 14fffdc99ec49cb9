//! One watcher and reflector store per kind. Each store event that can change the table
//! (`Apply`, `Delete`, `InitDone`) is sent to the rebuild loop as a [`Change`].

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, warn};

use super::ClusterOptions;
use crate::gateway_api::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};
use crate::snapshot::{object_key, Key, ObjectKind, Snapshot};

/// Something in a store changed (or a kind finished a list).
#[derive(Debug, Clone, Copy)]
pub struct Change {
    /// The kind whose store changed.
    pub kind: ObjectKind,
    /// When the change was seen.
    pub seen: Instant,
    /// True for `InitDone`: the kind's store now reflects a complete list.
    pub synced: bool,
}

/// The reflector stores of every kind.
#[derive(Clone)]
pub struct Stores {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    secrets: Store<Secret>,
    config_maps: Store<ConfigMap>,
    own_config_map: Option<Store<ConfigMap>>,
    /// The Gateway API kinds, when their CRDs are installed.
    gateway: Option<GatewayStores>,
}

/// The stores of the Gateway API kinds, and the Namespaces their listeners select routes by.
#[derive(Clone)]
struct GatewayStores {
    classes: Store<GatewayClass>,
    gateways: Store<Gateway>,
    routes: Store<HttpRoute>,
    grants: Store<ReferenceGrant>,
    namespaces: Store<Namespace>,
}

/// Whether the cluster serves the Gateway API kinds Sluice reads (their CRDs are installed).
pub async fn gateway_api_installed(client: &Client) -> bool {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
    let has = |list: &Option<APIResourceList>, plural: &str| {
        list.as_ref().is_some_and(|r| r.resources.iter().any(|res| res.name == plural))
    };
    let v1 = client.list_api_group_resources("gateway.networking.k8s.io/v1").await.ok();
    let v1beta1 = client.list_api_group_resources("gateway.networking.k8s.io/v1beta1").await.ok();
    ["gatewayclasses", "gateways", "httproutes"].iter().all(|p| has(&v1, p))
        && has(&v1beta1, "referencegrants")
}

/// The annotation `kubectl apply` leaves on objects: a full copy of the object, never needed here.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Starts a watcher feeding a store, and reports its changes on `tx`.
fn watch<K>(api: Api<K>, config: watcher::Config, kind: ObjectKind, tx: UnboundedSender<Change>) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = watcher::watcher(api, config)
        .default_backoff()
        .modify(|o: &mut K| {
            o.managed_fields_mut().clear();
            o.annotations_mut().remove(LAST_APPLIED);
        })
        .reflect(writer);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let synced = match event {
                Ok(Event::Apply(_) | Event::Delete(_)) => false,
                Ok(Event::InitDone) => true,
                Ok(Event::Init | Event::InitApply(_)) => continue,
                Err(error) => {
                    warn!(kind = kind.as_str(), %error, "Watch failed; retrying with backoff, the last table keeps serving");
                    continue;
                }
            };
            debug!(kind = kind.as_str(), synced, "Store changed");
            if tx.send(Change { kind, seen: Instant::now(), synced }).is_err() {
                return;
            }
        }
    });
    reader
}

/// The annotations naming Secrets: basic auth's users and the upstream client TLS.
const SECRET_ANNOTATIONS: [&str; 2] =
    ["nginx.ingress.kubernetes.io/auth-secret", "nginx.ingress.kubernetes.io/proxy-ssl-secret"];

impl Stores {
    /// Starts one watcher per kind. Secrets exclude Helm releases, service-account tokens and
    /// registry credentials; of the Secrets and ConfigMaps, only those the configuration
    /// references are kept in snapshots.
    /// With `gateway_api`, the Gateway API kinds and Namespaces are watched too.
    pub fn start(
        client: &Client,
        options: &ClusterOptions,
        gateway_api: bool,
        tx: UnboundedSender<Change>,
    ) -> Stores {
        let ns = options.namespace.as_deref();
        let all = watcher::Config::default();
        // TLS Secrets and the Opaque ones basic auth reads; never Helm releases or tokens.
        let secrets = watcher::Config::default()
            .fields("type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token,type!=kubernetes.io/dockerconfigjson");
        // ConfigMaps: the controller's own and those header settings name (`proxy-set-headers`,
        // `add-headers`, `custom-headers`, `auth-proxy-set-headers`), from one watcher over the
        // watched namespaces; a second one only when the controller's lies outside them.
        let config_maps = watch(api(client, ns), all.clone(), ObjectKind::ConfigMap, tx.clone());
        let own_config_map = match (&options.configmap, ns) {
            (Some((cm_ns, name)), Some(ns)) if cm_ns != ns => Some(watch(
                Api::namespaced(client.clone(), cm_ns),
                watcher::Config::default().fields(&format!("metadata.name={name}")),
                ObjectKind::ConfigMap,
                tx.clone(),
            )),
            _ => None,
        };
        let gateway = gateway_api.then(|| GatewayStores {
            classes: watch(Api::all(client.clone()), all.clone(), ObjectKind::GatewayClass, tx.clone()),
            gateways: watch(api(client, ns), all.clone(), ObjectKind::Gateway, tx.clone()),
            routes: watch(api(client, ns), all.clone(), ObjectKind::HttpRoute, tx.clone()),
            grants: watch(api(client, ns), all.clone(), ObjectKind::ReferenceGrant, tx.clone()),
            namespaces: watch(Api::all(client.clone()), all.clone(), ObjectKind::Namespace, tx.clone()),
        });
        Stores {
            gateway,
            ingresses: watch(api(client, ns), all.clone(), ObjectKind::Ingress, tx.clone()),
            classes: watch(Api::all(client.clone()), all.clone(), ObjectKind::IngressClass, tx.clone()),
            services: watch(api(client, ns), all.clone(), ObjectKind::Service, tx.clone()),
            slices: watch(api(client, ns), all, ObjectKind::EndpointSlice, tx.clone()),
            secrets: watch(api(client, ns), secrets, ObjectKind::Secret, tx),
            config_maps,
            own_config_map,
        }
    }

    /// The kinds every first sync must cover.
    pub fn kinds(&self) -> HashSet<ObjectKind> {
        let gateway = [
            ObjectKind::GatewayClass,
            ObjectKind::Gateway,
            ObjectKind::HttpRoute,
            ObjectKind::ReferenceGrant,
            ObjectKind::Namespace,
        ];
        let gateway = gateway.into_iter().filter(|_| self.gateway.is_some());
        [
            ObjectKind::Ingress,
            ObjectKind::IngressClass,
            ObjectKind::Service,
            ObjectKind::EndpointSlice,
            ObjectKind::Secret,
            ObjectKind::ConfigMap,
        ]
        .into_iter()
        .chain(gateway)
        .collect()
    }

    /// A snapshot of every store. Secrets are kept only when an Ingress's `spec.tls`, its
    /// `auth-secret` or `proxy-ssl-secret`, or the default certificate names them; ConfigMaps only when they are the
    /// controller's (`configmap`) or its header settings or an Ingress's annotations name them.
    pub fn snapshot(&self, default_certificate: Option<&Key>, configmap: Option<&Key>) -> Snapshot {
        fn collect<K>(store: &Store<K>, cluster_scoped: bool) -> BTreeMap<Key, std::sync::Arc<K>>
        where
            K: Resource + Clone + 'static,
            K::DynamicType: Eq + std::hash::Hash + Clone,
        {
            store
                .state()
                .into_iter()
                .map(|o| {
                    let ns = if cluster_scoped { String::new() } else { o.namespace().unwrap_or_default() };
                    ((ns, o.name_any()), o)
                })
                .collect()
        }
        let ingresses = collect(&self.ingresses, false);
        let mut referenced: HashSet<Key> = default_certificate.cloned().into_iter().collect();
        let gateways = self.gateway.as_ref().map(|g| collect(&g.gateways, false)).unwrap_or_default();
        for ((ns, _), gateway) in &gateways {
            for tls in gateway.spec.listeners.iter().filter_map(|l| l.tls.as_ref()) {
                for r in &tls.certificate_refs {
                    referenced.insert((r.namespace.clone().unwrap_or_else(|| ns.clone()), r.name.clone()));
                }
            }
        }
        for ((ns, _), ing) in &ingresses {
            for tls in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
                if let Some(name) = &tls.secret_name {
                    referenced.insert((ns.clone(), name.clone()));
                }
            }
            let annotations = ing.metadata.annotations.as_ref();
            for name in SECRET_ANNOTATIONS.iter().filter_map(|key| annotations.and_then(|a| a.get(*key))) {
                referenced.insert(object_key(name, ns));
            }
        }
        let mut secrets = collect(&self.secrets, false);
        secrets.retain(|key, _| referenced.contains(key));
        let mut config_maps = collect(&self.config_maps, false);
        if let Some(own) = &self.own_config_map {
            config_maps.extend(collect(own, false));
        }
        let controller = configmap.and_then(|key| config_maps.get(key)).map(|c| &**c);
        let mut wanted = crate::translate::header_map_references(
            controller,
            ingresses.iter().map(|((ns, _), i)| (ns.as_str(), &**i)),
        );
        wanted.extend(configmap.cloned());
        config_maps.retain(|key, _| wanted.contains(key));
        Snapshot {
            ingresses,
            ingress_classes: collect(&self.classes, true),
            services: collect(&self.services, false),
            endpoint_slices: collect(&self.slices, false),
            secrets,
            config_maps,
            namespaces: self.gateway.as_ref().map(|g| collect(&g.namespaces, true)).unwrap_or_default(),
            gateway_classes: self.gateway.as_ref().map(|g| collect(&g.classes, true)).unwrap_or_default(),
            gateways,
            http_routes: self.gateway.as_ref().map(|g| collect(&g.routes, false)).unwrap_or_default(),
            reference_grants: self.gateway.as_ref().map(|g| collect(&g.grants, false)).unwrap_or_default(),
        }
    }
}
