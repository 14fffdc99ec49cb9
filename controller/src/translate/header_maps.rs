//! Headers kept in ConfigMaps, as ingress-nginx reads them: each key of the referenced ConfigMap
//! is a header name and its value the header's value.
//!
//! * ConfigMap key `proxy-set-headers: NS/NAME`: request headers set on every upstream request
//!   (values may use the variables of `upstream-hash-by`: `$remote_addr`, `$host`, ...).
//! * ConfigMap key `add-headers: NS/NAME`: response headers set on every response.
//! * Annotation `custom-headers: NAME`: response headers for the Ingress's routes; each name must
//!   be listed in the ConfigMap's `global-allowed-response-headers`, else the routes are refused
//!   (503), as ingress-nginx denies the location.
//! * Annotation `auth-proxy-set-headers: NAME`: headers set on the `auth-url` request.
//!
//! The annotations' ConfigMaps must be in the Ingress's own namespace, so that an Ingress cannot
//! publish another namespace's ConfigMap data as headers.

use std::collections::{BTreeMap, HashSet};

use http::{HeaderName, HeaderValue};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::networking::v1::Ingress;

use super::annotations::PREFIX;
use super::values;
use super::warning::{Invalid, Warning};
use crate::policy::HeaderTemplate;
use crate::snapshot::{object_key, Key, ObjectKind, ObjectRef, Snapshot};

/// The controller ConfigMap keys that name header ConfigMaps.
const GLOBAL_KEYS: [&str; 2] = ["proxy-set-headers", "add-headers"];
/// The annotations that name header ConfigMaps.
const ANNOTATIONS: [&str; 2] = ["custom-headers", "auth-proxy-set-headers"];

/// The ConfigMaps the controller ConfigMap and the Ingresses name: the kube source keeps only
/// these (and the controller's own) of all it watches.
pub fn header_map_references<'a>(
    controller: Option<&ConfigMap>,
    ingresses: impl Iterator<Item = (&'a str, &'a Ingress)>,
) -> HashSet<Key> {
    let mut keys = HashSet::new();
    if let Some(data) = controller.and_then(|c| c.data.as_ref()) {
        let own_ns = controller.and_then(|c| c.metadata.namespace.as_deref()).unwrap_or_default();
        keys.extend(GLOBAL_KEYS.iter().filter_map(|k| data.get(*k)).map(|r| object_key(r, own_ns)));
    }
    for (ns, ing) in ingresses {
        let Some(annotations) = ing.metadata.annotations.as_ref() else { continue };
        for name in ANNOTATIONS {
            if let Some(r) = annotations.get(&format!("{PREFIX}{name}")) {
                keys.insert(object_key(r, ns));
            }
        }
    }
    keys
}

/// The headers of the ConfigMap `reference` names, for `referrer`; `same_ns` insists that it is
/// in the referrer's namespace. Bad entries are skipped with a warning; None (with a warning)
/// when the ConfigMap cannot be used at all.
pub(super) fn read(
    snapshot: &Snapshot,
    reference: &str,
    referrer: &ObjectRef,
    same_ns: bool,
    warnings: &mut Vec<Warning>,
) -> Option<Vec<(HeaderName, String)>> {
    let mut warn = |reason| warnings.push(Warning { object: referrer.clone(), reason });
    let key = match same_ns {
        true => referrer.own_namespace_key(reference),
        false => Ok(object_key(reference, &referrer.namespace)),
    };
    let key = match key {
        Ok(key) => key,
        Err(reason) => {
            warn(Invalid::HeaderMap { config_map: reference.to_owned(), reason: reason.into() });
            return None;
        }
    };
    let Some(map) = snapshot.config_maps.get(&key) else {
        warn(Invalid::HeaderMap { config_map: reference.to_owned(), reason: "not found".into() });
        return None;
    };
    let data: BTreeMap<String, String> = map.data.clone().unwrap_or_default();
    let mut headers = Vec::new();
    for (key, value) in data {
        match HeaderName::try_from(key.as_str()) {
            Ok(h) if value.len() <= values::MAX_VALUE && value.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
                headers.push((h, value))
            }
            _ => warn(Invalid::HeaderMap {
                config_map: reference.to_owned(),
                reason: format!("{key:?} is not a header name with a printable ASCII value; skipped"),
            }),
        }
    }
    Some(headers)
}

/// Literal response header values (nginx variables are not expanded in them).
pub(super) fn fixed(headers: Vec<(HeaderName, String)>) -> Vec<(HeaderName, HeaderValue)> {
    headers.into_iter().filter_map(|(n, v)| HeaderValue::try_from(v).ok().map(|v| (n, v))).collect()
}

/// Request header values, with `$variables` evaluated per request.
pub(super) fn templates(
    headers: Vec<(HeaderName, String)>,
    reference: &str,
    referrer: &ObjectRef,
    warnings: &mut Vec<Warning>,
) -> Vec<(HeaderName, HeaderTemplate)> {
    let mut out = Vec::new();
    for (name, value) in headers {
        if !value.contains('$') {
            if let Ok(v) = HeaderValue::try_from(value) {
                out.push((name, HeaderTemplate::Fixed(v)));
            }
            continue;
        }
        match values::key_parts(&value) {
            Ok(parts) => out.push((name, HeaderTemplate::Parts(parts))),
            Err(reason) => warnings.push(Warning {
                object: referrer.clone(),
                reason: Invalid::HeaderMap {
                    config_map: reference.to_owned(),
                    reason: format!("{name}: {value:?}: {reason}; skipped"),
                },
            }),
        }
    }
    out
}

/// The controller ConfigMap's `proxy-set-headers`, `add-headers` and
/// `global-allowed-response-headers`, read into `settings`.
pub(super) fn global(
    settings: &mut super::GlobalSettings,
    controller: Option<&ConfigMap>,
    snapshot: &Snapshot,
    warnings: &mut Vec<Warning>,
) {
    let Some(config) = controller else { return };
    let object = ObjectRef::from_meta(ObjectKind::ConfigMap, &config.metadata);
    let data = config.data.as_ref();
    let get = |key: &str| data.and_then(|d| d.get(key)).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(reference) = get("proxy-set-headers") {
        if let Some(headers) = read(snapshot, reference, &object, false, warnings) {
            settings.proxy_set_headers = templates(headers, reference, &object, warnings);
        }
    }
    if let Some(reference) = get("add-headers") {
        if let Some(headers) = read(snapshot, reference, &object, false, warnings) {
            settings.policy.response_headers = fixed(headers).into();
        }
    }
    if let Some(list) = get("global-allowed-response-headers") {
        settings.allowed_response_headers =
            list.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
    }
}
