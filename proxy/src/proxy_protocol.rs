//! The PROXY protocol (HAProxy's, versions 1 and 2), which an L4 balancer in front of Sluice uses
//! to pass on the client's address. Pingora does not have it; this is a strict parser with hard
//! limits, read at the start of a connection under a deadline (`proxy-protocol-header-timeout`).
//!
//! * v1: `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN ...\r\n`, at most 107 bytes.
//! * v2: the 12-byte signature, version 2, command LOCAL or PROXY, then the addresses; TLVs are
//!   skipped; the whole header is limited to [`MAX_V2_LENGTH`] bytes after the fixed part.
//!
//! Anything else (a plain HTTP request, a truncated or oversized header) is an error, and the
//! connection is closed: a listener that expects the PROXY protocol never guesses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included (from the specification).
pub const MAX_V1_LENGTH: usize = 107;
/// The most address and TLV bytes accepted after the 16-byte v2 prefix.
pub const MAX_V2_LENGTH: usize = 512;

/// Why a PROXY protocol header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    /// The connection does not start with a PROXY protocol signature.
    #[error("no PROXY protocol signature")]
    Signature,
    /// The header does not follow the specification.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    /// The header is longer than allowed.
    #[error("PROXY protocol header too long")]
    TooLong,
    /// The connection ended or stalled before the header was complete.
    #[error("PROXY protocol header incomplete: {0}")]
    Incomplete(&'static str),
}

/// A parsed header: the client's address, or `None` for `LOCAL` / `UNKNOWN` (the TCP peer is
/// the client then, as the specification says).
pub type Source = Option<SocketAddr>;

/// Parses a complete v1 line (`PROXY ...\r\n`).
pub fn parse_v1(line: &[u8]) -> Result<Source, HeaderError> {
    let text = std::str::from_utf8(line).map_err(|_| HeaderError::Malformed("not ASCII"))?;
    let text = text.strip_suffix("\r\n").ok_or(HeaderError::Malformed("no CRLF"))?;
    let mut parts = text.split(' ');
    if parts.next() != Some("PROXY") {
        return Err(HeaderError::Signature);
    }
    let family = parts.next().ok_or(HeaderError::Malformed("no protocol"))?;
    if family == "UNKNOWN" {
        return Ok(None);
    }
    let fields: Vec<&str> = parts.collect();
    let [src, _dst, sport, _dport] = fields[..] else {
        return Err(HeaderError::Malformed("expected four address fields"));
    };
    let ip: IpAddr = match family {
        "TCP4" => src.parse::<Ipv4Addr>().map(IpAddr::V4),
        "TCP6" => src.parse::<Ipv6Addr>().map(IpAddr::V6),
        _ => return Err(HeaderError::Malformed("protocol must be TCP4, TCP6 or UNKNOWN")),
    }
    .map_err(|_| HeaderError::Malformed("bad source address"))?;
    let port = parse_port(sport)?;
    parse_port(_dport)?;
    _dst.parse::<IpAddr>().map_err(|_| HeaderError::Malformed("bad destination address"))?;
    Ok(Some(SocketAddr::new(ip, port)))
}

fn parse_port(p: &str) -> Result<u16, HeaderError> {
    // The specification forbids leading zeros and signs.
    if p.is_empty()
        || p.len() > 5
        || (p.len() > 1 && p.starts_with('0'))
        || !p.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(HeaderError::Malformed("bad port"));
    }
    p.parse().map_err(|_| HeaderError::Malformed("bad port"))
}

/// The length of the v2 address block announced by a 16-byte prefix.
pub fn v2_length(prefix: &[u8; 16]) -> Result<usize, HeaderError> {
    if prefix[..12] != V2_SIGNATURE {
        return Err(HeaderError::Signature);
    }
    if prefix[12] >> 4 != 2 {
        return Err(HeaderError::Malformed("version must be 2"));
    }
    let len = usize::from(u16::from_be_bytes([prefix[14], prefix[15]]));
    if len > MAX_V2_LENGTH {
        return Err(HeaderError::TooLong);
    }
    Ok(len)
}

/// Parses a v2 header: the 16-byte prefix and its `body` (addresses and TLVs).
pub fn parse_v2(prefix: &[u8; 16], body: &[u8]) -> Result<Source, HeaderError> {
    if body.len() != v2_length(prefix)? {
        return Err(HeaderError::Malformed("length mismatch"));
    }
    match prefix[12] & 0x0f {
        0 => return Ok(None), // LOCAL: health checks from the balancer itself.
        1 => {}
        _ => return Err(HeaderError::Malformed("command must be LOCAL or PROXY")),
    }
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    match prefix[13] {
        0x11 | 0x12 => {
            if body.len() < 12 {
                return Err(HeaderError::Malformed("short IPv4 address block"));
            }
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Ok(Some(SocketAddr::new(IpAddr::V4(ip), port(8))))
        }
        0x21 | 0x22 => {
            if body.len() < 36 {
                return Err(HeaderError::Malformed("short IPv6 address block"));
            }
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            Ok(Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port(32))))
        }
        // UNSPEC or UNIX sockets: no usable address, the peer stands.
        0x00 | 0x31 | 0x32 => Ok(None),
        _ => Err(HeaderError::Malformed("unknown address family")),
    }
}

