//! Writes one access-log entry as a JSON line straight into a byte buffer: no `tracing` event,
//! no visitor, no `String` per field. The line has the fields and order the `tracing` JSON
//! formatter gave it (`timestamp`, `level`, the entry's fields, `target`), so log pipelines
//! that parse it see no change.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use super::AccessEntry;
use sluice_controller::addr_text::{push_ip, push_socket_addr};

/// `,"name":"`, the text before a string field's value, as one literal: one copy per field.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":\"").as_bytes()
    };
}

/// Appends `entry`, stamped `now`, as one JSON line (with its newline) to `out`.
pub fn format(entry: &AccessEntry<'_>, now: SystemTime, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(now, out);
    out.extend_from_slice(b"\",\"level\":\"INFO\"");
    if let Some(ip) = entry.remote_addr {
        field(out, key!("remote_addr"), |out| push_ip(out, ip));
    }
    string_field(out, key!("request_id"), entry.request_id);
    string_field(out, key!("method"), entry.method);
    string_field(out, key!("host"), entry.host);
    string_field(out, key!("uri"), entry.uri);
    out.extend_from_slice(b",\"status\":");
    integer(out, entry.status);
    out.extend_from_slice(b",\"request_time\":");
    integer(out, entry.duration.as_secs());
    out.push(b'.');
    let micros = entry.duration.subsec_micros();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(micros).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 6 - digits.len()));
    out.extend_from_slice(digits);
    if let Some(addr) = entry.upstream {
        field(out, key!("upstream_addr"), |out| push_socket_addr(out, addr));
    }
    string_field(out, key!("namespace"), entry.namespace);
    string_field(out, key!("ingress"), entry.ingress);
    string_field(out, key!("service"), entry.service);
    string_field(out, key!("route_target"), entry.target);
    out.extend_from_slice(b",\"attempts\":");
    integer(out, entry.attempts);
    if let Some(error) = &entry.error {
        string_field(out, key!("error"), error);
    }
    out.extend_from_slice(b",\"target\":\"access\"}\n");
}

fn integer(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `,"name":"value"` with the value escaped as JSON requires; `key` is `,"name":"` ([`key!`]).
fn string_field(out: &mut Vec<u8>, key: &[u8], value: &str) {
    field(out, key, |out| escaped(value, out));
}

/// `,"name":"…"` with `write` writing the value (which must need no escaping, or escape it).
fn field(out: &mut Vec<u8>, key: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(key);
    write(out);
    out.push(b'"');
}

/// The JSON string escape: `"`, `\\`, DEL and control characters; runs of plain bytes are copied
/// whole. Client-sent text (host, URI) cannot break out of its field or the line.
fn escaped(value: &str, out: &mut Vec<u8>) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (at, &b) in bytes.iter().enumerate() {
        if PLAIN[usize::from(b)] {
            continue;
        }
        if let Some((escape, len)) = escape(b) {
            out.extend_from_slice(&bytes[start..at]);
            out.extend_from_slice(&escape[..len]);
            start = at + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Which bytes go into a JSON string as they are.
static PLAIN: [bool; 256] = {
    let mut plain = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        plain[b] = false;
        b += 1;
    }
    plain[b'"' as usize] = false;
    plain[b'\\' as usize] = false;
    plain[0x7f] = false;
    plain
};

/// The escape for one byte, if it needs one: the bytes and how many of them are used.
fn escape(b: u8) -> Option<([u8; 6], usize)> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = |c: u8| Some(([b'\\', c, 0, 0, 0, 0], 2));
    match b {
        b'"' => short(b'"'),
        b'\\' => short(b'\\'),
        b'\n' => short(b'n'),
        b'\r' => short(b'r'),
        b'\t' => short(b't'),
        0..=0x1f | 0x7f => {
            Some(([b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]], 6))
        }
        _ => None,
    }
}

thread_local! {
    /// The last second this thread rendered, and its `YYYY-MM-DDTHH:MM:SS` text.
    static SECOND: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
}

