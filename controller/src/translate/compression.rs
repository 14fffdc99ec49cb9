//! Response compression, from the ConfigMap keys ingress-nginx uses: `use-gzip` (false),
//! `gzip-level` (1), `gzip-min-length` (256), `gzip-types`, and `enable-brotli` (false),
//! `brotli-level` (4), `brotli-min-length` (20), `brotli-types`. Types are MIME types without
//! parameters; `*` compresses every type.

use std::collections::BTreeMap;

use super::config::{value, Report};
use super::values;

/// ingress-nginx's default `gzip-types` (and, with `application/xml+rss`, `brotli-types`).
const DEFAULT_TYPES: &str = "application/atom+xml application/javascript application/x-javascript \
    application/json application/rss+xml application/vnd.ms-fontobject application/x-font-ttf \
    application/x-web-app-manifest+json application/xhtml+xml application/xml font/opentype \
    image/svg+xml image/x-icon text/css text/javascript text/plain text/x-component";

/// One compression algorithm's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// The level; 0 is off.
    pub level: u32,
    /// Responses with a shorter `Content-Length` are sent as they are.
    pub min_length: u64,
    /// The MIME types compressed (lowercase, no parameters); `*` is any.
    pub types: Vec<String>,
}

impl Codec {
    /// Whether a response of `content_type` (parameters allowed) and `length` is compressed.
    pub fn applies(&self, content_type: Option<&str>, length: Option<u64>) -> bool {
        if self.level == 0 || length.is_some_and(|n| n < self.min_length) {
            return false;
        }
        let Some(mime) = content_type.map(|t| t.split(';').next().unwrap_or(t).trim()) else {
            return false;
        };
        self.types.iter().any(|t| t == "*" || t.eq_ignore_ascii_case(mime))
    }
}

/// gzip and brotli, as the ConfigMap sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// `use-gzip` and its companions.
    pub gzip: Codec,
    /// `enable-brotli` and its companions.
    pub brotli: Codec,
}

impl Default for Compression {
    fn default() -> Self {
        let types: Vec<String> = DEFAULT_TYPES.split_whitespace().map(str::to_owned).collect();
        let mut brotli_types = types.clone();
        brotli_types.push("application/xml+rss".to_owned());
        Compression {
            gzip: Codec { level: 0, min_length: 256, types },
            brotli: Codec { level: 0, min_length: 20, types: brotli_types },
        }
    }
}

impl Compression {
    /// Whether any algorithm is on.
    pub fn enabled(&self) -> bool {
        self.gzip.level > 0 || self.brotli.level > 0
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_check_type_and_length() {
        let gzip =
            Codec { level: 1, min_length: 256, types: vec!["text/html".into(), "application/json".into()] };
        assert!(gzip.applies(Some("application/json; charset=utf-8"), Some(1000)));
        assert!(gzip.applies(Some("TEXT/HTML"), None), "unknown length (chunked) is compressed");
        assert!(!gzip.applies(Some("application/json"), Some(100)), "below gzip-min-length");
        assert!(!gzip.applies(Some("image/png"), Some(1000)));
        assert!(!gzip.applies(None, Some(1000)));
        let off = Codec { level: 0, ..gzip };
        assert!(!off.applies(Some("text/html"), Some(1000)));
    }
}
