//! The traffic annotations as `translate` resolves them: regex hosts and their ordering, canary
//! attachment, the ConfigMap defaults that annotations override, and invalid values.

use std::time::Duration;

use serde_json::{json, Value};
use sluice_controller::policy::{BackendProtocol, Balance};
use sluice_controller::{Invalid, Translation};

use super::fixtures::{ingress, rule, served_by, World};

fn annotated(name: &str, spec: Value, annotations: Value) -> Value {
    let mut ing = ingress(name, spec);
    ing["metadata"]["annotations"] = annotations;
    ing
}

fn with_age(mut ing: Value, created: &str) -> Value {
    ing["metadata"]["creationTimestamp"] = json!(created);
    ing
}

fn reasons(t: &Translation) -> Vec<&Invalid> {
    t.warnings.iter().map(|w| &w.reason).collect()
}

#[test]
fn one_regex_ingress_turns_every_path_of_its_host_into_a_regex() {
    let regex = annotated(
        "regex",
        json!({"rules": [rule(Some("r.test"), &[("ImplementationSpecific", "/api/v[0-9]+", "a")])]}),
        json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
    );
    let plain = ingress(
        "plain",
        json!({"rules": [
            rule(Some("r.test"), &[("Prefix", "/docs", "b"), ("Exact", "/api/v1/exact", "c")]),
            rule(Some("other.test"), &[("Prefix", "/docs", "b")]),
        ]}),
    );
    let t = World::new()
        .backend("a", &["127.0.0.2"])
        .backend("b", &["127.0.0.3"])
        .backend("c", &["127.0.0.4"])
        .with(regex)
        .with(plain)
        .translate();
    assert_eq!(
        served_by(&t, "r.test", "/API/V2/x").as_deref(),
        Some("a"),
        "case-insensitive, start-anchored"
    );
    assert_eq!(
        served_by(&t, "r.test", "/docsify").as_deref(),
        Some("b"),
        "Prefix became ^/docs on this host"
    );
    assert_eq!(served_by(&t, "other.test", "/docsify"), None, "other hosts keep Prefix semantics");
    // Longest first: ^/api/v1/exact (13 bytes) beats ^/api/v[0-9]+ (13 bytes too; then by text
    // descending, as ingress-nginx sorts them).
    assert_eq!(served_by(&t, "r.test", "/api/v1/exact/more").as_deref(), Some("c"));
    assert!(t.warnings.is_empty(), "{:?}", reasons(&t));
}

#[test]
fn rewrite_target_makes_regex_paths_and_bad_patterns_warn() {
    let rw = annotated(
        "rw",
        json!({"rules": [rule(Some("w.test"), &[
            ("ImplementationSpecific", "/app(/|$)(.*)", "a"),
            ("ImplementationSpecific", "/bad(?=x)", "a"),
        ])]}),
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}),
    );
    let t = World::new().backend("a", &["127.0.0.2"]).with(rw).translate();
    let route = t.table.lookup("w.test", "/app/x").expect("route");
    assert_eq!(
        route.rewrite.as_ref().and_then(|r| r.apply("/app/x", None, Some("q=1"))).as_deref(),
        Some("/x?q=1")
    );
    assert!(
        reasons(&t)
            .iter()
            .any(|r| matches!(r, Invalid::InvalidRegex { pattern, .. } if pattern == "/bad(?=x)")),
        "{:?}",
        reasons(&t)
    );
}

#[test]
fn canaries_attach_to_the_main_rule_one_per_rule() {
    let main = with_age(
        ingress("main", json!({"rules": [rule(Some("c.test"), &[("Prefix", "/", "stable")])]})),
        "2024-01-02T00:00:00Z",
    );
    let canary = |name: &str, created: &str, host: &str| {
        with_age(
            annotated(
                name,
                json!({"rules": [rule(Some(host), &[("Prefix", "/", "canary")])]}),
                json!({"nginx.ingress.kubernetes.io/canary": "true",
                       "nginx.ingress.kubernetes.io/canary-weight": "25",
                       "nginx.ingress.kubernetes.io/proxy-read-timeout": "1"}),
            ),
            created,
        )
    };
    let t = World::new()
        .backend("stable", &["127.0.0.2"])
        .backend("canary", &["127.0.0.3"])
        .with(main)
        // Older than the main Ingress: still a canary, never the owner of the rule.
        .with(canary("first", "2024-01-01T00:00:00Z", "c.test"))
        .with(canary("second", "2024-01-03T00:00:00Z", "c.test"))
        .with(canary("orphan", "2024-01-03T00:00:00Z", "none.test"))
        .translate();
    let route = t.table.lookup("c.test", "/").expect("route");
    assert_eq!(&*route.service, "stable");
    let c = route.canary.as_ref().expect("canary attached");
    assert_eq!((&*c.ingress, c.weight, c.weight_total), ("first", 25, 100));
    assert_eq!(
        route.policy.upstream.read_timeout,
        Duration::from_secs(60),
        "canary annotations do not change the route"
    );
    let r = reasons(&t);
    assert!(
        r.iter().any(|r| matches!(r, Invalid::CanaryDuplicate { winner, .. } if winner.name == "first")),
        "{r:?}"
    );
    assert!(
        r.iter().any(|r| matches!(r, Invalid::CanaryWithoutMain { host, .. } if host == "none.test")),
        "{r:?}"
    );
    assert_eq!(served_by(&t, "none.test", "/"), None, "a canary never routes on its own");
}

