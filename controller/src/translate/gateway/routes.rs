//! HTTPRoutes onto listeners: `parentRefs` (with `sectionName` and `port`) against each
//! listener's `allowedRoutes` and hostname, then every rule match compiled into a table route
//! under each effective hostname, in the spec's precedence order.

use std::cmp::Reverse;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::gateway_api::{Condition, HttpRoute, HttpRouteMatch, ParentRef, ParentStatus, RouteStatus, GROUP};
use crate::matching::PathMatch;
use crate::policy::{GatewayRule, RoutePolicy};
use crate::rewrite::RegexPath;
use crate::snapshot::{Key, ObjectKind, ObjectRef, Snapshot};
use crate::table::{wildcard_covers, Backend, BackendKey, Route, RoutingTable};

use super::super::endpoints::Endpoints;
use super::super::rules::validate_host;
use super::super::warning::{Invalid, Warning};
use super::filters::{self, RuleContext, RuleParts};
use super::matches;
use super::Served;

/// Attaches every HTTPRoute to the served listeners its parentRefs select, adds its routes to
/// `table`, counts `attachedRoutes`, and returns each route's status.
pub(super) fn attach(
    snapshot: &Snapshot,
    controller_name: &str,
    defaults: &RoutePolicy,
    listeners: &mut [Served<'_>],
    endpoints: &mut Endpoints<'_>,
    table: &mut RoutingTable,
    warnings: &mut Vec<Warning>,
) -> Vec<RouteStatus> {
    let mut routes: Vec<(&Key, &HttpRoute)> = snapshot.http_routes.iter().map(|(k, r)| (k, &**r)).collect();
    routes.sort_by_key(|(k, r)| (r.metadata.creation_timestamp.as_ref().map(|t| t.0), *k));
    let mut statuses = Vec::new();
    for (key, route) in routes {
        let object = ObjectRef::from_meta(ObjectKind::HttpRoute, &route.metadata);
        let hostnames = route_hostnames(route, &object, warnings);
        let mut parents = Vec::new();
        let mut attached: Vec<(usize, Vec<Option<String>>)> = Vec::new();
        for parent in &route.spec.parent_refs {
            let Some(accepted) = parent_listeners(snapshot, key, parent, listeners, hostnames.as_deref())
            else {
                continue;
            };
            let condition = match accepted {
                Ok(found) => {
                    for (i, hosts) in found {
                        if !attached.iter().any(|(j, _)| *j == i) {
                            listeners[i].attached += 1;
                            attached.push((i, hosts));
                        }
                    }
                    Condition::yes("Accepted", "Accepted")
                }
                Err((reason, message)) => {
                    let what = format!("parentRef {:?}", parent.name);
                    let warning = Invalid::Gateway { what, reason, message: message.clone() };
                    warnings.push(Warning { object: object.clone(), reason: warning });
                    Condition::no("Accepted", reason, message)
                }
            };
            parents.push((parent.clone(), condition));
        }
        if parents.is_empty() {
            continue;
        }
        let cx = RuleContext { snapshot, namespace: &key.0, object: &object, defaults };
        let resolved = add_rules(&cx, route, key, &attached, listeners, endpoints, table, warnings);
        let resolved = match resolved {
            None => Condition::yes("ResolvedRefs", "ResolvedRefs"),
            Some((reason, message)) => Condition::no("ResolvedRefs", reason, message),
        };
        let parents = parents
            .into_iter()
            .map(|(parent_ref, accepted)| ParentStatus {
                parent_ref,
                conditions: vec![accepted, resolved.clone()],
            })
            .collect();
        let other_parents = route
            .status
            .as_ref()
            .and_then(|s| s.get("parents"))
            .and_then(|p| p.as_array())
            .map(|entries| {
                let ours = |e: &&serde_json::Value| {
                    e.get("controllerName").and_then(|c| c.as_str()) == Some(controller_name)
                };
                entries.iter().filter(|e| !ours(e)).cloned().collect()
            })
            .unwrap_or_default();
        statuses.push(RouteStatus {
            namespace: key.0.clone(),
            name: key.1.clone(),
            observed_generation: route.metadata.generation,
            parents,
            other_parents,
        });
    }
    statuses
}

/// The route's valid hostnames (lowercase; invalid ones are reported and dropped), or `None`
/// when it names none (any host). A route whose hostnames are all invalid matches no host.
fn route_hostnames(
    route: &HttpRoute,
    object: &ObjectRef,
    warnings: &mut Vec<Warning>,
) -> Option<Vec<String>> {
    if route.spec.hostnames.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for h in &route.spec.hostnames {
        match validate_host(h) {
            Some(h) => out.push(h),
            None => warnings
                .push(Warning { object: object.clone(), reason: Invalid::InvalidHost { host: h.clone() } }),
        }
    }
    Some(out)
}

type Attached = Vec<(usize, Vec<Option<String>>)>;

/// The listeners a parentRef attaches the route to, with the effective hostnames on each;
/// `None` when the parent is not a Gateway Sluice serves (another controller's status).
fn parent_listeners(
    snapshot: &Snapshot,
    route_key: &Key,
    parent: &ParentRef,
    listeners: &[Served<'_>],
    hostnames: Option<&[String]>,
) -> Option<Result<Attached, (&'static str, String)>> {
    let group_ok = parent.group.as_deref().is_none_or(|g| g == GROUP);
    if !group_ok || parent.kind.as_deref().is_some_and(|k| k != "Gateway") {
        return None;
    }
    let gateway = (parent.namespace.clone().unwrap_or_else(|| route_key.0.clone()), parent.name.clone());
    let of_gateway: Vec<usize> = (0..listeners.len()).filter(|&i| listeners[i].key == gateway).collect();
    if of_gateway.is_empty() {
        // A Gateway Sluice does not serve, or one without listeners.
        return snapshot.gateways.contains_key(&gateway).then(|| {
            Err(("NoMatchingParent", format!("Gateway {}/{} has no listener", gateway.0, gateway.1)))
        });
    }
    let candidates: Vec<usize> = of_gateway
        .into_iter()
        .filter(|&i| parent.section_name.as_deref().is_none_or(|s| listeners[i].spec.name == s))
        .filter(|&i| parent.port.is_none_or(|p| i32::from(listeners[i].port) == p))
        .filter(|&i| listeners[i].ready)
        .collect();
    if candidates.is_empty() {
        return Some(Err((
            "NoMatchingParent",
            "no valid listener matches the sectionName and port".to_owned(),
        )));
    }
    let allowed: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| {
            listeners[i].takes_http_routes && namespace_allowed(snapshot, &listeners[i], &route_key.0)
        })
        .collect();
    if allowed.is_empty() {
        return Some(Err((
            "NotAllowedByListeners",
            "the listeners' allowedRoutes refuse this route".to_owned(),
        )));
    }
    let found: Attached = allowed
        .into_iter()
        .map(|i| (i, intersect(listeners[i].hostname.as_deref(), hostnames)))
        .filter(|(_, hosts)| !hosts.is_empty())
        .collect();
    if found.is_empty() {
        return Some(Err((
            "NoMatchingListenerHostname",
            "no hostname of the route intersects a listener's hostname".to_owned(),
        )));
    }
    Some(Ok(found))
}

/// Whether a listener's `allowedRoutes.namespaces` lets routes of `namespace` attach.
fn namespace_allowed(snapshot: &Snapshot, listener: &Served<'_>, namespace: &str) -> bool {
    let from = listener.spec.allowed_routes.as_ref().and_then(|a| a.namespaces.as_ref());
    match from.and_then(|f| f.from.as_deref()).unwrap_or("Same") {
        "All" => true,
        "Same" => listener.key.0 == namespace,
        "Selector" => {
            let selector = from.and_then(|f| f.selector.as_ref());
            let labels = snapshot
                .namespaces
                .get(&(String::new(), namespace.to_owned()))
                .and_then(|n| n.metadata.labels.clone())
                .unwrap_or_default();
            selector.is_some_and(|s| matches::selects(s, &labels))
        }
        _ => false,
    }
}

/// The effective hostnames of a route on a listener (`None`: any host); `route` is `None` when
/// the route names no hostname.
pub(super) fn intersect(listener: Option<&str>, route: Option<&[String]>) -> Vec<Option<String>> {
    let (l, route) = match (listener, route) {
        (None, None) => return vec![None],
        (None, Some(route)) => return route.iter().cloned().map(Some).collect(),
        (Some(l), None) => return vec![Some(l.to_owned())],
        (Some(l), Some(route)) => (l, route),
    };
    let covers = wildcard_covers;
    let mut out: Vec<Option<String>> = Vec::new();
    for r in route {
        let hit = if r == l || covers(l, r) {
            Some(r.clone())
        } else if covers(r, l) {
            Some(l.to_owned())
        } else {
            None
        };
        if let Some(h) = hit.filter(|h| !out.contains(&Some(h.clone()))) {
            out.push(Some(h));
        }
    }
    out
}

/// Compiles every rule match and adds it under each listener and hostname the route is
/// attached with. Returns the first unresolved reference (for `ResolvedRefs`).
#[allow(clippy::too_many_arguments)]
fn add_rules(
    cx: &RuleContext<'_>,
    route: &HttpRoute,
    key: &Key,
    attached: &Attached,
    listeners: &[Served<'_>],
    endpoints: &mut Endpoints<'_>,
    table: &mut RoutingTable,
    warnings: &mut Vec<Warning>,
) -> Option<(&'static str, String)> {
    let default_rule = vec![Default::default()];
    let rules = route.spec.rules.as_ref().unwrap_or(&default_rule);
    let mut unresolved = None;
    let created = route
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or((0, 0), |t| (t.0.as_second(), t.0.subsec_nanosecond()));
    let name = format!("{}/{}", key.0, key.1);
    let (namespace, route_name): (Arc<str>, Arc<str>) =
        (Arc::from(key.0.as_str()), Arc::from(key.1.as_str()));
    for (ri, rule) in rules.iter().enumerate() {
        let parts = filters::compile_rule(cx, ri, rule, endpoints, &mut unresolved, warnings);
        let default_match = vec![HttpRouteMatch::default()];
        let matches = rule.matches.as_ref().filter(|m| !m.is_empty()).unwrap_or(&default_match);
        for (mi, m) in matches.iter().enumerate() {
            let compiled = match compile_match(m) {
                Ok(c) => c,
                Err(message) => {
                    let what = format!("rule {ri} match {mi}");
                    let reason = Invalid::Gateway { what, reason: "UnsupportedValue", message };
                    warnings.push(Warning { object: cx.object.clone(), reason });
                    continue;
                }
            };
            let (path, conditions) = compiled;
            let path_kind = match &path {
                PathMatch::Exact(_) => 0,
                PathMatch::Regex(_) => 1,
                _ => 2,
            };
            let precedence = (
                path_kind,
                Reverse(path.path().len()),
                u8::from(conditions.method.is_none()),
                Reverse(conditions.headers.len()),
                Reverse(conditions.query.len()),
                created,
                name.clone(),
                ri,
                mi,
            );
            for (li, hosts) in attached {
                let listener = &listeners[*li];
                let table_route = Arc::new(build_route(
                    &parts,
                    &namespace,
                    &route_name,
                    path.clone(),
                    conditions.clone(),
                    listener.port,
                    hosts,
                ));
                for host in hosts {
                    for ip in listener.addresses.iter() {
                        let socket = table.gateway_mut(SocketAddr::new(*ip, listener.port));
                        let routes = socket.listener_mut(listener.hostname.as_deref(), listener.tls);
                        routes.add(host.as_deref(), precedence.clone(), table_route.clone());
                    }
                }
            }
        }
    }
    unresolved
}

/// One route of the table for a compiled rule match on a listener.
fn build_route(
    parts: &RuleParts,
    namespace: &Arc<str>,
    name: &Arc<str>,
    path: PathMatch,
    conditions: crate::policy::Conditions,
    listener_port: u16,
    hosts: &[Option<String>],
) -> Route {
    let first = parts.rule.backends.iter().find_map(|b| b.backend.clone());
    let backend = first.unwrap_or_else(|| {
        let key =
            BackendKey { namespace: namespace.to_string(), service: String::new(), port: String::new() };
        Arc::new(Backend::new(key, Vec::new()))
    });
    let host = match hosts {
        [Some(h)] => Arc::from(h.as_str()),
        _ => Arc::from("_"),
    };
    Route {
        path,
        namespace: namespace.clone(),
        ingress: name.clone(),
        service: Arc::from(backend.key.service.as_str()),
        host,
        ssl_redirect: false,
        backend,
        rewrite: None,
        canary: None,
        policy: parts.policy.clone(),
        gateway: Some(Box::new(GatewayRule { conditions, listener_port, ..parts.rule.clone() })),
    }
}

/// A match's path and its other conditions.
fn compile_match(m: &HttpRouteMatch) -> Result<(PathMatch, crate::policy::Conditions), String> {
    let (kind, value) = match &m.path {
        None => ("PathPrefix", "/"),
        Some(p) => (p.type_.as_deref().unwrap_or("PathPrefix"), p.value.as_deref().unwrap_or("/")),
    };
    let path = match kind {
        "Exact" | "PathPrefix" if !value.starts_with('/') => {
            return Err(format!("path {value:?} must start with '/'"))
        }
        "Exact" => PathMatch::Exact(value.to_owned()),
        "PathPrefix" => PathMatch::prefix(value),
        "RegularExpression" => {
            PathMatch::Regex(RegexPath::whole(value).map_err(|e| format!("path regex {value:?}: {e}"))?)
        }
        other => return Err(format!("path match type {other:?} is not supported")),
    };
    let conditions = matches::conditions(m)?;
    Ok((path, conditions))
}
