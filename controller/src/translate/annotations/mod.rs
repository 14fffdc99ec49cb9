//! The `nginx.ingress.kubernetes.io/*` annotations Sluice interprets, parsed into typed values
//! with limits. An invalid value is a warning naming the Ingress and the annotation; the route
//! keeps the safe default (the ConfigMap's value, else ingress-nginx's default).

mod affinity;
mod auth;
mod canary;
mod cors;
mod edge;
mod headers;
mod mirror;
mod redirect;
mod upstream;

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderValue;
use k8s_openapi::api::networking::v1::Ingress;

pub use auth::AuthSpec;
pub use canary::CanarySpec;

use super::compat::{self, Support};
use super::values::{self, MAX_VALUE};
use super::warning::{Invalid, Warning};
use crate::policy::{Auth, RoutePolicy};
use crate::settings::GlobalSettings;
use crate::snapshot::{ObjectKind, ObjectRef};

/// The annotation prefix ingress-nginx uses.
pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// Sluice's own emergency fallback: `NAME:PORT` of a Service in the Ingress's namespace.
pub const FALLBACK_SERVICE: &str = "sluice.dev/fallback-service";

/// Per-Ingress settings from annotations, resolved against the ConfigMap defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngressAnnotations {
    /// `ssl-redirect`: redirect to HTTPS when the host has TLS (None: the ConfigMap's value).
    pub ssl_redirect: Option<bool>,
    /// `force-ssl-redirect`: redirect to HTTPS even without TLS (None: the ConfigMap's value).
    pub force_ssl_redirect: Option<bool>,
    /// `use-regex`: the paths of this Ingress's hosts are regular expressions.
    pub use_regex: bool,
    /// `rewrite-target`: the URI sent upstream, with `$N` captures of the path.
    pub rewrite_target: Option<String>,
    /// `from-to-www-redirect`: redirect `www.HOST` to `HOST` or the reverse.
    pub from_to_www: bool,
    /// `server-alias`: more host names served with the routes of this Ingress's hosts.
    pub aliases: Vec<String>,
    /// `canary: "true"` and its settings: this Ingress adds canaries to other Ingresses' rules.
    pub canary: Option<CanarySpec>,
    /// `default-backend`: a Service in the Ingress's namespace (its first port).
    pub default_backend: Option<String>,
    /// `sluice.dev/fallback-service`: Service name and port.
    pub fallback: Option<(String, String)>,
    /// Authentication (the Secret of basic auth is read by the caller).
    pub auth: Option<AuthSpec>,
    /// `proxy-ssl-secret`: the Secret (in the Ingress's namespace) of the upstream client TLS.
    pub proxy_ssl_secret: Option<String>,
    /// `custom-headers`: the ConfigMap (in the Ingress's namespace) of response headers.
    pub custom_headers: Option<String>,
    /// `auth-proxy-set-headers`: the ConfigMap of headers for the `auth-url` request.
    pub auth_headers: Option<String>,
    /// `enable-global-auth` (true): without auth of its own, the Ingress gets the ConfigMap's
    /// `global-auth-url`.
    pub global_auth: bool,
    /// Everything that goes into the routes (backends are resolved by the caller).
    pub policy: RoutePolicy,
}

impl IngressAnnotations {
    /// Whether the paths of this Ingress's hosts become regular expressions (ingress-nginx's
    /// `use-regex`, or a `rewrite-target` that differs from a path).
    pub fn wants_regex(&self, paths: &[&str]) -> bool {
        self.use_regex || self.rewrite_target.as_deref().is_some_and(|t| paths.iter().any(|p| *p != t))
    }
}

/// Reads annotation values of one Ingress (or the `global-*` keys of the ConfigMap), reporting
/// bad ones.
pub(super) struct Reader<'a> {
    map: &'a BTreeMap<String, String>,
    /// `PREFIX` for annotations, `global-` for the ConfigMap's global auth keys.
    prefix: &'a str,
    object: &'a ObjectRef,
    warnings: &'a mut Vec<Warning>,
}

