//! The controller ConfigMap: global settings, with ingress-nginx's keys and defaults.
//! A bad value is a warning naming the key, and the default stays.

use std::collections::BTreeMap;

use http::HeaderValue;
use k8s_openapi::api::core::v1::ConfigMap;

use super::annotations;
use super::compression;
use super::config_keys;
use super::request_rules;
use super::values::{self, parse_bool, value, Report};
use super::warning::{Invalid, Warning};
use crate::client;
use crate::settings::GlobalSettings;
use crate::snapshot::{ObjectKind, ObjectRef};

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
        settings.no_tls_redirect_locations = locations(v);
    }
    if let Some(v) = data.get("no-auth-locations") {
        settings.no_auth_locations = locations(v);
    }
    read_policy(&data, &mut settings, &mut invalid);
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
    settings.global_auth = annotations::global_auth(&data, &object, warnings);
    for reason in config_keys::unsupported(&data) {
        warnings.push(Warning { object: object.clone(), reason });
    }
    settings
}

/// A comma-separated list of path prefixes.
fn locations(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| s.starts_with('/')).map(str::to_owned).collect()
}

/// The keys that set route defaults and timeouts.
fn read_policy(data: &BTreeMap<String, String>, settings: &mut GlobalSettings, invalid: &mut Report<'_>) {
    let p = &mut settings.policy;
    let up = &mut p.upstream;
    if let Some(d) = value(data, "proxy-connect-timeout", invalid, values::seconds) {
        up.connect_timeout = d;
    }
    if let Some(d) = value(data, "proxy-read-timeout", invalid, values::seconds) {
        up.read_timeout = d;
    }
    if let Some(d) = value(data, "proxy-send-timeout", invalid, values::seconds) {
        up.send_timeout = d;
    }
    if let Some(size) = value(data, "proxy-body-size", invalid, values::size) {
        p.body_size = size;
    }
    if let Some(codes) = value(data, "custom-http-errors", invalid, values::status_list) {
        p.custom_errors = codes;
    }
    if let Some(balance) = value(data, "load-balance", invalid, values::load_balance) {
        up.balance = balance;
    }
    if let Some(n) =
        value(data, "proxy-next-upstream-tries", invalid, |v| v.parse().map_err(|_| "not a number"))
    {
        up.next_upstream.tries = n;
    }
    if let Some(d) = value(data, "proxy-next-upstream-timeout", invalid, values::seconds) {
        up.next_upstream.timeout_total = Some(d).filter(|d| !d.is_zero());
    }
    let base = up.next_upstream.clone();
    if let Some(next) = value(data, "proxy-next-upstream", invalid, |v| values::next_upstream(v, &base)) {
        up.next_upstream = next;
    }
    if let Some(d) = value(data, "keep-alive", invalid, values::seconds) {
        settings.keep_alive = d;
    }
    if let Some(d) = value(data, "client-header-timeout", invalid, values::seconds) {
        settings.client_header_timeout = d;
    }
    if let Some(d) = value(data, "client-body-timeout", invalid, values::seconds) {
        settings.client_body_timeout = d;
    }
    if let Some(d) = value(data, "upstream-keepalive-timeout", invalid, values::seconds) {
        settings.upstream_keepalive = d;
    }
    read_edge(data, settings, invalid);
    request_rules::read(data, settings, invalid);
    settings.compression = compression::read(data, invalid);
}

/// The keys about clients: their address, source ranges, and the status of limited requests.
fn read_edge(data: &BTreeMap<String, String>, settings: &mut GlobalSettings, invalid: &mut Report<'_>) {
    let c = &mut settings.client;
    if let Some(b) = value(data, "use-forwarded-headers", invalid, values::boolean) {
        c.use_forwarded_headers = b;
    }
    if let Some(b) = value(data, "compute-full-forwarded-for", invalid, values::boolean) {
        c.compute_full_forwarded_for = b;
    }
    if let Some(b) = value(data, "use-proxy-protocol", invalid, values::boolean) {
        c.use_proxy_protocol = b;
    }
    if let Some(d) = value(data, "proxy-protocol-header-timeout", invalid, values::seconds) {
        c.proxy_protocol_timeout = d.max(std::time::Duration::from_millis(100));
    }
    if let Some(h) = value(data, "forwarded-for-header", invalid, |v| {
        http::HeaderName::try_from(v.to_ascii_lowercase()).map_err(|_| "not a header name")
    }) {
        c.forwarded_for_header = h;
    }
    if let Some(nets) = value(data, "proxy-real-ip-cidr", invalid, client::cidr_list) {
        c.trusted = nets;
    }
    let source = &mut settings.policy.source;
    for key in ["whitelist-source-range", "allowlist-source-range"] {
        if let Some(nets) = value(data, key, invalid, client::cidr_list) {
            source.allow = nets;
        }
    }
    for key in ["denylist-source-range", "block-cidrs"] {
        if let Some(nets) = value(data, key, invalid, client::cidr_list) {
            source.deny.extend(nets);
        }
    }
    let status = |v: &str| match v.parse::<u16>() {
        Ok(code @ 400..=599) => Ok(code),
        _ => Err("must be a status code from 400 to 599"),
    };
    let bytes = |v: &str| v.parse::<u64>().map_err(|_| "must be a number of bytes");
    if let Some(rate) = value(data, "limit-rate", invalid, bytes) {
        settings.policy.response_rate.bytes_per_second = rate;
    }
    if let Some(after) = value(data, "limit-rate-after", invalid, bytes) {
        settings.policy.response_rate.after = after;
    }
    if let Some(code) = value(data, "limit-req-status-code", invalid, status) {
        settings.limit_req_status = code;
    }
    if let Some(code) = value(data, "limit-conn-status-code", invalid, status) {
        settings.limit_conn_status = code;
    }
    let buffers = |v: &str| {
        let (n, size) = v.split_once(' ').ok_or("expected a count and a size, such as 4 8k")?;
        let n: usize = n.trim().parse().map_err(|_| "expected a count and a size, such as 4 8k")?;
        let size = values::size(size.trim())?.ok_or("the size must not be 0")?;
        let size = usize::try_from(size).map_err(|_| "too large")?;
        match (n, size) {
            (1..=64, 1024..=1_048_576) => Ok((size, n * size)),
            _ => Err("count from 1 to 64, size from 1k to 1m"),
        }
    };
    if let Some((line, total)) = value(data, "large-client-header-buffers", invalid, buffers) {
        (settings.header_line_max, settings.header_total_max) = (line, total);
    }
    let count = |v: &str| v.trim().parse::<usize>().map_err(|_| "must be a number (0: no cap)");
    if let Some(n) = value(data, "max-worker-connections", invalid, count) {
        // ingress-nginx's 0 means "as many as open files allow": no cap of Sluice's own.
        settings.max_worker_connections = n;
    }
    if let Some(n) = value(data, "max-connections-per-client", invalid, count) {
        settings.max_connections_per_client = n;
    }
    if let Some(n) = value(data, "max-unfinished-heads", invalid, count) {
        settings.max_unfinished_heads = n;
    }
}
