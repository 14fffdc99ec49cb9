//! The client's address: which hops are trusted to report it (`use-forwarded-headers`,
//! `forwarded-for-header`, `proxy-real-ip-cidr`, PROXY protocol), and the source-range filters
//! that use it (`whitelist-source-range` / `allowlist-source-range`, `denylist-source-range`).
//!
//! Resolution is nginx's realip module with `real_ip_recursive on`: when the TCP peer is
//! trusted, the forwarded-for header is read from the right, skipping trusted addresses, and the
//! first untrusted address is the client.

use std::net::IpAddr;

use http::HeaderName;
use ipnet::IpNet;

/// How the client address is found, from the controller ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// `use-forwarded-headers` (false): trust the forwarded headers of trusted peers.
    pub use_forwarded_headers: bool,
    /// `forwarded-for-header` (`X-Forwarded-For`): where trusted peers put the client chain.
    pub forwarded_for_header: HeaderName,
    /// `compute-full-forwarded-for`: append the peer to the incoming `X-Forwarded-For` (Sluice's
    /// default, true) or send only the resolved client (false, ingress-nginx's default).
    pub compute_full_forwarded_for: bool,
    /// `proxy-real-ip-cidr` (`0.0.0.0/0`): the peers trusted to report the client.
    pub trusted: Vec<IpNet>,
    /// `use-proxy-protocol` (false): every connection starts with a PROXY protocol header, whose
    /// source address is the client.
    pub use_proxy_protocol: bool,
    /// `proxy-protocol-header-timeout` (5 s): how long a new connection may take to send it.
    pub proxy_protocol_timeout: std::time::Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            use_forwarded_headers: false,
            forwarded_for_header: HeaderName::from_static("x-forwarded-for"),
            compute_full_forwarded_for: true,
            trusted: vec![IpNet::V4(ipnet::Ipv4Net::default())],
            use_proxy_protocol: false,
            proxy_protocol_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// An IPv4-mapped IPv6 address as IPv4, so that `10.0.0.0/8` matches `::ffff:10.1.2.3`.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

impl ClientSettings {
    /// Whether `peer` may report the client's address.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        contains(&self.trusted, canonical(peer))
    }

    /// The client address of a request from `peer` (the TCP peer, or the PROXY protocol source)
    /// carrying `forwarded_for` (the values of the forwarded-for header, in order).
    pub fn resolve<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.use_forwarded_headers || !self.trusts(peer) {
            return peer;
        }
        let chain: Vec<IpAddr> = forwarded_for
            .flat_map(|v| v.split(','))
            .filter_map(|a| parse_hop(a.trim()))
            .map(canonical)
            .collect();
        let mut client = peer;
        for hop in chain.iter().rev() {
            client = *hop;
            if !self.trusts(*hop) {
                break;
            }
        }
        client
    }
}

/// One forwarded-for entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok())
}

/// Source-address filters: a deny list, and an allow list that, when not empty, admits only the
/// addresses it contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRanges {
    /// `whitelist-source-range` / `allowlist-source-range`.
    pub allow: Vec<IpNet>,
    /// `denylist-source-range`.
    pub deny: Vec<IpNet>,
}

impl SourceRanges {
    /// Whether a request from `client` may proceed (else 403). The deny list wins.
    pub fn permits(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        !contains(&self.deny, client) && (self.allow.is_empty() || contains(&self.allow, client))
    }

    /// Whether no filter is set (the common case, skipped per request).
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// Parses a comma-separated CIDR list (`10.0.0.0/8, 2001:db8::/32, 192.0.2.7`); a bare address
/// is a single-host range.
pub fn cidr_list(value: &str) -> Result<Vec<IpNet>, &'static str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| "not a list of CIDRs such as 10.0.0.0/8, 2001:db8::/32")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_trusted_only_from_trusted_peers_and_read_from_the_right() {
        let settings = ClientSettings {
            use_forwarded_headers: true,
            trusted: cidr_list("10.0.0.0/8, 127.0.0.1").expect("cidrs"),
            ..ClientSettings::default()
        };
        let xff = ["203.0.113.9, 198.51.100.1", "10.1.1.1"];
        assert_eq!(settings.resolve(ip("127.0.0.1"), xff.into_iter()), ip("198.51.100.1"));
        assert_eq!(settings.resolve(ip("192.0.2.5"), xff.into_iter()), ip("192.0.2.5"), "untrusted peer");
        assert_eq!(settings.resolve(ip("10.0.0.1"), ["10.2.2.2"].into_iter()), ip("10.2.2.2"), "all trusted");
        assert_eq!(
            settings.resolve(ip("10.0.0.1"), ["garbage, [2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
        let off = ClientSettings { use_forwarded_headers: false, ..settings };
        assert_eq!(off.resolve(ip("127.0.0.1"), xff.into_iter()), ip("127.0.0.1"));
    }

    #[test]
    fn deny_wins_and_allow_lists_admit_only_their_ranges() {
        let ranges = SourceRanges {
            allow: cidr_list("192.0.2.0/24, 2001:db8::/32").expect("cidrs"),
            deny: cidr_list("192.0.2.66").expect("cidrs"),
        };
        assert!(ranges.permits(ip("192.0.2.10")));
        assert!(ranges.permits(ip("::ffff:192.0.2.10")), "IPv4-mapped addresses match IPv4 ranges");
        assert!(ranges.permits(ip("2001:db8::5")));
        assert!(!ranges.permits(ip("192.0.2.66")));
        assert!(!ranges.permits(ip("198.51.100.1")));
        assert!(SourceRanges::default().permits(ip("198.51.100.1")));
        assert!(cidr_list("10.0.0.0/33").is_err() && cidr_list("nope").is_err());
    }
}
