//! Gateway API semantics of `translate` + `RoutingTable::gateway_lookup`: listener hostnames
//! and wildcards, allowedRoutes, parentRefs, match kinds and precedence, weights, invalid
//! references and ReferenceGrant, and the status conditions.

use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};
use sluice_controller::table::GatewayMatch;
use sluice_controller::Translation;

use super::fixtures::{service, slice, World};

const ADDR: &str = "127.0.0.10";

fn class() -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "sluice"}, "spec": {"controllerName": "sluice.dev/gateway-controller"}})
}

fn gateway(name: &str, listeners: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"gatewayClassName": "sluice", "addresses": [{"type": "IPAddress", "value": ADDR}], "listeners": listeners}})
}

fn http_listener(name: &str, port: u16, hostname: Option<&str>) -> Value {
    let mut l = json!({"name": name, "protocol": "HTTP", "port": port});
    if let Some(h) = hostname {
        l["hostname"] = json!(h);
    }
    l
}

fn route(name: &str, namespace: &str, spec: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

fn backend(name: &str) -> Value {
    json!({"name": name, "port": 80})
}

/// A world with the class, services a..d in `default`, and `gateways`.
fn world(objects: Vec<Value>) -> World {
    let mut w = World::new().with(class()).backend("a", &["127.0.1.1"]).backend("b", &["127.0.1.2"]);
    w = w.backend("c", &["127.0.1.3"]).backend("d", &["127.0.1.4"]);
    for o in objects {
        w = w.with(o);
    }
    w
}

struct Req<'a> {
    port: u16,
    sni: Option<&'a str>,
    host: &'a str,
    path: &'a str,
    method: Method,
    headers: Vec<(&'a str, &'a str)>,
    query: Option<&'a str>,
}

fn req<'a>(host: &'a str, path: &'a str) -> Req<'a> {
    Req { port: 80, sni: None, host, path, method: Method::GET, headers: Vec::new(), query: None }
}

/// The Service of the first weighted backend of the matched route (`404` when none matches).
fn served(t: &Translation, r: &Req<'_>) -> String {
    let mut headers = HeaderMap::new();
    for (k, v) in &r.headers {
        headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let local = format!("{ADDR}:{}", r.port).parse().expect("addr");
    match t.table.gateway_lookup(local, r.sni, r.host, r.path, &r.method, &headers, r.query) {
        GatewayMatch::Route(route) => {
            let rule = route.gateway.as_ref().expect("gateway rule");
            rule.backends
                .iter()
                .find_map(|b| b.backend.as_ref())
                .map_or("500".to_owned(), |b| b.key.service.clone())
        }
        GatewayMatch::NoRoute => "404".to_owned(),
        GatewayMatch::Misdirected => "421".to_owned(),
        GatewayMatch::NotGateway => "not-gateway".to_owned(),
    }
}

/// The route a plain GET for `host` `/` on port 80 gets (panics when there is none).
fn route_for<'t>(t: &'t Translation, host: &str) -> &'t std::sync::Arc<sluice_controller::Route> {
    let local = format!("{ADDR}:80").parse().expect("addr");
    match t.table.gateway_lookup(local, None, host, "/", &Method::GET, &HeaderMap::new(), None) {
        GatewayMatch::Route(r) => r,
        other => panic!("{host}: {other:?}"),
    }
}

fn parent_reason(t: &Translation, route: &str) -> (&'static str, &'static str) {
    let r = t.gateway_status.http_routes.iter().find(|r| r.name == route).expect("route status");
    let accepted = r.parents[0].conditions.iter().find(|c| c.type_ == "Accepted").expect("Accepted");
    (accepted.status, accepted.reason)
}

