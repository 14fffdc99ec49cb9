//! Host matching (the Kubernetes "Hostname wildcards" table, exact over wildcard, host-less
//! rules), default backends, and oldest-Ingress-wins conflicts.

use serde_json::json;
use sluice_controller::Invalid;

use super::fixtures::{ingress, rule, served_by, to, World};

fn hosts_world() -> World {
    World::new()
        .backend("wild", &["127.0.0.2"])
        .backend("exact", &["127.0.0.3"])
        .backend("any", &["127.0.0.4"])
        .with(ingress(
            "hosts",
            json!({"rules": [
                rule(Some("*.foo.com"), &[("Prefix", "/", "wild")]),
                rule(Some("bar.foo.com"), &[("Prefix", "/", "exact")]),
                rule(Some("only.example"), &[("Prefix", "/app", "exact")]),
                rule(None, &[("Prefix", "/", "any")]),
            ]}),
        ))
}

#[test]
fn hostname_wildcards_cover_exactly_one_label() {
    let t = hosts_world().translate();
    let cases = [
        ("baz.foo.com", Some("wild")),      // shared suffix
        ("bar.foo.com", Some("exact")),     // exact beats wildcard
        ("baz.bar.foo.com", Some("any")),   // two labels: not the wildcard
        ("foo.com", Some("any")),           // no label: not the wildcard
        ("BAZ.Foo.COM:8080", Some("wild")), // case and port are ignored
        ("bar.foo.com.", Some("exact")),    // trailing dot
        ("unknown.test", Some("any")),      // host-less rule matches any host
        ("", Some("any")),
    ];
    for (host, want) in cases {
        assert_eq!(served_by(&t, host, "/").as_deref(), want, "host {host:?}");
    }
}

#[test]
fn a_host_with_rules_does_not_fall_through_to_host_less_rules() {
    // As an nginx server block: only.example owns its requests; /other is not routed there.
    let t = hosts_world().translate();
    assert_eq!(served_by(&t, "only.example", "/app/x").as_deref(), Some("exact"));
    assert_eq!(served_by(&t, "only.example", "/other"), None);
}

#[test]
fn conformance_host_rules_without_a_catch_all_answer_404() {
    let t = World::new()
        .backend("wild", &["127.0.0.2"])
        .backend("exact", &["127.0.0.3"])
        .with(ingress(
            "host-rules",
            json!({"rules": [rule(Some("*.foo.com"), &[("Prefix", "/", "wild")]),
                             rule(Some("foo.bar.com"), &[("Prefix", "/", "exact")])]}),
        ))
        .translate();
    assert_eq!(served_by(&t, "foo.bar.com", "/").as_deref(), Some("exact"));
    assert_eq!(served_by(&t, "subdomain.bar.com", "/"), None);
    assert_eq!(served_by(&t, "bar.foo.com", "/").as_deref(), Some("wild"));
    assert_eq!(served_by(&t, "baz.bar.foo.com", "/"), None);
    assert_eq!(served_by(&t, "foo.com", "/"), None);
}

#[test]
fn default_backend_catches_what_no_rule_matches() {
    let t = World::new()
        .backend("echo", &["127.0.0.2"])
        .backend("app", &["127.0.0.3"])
        .backend("site-default", &["127.0.0.4"])
        .with(ingress("default-backend", json!({"defaultBackend": to("echo")})))
        .with(ingress(
            "site",
            json!({"defaultBackend": to("site-default"), "rules": [rule(Some("site.test"), &[("Prefix", "/app", "app")])]}),
        ))
        .translate();
    for (host, path) in [("my-host", "/"), ("some-host", "/sub-path"), ("", "/resource")] {
        assert_eq!(served_by(&t, host, path).as_deref(), Some("echo"), "{host}{path}");
    }
    assert_eq!(served_by(&t, "site.test", "/app").as_deref(), Some("app"));
    // The Ingress's own defaultBackend serves its hosts' unmatched paths.
    assert_eq!(served_by(&t, "site.test", "/else").as_deref(), Some("site-default"));
}

fn aged(name: &str, namespace: &str, created: &str, service: &str) -> serde_json::Value {
    let mut ing = ingress(name, json!({"rules": [rule(Some("c.test"), &[("Prefix", "/api", service)])]}));
    ing["metadata"]["namespace"] = json!(namespace);
    ing["metadata"]["creationTimestamp"] = json!(created);
    ing
}

#[test]
fn the_oldest_ingress_wins_a_conflict_and_the_loser_is_warned() {
    let world = World::new()
        .with(super::fixtures::service("default", "old", json!([{"port": 80}])))
        .with(super::fixtures::service("default", "new", json!([{"port": 80}])))
        // "a-new" sorts first by name but is younger.
        .with(aged("a-new", "default", "2024-05-01T00:00:00Z", "new"))
        .with(aged("z-old", "default", "2023-01-01T00:00:00Z", "old"));
    let t = world.translate();
    assert_eq!(served_by(&t, "c.test", "/api").as_deref(), Some("old"));
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    let w = &t.warnings[0];
    assert_eq!(w.object.name, "a-new");
    assert!(matches!(&w.reason, Invalid::ConflictLost { winner, .. } if winner.name == "z-old"));
}

#[test]
fn equal_ages_are_ordered_by_namespace_then_name() {
    let t = World::new()
        .with(super::fixtures::service("default", "old", json!([{"port": 80}])))
        .with(super::fixtures::service("default", "new", json!([{"port": 80}])))
        .with(aged("b", "default", "2024-01-01T00:00:00Z", "new"))
        .with(aged("a", "default", "2024-01-01T00:00:00Z", "old"))
        .translate();
    assert_eq!(served_by(&t, "c.test", "/api").as_deref(), Some("old"));
}

#[test]
fn different_paths_of_one_host_merge_across_ingresses() {
    let t = World::new()
        .backend("one", &["127.0.0.2"])
        .backend("two", &["127.0.0.3"])
        .with(ingress("first", json!({"rules": [rule(Some("m.test"), &[("Prefix", "/one", "one")])]})))
        .with(ingress("second", json!({"rules": [rule(Some("m.test"), &[("Prefix", "/two", "two")])]})))
        .translate();
    assert!(t.warnings.is_empty());
    assert_eq!(served_by(&t, "m.test", "/one").as_deref(), Some("one"));
    assert_eq!(served_by(&t, "m.test", "/two/x").as_deref(), Some("two"));
}

#[test]
fn invalid_hosts_are_skipped_with_a_warning() {
    let t = World::new()
        .backend("a", &["127.0.0.2"])
        .with(ingress(
            "bad-host",
            json!({"rules": [rule(Some("bad host!"), &[("Prefix", "/", "a")]), rule(Some("*.*.x"), &[("Prefix", "/", "a")]),
                             rule(Some("ok.test"), &[("Prefix", "/", "a")])]}),
        ))
        .translate();
    assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
    assert_eq!(served_by(&t, "ok.test", "/").as_deref(), Some("a"));
}
