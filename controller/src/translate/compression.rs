//! Response compression, from the ConfigMap keys ingress-nginx uses: `use-gzip` (false),
//! `gzip-level` (1), `gzip-min-length` (256), `gzip-types`, and `enable-brotli` (false),
//! `brotli-level` (4), `brotli-min-length` (20), `brotli-types`. Types are MIME types without
//! parameters; `*` compresses every type.

use std::collections::BTreeMap;

use super::values::{self, value, Report};
use crate::settings::Compression;

/// Reads the keys above.
pub(super) fn read(data: &BTreeMap<String, String>, invalid: &mut Report<'_>) -> Compression {
    let mut c = Compression::default();
    let level = |max: u32| {
        move |v: &str| v.parse::<u32>().ok().filter(|n| (1..=max).contains(n)).ok_or("out of range")
    };
    let length = |v: &str| v.parse::<u64>().map_err(|_| "not a number of bytes");
    let gzip_on = value(data, "use-gzip", invalid, values::boolean).unwrap_or(false);
    let gzip_level = value(data, "gzip-level", invalid, level(9)).unwrap_or(1);
    let brotli_on = value(data, "enable-brotli", invalid, values::boolean).unwrap_or(false);
    let brotli_level = value(data, "brotli-level", invalid, level(11)).unwrap_or(4);
    if let Some(n) = value(data, "gzip-min-length", invalid, length) {
        c.gzip.min_length = n;
    }
    if let Some(n) = value(data, "brotli-min-length", invalid, length) {
        c.brotli.min_length = n;
    }
    c.gzip.level = if gzip_on { gzip_level } else { 0 };
    c.brotli.level = if brotli_on { brotli_level } else { 0 };
    let types =
        |v: &String| v.split([' ', ',']).filter(|t| !t.is_empty()).map(str::to_ascii_lowercase).collect();
    if let Some(v) = data.get("gzip-types") {
        c.gzip.types = types(v);
    }
    if let Some(v) = data.get("brotli-types") {
        c.brotli.types = types(v);
    }
    c
}
