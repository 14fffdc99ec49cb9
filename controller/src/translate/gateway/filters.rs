//! One HTTPRoute rule compiled: match conditions, filters (header modifiers, redirect, URL
//! rewrite, mirror), weighted backendRefs with their own filters, and timeouts.
//!
//! A rule whose filters cannot be honoured, or whose backendRefs are invalid, keeps matching:
//! its requests (or the invalid references' share of them) are answered 500, as the spec asks,
//! rather than served without the filter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use k8s_openapi::api::networking::v1::{IngressServiceBackend, ServiceBackendPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::gateway_api::{self as api, HttpBackendRef, HttpRouteMatch, HttpRouteRule};
use crate::policy::{
    BackendProtocol, Conditions, GatewayRedirect, GatewayRewrite, GatewayRule, HeaderModifier, Mirror,
    PathReplace, RoutePolicy, UrlPart, ValueMatch, WeightedBackend,
};
use crate::rewrite::RegexPath;
use crate::snapshot::{ObjectRef, Snapshot};
use crate::table::Backend;

use super::super::endpoints::Endpoints;
use super::super::rules::validate_host;
use super::super::warning::{Invalid, Warning};
use super::grants;

/// A compiled rule, shared by the routes of its matches: the policy, and the Gateway rule
/// whose conditions and listener port each match and listener fill in.
pub(super) struct RuleParts {
    pub policy: Arc<RoutePolicy>,
    pub rule: GatewayRule,
}

/// Where a rule is compiled: the snapshot, the route's namespace and object, and the route
/// policy defaults (the ConfigMap's).
pub(super) struct RuleContext<'c> {
    pub snapshot: &'c Snapshot,
    pub namespace: &'c str,
    pub object: &'c ObjectRef,
    pub defaults: &'c RoutePolicy,
}

