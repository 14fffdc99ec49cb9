//! ReferenceGrant: an object may refer to one in another namespace only when a grant in the
//! target's namespace allows its kind and namespace.

use crate::gateway_api::GROUP;
use crate::snapshot::Snapshot;

/// Whether a Gateway API object of `from` = (kind, namespace) may refer to `to` = (group, kind,
/// namespace, name). References within one namespace need no grant.
pub fn permits(snapshot: &Snapshot, from: (&str, &str), to: (&str, &str, &str, &str)) -> bool {
    let (from_kind, from_ns) = from;
    let (to_group, to_kind, to_ns, to_name) = to;
    if from_ns == to_ns {
        return true;
    }
    snapshot.reference_grants.iter().filter(|((ns, _), _)| ns == to_ns).any(|(_, grant)| {
        let from_ok =
            grant.spec.from.iter().any(|f| f.group == GROUP && f.kind == from_kind && f.namespace == from_ns);
        let to_ok = grant.spec.to.iter().any(|t| {
            t.group == to_group
                && t.kind == to_kind
                && t.name.as_deref().is_none_or(|n| n.is_empty() || n == to_name)
        });
        from_ok && to_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway_api::{GrantFrom, GrantTo, ReferenceGrant, ReferenceGrantSpec};
    use crate::snapshot::Object;

    fn grant(ns: &str, from_ns: &str, name: Option<&str>) -> Object {
        let mut g = ReferenceGrant {
            spec: ReferenceGrantSpec {
                from: vec![GrantFrom {
                    group: GROUP.into(),
                    kind: "HTTPRoute".into(),
                    namespace: from_ns.into(),
                }],
                to: vec![GrantTo {
                    group: String::new(),
                    kind: "Service".into(),
                    name: name.map(str::to_owned),
                }],
            },
            ..ReferenceGrant::default()
        };
        g.metadata.name = Some("g".into());
        g.metadata.namespace = Some(ns.into());
        Object::reference_grant(g)
    }

    #[test]
    fn grants_name_the_referrer_namespace_and_the_target() {
        let mut snapshot = Snapshot::default();
        snapshot.insert(grant("backends", "web", Some("api")));
        let route = ("HTTPRoute", "web");
        assert!(permits(&snapshot, route, ("", "Service", "backends", "api")));
        assert!(!permits(&snapshot, route, ("", "Service", "backends", "other")));
        assert!(!permits(&snapshot, ("HTTPRoute", "elsewhere"), ("", "Service", "backends", "api")));
        assert!(permits(&snapshot, ("HTTPRoute", "x"), ("", "Service", "x", "anything")));
    }
}