#[test]
fn listener_and_route_hostnames_intersect_with_wildcards_over_any_number_of_labels() {
    let w = world(vec![
        gateway("gw", json!([http_listener("wild", 80, Some("*.example.com"))])),
        route(
            "exact",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["foo.example.com"],
            "rules": [{"backendRefs": [backend("a")]}]}),
        ),
        route(
            "any",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [backend("b")]}]}),
        ),
        route(
            "other",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["foo.other.org"],
            "rules": [{"backendRefs": [backend("c")]}]}),
        ),
    ]);
    let t = w.translate();
    assert_eq!(served(&t, &req("foo.example.com", "/")), "a");
    assert_eq!(served(&t, &req("FOO.example.com:80", "/x")), "a");
    assert_eq!(served(&t, &req("bar.example.com", "/")), "b");
    assert_eq!(served(&t, &req("a.b.example.com", "/")), "b");
    assert_eq!(served(&t, &req("example.com", "/")), "404");
    assert_eq!(served(&t, &req("foo.other.org", "/")), "404");
    assert_eq!(parent_reason(&t, "other"), ("False", "NoMatchingListenerHostname"));
    assert_eq!(parent_reason(&t, "exact"), ("True", "Accepted"));
    let gw = &t.gateway_status.gateways[0];
    assert_eq!(gw.listeners[0].attached_routes, 2);
}

#[test]
fn section_name_and_port_select_listeners() {
    let w = world(vec![
        gateway(
            "gw",
            json!([
                http_listener("one", 80, Some("one.example")),
                http_listener("two", 8080, Some("two.example"))
            ]),
        ),
        route(
            "r1",
            "default",
            json!({"parentRefs": [{"name": "gw", "sectionName": "two"}], "rules": [{"backendRefs": [backend("a")]}]}),
        ),
        route(
            "r2",
            "default",
            json!({"parentRefs": [{"name": "gw", "port": 80}], "rules": [{"backendRefs": [backend("b")]}]}),
        ),
        route(
            "r3",
            "default",
            json!({"parentRefs": [{"name": "gw", "sectionName": "nope"}], "rules": [{"backendRefs": [backend("c")]}]}),
        ),
    ]);
    let t = w.translate();
    assert_eq!(served(&t, &Req { port: 8080, ..req("two.example", "/") }), "a");
    assert_eq!(served(&t, &req("one.example", "/")), "b");
    assert_eq!(served(&t, &req("two.example", "/")), "404");
    assert_eq!(parent_reason(&t, "r3"), ("False", "NoMatchingParent"));
    let listeners: Vec<u16> = t.table.gateway_listeners().iter().map(|l| l.addr.port()).collect();
    assert_eq!(listeners, vec![80, 8080]);
}

#[test]
fn allowed_routes_limit_namespaces_and_kinds() {
    let mut same = http_listener("same", 80, Some("same.example"));
    same["allowedRoutes"] = json!({"namespaces": {"from": "Same"}});
    let mut all = http_listener("all", 80, Some("all.example"));
    all["allowedRoutes"] = json!({"namespaces": {"from": "All"}});
    let mut selected = http_listener("sel", 80, Some("sel.example"));
    selected["allowedRoutes"] =
        json!({"namespaces": {"from": "Selector", "selector": {"matchLabels": {"team": "web"}}}});
    let w = world(vec![
        gateway("gw", json!([same, all, selected])),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web", "labels": {"team": "web"}}}),
        service("web", "w", json!([{"port": 80}])),
        slice("web", "w", "w-1", json!([{"port": 80}]), json!([{"addresses": ["127.0.1.9"]}])),
        route(
            "from-web",
            "web",
            json!({"parentRefs": [{"name": "gw", "namespace": "default"}], "rules": [{"backendRefs": [backend("w")]}]}),
        ),
        route(
            "from-default",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [backend("a")]}]}),
        ),
    ]);
    let t = w.translate();
    assert_eq!(served(&t, &req("all.example", "/")), "a");
    assert_eq!(served(&t, &req("same.example", "/")), "a");
    assert_eq!(served(&t, &req("sel.example", "/")), "w");
    // Routes are tried oldest first and then by name: from-default wins on `all`.
    let mut kinds = http_listener("k", 81, None);
    kinds["allowedRoutes"] = json!({"kinds": [{"kind": "GRPCRoute"}]});
    let w = world(vec![
        gateway("gw", json!([kinds])),
        route(
            "r",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [backend("a")]}]}),
        ),
    ]);
    let t = w.translate();
    assert_eq!(parent_reason(&t, "r"), ("False", "NotAllowedByListeners"));
    assert_eq!(t.gateway_status.gateways[0].listeners[0].attached_routes, 0);
    let listener = &t.gateway_status.gateways[0].listeners[0];
    let resolved = listener.conditions.iter().find(|c| c.type_ == "ResolvedRefs").expect("ResolvedRefs");
    assert_eq!((resolved.status, resolved.reason), ("False", "InvalidRouteKinds"));
}