/// Compiles a rule. The first unresolved backend reference is recorded in `unresolved`.
pub(super) fn compile_rule(
    cx: &RuleContext<'_>,
    index: usize,
    rule: &HttpRouteRule,
    endpoints: &mut Endpoints<'_>,
    unresolved: &mut Option<(&'static str, String)>,
    warnings: &mut Vec<Warning>,
) -> RuleParts {
    let mut policy = cx.defaults.clone();
    let mut broken: Option<String> = None;
    let mut compiled = GatewayRule {
        conditions: Conditions::default(),
        backends: Vec::new(),
        total_weight: 0,
        request_headers: HeaderModifier::default(),
        response_headers: HeaderModifier::default(),
        redirect: None,
        rewrite: None,
        listener_port: 0,
    };
    for filter in &rule.filters {
        let applied = match filter.type_.as_str() {
            "RequestHeaderModifier" => {
                modifier(filter.request_header_modifier.as_ref()).map(|m| compiled.request_headers.extend(&m))
            }
            "ResponseHeaderModifier" => modifier(filter.response_header_modifier.as_ref())
                .map(|m| compiled.response_headers.extend(&m)),
            "RequestRedirect" => {
                redirect(filter.request_redirect.as_ref()).map(|r| compiled.redirect = Some(r))
            }
            "URLRewrite" => rewrite(filter.url_rewrite.as_ref()).map(|r| compiled.rewrite = Some(r)),
            "RequestMirror" => match filter.request_mirror.as_ref() {
                Some(m) if policy.mirror.is_none() => {
                    mirror(cx, &m.backend_ref, endpoints, warnings).map(|m| policy.mirror = m)
                }
                Some(_) => Ok(()),
                None => Err("RequestMirror needs requestMirror".to_owned()),
            },
            other => Err(format!("filter type {other:?} is not supported")),
        };
        if let Err(message) = applied {
            broken.get_or_insert(message);
        }
    }
    if compiled.redirect.is_some() && compiled.rewrite.is_some() {
        broken.get_or_insert_with(|| "RequestRedirect and URLRewrite cannot be used together".to_owned());
    }
    if let Some(timeouts) = &rule.timeouts {
        match timeout(timeouts.request.as_deref())
            .and_then(|r| Ok((r, timeout(timeouts.backend_request.as_deref())?)))
        {
            Ok((request, backend)) => {
                if let Some(t) = backend.or(request) {
                    policy.upstream.read_timeout = t;
                    policy.upstream.send_timeout = t;
                }
            }
            Err(message) => {
                broken.get_or_insert(message);
            }
        }
    }
    // Per valid backend: whether its Service port speaks h2c (`appProtocol: kubernetes.io/h2c`).
    let mut protocols: Vec<bool> = Vec::new();
    for (i, backend_ref) in rule.backend_refs.iter().enumerate() {
        let weight = u32::try_from(backend_ref.weight.unwrap_or(1)).unwrap_or(0);
        let backend = match resolve(cx, backend_ref, endpoints, warnings) {
            Ok(b) => Some(b),
            Err((reason, message)) => {
                let what = format!("rule {index} backendRef {i}");
                let warning = Invalid::Gateway { what, reason, message: message.clone() };
                warnings.push(Warning { object: cx.object.clone(), reason: warning });
                unresolved.get_or_insert((reason, message));
                None
            }
        };
        let (mut request_headers, mut response_headers) =
            (HeaderModifier::default(), HeaderModifier::default());
        let mut backend_ok = true;
        for filter in &backend_ref.filters {
            let applied = match filter.type_.as_str() {
                "RequestHeaderModifier" => {
                    modifier(filter.request_header_modifier.as_ref()).map(|m| request_headers.extend(&m))
                }
                "ResponseHeaderModifier" => {
                    modifier(filter.response_header_modifier.as_ref()).map(|m| response_headers.extend(&m))
                }
                other => Err(format!("backendRef filter type {other:?} is not supported")),
            };
            if let Err(message) = applied {
                backend_ok = false;
                let what = format!("rule {index} backendRef {i}");
                let warning = Invalid::Gateway { what, reason: "UnsupportedValue", message };
                warnings.push(Warning { object: cx.object.clone(), reason: warning });
            }
        }
        let backend = backend.filter(|_| backend_ok);
        if backend.is_some() {
            let h2c = app_protocol(cx, backend_ref) == Some("kubernetes.io/h2c");
            protocols.push(h2c);
        }
        compiled.total_weight = compiled.total_weight.saturating_add(weight);
        compiled.backends.push(WeightedBackend { backend, weight, request_headers, response_headers });
    }
    if !protocols.is_empty() && protocols.iter().all(|h2c| *h2c) {
        // HTTP/2 with prior knowledge to the endpoints (a rule's backends share one policy, so
        // this holds when all of them are h2c).
        policy.upstream.protocol = BackendProtocol::Grpc;
    }
    if let Some(message) = broken {
        let what = format!("rule {index}");
        let warning = Invalid::Gateway { what, reason: "UnsupportedValue", message };
        warnings.push(Warning { object: cx.object.clone(), reason: warning });
        // Fail closed: every request of the rule gets 500.
        compiled.redirect = None;
        compiled.backends.clear();
        compiled.total_weight = 0;
    }
    RuleParts { policy: Arc::new(policy), rule: compiled }
}

/// A backendRef (or a mirror's) resolved to a Service port's endpoints.
fn resolve(
    cx: &RuleContext<'_>,
    r: &HttpBackendRef,
    endpoints: &mut Endpoints<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Arc<Backend>, (&'static str, String)> {
    let group_ok = r.group.as_deref().is_none_or(str::is_empty);
    if !group_ok || r.kind.as_deref().is_some_and(|k| k != "Service") {
        return Err(("InvalidKind", format!("backendRef {:?} is not a Service", r.name)));
    }
    let ns = r.namespace.as_deref().unwrap_or(cx.namespace);
    if !grants::permits(cx.snapshot, ("HTTPRoute", cx.namespace), ("", "Service", ns, &r.name)) {
        return Err(("RefNotPermitted", format!("Service {ns}/{} needs a ReferenceGrant", r.name)));
    }
    let Some(port) = r.port else {
        return Err(("UnsupportedValue", format!("backendRef {:?} has no port", r.name)));
    };
    let service = IngressServiceBackend {
        name: r.name.clone(),
        port: Some(ServiceBackendPort { number: Some(port), name: None }),
    };
    endpoints.resolve(ns, &service, warnings).map_err(|e| ("BackendNotFound", e.to_string()))
}

/// The `appProtocol` of the Service port a backendRef names.
fn app_protocol<'c>(cx: &RuleContext<'c>, r: &HttpBackendRef) -> Option<&'c str> {
    let ns = r.namespace.as_deref().unwrap_or(cx.namespace);
    let service = cx.snapshot.services.get(&(ns.to_owned(), r.name.clone()))?;
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    ports.iter().find(|p| Some(p.port) == r.port)?.app_protocol.as_deref()
}