#[test]
fn configmap_defaults_are_overridden_per_ingress_and_bad_values_keep_them() {
    let mut world = World::new()
        .with(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sluice", "namespace": "sys"},
            "data": {"proxy-read-timeout": "30", "proxy-body-size": "8m", "custom-http-errors": "503,404",
                     "load-balance": "ewma", "proxy-next-upstream-tries": "5", "keep-alive": "fast"}}))
        .backend("a", &["127.0.0.2"])
        .backend("fb", &["127.0.0.3"]);
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let tuned = annotated(
        "tuned",
        json!({"rules": [rule(Some("t.test"), &[("Prefix", "/", "a")])]}),
        json!({"nginx.ingress.kubernetes.io/proxy-read-timeout": "5",
               "nginx.ingress.kubernetes.io/proxy-body-size": "0",
               "nginx.ingress.kubernetes.io/proxy-connect-timeout": "later",
               "nginx.ingress.kubernetes.io/backend-protocol": "grpc",
               "nginx.ingress.kubernetes.io/upstream-hash-by": "$request_uri",
               "nginx.ingress.kubernetes.io/temporal-redirect": "https://t.example/",
               "nginx.ingress.kubernetes.io/permanent-redirect": "https://p.example/",
               "sluice.dev/fallback-service": "fb:80"}),
    );
    let plain = ingress("plain", json!({"rules": [rule(Some("p.test"), &[("Prefix", "/", "a")])]}));
    let t = world.with(tuned).with(plain).translate();

    let p = &t.table.lookup("p.test", "/").expect("route").policy;
    assert_eq!(p.upstream.read_timeout, Duration::from_secs(30));
    assert_eq!(p.body_size, Some(8 << 20));
    assert_eq!(p.custom_errors, vec![404, 503]);
    assert_eq!((p.upstream.balance.clone(), p.upstream.next_upstream.tries), (Balance::Ewma, 5));
    assert_eq!(t.table.settings.keep_alive, Duration::from_secs(75), "a bad keep-alive keeps the default");

    let p = &t.table.lookup("t.test", "/").expect("route").policy;
    assert_eq!(p.upstream.read_timeout, Duration::from_secs(5));
    assert_eq!(p.body_size, None, "0 is unlimited");
    assert_eq!(p.upstream.connect_timeout, Duration::from_secs(5), "bad value keeps the default");
    assert_eq!(p.upstream.protocol, BackendProtocol::Grpc);
    assert!(matches!(p.upstream.balance, Balance::Hash(_)), "upstream-hash-by wins over load-balance");
    let redirect = p.redirect.as_ref().expect("redirect");
    assert_eq!(
        (redirect.code, redirect.location.to_str().ok()),
        (302, Some("https://t.example/")),
        "temporal wins"
    );
    assert_eq!(p.fallback.as_ref().map(|b| b.key.service.as_str()), Some("fb"));

    let r = reasons(&t);
    let bad: Vec<&str> = r
        .iter()
        .filter_map(|r| match r {
            Invalid::InvalidAnnotation { annotation, .. } => Some(annotation.as_str()),
            Invalid::InvalidConfig { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bad, vec!["keep-alive", "nginx.ingress.kubernetes.io/proxy-connect-timeout"], "{r:?}");
}

#[test]
fn from_to_www_redirects_only_hosts_no_rule_defines() {
    let www = annotated(
        "www",
        json!({"rules": [rule(Some("www.a.test"), &[("Prefix", "/", "s")]), rule(Some("b.test"), &[("Prefix", "/", "s")])]}),
        json!({"nginx.ingress.kubernetes.io/from-to-www-redirect": "true"}),
    );
    let own = ingress("own", json!({"rules": [rule(Some("www.b.test"), &[("Prefix", "/", "s")])]}));
    let t = World::new().backend("s", &["127.0.0.2"]).with(www).with(own).translate();
    assert_eq!(t.table.host_redirect("A.test:8080"), Some("www.a.test"));
    assert_eq!(t.table.host_redirect("www.b.test"), None, "www.b.test has its own rules");
    assert_eq!(t.table.host_redirect("c.test"), None);
}

#[test]
fn configmap_source_ranges_apply_to_every_route_and_annotations_replace_them() {
    let mut world = World::new()
        .with(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sluice", "namespace": "sys"},
            "data": {"whitelist-source-range": "10.0.0.0/8", "block-cidrs": "10.6.6.0/24",
                     "use-forwarded-headers": "true", "proxy-real-ip-cidr": "192.0.2.0/24, nonsense"}}))
        .backend("a", &["127.0.0.2"]);
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let own = annotated(
        "own",
        json!({"rules": [rule(Some("own.test"), &[("Prefix", "/", "a")])]}),
        json!({"nginx.ingress.kubernetes.io/whitelist-source-range": "2001:db8::/32",
               "nginx.ingress.kubernetes.io/limit-rps": "10",
               "nginx.ingress.kubernetes.io/limit-whitelist": "10.1.0.0/16"}),
    );
    let plain = ingress("plain", json!({"rules": [rule(Some("plain.test"), &[("Prefix", "/", "a")])]}));
    let t = world.with(own).with(plain).translate();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");

    let p = &t.table.lookup("plain.test", "/").expect("route").policy;
    assert!(p.source.permits(ip("10.1.2.3")));
    assert!(!p.source.permits(ip("10.6.6.6")), "block-cidrs");
    assert!(!p.source.permits(ip("192.0.2.1")));
    assert!(p.limits.is_none());

    let p = &t.table.lookup("own.test", "/").expect("route").policy;
    assert!(
        p.source.permits(ip("2001:db8::1")) && !p.source.permits(ip("10.1.2.3")),
        "the annotation replaces"
    );
    let limits = p.limits.as_ref().expect("limits");
    assert_eq!((limits.rps, limits.burst_multiplier, limits.status), (Some(10), 5, 503));

    let client = &t.table.settings.client;
    assert!(client.use_forwarded_headers);
    assert!(client.trusts(ip("0.0.0.0")), "a bad proxy-real-ip-cidr keeps the default");
    assert!(reasons(&t)
        .iter()
        .any(|r| matches!(r, Invalid::InvalidConfig { key, .. } if key == "proxy-real-ip-cidr")));
}