/// RFC 3339 in UTC with microseconds (`2026-11-29T23:02:22.307334Z`); the date and time of day
/// are rendered once per second per thread.
fn timestamp(now: SystemTime, out: &mut Vec<u8>) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            *cell = (secs, civil(secs));
        }
        out.extend_from_slice(&cell.1);
    });
    out.push(b'.');
    let micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` for seconds since the epoch (UTC), by Howard Hinnant's
/// days-to-civil algorithm.
fn civil(secs: u64) -> [u8; 19] {
    let days = (secs / 86_400) as i64;
    let of_day = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year.clamp(0, 9_999) as u64);
    put(5, 2, month as u64);
    put(8, 2, day as u64);
    put(11, 2, of_day / 3_600);
    put(14, 2, of_day % 3_600 / 60);
    put(17, 2, of_day % 60);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry<'a>() -> AccessEntry<'a> {
        AccessEntry {
            remote_addr: Some("127.0.0.9".parse().expect("ip")),
            request_id: "0123456789abcdef0123456789abcdef",
            method: "GET",
            host: "app.example.com",
            uri: "/a?b=c",
            status: 200,
            duration: Duration::from_micros(155_495),
            upstream: Some("127.0.0.1:8080".parse().expect("addr")),
            namespace: "default",
            ingress: "web",
            service: "app",
            target: "main",
            attempts: 1,
            error: None,
        }
    }

    fn line(entry: &AccessEntry<'_>, now: SystemTime) -> serde_json::Value {
        let mut out = Vec::new();
        format(entry, now, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn a_line_has_every_field_in_the_formatter_s_shape() {
        let now = UNIX_EPOCH + Duration::from_micros(1_796_598_142_307_334);
        let v = line(&entry(), now);
        assert_eq!(v["timestamp"], "2026-12-06T23:02:22.307334Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["remote_addr"], "127.0.0.9");
        assert_eq!(v["request_id"], "0123456789abcdef0123456789abcdef");
        assert_eq!(v["uri"], "/a?b=c");
        assert_eq!(v["status"], 200);
        assert_eq!(v["request_time"], 0.155495);
        assert_eq!(v["upstream_addr"], "127.0.0.1:8080");
        assert_eq!((v["namespace"].as_str(), v["ingress"].as_str()), (Some("default"), Some("web")));
        assert_eq!((v["service"].as_str(), v["route_target"].as_str()), (Some("app"), Some("main")));
        assert_eq!(v["attempts"], 1);
        assert_eq!(v["target"], "access");
        assert!(v.get("error").is_none());
    }

    #[test]
    fn client_text_is_escaped_and_absent_fields_are_left_out() {
        let e = AccessEntry {
            remote_addr: Some("2001:db8::1".parse().expect("ip")),
            host: "a\"b\\c\u{1}\u{7f}é",
            uri: "/x\r\n{\"evil\":1}",
            upstream: Some("[2001:db8::2]:443".parse().expect("addr")),
            error: Some("upstream \"refused\"".into()),
            duration: Duration::from_secs(3),
            ..entry()
        };
        let v = line(&e, UNIX_EPOCH);
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(v["host"], "a\"b\\c\u{1}\u{7f}é");
        assert_eq!(v["uri"], "/x\r\n{\"evil\":1}");
        assert!(v.get("evil").is_none());
        assert_eq!(v["remote_addr"], "2001:db8::1");
        assert_eq!(v["upstream_addr"], "[2001:db8::2]:443");
        assert_eq!(v["error"], "upstream \"refused\"");
        assert_eq!(v["request_time"], 3.0);
        let none = AccessEntry { remote_addr: None, upstream: None, ..entry() };
        let v = line(&none, UNIX_EPOCH);
        assert!(v.get("remote_addr").is_none() && v.get("upstream_addr").is_none());
    }

    #[test]
    fn every_byte_is_escaped_by_the_byte_rule_wherever_it_stands() {
        let reference = |text: &str| {
            let mut out = Vec::new();
            for &b in text.as_bytes() {
                match escape(b) {
                    Some((e, n)) => out.extend_from_slice(&e[..n]),
                    None => out.push(b),
                }
            }
            out
        };
        for b in 0..=0x7fu8 {
            for len in 0..20 {
                for at in 0..len {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    let text = String::from_utf8(text).expect("ascii");
                    let mut out = Vec::new();
                    escaped(&text, &mut out);
                    assert_eq!(out, reference(&text), "{b:#x} at {at} of {len}");
                }
            }
        }
        let mut out = Vec::new();
        escaped("päth/ünïcode/\u{80}\u{ff}é", &mut out);
        assert_eq!(out, "päth/ünïcode/\u{80}\u{ff}é".as_bytes());
    }

    #[test]
    fn dates_match_the_calendar() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_709_164_799, "2024-02-28T23:59:59"),
            (1_709_251_200, "2024-03-01T00:00:00"),
            (1_798_761_599, "2026-12-31T23:59:59"),
            (4_102_444_800, "2100-01-01T00:00:00"),
        ] {
            assert_eq!(std::str::from_utf8(&civil(secs)).expect("ascii"), text, "{secs}");
        }
    }
}