#[test]
fn matches_follow_the_spec_precedence() {
    let rules = json!([
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [backend("a")]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/foo"}}], "backendRefs": [backend("b")]},
        {"matches": [{"path": {"type": "Exact", "value": "/foo"}}], "backendRefs": [backend("c")]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/foo"}, "headers": [{"name": "Version", "value": "2"}]},
                     {"path": {"type": "PathPrefix", "value": "/foo"}, "method": "POST"},
                     {"path": {"type": "PathPrefix", "value": "/foo"}, "queryParams": [{"name": "v", "value": "2"}]}],
         "backendRefs": [backend("d")]},
        {"matches": [{"path": {"type": "RegularExpression", "value": "/re/[0-9]+"}}], "backendRefs": [backend("c")]},
    ]);
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        route("r", "default", json!({"parentRefs": [{"name": "gw"}], "rules": rules})),
    ]);
    let t = w.translate();
    assert_eq!(served(&t, &req("h", "/foo")), "c", "Exact beats every prefix");
    assert_eq!(served(&t, &req("h", "/foo/x")), "b");
    assert_eq!(served(&t, &req("h", "/foobar")), "a", "PathPrefix is element-wise");
    assert_eq!(served(&t, &Req { headers: vec![("version", "2")], ..req("h", "/foo/x") }), "d");
    assert_eq!(served(&t, &Req { method: Method::POST, ..req("h", "/foo/x") }), "d");
    assert_eq!(served(&t, &Req { query: Some("v=2"), ..req("h", "/foo/x") }), "d");
    assert_eq!(served(&t, &Req { query: Some("v=3"), ..req("h", "/foo/x") }), "b");
    assert_eq!(served(&t, &req("h", "/re/123")), "c", "a regex beats the prefixes");
    assert_eq!(served(&t, &req("h", "/re/12a")), "a", "a regex matches the whole path");
}

#[test]
fn older_routes_win_ties_then_namespace_and_name() {
    let spec = |svc: &str| json!({"parentRefs": [{"name": "gw"}], "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/same"}}], "backendRefs": [backend(svc)]}]});
    let mut older = route("zz-older", "default", spec("b"));
    older["metadata"]["creationTimestamp"] = json!("2020-01-01T00:00:00Z");
    let mut newer = route("aa-newer", "default", spec("a"));
    newer["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    let w = world(vec![gateway("gw", json!([http_listener("l", 80, None)])), newer, older]);
    assert_eq!(served(&w.translate(), &req("h", "/same")), "b");
}

#[test]
fn invalid_backends_and_references_resolve_to_500_with_reasons() {
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        service("other", "x", json!([{"port": 80}])),
        route(
            "missing",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["m.example"], "rules": [{"backendRefs": [backend("nope")]}]}),
        ),
        route(
            "kind",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["k.example"], "rules": [{"backendRefs": [{"kind": "Pod", "name": "a", "port": 80}]}]}),
        ),
        route(
            "cross",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["x.example"], "rules": [{"backendRefs": [{"name": "x", "namespace": "other", "port": 80}]}]}),
        ),
        route(
            "empty",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["e.example"], "rules": [{}]}),
        ),
    ]);
    let t = w.translate();
    for host in ["m.example", "k.example", "x.example", "e.example"] {
        assert_eq!(served(&t, &req(host, "/")), "500", "{host}");
    }
    let resolved = |name: &str| {
        let r = t.gateway_status.http_routes.iter().find(|r| r.name == name).expect("status");
        let c = r.parents[0].conditions.iter().find(|c| c.type_ == "ResolvedRefs").expect("ResolvedRefs");
        c.reason
    };
    assert_eq!(resolved("missing"), "BackendNotFound");
    assert_eq!(resolved("kind"), "InvalidKind");
    assert_eq!(resolved("cross"), "RefNotPermitted");
    assert_eq!(resolved("empty"), "ResolvedRefs");
    // A ReferenceGrant in the target namespace lets the route refer to the Service.
    let grant = json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "g", "namespace": "other"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "default"}],
                 "to": [{"group": "", "kind": "Service"}]}});
    let t = world(vec![]).translate();
    assert!(t.gateway_status.gateways.is_empty());
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        service("other", "x", json!([{"port": 80}])),
        grant,
        route(
            "cross",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "x", "namespace": "other", "port": 80}]}]}),
        ),
    ]);
    assert_eq!(served(&w.translate(), &req("x.example", "/")), "x");
}

