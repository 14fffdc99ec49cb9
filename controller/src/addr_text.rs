//! Addresses as text, written into byte buffers with integer code instead of `core::fmt` (which
//! costs a few thousand instructions per address): the table's endpoint hashes, and the
//! proxy's forwarding headers and access log, all render addresses this way. The text is what
//! `Display` writes.

use std::net::{IpAddr, SocketAddr};

/// Appends `ip`: dotted quad for IPv4, the standard compressed form for IPv6.
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(octet).as_bytes());
            }
        }
        // Rare enough on the request path to use the standard rendering.
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `addr` as `127.0.0.1:8080` or `[::1]:443`.
pub fn push_socket_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    if addr.is_ipv6() {
        out.push(b'[');
        push_ip(out, addr.ip());
        out.push(b']');
    } else {
        push_ip(out, addr.ip());
    }
    out.push(b':');
    out.extend_from_slice(itoa::Buffer::new().format(addr.port()).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_render_as_display_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "127.20.3.44",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).expect("ascii"), ip.to_string());
        }
        for addr in [
            "127.0.0.9:8080",
            "255.255.255.255:65535",
            "0.0.0.0:1",
            "[2001:db8::1]:443",
            "[::ffff:1.2.3.4]:80",
        ] {
            let addr: SocketAddr = addr.parse().expect("address");
            let mut out = Vec::new();
            push_socket_addr(&mut out, addr);
            assert_eq!(String::from_utf8(out).expect("ascii"), addr.to_string());
        }
    }
}
