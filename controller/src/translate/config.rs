//! The controller ConfigMap: global settings, with ingress-nginx's keys and defaults.
//! A bad value is a warning naming the key, and the default stays.

use http::HeaderValue;
use k8s_openapi::api::core::v1::ConfigMap;

use super::warning::{Invalid, Warning};
use crate::snapshot::{ObjectKind, ObjectRef};

/// Settings that apply to every route, from the controller ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalSettings {
    /// `ssl-redirect` (true): redirect plain HTTP to HTTPS for hosts that have TLS.
    pub ssl_redirect: bool,
    /// `force-ssl-redirect` (false): redirect plain HTTP to HTTPS even without TLS.
    pub force_ssl_redirect: bool,
    /// `http-redirect-code` (308): the status of those redirects.
    pub redirect_code: u16,
    /// `no-tls-redirect-locations` (`/.well-known/acme-challenge`): path prefixes never redirected.
    pub no_tls_redirect_locations: Vec<String>,
    /// The `Strict-Transport-Security` value for HTTPS responses (`hsts`, `hsts-max-age`,
    /// `hsts-include-subdomains`, `hsts-preload`), or None when `hsts` is false. Kept as a ready
    /// header value so that HTTPS responses only clone it (a reference count).
    pub hsts: Option<HeaderValue>,
}

impl Default for GlobalSettings {
    fn default() -> Self {
        GlobalSettings {
            ssl_redirect: true,
            force_ssl_redirect: false,
            redirect_code: 308,
            no_tls_redirect_locations: vec!["/.well-known/acme-challenge".to_owned()],
            hsts: Some(HeaderValue::from_static("max-age=31536000; includeSubDomains")),
        }
    }
}

/// Go's `strconv.ParseBool`, which ingress-nginx uses for boolean settings and annotations.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Reads the global settings from `config` (None: all defaults).
pub fn global_settings(config: Option<&ConfigMap>, warnings: &mut Vec<Warning>) -> GlobalSettings {
    let mut settings = GlobalSettings::default();
    let Some(config) = config else {
        return settings;
    };
    let object = ObjectRef::from_meta(ObjectKind::ConfigMap, &config.metadata);
    let data = config.data.clone().unwrap_or_default();
    let mut invalid = |key: &str, value: &str, reason: &'static str| {
        warnings.push(Warning {
            object: object.clone(),
            reason: Invalid::InvalidConfig { key: key.to_owned(), value: value.to_owned(), reason },
        })
    };
    let mut boolean = |key: &str, target: &mut bool| {
        if let Some(v) = data.get(key) {
            match parse_bool(v) {
                Some(b) => *target = b,
                None => invalid(key, v, "not a boolean"),
            }
        }
    };
    let (mut hsts, mut subdomains, mut preload) = (true, true, false);
    boolean("ssl-redirect", &mut settings.ssl_redirect);
    boolean("force-ssl-redirect", &mut settings.force_ssl_redirect);
    boolean("hsts", &mut hsts);
    boolean("hsts-include-subdomains", &mut subdomains);
    boolean("hsts-preload", &mut preload);
    let mut max_age: u64 = 31_536_000;
    if let Some(v) = data.get("hsts-max-age") {
        match v.parse() {
            Ok(n) => max_age = n,
            Err(_) => invalid("hsts-max-age", v, "not a number of seconds"),
        }
    }
    if let Some(v) = data.get("http-redirect-code") {
        match v.parse() {
            Ok(code @ (301 | 302 | 307 | 308)) => settings.redirect_code = code,
            _ => invalid("http-redirect-code", v, "must be 301, 302, 307 or 308"),
        }
    }
    if let Some(v) = data.get("no-tls-redirect-locations") {
        settings.no_tls_redirect_locations =
            v.split(',').map(str::trim).filter(|s| s.starts_with('/')).map(str::to_owned).collect();
    }
    settings.hsts = hsts
        .then(|| {
            let mut value = format!("max-age={max_age}");
            if subdomains {
                value.push_str("; includeSubDomains");
            }
            if preload {
                value.push_str("; preload");
            }
            // Only digits and ASCII letters: always a valid header value.
            HeaderValue::try_from(value).ok()
        })
        .flatten();
    settings
}
