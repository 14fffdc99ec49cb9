//! Manifest files: arbitrary text through the YAML/JSON manifest parser, and anything it accepts
//! through translate (Ingress and Gateway API routes, each looked up once).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_controller::{translate, Options, Snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parsed) = sluice_controller::manifests::parse(text) {
        let mut snapshot = Snapshot::default();
        parsed.objects.into_iter().for_each(|o| snapshot.insert(o));
        let t = translate(&snapshot, &Options::default(), std::time::SystemTime::UNIX_EPOCH);
        let _ = t.table.lookup("a.test", "/");
        let headers = http::HeaderMap::new();
        for listener in t.table.gateway_listeners() {
            let _ = t.table.gateway_lookup(listener.addr, Some("a.test"), "a.test", "/", &http::Method::GET, &headers, Some("a=1"));
        }
    }
});
