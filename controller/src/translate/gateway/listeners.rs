//! The listeners of a served Gateway: protocol, port and hostname checked, the route kinds it
//! allows, its HTTPS certificates (installed for SNI), and conflicts between listeners that
//! share a port, each with the conditions the spec defines.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::gateway_api::{Condition, Listener, GROUP};
use crate::snapshot::{Key, Snapshot};
use crate::table::RoutingTable;
use crate::tls::TlsCertificate;

use super::super::tls::Certificates;
use super::{grants, Served};

/// Validates one listener: protocol, port, hostname, route kinds and, for HTTPS, its
/// certificates (installed in `table` for SNI).
#[allow(clippy::too_many_arguments)]
pub(super) fn listener<'s>(
    snapshot: &Snapshot,
    key: &Key,
    spec: &'s Listener,
    addresses: Arc<[IpAddr]>,
    certificates: &mut Certificates<'_>,
    table: &mut RoutingTable,
) -> Served<'s> {
    let mut conditions = Vec::new();
    let mut accepted = Ok(());
    let tls = match spec.protocol.as_str() {
        "HTTP" => false,
        "HTTPS" => true,
        other => {
            accepted = Err((
                "UnsupportedProtocol",
                format!("protocol {other:?} is not supported (HTTP and HTTPS are)"),
            ));
            false
        }
    };
    let port = u16::try_from(spec.port).ok().filter(|p| *p > 0).unwrap_or_else(|| {
        accepted = Err(("PortUnavailable", format!("port {} is not a valid port", spec.port)));
        0
    });
    let hostname = match spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(h) => match super::super::rules::validate_host(h) {
            Some(h) => Some(h),
            None => {
                accepted = Err(("UnsupportedValue", format!("hostname {h:?} is not a valid host name")));
                None
            }
        },
    };
    let (takes_http_routes, bad_kinds) = route_kinds(spec);
    let mut certs_ok = true;
    let mut resolved = match bad_kinds {
        Some(kind) => Err(("InvalidRouteKinds", format!("route kind {kind:?} is not supported"))),
        None => Ok(()),
    };
    if tls && accepted.is_ok() {
        match listener_certificates(snapshot, key, spec, certificates) {
            Ok(certs) => install(table, hostname.as_deref(), &certs),
            Err(e) => {
                certs_ok = false;
                resolved = resolved.and(Err(e));
            }
        }
    }
    // A listener with an unsupported route kind still serves the HTTPRoutes it allows.
    let ready = accepted.is_ok() && certs_ok;
    conditions.push(match &accepted {
        Ok(()) => Condition::yes("Accepted", "Accepted"),
        Err((reason, message)) => Condition::no("Accepted", reason, message.clone()),
    });
    conditions.push(match &resolved {
        Ok(()) => Condition::yes("ResolvedRefs", "ResolvedRefs"),
        Err((reason, message)) => Condition::no("ResolvedRefs", reason, message.clone()),
    });
    conditions.push(Condition::no("Conflicted", "NoConflicts", ""));
    conditions.push(if ready {
        Condition::yes("Programmed", "Programmed")
    } else {
        Condition::no(
            "Programmed",
            "Invalid",
            "the listener is not accepted or its references are unresolved",
        )
    });
    Served {
        key: key.clone(),
        spec,
        hostname,
        port,
        tls,
        addresses,
        ready,
        takes_http_routes,
        attached: 0,
        conditions,
    }
}

/// Whether HTTPRoutes may attach, and the first allowed kind Sluice does not serve.
fn route_kinds(spec: &Listener) -> (bool, Option<String>) {
    let Some(kinds) = spec.allowed_routes.as_ref().and_then(|a| a.kinds.as_ref()) else {
        return (true, None);
    };
    if kinds.is_empty() {
        return (true, None);
    }
    let mut takes = false;
    let mut bad = None;
    for k in kinds {
        let group_ok = k.group.as_deref().is_none_or(|g| g == GROUP);
        if group_ok && k.kind == "HTTPRoute" {
            takes = true;
        } else {
            bad.get_or_insert_with(|| k.kind.clone());
        }
    }
    (takes, bad)
}

/// The certificates of an HTTPS listener's `tls.certificateRefs`.
fn listener_certificates(
    snapshot: &Snapshot,
    key: &Key,
    spec: &Listener,
    certificates: &mut Certificates<'_>,
) -> Result<Vec<Arc<TlsCertificate>>, (&'static str, String)> {
    let tls = spec.tls.as_ref();
    if tls.and_then(|t| t.mode.as_deref()).is_some_and(|m| m != "Terminate") {
        return Err(("UnsupportedValue", "TLS mode Passthrough is not supported".to_owned()));
    }
    let refs = tls.map(|t| t.certificate_refs.as_slice()).unwrap_or_default();
    if refs.is_empty() {
        return Err(("InvalidCertificateRef", "an HTTPS listener needs a certificateRef".to_owned()));
    }
    let mut out = Vec::new();
    for r in refs {
        let group_ok = r.group.as_deref().is_none_or(str::is_empty);
        if !group_ok || r.kind.as_deref().is_some_and(|k| k != "Secret") {
            return Err(("InvalidCertificateRef", format!("certificateRef {:?} is not a Secret", r.name)));
        }
        let ns = r.namespace.as_deref().unwrap_or(&key.0);
        if ns != key.0 && !grants::permits(snapshot, ("Gateway", &key.0), ("", "Secret", ns, &r.name)) {
            let message = format!("Secret {ns}/{} needs a ReferenceGrant", r.name);
            return Err(("RefNotPermitted", message));
        }
        match certificates.load(ns, &r.name) {
            Ok(cert) => out.push(cert),
            Err(e) => return Err(("InvalidCertificateRef", e.to_string())),
        }
    }
    Ok(out)
}

/// Installs a listener's certificates for SNI: under the listener hostname, or under the
/// names the certificate covers when the listener has none.
fn install(table: &mut RoutingTable, hostname: Option<&str>, certs: &[Arc<TlsCertificate>]) {
    match hostname {
        Some(h) => {
            if let Some(cert) = certs.iter().find(|c| c.covers(h)).or(certs.first()) {
                table.add_certificate(h, cert.clone());
            }
        }
        None => {
            for cert in certs {
                for name in &cert.names {
                    table.add_certificate(name, cert.clone());
                }
            }
        }
    }
}

/// Listeners of one Gateway that share a port: different protocols conflict
/// (`ProtocolConflict`), as do equal hostnames (`HostnameConflict`); both lose.
pub(super) fn mark_conflicts(listeners: &mut [Served<'_>]) {
    let mut by_port: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (i, l) in listeners.iter().enumerate() {
        by_port.entry(l.port).or_default().push(i);
    }
    let mut conflicted: Vec<(usize, &'static str)> = Vec::new();
    for group in by_port.values() {
        for (n, &i) in group.iter().enumerate() {
            for &j in &group[n + 1..] {
                let (a, b) = (&listeners[i], &listeners[j]);
                let reason = if a.tls != b.tls {
                    Some("ProtocolConflict")
                } else if a.hostname == b.hostname {
                    Some("HostnameConflict")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    conflicted.push((i, reason));
                    conflicted.push((j, reason));
                }
            }
        }
    }
    for (i, reason) in conflicted {
        let l = &mut listeners[i];
        l.ready = false;
        for c in &mut l.conditions {
            match c.type_ {
                "Conflicted" => *c = Condition::yes("Conflicted", reason),
                "Programmed" => {
                    *c = Condition::no("Programmed", "Invalid", "the listener conflicts with another")
                }
                _ => {}
            }
        }
    }
}
