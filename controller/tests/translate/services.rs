//! Service port resolution (by number and by name), `targetPort` into EndpointSlice ports, and
//! endpoint conditions.

use std::net::SocketAddr;

use serde_json::{json, Value};
use sluice_controller::{Invalid, Translation};

use super::fixtures::{ingress, served_by, service, slice, World};

fn endpoints(t: &Translation, host: &str) -> Vec<SocketAddr> {
    t.table.lookup(host, "/").map(|r| r.backend.endpoints.clone()).unwrap_or_default()
}

fn port_ingress(port: Value) -> Value {
    ingress(
        "ports",
        json!({"rules": [{"host": "p.test", "http": {"paths": [
            {"pathType": "Prefix", "path": "/", "backend": {"service": {"name": "web", "port": port}}}]}}]}),
    )
}

/// A Service with two named ports whose targetPorts are a name and a number, and an
/// EndpointSlice written as the EndpointSlice controller writes it (ports named after the
/// Service ports, carrying the resolved container ports).
fn two_port_world() -> World {
    World::new()
        .with(service(
            "default",
            "web",
            json!([{"name": "http", "port": 80, "targetPort": "web"},
                   {"name": "metrics", "port": 9090, "targetPort": 9100}]),
        ))
        .with(slice(
            "default",
            "web",
            "web-abc",
            json!([{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}]),
            json!([{"addresses": ["127.0.0.2"]}, {"addresses": ["127.0.0.3"]}]),
        ))
}

#[test]
fn service_ports_resolve_by_number_and_by_name_into_slice_ports() {
    let cases = [
        (json!({"number": 80}), 8080),
        (json!({"name": "http"}), 8080),
        (json!({"number": 9090}), 9100),
        (json!({"name": "metrics"}), 9100),
    ];
    for (port, want) in cases {
        let t = two_port_world().with(port_ingress(port.clone())).translate();
        assert!(t.warnings.is_empty(), "{port}: {:?}", t.warnings);
        let got = endpoints(&t, "p.test");
        assert_eq!(got.len(), 2, "{port}");
        assert!(got.iter().all(|a| a.port() == want), "{port}: {got:?}");
    }
}

#[test]
fn hand_written_slices_match_a_numeric_target_port() {
    let t = World::new()
        .with(service("default", "web", json!([{"name": "http", "port": 80, "targetPort": 7000}])))
        .with(slice(
            "default",
            "web",
            "manual",
            json!([{"port": 7000}]),
            json!([{"addresses": ["127.0.0.9"]}]),
        ))
        .with(port_ingress(json!({"number": 80})))
        .translate();
    assert_eq!(endpoints(&t, "p.test"), vec!["127.0.0.9:7000".parse::<SocketAddr>().expect("addr")]);
}

#[test]
fn unknown_services_and_ports_drop_the_rule_with_a_warning() {
    let t = two_port_world().with(port_ingress(json!({"number": 81}))).translate();
    assert_eq!(served_by(&t, "p.test", "/"), None);
    assert!(matches!(&t.warnings[..], [w] if matches!(w.reason, Invalid::ServicePortNotFound { .. })));

    let t = World::new().with(port_ingress(json!({"number": 80}))).translate();
    assert_eq!(served_by(&t, "p.test", "/"), None);
    assert!(matches!(&t.warnings[..], [w] if matches!(w.reason, Invalid::ServiceNotFound { .. })));
    assert_eq!(t.warnings[0].to_string(), "Ingress default/ports: service \"web\" not found");
}

#[test]
fn external_name_and_resource_backends_are_refused() {
    let mut world = World::new().with(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "example.com", "ports": [{"port": 80}]}}));
    world = world.with(port_ingress(json!({"number": 80})));
    let t = world.translate();
    assert!(matches!(&t.warnings[..], [w] if matches!(w.reason, Invalid::ExternalName { .. })));

    let t = World::new()
        .with(ingress("res", json!({"defaultBackend": {"resource": {"kind": "Bucket", "name": "b"}}})))
        .translate();
    assert!(matches!(&t.warnings[..], [w] if w.reason == Invalid::ResourceBackend));
}

#[test]
fn only_ready_non_terminating_endpoints_are_used() {
    let eps = json!([
        {"addresses": ["127.0.0.2"]},                                                   // nil: ready
        {"addresses": ["127.0.0.3"], "conditions": {"ready": true}},
        {"addresses": ["127.0.0.4"], "conditions": {"ready": false}},
        {"addresses": ["127.0.0.5"], "conditions": {"ready": false, "serving": true, "terminating": true}},
        {"addresses": ["127.0.0.6"], "conditions": {"ready": true, "terminating": true}},
        {"addresses": ["127.0.0.7", "127.0.0.8"]},                                      // first address only
        {"addresses": ["not-an-ip"]},
    ]);
    let t = World::new()
        .with(service("default", "web", json!([{"port": 80, "targetPort": 8080}])))
        .with(slice("default", "web", "a", json!([{"port": 8080}]), eps))
        .with(port_ingress(json!({"number": 80})))
        .translate();
    let ips: Vec<String> = endpoints(&t, "p.test").iter().map(|a| a.ip().to_string()).collect();
    assert_eq!(ips, ["127.0.0.2", "127.0.0.3", "127.0.0.7"]);
    assert!(matches!(&t.warnings[..], [w] if matches!(w.reason, Invalid::EndpointAddress { .. })));
}

#[test]
fn endpoints_merge_across_slices_and_a_backend_without_ready_ones_stays_routable() {
    let t = World::new()
        .with(service("default", "web", json!([{"port": 80, "targetPort": 8080}])))
        .with(slice("default", "web", "a", json!([{"port": 8080}]), json!([{"addresses": ["127.0.0.2"]}])))
        .with(slice(
            "default",
            "web",
            "b",
            json!([{"port": 8080}]),
            json!([{"addresses": ["127.0.0.3"]}, {"addresses": ["127.0.0.2"]}]),
        ))
        .with(slice("other", "web", "c", json!([{"port": 8080}]), json!([{"addresses": ["127.0.0.4"]}])))
        .with(port_ingress(json!({"number": 80})))
        .translate();
    assert_eq!(endpoints(&t, "p.test").len(), 2);

    let t = World::new()
        .with(service("default", "web", json!([{"port": 80}])))
        .with(slice(
            "default",
            "web",
            "a",
            json!([{"port": 80}]),
            json!([{"addresses": ["127.0.0.2"], "conditions": {"ready": false}}]),
        ))
        .with(port_ingress(json!({"number": 80})))
        .translate();
    let route = t.table.lookup("p.test", "/").expect("route kept: the proxy answers 503");
    assert!(route.backend.endpoints.is_empty());
}
