//! Builder-style fixtures: a `World` of objects, built with `serde_json::json!` so that tests
//! read like the manifests users write.

use serde_json::{json, Value};
use sluice_controller::snapshot::Object;
use sluice_controller::{translate, Options, Snapshot, Translation};

/// A snapshot under construction, with the `sluice` IngressClass already in it.
pub struct World {
    pub snapshot: Snapshot,
    pub options: Options,
}

fn object(value: Value) -> Object {
    let kind = value["kind"].as_str().expect("kind").to_owned();
    let parsed = sluice_controller::manifests::parse(&value.to_string()).expect("fixture parses");
    assert_eq!(parsed.objects.len(), 1, "fixture {kind} is not a supported object");
    parsed.objects.into_iter().next().expect("one object")
}

impl World {
    pub fn new() -> Self {
        World { snapshot: Snapshot::default(), options: Options::default() }.with(ingress_class(
            "sluice",
            "sluice.dev/ingress-controller",
            false,
        ))
    }

    /// Adds any object given as JSON.
    pub fn with(mut self, value: Value) -> Self {
        self.snapshot.insert(object(value));
        self
    }

    /// A Service `name` in `default` with port 80 -> targetPort 8080, and one ready endpoint
    /// per address.
    pub fn backend(self, name: &str, addresses: &[&str]) -> Self {
        let endpoints: Vec<Value> = addresses.iter().map(|a| json!({"addresses": [a]})).collect();
        self.with(service("default", name, json!([{"port": 80, "targetPort": 8080}]))).with(slice(
            "default",
            name,
            &format!("{name}-1"),
            json!([{"port": 8080}]),
            json!(endpoints),
        ))
    }

    pub fn translate(&self) -> Translation {
        translate(&self.snapshot, &self.options, std::time::SystemTime::now())
    }
}

pub fn ingress_class(name: &str, controller: &str, default: bool) -> Value {
    let mut class = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": name}, "spec": {"controller": controller}
    });
    if default {
        class["metadata"]["annotations"] = json!({"ingressclass.kubernetes.io/is-default-class": "true"});
    }
    class
}

pub fn service(namespace: &str, name: &str, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace}, "spec": {"ports": ports}})
}

pub fn slice(namespace: &str, service: &str, name: &str, ports: Value, endpoints: Value) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": ports, "endpoints": endpoints})
}

/// An Ingress of class `sluice` in `default` with the given spec fields merged in.
pub fn ingress(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    if spec.get("ingressClassName").is_none() {
        spec["ingressClassName"] = json!("sluice");
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

/// A `kubernetes.io/tls` Secret `name` in `default` with a fresh self-signed certificate for
/// `hosts`.
pub fn tls_secret(name: &str, hosts: &[&str]) -> Value {
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(names).expect("params").self_signed(&key).expect("cert");
    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {"tls.crt": cert.pem(), "tls.key": key.serialize_pem()}})
}

/// A backend reference to Service `name` port 80.
pub fn to(name: &str) -> Value {
    json!({"service": {"name": name, "port": {"number": 80}}})
}

/// One rule for `host` (None: host-less) with `(pathType, path, service)` paths.
pub fn rule(host: Option<&str>, paths: &[(&str, &str, &str)]) -> Value {
    let paths: Vec<Value> =
        paths.iter().map(|(t, p, s)| json!({"pathType": t, "path": p, "backend": to(s)})).collect();
    let mut rule = json!({"http": {"paths": paths}});
    if let Some(h) = host {
        rule["host"] = json!(h);
    }
    rule
}

/// The Service that serves `host` + `path`, or None for a 404.
pub fn served_by(t: &Translation, host: &str, path: &str) -> Option<String> {
    t.table.lookup(host, path).map(|r| r.service.to_string())
}