/// A `RequestMirror` backend: copies go to one of its ready endpoints as they are at
/// translation (the table is rebuilt when endpoints change).
fn mirror(
    cx: &RuleContext<'_>,
    r: &HttpBackendRef,
    endpoints: &mut Endpoints<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Arc<Mirror>>, String> {
    let backend = resolve(cx, r, endpoints, warnings).map_err(|(_, message)| message)?;
    let Some(endpoint) = backend.endpoints.first() else {
        return Ok(None);
    };
    let ns = r.namespace.as_deref().unwrap_or(cx.namespace);
    let host =
        HeaderValue::from_str(&format!("{}.{ns}", r.name)).map_err(|_| "invalid mirror name".to_owned())?;
    let target = vec![UrlPart::Literal(format!("http://{endpoint}")), UrlPart::RequestUri];
    Ok(Some(Arc::new(Mirror { target, host, body: true })))
}

/// A header modifier's names and values checked.
fn modifier(m: Option<&api::HeaderModifier>) -> Result<HeaderModifier, String> {
    let m = m.ok_or("a header modifier filter needs its modifier")?;
    let name =
        |n: &str| HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("invalid header name {n:?}"));
    let pair = |p: &api::HeaderPair| -> Result<(HeaderName, HeaderValue), String> {
        let value =
            HeaderValue::from_str(&p.value).map_err(|_| format!("invalid header value for {:?}", p.name))?;
        Ok((name(&p.name)?, value))
    };
    Ok(HeaderModifier {
        set: m.set.iter().map(pair).collect::<Result<_, _>>()?,
        add: m.add.iter().map(pair).collect::<Result<_, _>>()?,
        remove: m.remove.iter().map(|n| name(n)).collect::<Result<_, _>>()?,
    })
}

fn path_replace(p: Option<&api::PathModifier>) -> Result<Option<PathReplace>, String> {
    let Some(p) = p else {
        return Ok(None);
    };
    let checked = |v: Option<&String>| -> Result<String, String> {
        let v = v.ok_or_else(|| format!("{} needs its value", p.type_))?;
        if v.starts_with('/')
            && !v.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
        {
            Ok(v.clone())
        } else {
            Err(format!("path {v:?} must start with '/' and have no query"))
        }
    };
    match p.type_.as_str() {
        "ReplaceFullPath" => Ok(Some(PathReplace::Full(checked(p.replace_full_path.as_ref())?))),
        "ReplacePrefixMatch" => Ok(Some(PathReplace::Prefix(checked(p.replace_prefix_match.as_ref())?))),
        other => Err(format!("path modifier {other:?} is not supported")),
    }
}