#[test]
fn weights_zero_and_invalid_filters_are_kept_in_the_rule() {
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        route(
            "r",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "rules": [
                {"backendRefs": [{"name": "a", "port": 80, "weight": 0}, {"name": "b", "port": 80, "weight": 2}, {"name": "nope", "port": 80, "weight": 1}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/ext"}}], "filters": [{"type": "ExtensionRef"}], "backendRefs": [backend("a")]},
            ]}),
        ),
    ]);
    let t = w.translate();
    let r = route_for(&t, "h");
    let rule = r.gateway.as_ref().expect("rule");
    assert_eq!(rule.total_weight(), 3);
    let picks: Vec<Option<usize>> = (0..3).map(|roll| rule.pick(roll)).collect();
    assert_eq!(picks, vec![Some(1), Some(1), Some(2)]);
    assert!(rule.backends[2].backend.is_none(), "the invalid share answers 500");
    assert_eq!(served(&t, &req("h", "/ext/x")), "500", "an unsupported filter fails closed");
}

#[test]
fn other_controllers_gateways_and_bad_listeners_are_not_served() {
    let foreign = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "other"}, "spec": {"controllerName": "example.com/other"}});
    let mut theirs = gateway("theirs", json!([http_listener("l", 80, None)]));
    theirs["spec"]["gatewayClassName"] = json!("other");
    let tcp = json!({"name": "tcp", "protocol": "TCP", "port": 9000});
    let w = world(vec![
        foreign,
        theirs,
        gateway(
            "ours",
            json!([
                tcp,
                http_listener("a", 81, Some("x.example")),
                http_listener("b", 81, Some("x.example"))
            ]),
        ),
    ]);
    let t = w.translate();
    assert_eq!(t.gateway_status.gateways.len(), 1);
    let listeners = &t.gateway_status.gateways[0].listeners;
    let cond = |i: usize, ty: &str| {
        let c = listeners[i].conditions.iter().find(|c| c.type_ == ty).expect("condition");
        (c.status, c.reason)
    };
    assert_eq!(cond(0, "Accepted"), ("False", "UnsupportedProtocol"));
    assert_eq!(cond(1, "Conflicted"), ("True", "HostnameConflict"));
    assert_eq!(cond(2, "Programmed").0, "False");
    assert!(t.table.gateway_listeners().is_empty());
}

#[test]
fn the_most_specific_listener_isolates_its_routes_and_sni_must_agree_with_host() {
    let https = |name: &str, hostname: Option<&str>| {
        let mut l = json!({"name": name, "protocol": "HTTPS", "port": 443,
            "tls": {"certificateRefs": [{"name": "cert"}]}});
        if let Some(h) = hostname {
            l["hostname"] = json!(h);
        }
        l
    };
    let listeners = json!([
        https("any", None),
        https("second", Some("second.example")),
        https("wild", Some("*.wild.example")),
        https("fourth", Some("fourth.wild.example")),
    ]);
    let attach = |route_name: &str, section: &str, hostnames: Value, svc: &str| {
        route(
            route_name,
            "default",
            json!({"parentRefs": [{"name": "gw", "sectionName": section}],
            "hostnames": hostnames, "rules": [{"backendRefs": [backend(svc)]}]}),
        )
    };
    let w = world(vec![
        gateway("gw", listeners),
        cert_secret(),
        attach("r-any", "any", json!(["example.org", "fourth.wild.example"]), "a"),
        attach("r-second", "second", json!([]), "b"),
        attach("r-wild", "wild", json!([]), "c"),
        attach("r-fourth", "fourth", json!([]), "d"),
    ]);
    let t = w.translate();
    let at = |sni: &'static str, host: &'static str| {
        served(&t, &Req { port: 443, sni: Some(sni), ..req(host, "/") })
    };
    assert_eq!(at("example.org", "example.org"), "a");
    assert_eq!(at("example.org", "second.example"), "421");
    assert_eq!(at("example.org", "unknown.example"), "404");
    assert_eq!(at("second.example", "second.example"), "b");
    assert_eq!(at("second.example", "example.org"), "421");
    assert_eq!(at("third.wild.example", "fifth.wild.example"), "c");
    assert_eq!(at("third.wild.example", "fourth.wild.example"), "421");
    assert_eq!(
        at("fourth.wild.example", "fourth.wild.example"),
        "d",
        "the route of the `any` listener for this host is isolated"
    );
    assert_eq!(at("unknown.example", "example.org"), "a");
}

