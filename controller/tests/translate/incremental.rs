//! `translate_incremental` against `translate`: over random sequences of changes (Ingresses with
//! hosts shared between them, aliases, `www` redirects, TLS with wildcard certificates,
//! canaries, regex paths, conflicts, default backends, host-less rules; new endpoints, some not
//! IP addresses; Service ports that move), each incremental result, built on the previous
//! incremental one, must equal a whole translation of the same snapshot, table and warnings.
//! `SLUICE_INCREMENTAL_SEEDS=N` runs more sequences than the default 12.

use std::collections::HashSet;
use std::time::SystemTime;

use serde_json::{json, Value};
use sluice_controller::{translate, translate_incremental, Previous, Snapshot, Translation};

use super::fixtures::{ingress, tls_secret, World};

/// A small deterministic generator (SplitMix64), so that a failure replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SERVICES: &[&str] = &["s0", "s1", "s2", "s3", "missing"];
const PATHS: &[(&str, &str)] =
    &[("Prefix", "/"), ("Prefix", "/api"), ("Exact", "/x"), ("ImplementationSpecific", "/re/.*")];

/// A host: mostly one of many, sometimes one of a few shared ones (conflicts, aliases,
/// wildcards), so that edits both share hosts and stay local.
fn host(rng: &mut Rng) -> String {
    match rng.below(40) {
        0 => "*.w.test".to_owned(),
        1 => format!("h{}.w.test", rng.below(3)),
        2 => "www.h0.test".to_owned(),
        3 => "UPPER.test".to_owned(),
        4..=7 => format!("h{}.test", rng.below(4)),
        _ => format!("h{}.test", rng.below(300)),
    }
}

/// A random Ingress `name`, created at second `age`.
fn random_ingress(rng: &mut Rng, name: &str, age: usize) -> Value {
    let mut rules = Vec::new();
    for _ in 0..1 + usize::from(rng.chance(20)) {
        let paths: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| {
                let (kind, path) = PATHS[rng.below(PATHS.len())];
                let service = rng.pick(SERVICES);
                json!({"pathType": kind, "path": path, "backend": {"service": {"name": service, "port": {"number": 80}}}})
            })
            .collect();
        let mut rule = json!({"http": {"paths": paths}});
        if !rng.chance(2) {
            rule["host"] = json!(host(rng));
        }
        rules.push(rule);
    }
    let mut spec = json!({"rules": rules});
    if rng.chance(3) {
        spec["defaultBackend"] = json!({"service": {"name": rng.pick(SERVICES), "port": {"number": 80}}});
    }
    if rng.chance(25) {
        let hosts: Vec<String> = (0..1 + rng.below(2)).map(|_| host(rng)).collect();
        let secret = if rng.chance(50) { "wild" } else { "plain" };
        spec["tls"] = json!([{"hosts": hosts, "secretName": secret}]);
    }
    let mut value = ingress(name, spec);
    let mut annotations = serde_json::Map::new();
    let mut set = |k: &str, v: String| {
        annotations.insert(format!("nginx.ingress.kubernetes.io/{k}"), json!(v));
    };
    if rng.chance(15) {
        set("server-alias", format!("{}, {}", host(rng), host(rng)));
    }
    if rng.chance(15) {
        set("from-to-www-redirect", "true".to_owned());
    }
    if rng.chance(10) {
        set("use-regex", "true".to_owned());
    }
    if rng.chance(15) {
        set("canary", "true".to_owned());
        set("canary-weight", "30".to_owned());
    }
    if rng.chance(10) {
        set("ssl-redirect", "false".to_owned());
    }
    if rng.chance(5) {
        set("force-ssl-redirect", "true".to_owned());
    }
    value["metadata"]["annotations"] = Value::Object(annotations);
    value["metadata"]["creationTimestamp"] =
        json!(format!("2026-01-01T00:{:02}:{:02}Z", age / 60 % 60, age % 60));
    value
}

fn insert(snapshot: &mut Snapshot, value: Value) {
    let parsed = sluice_controller::manifests::parse(&value.to_string()).expect("fixture parses");
    for object in parsed.objects {
        snapshot.insert(object);
    }
}

fn key(name: &str) -> (String, String) {
    ("default".to_owned(), name.to_owned())
}

fn warnings(t: &Translation) -> HashSet<String> {
    t.warnings.iter().map(|w| format!("{}: {}", w.object, w.reason)).collect()
}