#[test]
fn server_aliases_serve_the_same_routes_unless_the_alias_has_rules() {
    let aliased = annotated(
        "aliased",
        json!({"rules": [rule(Some("a.test"), &[("Prefix", "/app", "a")])]}),
        json!({"nginx.ingress.kubernetes.io/server-alias": "alias.test, taken.test"}),
    );
    let taken = ingress("taken", json!({"rules": [rule(Some("taken.test"), &[("Prefix", "/", "b")])]}));
    let t = World::new()
        .backend("a", &["127.0.0.2"])
        .backend("b", &["127.0.0.3"])
        .with(aliased)
        .with(taken)
        .translate();
    assert_eq!(served_by(&t, "alias.test", "/app/x").as_deref(), Some("a"));
    assert_eq!(served_by(&t, "alias.test", "/other"), None);
    assert_eq!(served_by(&t, "taken.test", "/app").as_deref(), Some("b"));
    let r = reasons(&t);
    assert!(
        r.iter().any(|r| matches!(r, Invalid::AliasConflict { alias } if alias == "taken.test")),
        "{r:?}"
    );
}

#[test]
fn a_bad_global_auth_url_fails_closed_and_ingresses_can_opt_out() {
    use sluice_controller::policy::Auth;
    let mut world = World::new()
        .with(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sluice", "namespace": "sys"},
            "data": {"global-auth-url": "ftp://auth.internal/check", "global-auth-method": "BREW"}}))
        .backend("a", &["127.0.0.2"]);
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let plain = ingress("plain", json!({"rules": [rule(Some("plain.test"), &[("Prefix", "/", "a")])]}));
    let out = annotated(
        "out",
        json!({"rules": [rule(Some("out.test"), &[("Prefix", "/", "a"), ("Prefix", "/.well-known/acme-challenge", "a")])]}),
        json!({"nginx.ingress.kubernetes.io/enable-global-auth": "false"}),
    );
    let t = world.with(plain).with(out).translate();
    let auth = |host: &str, path: &str| t.table.lookup(host, path).expect("route").policy.auth.clone();
    assert_eq!(
        auth("plain.test", "/"),
        Some(Auth::Broken),
        "a bad global-auth-url refuses (503), never opens"
    );
    assert_eq!(auth("plain.test", "/.well-known/acme-challenge/x"), Some(Auth::Broken));
    assert_eq!(auth("out.test", "/"), None, "enable-global-auth: false");
    assert!(reasons(&t)
        .iter()
        .any(|r| matches!(r, Invalid::InvalidConfig { key, .. } if key == "global-auth-url")));

    // no-auth-locations default to the ACME challenge path.
    let mut world = World::new()
        .with(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sluice", "namespace": "sys"},
            "data": {"global-auth-url": "http://auth.internal/check"}}))
        .backend("a", &["127.0.0.2"]);
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let acme = ingress(
        "acme",
        json!({"rules": [rule(Some("a.test"), &[("Prefix", "/", "a"), ("Prefix", "/.well-known/acme-challenge", "a")])]}),
    );
    let t = world.with(acme).translate();
    assert!(matches!(t.table.lookup("a.test", "/").expect("route").policy.auth, Some(Auth::External(_))));
    assert_eq!(t.table.lookup("a.test", "/.well-known/acme-challenge/t").expect("route").policy.auth, None);

    // An empty global-auth-url is ingress-nginx's default: off, with no warning.
    let mut world = World::new()
        .with(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sluice", "namespace": "sys"},
            "data": {"global-auth-url": ""}}))
        .backend("a", &["127.0.0.2"]);
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let t = world
        .with(ingress("p", json!({"rules": [rule(Some("p.test"), &[("Prefix", "/", "a")])]})))
        .translate();
    assert_eq!(t.table.lookup("p.test", "/").expect("route").policy.auth, None);
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn header_configmaps_resolve_and_bad_entries_warn() {
    use sluice_controller::policy::HeaderTemplate;
    let cm = |ns: &str, name: &str, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data});
    let mut world = World::new()
        .with(cm(
            "sys",
            "sluice",
            json!({"proxy-set-headers": "sys/req", "add-headers": "sys/missing",
                                          "global-allowed-response-headers": "X-Team"}),
        ))
        .with(cm(
            "sys",
            "req",
            json!({"X-Fixed": "1", "X-Client": "$remote_addr", "X-Time": "${msec}", "bad name": "v"}),
        ))
        .with(cm("default", "team", json!({"X-Team": "a"})))
        .backend("a", &["127.0.0.2"]);
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let team = annotated(
        "team",
        json!({"rules": [rule(Some("team.test"), &[("Prefix", "/", "a")])]}),
        json!({"nginx.ingress.kubernetes.io/custom-headers": "team"}),
    );
    let gone = annotated(
        "gone",
        json!({"rules": [rule(Some("gone.test"), &[("Prefix", "/", "a")])]}),
        json!({"nginx.ingress.kubernetes.io/custom-headers": "nope"}),
    );
    let t = world.with(team).with(gone).translate();

    let set: Vec<(&str, &HeaderTemplate)> =
        t.table.settings.proxy_set_headers.iter().map(|(n, v)| (n.as_str(), v)).collect();
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(matches!(set[0], ("x-client", HeaderTemplate::Parts(_))));
    assert!(matches!(set[1], ("x-fixed", HeaderTemplate::Fixed(_))));
    let team = &t.table.lookup("team.test", "/").expect("route").policy;
    assert!(!team.denied);
    assert_eq!(team.response_headers.len(), 1);
    assert!(t.table.lookup("gone.test", "/").expect("route").policy.denied, "a missing ConfigMap denies");
    let header_map_warnings: Vec<String> = reasons(&t)
        .iter()
        .filter(|r| matches!(r, Invalid::HeaderMap { .. }))
        .map(|r| r.to_string())
        .collect();
    assert_eq!(header_map_warnings.len(), 4, "{header_map_warnings:?}");
    for fragment in ["msec", "bad name", "sys/missing", "\"nope\": not found"] {
        assert!(
            header_map_warnings.iter().any(|w| w.contains(fragment)),
            "{fragment}: {header_map_warnings:?}"
        );
    }
}
