//! One HTTPRoute rule compiled: match conditions, filters (header modifiers, redirect, URL
//! rewrite, mirror), weighted backendRefs with their own filters, and timeouts.
//!
//! A rule whose filters cannot be honoured, or whose backendRefs are invalid, keeps matching:
//! its requests (or the invalid references' share of them) are answered 500, as the spec asks,
//! rather than served without the filter.

use std::sync::Arc;

use http::HeaderValue;
use k8s_openapi::api::networking::v1::{IngressServiceBackend, ServiceBackendPort};

use crate::gateway_api::{HttpBackendRef, HttpRouteRule, RequestMirror};
use crate::policy::{
    BackendProtocol, Conditions, GatewayRule, HeaderModifier, Mirror, RoutePolicy, UrlPart, WeightedBackend,
};
use crate::snapshot::{ObjectRef, Snapshot};
use crate::table::Backend;

use super::super::endpoints::Endpoints;
use super::super::warning::{Invalid, Warning};
use super::grants;
use super::values::{cors, modifier, redirect, rewrite, timeout};

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
            "CORS" => cors(filter.cors.as_ref()).map(|c| policy.cors = Some(c)),
            "RequestMirror" => match filter.request_mirror.as_ref() {
                Some(m) if policy.mirror.is_none() => {
                    mirror(cx, m, endpoints, warnings).map(|m| policy.mirror = m)
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
    if let Some(retry) = &rule.retry {
        let next = &mut policy.upstream.next_upstream;
        let mut codes: Vec<u16> = retry
            .codes
            .iter()
            .filter_map(|c| u16::try_from(*c).ok())
            .filter(|c| (500..600).contains(c))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        next.statuses = codes;
        next.error = true;
        next.tries = retry.attempts.map_or(next.tries, |a| u32::try_from(a).unwrap_or(0).saturating_add(1));
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

/// A `RequestMirror`: copies go to one of its backend's ready endpoints as they are at
/// translation (the table is rebuilt when endpoints change), for the share of requests its
/// `percent` or `fraction` names (all when neither is set).
fn mirror(
    cx: &RuleContext<'_>,
    m: &RequestMirror,
    endpoints: &mut Endpoints<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Arc<Mirror>>, String> {
    let r = &m.backend_ref;
    let sample = match (m.percent, &m.fraction) {
        (Some(p), _) if (0..=100).contains(&p) => (p < 100).then_some((p.unsigned_abs(), 100)),
        (None, Some(f)) => {
            let denominator = f.denominator.unwrap_or(100);
            if f.numerator < 0 || denominator <= 0 || f.numerator > denominator {
                return Err(format!("invalid mirror fraction {}/{denominator}", f.numerator));
            }
            (f.numerator < denominator).then_some((f.numerator.unsigned_abs(), denominator.unsigned_abs()))
        }
        (None, None) => None,
        (Some(p), _) => return Err(format!("invalid mirror percent {p}")),
    };
    let backend = resolve(cx, r, endpoints, warnings).map_err(|(_, message)| message)?;
    let Some(endpoint) = backend.endpoints.first() else {
        return Ok(None);
    };
    let ns = r.namespace.as_deref().unwrap_or(cx.namespace);
    let host =
        HeaderValue::from_str(&format!("{}.{ns}", r.name)).map_err(|_| "invalid mirror name".to_owned())?;
    let target = vec![UrlPart::Literal(format!("http://{endpoint}")), UrlPart::RequestUri];
    Ok(Some(Arc::new(Mirror { target, host, body: true, sample })))
}
