//! Renderings the request path makes of its facts (client addresses as header values, request
//! IDs), without `core::fmt`; addresses are written by `sluice_controller::addr_text`.

use std::net::IpAddr;

use http::HeaderValue;
use sluice_controller::addr_text::push_ip;

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
    fn addresses_make_header_values_of_their_display_text() {
        for ip in ["127.20.3.44", "2001:db8::8a2e:370:7334"] {
            let ip: IpAddr = ip.parse().expect("ip");
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
