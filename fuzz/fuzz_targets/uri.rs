//! The request-target normalizer and host validator: arbitrary bytes never panic, and a
//! normalized path is a fixed point: it starts with `/`, holds no `.` or `..` segment (nor `//`
//! when slashes merge), and normalizing it again (with the bytes that the decoder reads as
//! syntax, `%`, `?` and `#`, escaped) gives it back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_controller::uri::{normalize_path, split_absolute_form, validate_host};

fn escape(path: &str) -> String {
    path.replace('%', "%25").replace('?', "%3F").replace('#', "%23")
}

fuzz_target!(|data: &[u8]| {
    for merge in [true, false] {
        let Ok(path) = normalize_path(data, merge) else {
            continue;
        };
        assert!(path.starts_with('/'), "{path:?}");
        let segments: Vec<&str> = path.split('/').collect();
        assert!(!segments.iter().any(|s| *s == "." || *s == ".."), "dot segment in {path:?}");
        if merge {
            assert!(!path.contains("//"), "{path:?}");
        }
        let escaped = escape(&path);
        let again = normalize_path(escaped.as_bytes(), merge);
        assert_eq!(again.as_deref(), Ok(path.as_ref()), "not idempotent");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(host) = validate_host(text) {
            assert!(!host.is_empty() && text.starts_with(host));
        }
    }
    if let Some((authority, rest)) = split_absolute_form(data) {
        assert!(authority.len() + rest.len() <= data.len());
    }
});
