//! The upstream side: `backend-protocol`, `proxy-ssl-verify` / `-name` / `-server-name`, the
//! `proxy-*-timeout`s, `proxy-next-upstream` (+ `-tries`, `-timeout`), `proxy-body-size`,
//! `load-balance`, `upstream-hash-by`, `custom-http-errors`, `default-backend` and Sluice's
//! `sluice.dev/fallback-service`.

use super::{IngressAnnotations, Reader, FALLBACK_SERVICE};
use crate::policy::BackendProtocol;
use crate::translate::values;

pub(super) fn parse(r: &mut Reader<'_>, out: &mut IngressAnnotations) {
    let up = &mut out.policy.upstream;
    if let Some(protocol) = r.parse("backend-protocol", |v| match v.to_ascii_uppercase().as_str() {
        "HTTP" | "AUTO_HTTP" => Ok(BackendProtocol::Http),
        "HTTPS" => Ok(BackendProtocol::Https),
        "GRPC" => Ok(BackendProtocol::Grpc),
        "GRPCS" => Ok(BackendProtocol::Grpcs),
        "FCGI" => Err("FCGI is not supported; HTTP is used"),
        _ => Err("must be HTTP, HTTPS, GRPC, GRPCS or AUTO_HTTP"),
    }) {
        up.protocol = protocol;
    }
    up.verify = r.parse("proxy-ssl-verify", values::on_off).unwrap_or(up.verify);
    up.send_sni = r.parse("proxy-ssl-server-name", values::on_off).unwrap_or(up.send_sni);
    up.tls_name = r
        .parse("proxy-ssl-name", |v| {
            let ok =
                !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
            ok.then(|| v.to_owned()).ok_or("must be a host name")
        })
        .or(up.tls_name.take());
    let timeout = |r: &mut Reader<'_>, name: &str, current: &mut std::time::Duration| {
        if let Some(d) = r.parse(name, values::seconds) {
            *current = d;
        }
    };
    timeout(r, "proxy-connect-timeout", &mut up.connect_timeout);
    timeout(r, "proxy-read-timeout", &mut up.read_timeout);
    timeout(r, "proxy-send-timeout", &mut up.send_timeout);
    if let Some(next) = r.parse("proxy-next-upstream", |v| values::next_upstream(v, &up.next_upstream)) {
        up.next_upstream = next;
    }
    if let Some(tries) =
        r.parse("proxy-next-upstream-tries", |v| v.parse::<u32>().map_err(|_| "not a number"))
    {
        up.next_upstream.tries = tries;
    }
    if let Some(t) = r.parse("proxy-next-upstream-timeout", values::seconds) {
        up.next_upstream.timeout_total = Some(t).filter(|d| !d.is_zero());
    }
    if let Some(balance) = r.parse("load-balance", values::load_balance) {
        up.balance = balance;
    }
    // upstream-hash-by takes precedence over load-balance, as in ingress-nginx.
    if let Some(balance) = r.parse("upstream-hash-by", values::hash_by) {
        up.balance = balance;
    }
    if let Some(size) = r.parse("proxy-body-size", values::size) {
        out.policy.body_size = size;
    }
    if let Some(codes) = r.parse("custom-http-errors", values::status_list) {
        out.policy.custom_errors = codes;
    }
    // Accepted for compatibility; Sluice always streams (see the README's compatibility table).
    let _ = r.parse("proxy-request-buffering", values::on_off);
    let _ = r.parse("proxy-buffering", values::on_off);
    out.default_backend = r.parse("default-backend", service_name);
    if let Some(value) = r.get_full(FALLBACK_SERVICE) {
        match value.rsplit_once(':').filter(|(name, port)| service_name(name).is_ok() && !port.is_empty()) {
            Some((name, port)) => out.fallback = Some((name.to_owned(), port.to_owned())),
            None => r.invalid_full(FALLBACK_SERVICE, value, "must be SERVICE:PORT (a port number or name)"),
        }
    }
}

/// A Service name: a DNS-1035 label.
fn service_name(v: &str) -> Result<String, &'static str> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    ok.then(|| v.to_owned()).ok_or("not a Service name")
}
