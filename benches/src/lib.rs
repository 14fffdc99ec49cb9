//! Input generators for the benchmarks: snapshots of many Ingresses, Services and
//! EndpointSlices, built directly as Kubernetes objects (no YAML parsing in the measured path).
//! The benchmarks use the same allocator as the `sluice` binary (mimalloc).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressClass, IngressClassSpec,
    IngressRule, IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_controller::translate::SERVICE_NAME_LABEL;
use sluice_controller::Snapshot;

/// How a generated host is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `app-N.example.com`
    Exact,
    /// `*.app-N.example.com`
    Wildcard,
}

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.to_owned()), namespace: Some(ns.to_owned()), ..ObjectMeta::default() }
}

/// The host of Ingress `i`.
pub fn host(i: usize, kind: HostKind) -> String {
    match kind {
        HostKind::Exact => format!("app-{i}.example.com"),
        HostKind::Wildcard => format!("*.app-{i}.example.com"),
    }
}

/// The paths every generated host has (Prefix, with one Exact), longest last.
pub const PATHS: [&str; 5] = ["/", "/api", "/api/v1", "/static", "/login"];

/// A snapshot with `ingresses` Ingresses (one host each, [`PATHS`] as routes), one Service per
/// Ingress, and `endpoints` endpoints in total spread over the Services.
pub fn snapshot(ingresses: usize, endpoints: usize, kind: HostKind) -> Snapshot {
    let mut s = Snapshot::default();
    let class = IngressClass {
        metadata: ObjectMeta { name: Some("sluice".into()), ..ObjectMeta::default() },
        spec: Some(IngressClassSpec {
            controller: Some("sluice.dev/ingress-controller".into()),
            ..Default::default()
        }),
    };
    s.ingress_classes.insert((String::new(), "sluice".into()), Arc::new(class));
    let per_service = endpoints.div_ceil(ingresses.max(1));
    for i in 0..ingresses {
        let ns = format!("ns-{}", i % 100);
        let svc = format!("svc-{i}");
        s.services.insert(
            (ns.clone(), svc.clone()),
            Arc::new(Service {
                metadata: meta(&ns, &svc),
                spec: Some(ServiceSpec {
                    ports: Some(vec![ServicePort {
                        name: Some("http".into()),
                        port: 80,
                        target_port: Some(IntOrString::Int(8080)),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        );
        let eps = (0..per_service)
            .map(|e| {
                let n = i * per_service + e;
                Endpoint {
                    addresses: vec![format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)],
                    ..Default::default()
                }
            })
            .collect();
        let mut slice_meta = meta(&ns, &format!("{svc}-1"));
        slice_meta.labels = Some(BTreeMap::from([(SERVICE_NAME_LABEL.to_owned(), svc.clone())]));
        s.endpoint_slices.insert(
            (ns.clone(), format!("{svc}-1")),
            Arc::new(EndpointSlice {
                metadata: slice_meta,
                address_type: "IPv4".into(),
                endpoints: eps,
                ports: Some(vec![EndpointPort {
                    name: Some("http".into()),
                    port: Some(8080),
                    ..Default::default()
                }]),
            }),
        );
        let backend = IngressBackend {
            service: Some(IngressServiceBackend {
                name: svc.clone(),
                port: Some(ServiceBackendPort { number: Some(80), ..Default::default() }),
            }),
            ..Default::default()
        };
        let paths = PATHS
            .iter()
            .enumerate()
            .map(|(k, p)| HTTPIngressPath {
                path: Some((*p).to_owned()),
                path_type: if k == 4 { "Exact".into() } else { "Prefix".into() },
                backend: backend.clone(),
            })
            .collect();
        let ing = Ingress {
            metadata: meta(&ns, &format!("ing-{i}")),
            spec: Some(IngressSpec {
                ingress_class_name: Some("sluice".into()),
                rules: Some(vec![IngressRule {
                    host: Some(host(i, kind)),
                    http: Some(HTTPIngressRuleValue { paths }),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        s.ingresses.insert((ns, format!("ing-{i}")), Arc::new(ing));
    }
    s
}
