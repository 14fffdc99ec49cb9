//! Renderings the request path makes of its facts (client addresses, request IDs), written with
//! integer code into byte buffers instead of through `core::fmt`, which costs a few thousand
//! instructions per address.

use std::net::IpAddr;

use http::HeaderValue;

/// Appends `ip` as text: dotted quad for IPv4, the standard compressed form for IPv6.
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

/// `ip` as a header value (an address is always a valid one).
pub fn ip_header_value(ip: IpAddr) -> HeaderValue {
    let mut text = Vec::with_capacity(15);
    push_ip(&mut text, ip);
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).unwrap_or(HeaderValue::from_static(""))
}

/// 32 lowercase hex digits of `high` then `low`, as nginx's `$request_id` looks.
pub fn hex_id(high: u64, low: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    let n = (u128::from(high) << 64) | u128::from(low);
    for (i, digit) in id.iter_mut().enumerate() {
        *digit = HEX[((n >> (124 - 4 * i)) & 15) as usize];
    }
    String::from_utf8(id.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_render_as_std_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.20.3.44",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).expect("ascii"), ip.to_string());
            assert_eq!(ip_header_value(ip).to_str().expect("ascii"), ip.to_string());
        }
    }

    #[test]
    fn ids_are_both_words_in_hex() {
        assert_eq!(hex_id(0, 0), "0".repeat(32));
        assert_eq!(hex_id(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210), "0123456789abcdeffedcba9876543210");
        assert_eq!(hex_id(u64::MAX, 1), format!("{:016x}{:016x}", u64::MAX, 1));
    }
}
