//! Every row of the Kubernetes docs' "Path types -> Examples" table, plus ImplementationSpecific.

use serde_json::json;

use super::fixtures::{ingress, rule, served_by, World};

/// (paths as (pathType, path), request path, index of the expected path or None for no match)
type Row = (&'static [(&'static str, &'static str)], &'static str, Option<usize>);

const EXAMPLES: &[Row] = &[
    (&[("Prefix", "/")], "/anything/at/all", Some(0)),
    (&[("Exact", "/foo")], "/foo", Some(0)),
    (&[("Exact", "/foo")], "/bar", None),
    (&[("Exact", "/foo")], "/foo/", None),
    (&[("Exact", "/foo/")], "/foo", None),
    (&[("Exact", "/foo")], "/FOO", None),
    (&[("Prefix", "/foo")], "/foo", Some(0)),
    (&[("Prefix", "/foo")], "/foo/", Some(0)),
    (&[("Prefix", "/foo/")], "/foo", Some(0)),
    (&[("Prefix", "/foo/")], "/foo/", Some(0)),
    (&[("Prefix", "/foo")], "/FOO", None),
    (&[("Prefix", "/aaa/bb")], "/aaa/bbb", None),
    (&[("Prefix", "/aaa/bbb")], "/aaa/bbb", Some(0)),
    (&[("Prefix", "/aaa/bbb/")], "/aaa/bbb", Some(0)),
    (&[("Prefix", "/aaa/bbb")], "/aaa/bbb/", Some(0)),
    (&[("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", Some(0)),
    (&[("Prefix", "/aaa/bbb")], "/aaa/bbbxyz", None),
    (&[("Prefix", "/"), ("Prefix", "/aaa")], "/aaa/ccc", Some(1)),
    (&[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/aaa/bbb", Some(2)),
    (&[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/ccc", Some(0)),
    (&[("Prefix", "/aaa")], "/ccc", None),
    (&[("Prefix", "/foo"), ("Exact", "/foo")], "/foo", Some(1)),
    (&[("Exact", "/foo"), ("Prefix", "/foo")], "/foo", Some(0)),
    (&[("Exact", "/foo"), ("Prefix", "/foo")], "/foo/x", Some(1)),
    // ImplementationSpecific is an nginx prefix location: a plain string prefix.
    (&[("ImplementationSpecific", "/foo")], "/foobar", Some(0)),
    (&[("ImplementationSpecific", "/foo"), ("Prefix", "/foo/bar")], "/foo/bar/x", Some(1)),
    (&[("ImplementationSpecific", "/")], "/x", Some(0)),
];

#[test]
fn path_type_examples_match_the_kubernetes_table() {
    for (i, (paths, request, expected)) in EXAMPLES.iter().enumerate() {
        let mut world = World::new();
        let names: Vec<String> = (0..paths.len()).map(|n| format!("svc{n}")).collect();
        for name in &names {
            world = world.backend(name, &["127.0.0.2"]);
        }
        let with_services: Vec<(&str, &str, &str)> =
            paths.iter().zip(&names).map(|((t, p), s)| (*t, *p, s.as_str())).collect();
        let world = world.with(ingress("paths", json!({"rules": [rule(Some("h.test"), &with_services)]})));
        let t = world.translate();
        assert!(t.warnings.is_empty(), "row {i}: {:?}", t.warnings);
        let want = expected.map(|n| names[n].clone());
        assert_eq!(served_by(&t, "h.test", request), want, "row {i}: {paths:?} for {request}");
    }
}

#[test]
fn empty_prefix_path_means_root_and_exact_requires_a_path() {
    let world = World::new().backend("a", &["127.0.0.2"]).with(ingress(
        "p",
        json!({"rules": [{"host": "h.test", "http": {"paths": [
            {"pathType": "Prefix", "backend": {"service": {"name": "a", "port": {"number": 80}}}},
            {"pathType": "Exact", "backend": {"service": {"name": "a", "port": {"number": 80}}}}
        ]}}]}),
    ));
    let t = world.translate();
    assert_eq!(served_by(&t, "h.test", "/x").as_deref(), Some("a"));
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
}

#[test]
fn invalid_paths_are_skipped_with_a_warning_and_the_rest_routes() {
    let world = World::new().backend("a", &["127.0.0.2"]).with(ingress(
        "p",
        json!({"rules": [rule(Some("h.test"), &[("Prefix", "no-slash", "a"), ("Bogus", "/b", "a"), ("Prefix", "/ok", "a")])]}),
    ));
    let t = world.translate();
    assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
    assert!(t.warnings.iter().all(|w| w.object.name == "p"));
    assert_eq!(served_by(&t, "h.test", "/ok").as_deref(), Some("a"));
    assert_eq!(served_by(&t, "h.test", "/b"), None);
}