/// One random edit: change, add or delete an Ingress, or change a Service or its endpoints.
fn edit(rng: &mut Rng, snapshot: &mut Snapshot, next_name: &mut usize, age: &mut usize) {
    *age += 1 + rng.below(3);
    match rng.below(20) {
        0 => {
            // New endpoints for a Service, sometimes with an address that is not an IP.
            let service = rng.pick(&["s0", "s1", "s2", "s3"]);
            let address = if rng.chance(30) {
                "not-an-ip".to_owned()
            } else {
                format!("10.0.0.{}", rng.below(200) + 1)
            };
            let endpoints = json!([{"addresses": [address]}]);
            let slice = super::fixtures::slice(
                "default",
                service,
                &format!("{service}-1"),
                json!([{"port": 8080}]),
                endpoints,
            );
            insert(snapshot, slice);
        }
        1 => {
            // A Service's port moves (its routes answer 503 or recover).
            let service = rng.pick(&["s0", "s1", "s2", "s3", "missing"]);
            let port = if rng.chance(50) { 80 } else { 81 };
            insert(
                snapshot,
                super::fixtures::service("default", service, json!([{"port": port, "targetPort": 8080}])),
            );
        }
        2..=4 => {
            let name = format!("ing{}", *next_name);
            *next_name += 1;
            insert(snapshot, random_ingress(rng, &name, *age));
        }
        5..=7 if !snapshot.ingresses.is_empty() => {
            let victim = snapshot.ingresses.keys().nth(rng.below(snapshot.ingresses.len())).cloned();
            snapshot.ingresses.remove(&victim.expect("an Ingress"));
        }
        _ => {
            let existing: Vec<String> = snapshot.ingresses.keys().map(|(_, n)| n.clone()).collect();
            let name = existing[rng.below(existing.len())].clone();
            // An edit keeps the creation time: it decides who wins a conflict.
            let created = snapshot.ingresses[&key(&name)].metadata.creation_timestamp.clone();
            let mut value = random_ingress(rng, &name, 0);
            value["metadata"]["creationTimestamp"] = json!(created.map(|t| t.0.to_string()));
            insert(snapshot, value);
        }
    }
}

#[test]
fn incremental_translation_equals_a_whole_one_over_random_edits() {
    let base = World::new()
        .backend("s0", &["10.0.0.1"])
        .backend("s1", &["10.0.0.2", "10.0.0.3"])
        .backend("s2", &["10.0.0.4"])
        .backend("s3", &[])
        .with(tls_secret("wild", &["*.w.test", "h1.test"]))
        .with(tls_secret("plain", &["h2.test", "www.h0.test"]));
    let now = SystemTime::now();
    let (mut incremental_steps, mut steps) = (0, 0);
    let seeds: u64 =
        std::env::var("SLUICE_INCREMENTAL_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    for seed in 0..seeds {
        let mut rng = Rng(seed);
        let mut snapshot = base.snapshot.clone();
        let (mut next_name, mut age) = (0, 0);
        for _ in 0..60 {
            let name = format!("ing{next_name}");
            next_name += 1;
            age += 1;
            insert(&mut snapshot, random_ingress(&mut rng, &name, age));
        }
        let mut live = translate(&snapshot, &base.options, now);
        for step in 0..40 {
            let before = snapshot.clone();
            edit(&mut rng, &mut snapshot, &mut next_name, &mut age);
            let previous = Previous { snapshot: &before, table: &live.table, warnings: &live.warnings };
            let incremental = translate_incremental(Some(previous), &snapshot, &base.options, now);
            let whole = translate(&snapshot, &base.options, now);
            assert!(incremental.table == whole.table, "seed {seed} step {step}: the tables differ");
            let (a, b) = (warnings(&incremental), warnings(&whole));
            let (extra, missing): (Vec<_>, Vec<_>) = (a.difference(&b).collect(), b.difference(&a).collect());
            assert!(
                extra.is_empty() && missing.is_empty(),
                "seed {seed} step {step}: extra {extra:?}, missing {missing:?}"
            );
            steps += 1;
            incremental_steps += usize::from(incremental.rebuilt_hosts.is_some());
            live = incremental;
        }
    }
    eprintln!("{incremental_steps} of {steps} edits were incremental");
    // The comparison means something only if most edits took the incremental path.
    assert!(incremental_steps * 2 > steps, "{incremental_steps} of {steps} edits were incremental");
}