impl<'a> Reader<'a> {
    /// The trimmed value of `prefix + name`, if present and not too long.
    pub fn get(&mut self, name: &str) -> Option<&'a str> {
        self.get_full(&format!("{}{name}", self.prefix))
    }

    /// The trimmed value of the annotation `full`, if present and not too long.
    pub fn get_full(&mut self, full: &str) -> Option<&'a str> {
        let value = self.map.get(full)?.trim();
        if value.len() > MAX_VALUE {
            self.invalid_full(full, value, "longer than 4096 bytes");
            return None;
        }
        Some(value)
    }

    /// Reports an invalid value of `prefix + name`.
    pub fn invalid(&mut self, name: &str, value: &str, reason: &'static str) {
        self.invalid_full(&format!("{}{name}", self.prefix), value, reason);
    }

    /// Reports an invalid value of the annotation (or ConfigMap key) `full`.
    pub fn invalid_full(&mut self, full: &str, value: &str, reason: &'static str) {
        let (key, value) = (full.to_owned(), value.to_owned());
        let reason = match self.object.kind {
            ObjectKind::ConfigMap => Invalid::InvalidConfig { key, value, reason },
            _ => Invalid::InvalidAnnotation { annotation: key, value, reason },
        };
        self.warnings.push(Warning { object: self.object.clone(), reason });
    }

    /// Reports a pattern that does not compile.
    pub fn invalid_regex(&mut self, name: &str, pattern: &str, reason: String) {
        let reason = Invalid::InvalidRegex {
            what: format!("{}{name}", self.prefix),
            pattern: pattern.to_owned(),
            reason,
        };
        self.warnings.push(Warning { object: self.object.clone(), reason });
    }

    /// Parses `PREFIX + name` with `parse`; `None` when absent or invalid (with a warning).
    pub fn parse<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Result<T, &'static str>) -> Option<T> {
        let value = self.get(name)?;
        parse(value).map_err(|reason| self.invalid(name, value, reason)).ok()
    }

    /// A header value: printable ASCII only.
    pub fn header(&mut self, name: &str) -> Option<HeaderValue> {
        self.parse(name, |v| {
            if v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                HeaderValue::from_str(v).map_err(|_| "not a valid header value")
            } else {
                Err("must be printable ASCII")
            }
        })
    }
}

/// Parses the annotations of `ingress`; `settings` hold the ConfigMap's route defaults.
pub fn parse(
    ingress: &Ingress,
    object: &ObjectRef,
    settings: &GlobalSettings,
    warnings: &mut Vec<Warning>,
) -> IngressAnnotations {
    let mut parsed = IngressAnnotations {
        policy: settings.policy.clone(),
        global_auth: true,
        ..IngressAnnotations::default()
    };
    let Some(map) = ingress.metadata.annotations.as_ref() else {
        return parsed;
    };
    let mut r = Reader { map, prefix: PREFIX, object, warnings };
    parsed.ssl_redirect = r.parse("ssl-redirect", values::boolean);
    parsed.force_ssl_redirect = r.parse("force-ssl-redirect", values::boolean);
    redirect::parse(&mut r, &mut parsed);
    parsed.canary = canary::parse(&mut r);
    parsed.policy.affinity = affinity::parse(&mut r);
    parsed.policy.cors = cors::parse(&mut r);
    upstream::parse(&mut r, &mut parsed);
    parsed.policy.header_rewrites = headers::parse(&mut r);
    parsed.policy.mirror = mirror::parse(&mut r);
    parsed.policy.access_log = r.parse("enable-access-log", values::boolean).unwrap_or(true);
    edge::parse(&mut r, settings, &mut parsed.policy);
    parsed.auth = auth::parse(&mut r);
    parsed.global_auth = r.parse("enable-global-auth", values::boolean).unwrap_or(true);
    parsed.custom_headers = r.parse("custom-headers", values::object_name);
    parsed.proxy_ssl_secret = r.parse("proxy-ssl-secret", values::object_name);
    parsed.auth_headers = r.parse("auth-proxy-set-headers", values::object_name);
    report_unsupported(map.keys(), object, warnings);
    parsed
}

/// The ConfigMap's `global-auth-*` keys (`global-auth-url`, `-method`, `-signin`,
/// `-signin-redirect-param`, `-response-headers`, `-request-redirect`, `-cache-key`,
/// `-cache-duration`, `-always-set-cookie`): external auth for every route whose Ingress has no
/// auth of its own and does not set `enable-global-auth: "false"`. A bad URL fails closed (503).
pub fn global_auth(
    data: &BTreeMap<String, String>,
    object: &ObjectRef,
    warnings: &mut Vec<Warning>,
) -> Option<Auth> {
    let mut r = Reader { map: data, prefix: "global-", object, warnings };
    match auth::parse_external(&mut r)? {
        AuthSpec::External(external) => Some(Auth::External(Arc::new(*external))),
        _ => Some(Auth::Broken),
    }
}

/// One warning per Ingress listing the `nginx.ingress.kubernetes.io/*` annotations that Sluice
/// ignores, and one listing the `*-snippet` annotations it refuses: raw nginx configuration
/// injected through annotations is how IngressNightmare (CVE-2025-1974) and its predecessors
/// happened, so snippets are never interpreted.
fn report_unsupported<'a>(
    keys: impl Iterator<Item = &'a String>,
    object: &ObjectRef,
    warnings: &mut Vec<Warning>,
) {
    let (mut snippets, mut ignored) = (Vec::new(), Vec::new());
    for name in keys.filter_map(|k| k.strip_prefix(PREFIX)) {
        match compat::support(name) {
            Support::Refused(_) if name.ends_with("-snippet") => snippets.push(name.to_owned()),
            Support::Supported | Support::Partial(_) => {}
            Support::Refused(_) | Support::Unsupported(_) => ignored.push(name.to_owned()),
        }
    }
    if !snippets.is_empty() {
        warnings.push(Warning {
            object: object.clone(),
            reason: Invalid::SnippetRefused { annotations: snippets },
        });
    }
    if !ignored.is_empty() {
        warnings.push(Warning {
            object: object.clone(),
            reason: Invalid::UnsupportedAnnotations { annotations: ignored },
        });
    }
}