fn redirect(r: Option<&api::RequestRedirect>) -> Result<GatewayRedirect, String> {
    let r = r.ok_or("RequestRedirect needs requestRedirect")?;
    let scheme = match r.scheme.as_deref() {
        None => None,
        Some(s @ ("http" | "https")) => Some(s.to_owned()),
        Some(other) => return Err(format!("redirect scheme {other:?} is not supported")),
    };
    let hostname = match r.hostname.as_deref() {
        None => None,
        Some(h) => Some(
            validate_host(h)
                .filter(|h| !h.starts_with('*'))
                .ok_or(format!("invalid redirect hostname {h:?}"))?,
        ),
    };
    let port = match r.port {
        None => None,
        Some(p) => {
            Some(u16::try_from(p).ok().filter(|p| *p > 0).ok_or(format!("invalid redirect port {p}"))?)
        }
    };
    let code = match r.status_code.unwrap_or(302) {
        c @ (301 | 302 | 303 | 307 | 308) => c as u16,
        other => return Err(format!("redirect status code {other} is not supported")),
    };
    Ok(GatewayRedirect { scheme, hostname, port, path: path_replace(r.path.as_ref())?, code })
}

fn rewrite(r: Option<&api::UrlRewrite>) -> Result<GatewayRewrite, String> {
    let r = r.ok_or("URLRewrite needs urlRewrite")?;
    let hostname = match r.hostname.as_deref() {
        None => None,
        Some(h) => {
            let valid = validate_host(h)
                .filter(|h| !h.starts_with('*'))
                .ok_or(format!("invalid rewrite hostname {h:?}"))?;
            Some(HeaderValue::from_str(&valid).map_err(|_| format!("invalid rewrite hostname {h:?}"))?)
        }
    };
    Ok(GatewayRewrite { hostname, path: path_replace(r.path.as_ref())? })
}

/// A Gateway API duration (`1h`, `10s`, `500ms`, `1m30s`); `0s` means no timeout (`None`).
fn timeout(text: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    let invalid = || format!("invalid duration {text:?}");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 5 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(n), 2)
        } else if rest.starts_with('h') {
            (Duration::from_secs(n * 3600), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(n * 60), 1)
        } else if rest.starts_with('s') {
            (Duration::from_secs(n), 1)
        } else {
            return Err(invalid());
        };
        total += unit;
        rest = &rest[len..];
    }
    Ok((!total.is_zero()).then_some(total))
}

/// A match's method, header and query conditions, validated.
pub(super) fn conditions(m: &HttpRouteMatch) -> Result<Conditions, String> {
    let method = match m.method.as_deref() {
        None => None,
        Some(text) => {
            Some(Method::from_bytes(text.as_bytes()).map_err(|_| format!("invalid method {text:?}"))?)
        }
    };
    let value = |kind: Option<&str>, v: &str| -> Result<ValueMatch, String> {
        match kind.unwrap_or("Exact") {
            "Exact" => Ok(ValueMatch::Exact(v.to_owned())),
            "RegularExpression" => {
                RegexPath::whole(v).map(ValueMatch::Regex).map_err(|e| format!("regex {v:?}: {e}"))
            }
            other => Err(format!("match type {other:?} is not supported")),
        }
    };
    let mut headers: Vec<(HeaderName, ValueMatch)> = Vec::new();
    for h in &m.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("invalid header name {:?}", h.name))?;
        // Only the first entry of a name counts (the spec's rule for duplicates).
        if !headers.iter().any(|(n, _)| *n == name) {
            headers.push((name, value(h.type_.as_deref(), &h.value)?));
        }
    }
    let mut query: Vec<(String, ValueMatch)> = Vec::new();
    for q in &m.query_params {
        if !query.iter().any(|(n, _)| *n == q.name) {
            query.push((q.name.clone(), value(q.type_.as_deref(), &q.value)?));
        }
    }
    Ok(Conditions { method, headers, query })
}

/// Whether a label selector (`matchLabels` and `matchExpressions`) selects these labels.
pub(super) fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_gateway_api_format() {
        assert_eq!(timeout(Some("10s")), Ok(Some(Duration::from_secs(10))));
        assert_eq!(timeout(Some("1m30s")), Ok(Some(Duration::from_secs(90))));
        assert_eq!(timeout(Some("500ms")), Ok(Some(Duration::from_millis(500))));
        assert_eq!(timeout(Some("0s")), Ok(None));
        assert!(timeout(Some("10")).is_err());
        assert!(timeout(Some("1d")).is_err());
    }
}