#[test]
fn an_edit_or_new_endpoints_rebuild_only_the_hosts_they_reach_and_share_the_rest() {
    let mut world = World::new().backend("s0", &["10.0.0.1"]).backend("s1", &["10.0.0.2"]);
    for i in 0..20 {
        world = world.with(ingress(
            &format!("i{i}"),
            json!({"rules": [{"host": format!("h{i}.test"), "http": {"paths": [
                {"pathType": "Prefix", "path": "/", "backend": {"service": {"name": "s0", "port": {"number": 80}}}}]}}]}),
        ));
    }
    let before = world.snapshot.clone();
    let live = world.translate();
    let edited = ingress(
        "i3",
        json!({"rules": [{"host": "h3.test", "http": {"paths": [
            {"pathType": "Prefix", "path": "/", "backend": {"service": {"name": "s1", "port": {"number": 80}}}}]}}]}),
    );
    let world = world.with(edited);
    let previous = Previous { snapshot: &before, table: &live.table, warnings: &live.warnings };
    let next = translate_incremental(Some(previous), &world.snapshot, &world.options, SystemTime::now());
    assert_eq!(next.rebuilt_hosts, Some(2), "h3.test and its www. twin");
    assert_eq!(super::fixtures::served_by(&next, "h3.test", "/").as_deref(), Some("s1"));
    let shared = |t: &Translation| t.table.lookup("h4.test", "/").cloned().expect("route");
    assert!(std::sync::Arc::ptr_eq(&shared(&live), &shared(&next)), "an untouched host keeps its routes");
    // New endpoints for s1 rebuild the hosts whose routes use it, and no others.
    let mut endpoints = world.snapshot.clone();
    let slice = super::fixtures::slice(
        "default",
        "s1",
        "s1-1",
        json!([{"port": 8080}]),
        json!([{"addresses": ["10.0.0.9"]}]),
    );
    insert(&mut endpoints, slice);
    let previous = Previous { snapshot: &world.snapshot, table: &next.table, warnings: &next.warnings };
    let moved = translate_incremental(Some(previous), &endpoints, &world.options, SystemTime::now());
    assert_eq!(moved.rebuilt_hosts, Some(2));
    let endpoint = moved.table.lookup("h3.test", "/").map(|r| r.backend.endpoints.clone()).expect("route");
    assert_eq!(endpoint.len(), 1);
    assert!(std::sync::Arc::ptr_eq(&shared(&next), &shared(&moved)));
    // A Secret is not something a rebuild of some hosts can follow: the whole table is translated.
    let mut secret = endpoints.clone();
    insert(&mut secret, tls_secret("other", &["h5.test"]));
    let previous = Previous { snapshot: &endpoints, table: &moved.table, warnings: &moved.warnings };
    let whole = translate_incremental(Some(previous), &secret, &world.options, SystemTime::now());
    assert_eq!(whole.rebuilt_hosts, None);
}

/// A TLS Secret for `host` valid from the start of `from` to the start of `until` (years).
fn dated_secret(name: &str, host: &str, from: i32, until: i32) -> Value {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).expect("params");
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    let cert = params.self_signed(&key).expect("cert");
    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {"tls.crt": cert.pem(), "tls.key": key.serialize_pem()}})
}

#[test]
fn certificates_that_expire_or_become_valid_between_edits_are_seen_as_a_whole_translation_sees_them() {
    let year = |y: u64| {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs((y - 1970) * 365 * 86_400 + 86_400 * 20)
    };
    let tls = |name: &str, host: &str, secret: &str| {
        ingress(
            name,
            json!({"tls": [{"hosts": [host], "secretName": secret}], "rules": [{"host": host, "http": {"paths": [
                {"pathType": "Prefix", "path": "/", "backend": {"service": {"name": "s0", "port": {"number": 80}}}}]}}]}),
        )
    };
    let mut world = World::new()
        .backend("s0", &["10.0.0.1"])
        .with(dated_secret("expiring", "a.test", 2020, 2030))
        .with(dated_secret("future", "b.test", 2029, 2040))
        .with(tls("a", "a.test", "expiring"))
        .with(tls("b", "b.test", "future"));
    for i in 0..8 {
        world = world.with(tls(&format!("other{i}"), &format!("o{i}.test"), "none"));
    }
    let before = world.snapshot.clone();
    let live = translate(&before, &world.options, year(2026));
    assert!(
        live.table.certificate(Some("a.test")).is_some() && live.table.certificate(Some("b.test")).is_none()
    );
    let world = world.with(tls("other0", "o0.test", "still-none"));
    for now in [year(2026), year(2035)] {
        let previous = Previous { snapshot: &before, table: &live.table, warnings: &live.warnings };
        let incremental = translate_incremental(Some(previous), &world.snapshot, &world.options, now);
        let whole = translate(&world.snapshot, &world.options, now);
        assert!(incremental.table == whole.table);
        assert_eq!(warnings(&incremental), warnings(&whole));
    }
    let previous = Previous { snapshot: &before, table: &live.table, warnings: &live.warnings };
    let later = translate_incremental(Some(previous), &world.snapshot, &world.options, year(2035));
    assert!(later.table.certificate(Some("a.test")).is_none(), "expired in 2030");
    assert!(later.table.certificate(Some("b.test")).is_some(), "valid from 2029");
}
