//! `spec.tls`, the redirect decision per route, and the controller ConfigMap.

use serde_json::{json, Value};
use sluice_controller::Invalid;

use super::fixtures::{ingress, rule, tls_secret, World};

fn config(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sluice", "namespace": "sys"}, "data": data})
}

fn redirects(t: &sluice_controller::Translation, host: &str) -> bool {
    t.table.lookup(host, "/").expect("route").ssl_redirect
}

#[test]
fn hosts_with_tls_redirect_unless_opted_out_and_force_redirects_without_tls() {
    let mut optout = ingress(
        "optout",
        json!({"tls": [{"hosts": ["o.test"], "secretName": "s"}], "rules": [rule(Some("o.test"), &[("Prefix", "/", "a")])]}),
    );
    optout["metadata"]["annotations"] = json!({"nginx.ingress.kubernetes.io/ssl-redirect": "false"});
    let mut force = ingress("force", json!({"rules": [rule(Some("f.test"), &[("Prefix", "/", "a")])]}));
    force["metadata"]["annotations"] = json!({"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"});
    let t = World::new()
        .backend("a", &["127.0.0.2"])
        .with(tls_secret("s", &["t.test", "o.test", "*.w.test"]))
        .with(ingress(
            "tls",
            json!({"tls": [{"hosts": ["t.test", "*.w.test"], "secretName": "s"}],
                   "rules": [rule(Some("t.test"), &[("Prefix", "/", "a")]), rule(Some("x.w.test"), &[("Prefix", "/", "a")]),
                             rule(Some("plain.test"), &[("Prefix", "/", "a")])]}),
        ))
        .with(optout)
        .with(force)
        .translate();
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert!(redirects(&t, "t.test"));
    assert!(redirects(&t, "x.w.test"), "a wildcard TLS host covers one label");
    assert!(!redirects(&t, "plain.test"));
    assert!(!redirects(&t, "o.test"));
    assert!(redirects(&t, "f.test"));
    assert!(t.table.certificate(Some("t.test")).is_some());
    assert!(t.table.certificate(Some("y.w.test")).is_some());
    assert!(t.table.certificate(Some("a.y.w.test")).is_none());
    assert!(t.table.certificate(Some("nothing.test")).is_none());
}

#[test]
fn a_tls_entry_without_hosts_covers_the_ingress_rule_hosts() {
    let t = World::new()
        .backend("a", &["127.0.0.2"])
        .with(tls_secret("s", &["r.test"]))
        .with(ingress(
            "r",
            json!({"tls": [{"secretName": "s"}], "rules": [rule(Some("r.test"), &[("Prefix", "/", "a")])]}),
        ))
        .translate();
    assert!(t.table.certificate(Some("r.test")).is_some());
    assert!(redirects(&t, "r.test"));
}