/// A kubernetes.io/tls Secret `cert` in `default` (a self-signed certificate for any name).
fn cert_secret() -> Value {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["example.org".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    use base64::Engine as _;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "cert", "namespace": "default"},
        "data": {"tls.crt": b64(cert.pem()), "tls.key": b64(key.serialize_pem())}})
}

#[test]
fn an_h2c_app_protocol_speaks_http2_to_the_endpoints() {
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        service(
            "default",
            "grpc",
            json!([{"port": 8081, "targetPort": 3001, "appProtocol": "kubernetes.io/h2c"}]),
        ),
        slice("default", "grpc", "grpc-1", json!([{"port": 3001}]), json!([{"addresses": ["127.0.1.7"]}])),
        route(
            "h2c",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["h2c.example"],
            "rules": [{"backendRefs": [{"name": "grpc", "port": 8081}]}]}),
        ),
        route(
            "plain",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["plain.example"],
            "rules": [{"backendRefs": [backend("a")]}]}),
        ),
    ]);
    let t = w.translate();
    let protocol = |host: &str| route_for(&t, host).policy.upstream.protocol.h2();
    assert!(protocol("h2c.example"));
    assert!(!protocol("plain.example"));
}

#[test]
fn a_route_whose_hostnames_are_all_invalid_serves_no_host() {
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        route(
            "bad",
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": ["not_valid!"],
            "rules": [{"backendRefs": [backend("a")]}]}),
        ),
    ]);
    let t = w.translate();
    assert_eq!(served(&t, &req("anything.example", "/")), "404");
    assert_eq!(parent_reason(&t, "bad"), ("False", "NoMatchingListenerHostname"));
    assert!(t.warnings.iter().any(|w| w.object.name == "bad"), "{:?}", t.warnings);
}

#[test]
fn retries_name_the_statuses_and_attempts_of_the_next_upstream() {
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        route(
            "r",
            "default",
            json!({"parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [backend("a")], "retry": {"codes": [503, 500, 404], "attempts": 2}}]}),
        ),
    ]);
    let t = w.translate();
    let r = route_for(&t, "h");
    let next = &r.policy.upstream.next_upstream;
    assert_eq!(next.statuses, vec![500, 503], "only 5xx codes are retried");
    assert_eq!(next.tries, 3, "two retries after the first attempt");
}

#[test]
fn mirrors_copy_the_share_their_percent_or_fraction_names() {
    let mirror = |extra: Value| {
        let mut m = json!({"backendRef": {"name": "b", "port": 80}});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        json!([{"type": "RequestMirror", "requestMirror": m}])
    };
    let rule = |host: &str, filters: Value| {
        route(
            host,
            "default",
            json!({"parentRefs": [{"name": "gw"}], "hostnames": [format!("{host}.example")],
            "rules": [{"filters": filters, "backendRefs": [backend("a")]}]}),
        )
    };
    let w = world(vec![
        gateway("gw", json!([http_listener("l", 80, None)])),
        rule("all", mirror(json!({}))),
        rule("half", mirror(json!({"fraction": {"numerator": 1, "denominator": 2}}))),
        rule("quarter", mirror(json!({"percent": 25}))),
        rule("whole", mirror(json!({"percent": 100}))),
    ]);
    let t = w.translate();
    let sample = |host: &str| route_for(&t, host).policy.mirror.as_ref().map(|m| m.sample);
    assert_eq!(sample("all.example"), Some(None));
    assert_eq!(sample("half.example"), Some(Some((1, 2))));
    assert_eq!(sample("quarter.example"), Some(Some((25, 100))));
    assert_eq!(sample("whole.example"), Some(None));
}
