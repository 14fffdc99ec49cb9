//! The edge annotations: source ranges (`whitelist-source-range` / `allowlist-source-range`,
//! `denylist-source-range`), `satisfy`, rate limits (`limit-rps`, `limit-rpm`,
//! `limit-connections`, `limit-burst-multiplier`, `limit-whitelist` / `limit-allowlist`) and
//! bandwidth limits (`limit-rate`, `limit-rate-after`). An annotation replaces the ConfigMap's
//! value of the same kind, as in ingress-nginx.

use super::Reader;
use crate::client::cidr_list;
use crate::policy::{RateLimits, RoutePolicy};
use crate::settings::GlobalSettings;

/// The largest rate or connection count accepted.
const MAX_LIMIT: u32 = 1_000_000;
/// The largest `limit-rate` (KB/s) or `limit-rate-after` (KB) accepted.
const MAX_KILOBYTES: u64 = 1_000_000_000;

pub(super) fn parse(r: &mut Reader<'_>, settings: &GlobalSettings, policy: &mut RoutePolicy) {
    let allow =
        r.parse("allowlist-source-range", cidr_list).or_else(|| r.parse("whitelist-source-range", cidr_list));
    if let Some(allow) = allow {
        policy.source.allow = allow;
    }
    if let Some(deny) = r.parse("denylist-source-range", cidr_list) {
        policy.source.deny = deny;
    }
    if let Some(any) = r.parse("satisfy", |v| match v {
        "any" => Ok(true),
        "all" => Ok(false),
        _ => Err("must be any or all"),
    }) {
        policy.satisfy_any = any;
    }
    let kilobytes = |v: &str| match v.parse::<u64>() {
        Ok(n) if n <= MAX_KILOBYTES => Ok(n * 1024),
        _ => Err("must be a number of kilobytes from 0 to 1000000000"),
    };
    if let Some(rate) = r.parse("limit-rate", kilobytes) {
        policy.response_rate.bytes_per_second = rate;
    }
    if let Some(after) = r.parse("limit-rate-after", kilobytes) {
        policy.response_rate.after = after;
    }
    let count = |v: &str| match v.parse::<u32>() {
        Ok(n) if n <= MAX_LIMIT => Ok(n),
        _ => Err("must be a number from 0 to 1000000"),
    };
    let rps = r.parse("limit-rps", count).filter(|n| *n > 0);
    let rpm = r.parse("limit-rpm", count).filter(|n| *n > 0);
    let connections = r.parse("limit-connections", count).filter(|n| *n > 0);
    let burst_multiplier = r
        .parse("limit-burst-multiplier", |v| match v.parse::<u32>() {
            Ok(n @ 1..=1000) => Ok(n),
            _ => Err("must be a number from 1 to 1000"),
        })
        .unwrap_or(5);
    let exempt = r
        .parse("limit-allowlist", cidr_list)
        .or_else(|| r.parse("limit-whitelist", cidr_list))
        .unwrap_or_default();
    if rps.is_some() || rpm.is_some() || connections.is_some() {
        policy.limits = Some(RateLimits {
            rps,
            rpm,
            connections,
            burst_multiplier,
            exempt,
            status: settings.limit_req_status,
            connection_status: settings.limit_conn_status,
        });
    }
}