#[test]
fn the_oldest_ingress_picks_a_hosts_certificate() {
    let mut old = ingress("old", json!({"tls": [{"hosts": ["c.test"], "secretName": "one"}]}));
    old["metadata"]["creationTimestamp"] = json!("2020-01-01T00:00:00Z");
    let mut new = ingress("a-new", json!({"tls": [{"hosts": ["c.test"], "secretName": "two"}]}));
    new["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    let t = World::new()
        .with(tls_secret("one", &["c.test"]))
        .with(tls_secret("two", &["c.test"]))
        .with(new)
        .with(old)
        .translate();
    assert_eq!(t.table.certificate(Some("c.test")).expect("cert").secret.name, "one");
}

#[test]
fn certificate_problems_are_warnings_naming_the_ingress() {
    let t = World::new()
        .with(tls_secret("s", &["other.test"]))
        .with(ingress("bad", json!({"tls": [{"hosts": ["m.test"], "secretName": "s"}, {"hosts": ["n.test"], "secretName": "none"}]})))
        .translate();
    let reasons: Vec<&Invalid> = t.warnings.iter().map(|w| &w.reason).collect();
    assert!(
        matches!(reasons[..], [Invalid::CertificateHostMismatch { .. }, Invalid::SecretNotFound { .. }]),
        "{reasons:?}"
    );
    assert!(t.warnings.iter().all(|w| w.object.name == "bad"));
    assert!(t.table.certificate(Some("m.test")).is_none());
}

#[test]
fn configmap_settings_follow_ingress_nginx_keys_and_bad_values_keep_defaults() {
    let mut world = World::new().with(config(json!({
        "hsts-max-age": "600", "hsts-preload": "true", "http-redirect-code": "301", "ssl-redirect": "maybe",
        "no-tls-redirect-locations": "/.well-known/acme-challenge, /health",
    })));
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let t = world.translate();
    let s = &t.table.settings;
    assert_eq!(
        s.hsts.as_ref().and_then(|v| v.to_str().ok()),
        Some("max-age=600; includeSubDomains; preload")
    );
    assert_eq!(s.redirect_code, 301);
    assert!(s.ssl_redirect, "an invalid value keeps the default");
    assert_eq!(s.no_tls_redirect_locations, ["/.well-known/acme-challenge", "/health"]);
    assert!(
        matches!(&t.warnings[..], [w] if matches!(&w.reason, Invalid::InvalidConfig { key, .. } if key == "ssl-redirect"))
    );

    let mut world = World::new().with(config(json!({"hsts": "false", "http-redirect-code": "200"})));
    world.options.configmap = Some(("sys".into(), "sluice".into()));
    let t = world.translate();
    assert_eq!(t.table.settings.hsts, None);
    assert_eq!(t.table.settings.redirect_code, 308);
    assert_eq!(t.warnings.len(), 1);

    // A ConfigMap that is not the configured one is ignored.
    let t = World::new().with(config(json!({"hsts": "false"}))).translate();
    assert!(t.table.settings.hsts.is_some());
}

#[test]
fn invalid_annotation_values_warn_and_keep_the_default() {
    let mut ing = ingress(
        "ann",
        json!({"tls": [{"hosts": ["t.test"]}], "rules": [rule(Some("t.test"), &[("Prefix", "/", "a")])]}),
    );
    ing["metadata"]["annotations"] = json!({"nginx.ingress.kubernetes.io/ssl-redirect": "nope"});
    let t = World::new().backend("a", &["127.0.0.2"]).with(ing).translate();
    assert!(redirects(&t, "t.test"), "TLS without a secret still redirects (default certificate)");
    assert!(matches!(&t.warnings[..], [w] if matches!(&w.reason, Invalid::InvalidAnnotation { .. })));
}

#[test]
fn unsupported_annotations_and_snippets_are_listed_in_one_warning_each() {
    let mut ing = ingress("legacy", json!({"rules": [rule(Some("l.test"), &[("Prefix", "/", "a")])]}));
    ing["metadata"]["annotations"] = json!({
        "nginx.ingress.kubernetes.io/upstream-hash-by-subset": "true",
        "nginx.ingress.kubernetes.io/enable-opentelemetry": "true",
        "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers 'x: y';",
        "nginx.ingress.kubernetes.io/server-snippet": "location /x {}",
        "nginx.ingress.kubernetes.io/ssl-redirect": "false",
        "example.com/other": "ignored silently",
    });
    let t = World::new().backend("a", &["127.0.0.2"]).with(ing).translate();
    assert_eq!(
        t.table.lookup("l.test", "/").map(|r| r.service.to_string()).as_deref(),
        Some("a"),
        "the route still works"
    );
    let reasons: Vec<&Invalid> = t.warnings.iter().map(|w| &w.reason).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        matches!(reasons[0], Invalid::SnippetRefused { annotations } if annotations == &["configuration-snippet", "server-snippet"])
    );
    assert!(
        matches!(reasons[1], Invalid::UnsupportedAnnotations { annotations } if annotations == &["enable-opentelemetry", "upstream-hash-by-subset"])
    );
}