/// Reads and parses the header at the start of `stream`, consuming exactly its bytes (the
/// stream is buffered, so the rest of the first packet stays for HTTP or TLS), within `deadline`.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Duration,
) -> Result<Source, HeaderError> {
    match tokio::time::timeout(deadline, read_inner(stream)).await {
        Ok(result) => result,
        Err(_) => Err(HeaderError::Incomplete("timed out")),
    }
}

async fn read_inner<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Source, HeaderError> {
    let eof = |_| HeaderError::Incomplete("connection closed");
    let mut prefix = [0u8; 16];
    stream.read_exact(&mut prefix[..6]).await.map_err(eof)?;
    if &prefix[..6] == b"PROXY " {
        let mut line = prefix[..6].to_vec();
        while !line.ends_with(b"\r\n") {
            if line.len() >= MAX_V1_LENGTH {
                return Err(HeaderError::TooLong);
            }
            line.push(stream.read_u8().await.map_err(eof)?);
        }
        return parse_v1(&line);
    }
    if prefix[..6] != V2_SIGNATURE[..6] {
        return Err(HeaderError::Signature);
    }
    stream.read_exact(&mut prefix[6..]).await.map_err(eof)?;
    let len = v2_length(&prefix)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(eof)?;
    parse_v2(&prefix, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&u16::try_from(body.len()).expect("len").to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    async fn read(bytes: &[u8]) -> (Result<Source, HeaderError>, Vec<u8>) {
        let mut cursor = std::io::Cursor::new(bytes.to_vec());
        let r = read_header(&mut cursor, Duration::from_secs(1)).await;
        let pos = usize::try_from(cursor.position()).expect("pos");
        (r, bytes[pos..].to_vec())
    }

    #[tokio::test]
    async fn v1_headers_are_consumed_exactly() {
        let (r, rest) = read(b"PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(r, Ok(Some("192.0.2.1:51234".parse().expect("addr"))));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (r, _) = read(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n").await;
        assert_eq!(r, Ok(Some("[2001:db8::1]:1".parse().expect("addr"))));
        assert_eq!(read(b"PROXY UNKNOWN\r\n").await.0, Ok(None));
    }

    #[tokio::test]
    async fn v1_errors() {
        assert_eq!(read(b"GET / HTTP/1.1\r\n\r\n").await.0, Err(HeaderError::Signature));
        assert_eq!(read(b"PROXY TCP4 192.0.2.1").await.0, Err(HeaderError::Incomplete("connection closed")));
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
        assert_eq!(read(long.as_bytes()).await.0, Err(HeaderError::TooLong));
        assert!(matches!(
            read(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n").await.0,
            Err(HeaderError::Malformed(_))
        ));
        assert!(matches!(read(b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n").await.0, Err(HeaderError::Malformed(_))));
        assert!(matches!(read(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n").await.0, Err(HeaderError::Malformed(_))));
    }

    #[tokio::test]
    async fn v2_headers() {
        let mut body = vec![192, 0, 2, 1, 198, 51, 100, 2];
        body.extend_from_slice(&51234u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        body.extend_from_slice(&[0x04, 0x00, 0x01, 0xff]); // a TLV, skipped
        let mut bytes = v2(1, 0x11, &body);
        bytes.extend_from_slice(b"\x16\x03\x01");
        let (r, rest) = read(&bytes).await;
        assert_eq!(r, Ok(Some("192.0.2.1:51234".parse().expect("addr"))));
        assert_eq!(rest, b"\x16\x03\x01", "the TLS ClientHello stays");
        assert_eq!(read(&v2(0, 0x00, &[])).await.0, Ok(None), "LOCAL");
        let mut v6 = vec![0u8; 36];
        v6[..16].copy_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().expect("ip").octets());
        v6[32..34].copy_from_slice(&8080u16.to_be_bytes());
        assert_eq!(read(&v2(1, 0x21, &v6)).await.0, Ok(Some("[2001:db8::7]:8080".parse().expect("addr"))));
    }

    #[tokio::test]
    async fn v2_errors() {
        assert_eq!(read(&v2(1, 0x11, &[0u8; 600])).await.0, Err(HeaderError::TooLong));
        assert!(matches!(read(&v2(1, 0x11, &[0u8; 4])).await.0, Err(HeaderError::Malformed(_))));
        let truncated = &v2(1, 0x11, &[0u8; 12])[..20];
        assert!(matches!(read(truncated).await.0, Err(HeaderError::Incomplete(_))));
        let mut wrong = v2(1, 0x11, &[0u8; 12]);
        wrong[11] = b'X';
        assert_eq!(read(&wrong).await.0, Err(HeaderError::Signature));
        let mut v1_version = v2(1, 0x11, &[0u8; 12]);
        v1_version[12] = 0x11;
        assert!(matches!(read(&v1_version).await.0, Err(HeaderError::Malformed(_))));
    }
}
