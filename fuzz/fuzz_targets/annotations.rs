//! Annotation values: each input line `name=value` becomes an `nginx.ingress.kubernetes.io/`
//! annotation (or a ConfigMap key) of an Ingress with regex-capable paths, and the whole table
//! is translated and looked up. Nothing may panic, whatever the values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sluice_controller::snapshot::Object;
use sluice_controller::{translate, Options, Snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut annotations = serde_json::Map::new();
    let mut config = serde_json::Map::new();
    let mut path = "/app(/|$)(.*)".to_owned();
    for line in text.lines().take(64) {
        let Some((name, value)) = line.split_once('=') else { continue };
        match name.strip_prefix("cm:") {
            Some(key) => config.insert(key.to_owned(), json!(value)),
            None if name == "path" => {
                path = value.to_owned();
                None
            }
            None => annotations.insert(format!("nginx.ingress.kubernetes.io/{name}"), json!(value)),
        };
    }
    let objects = [
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "sluice"},
               "spec": {"controller": "sluice.dev/ingress-controller"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "d"},
               "spec": {"ports": [{"port": 80}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": config}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "i", "namespace": "d", "annotations": annotations},
               "spec": {"ingressClassName": "sluice", "rules": [{"host": "f.test", "http": {"paths": [
                   {"path": path, "pathType": "ImplementationSpecific",
                    "backend": {"service": {"name": "a", "port": {"number": 80}}}}]}}]}}),
    ];
    let mut snapshot = Snapshot::default();
    for object in objects {
        if let Ok(parsed) = sluice_controller::manifests::parse(&object.to_string()) {
            parsed.objects.into_iter().for_each(|o: Object| snapshot.insert(o));
        }
    }
    let options = Options { configmap: Some(("d".into(), "c".into())), ..Options::default() };
    let t = translate(&snapshot, &options, std::time::SystemTime::UNIX_EPOCH);
    if let Some(route) = t.table.lookup("f.test", "/app/x") {
        if let Some(rw) = &route.rewrite {
            let _ = rw.apply("/app/x", None, Some("q=1"));
        }
    }
});
