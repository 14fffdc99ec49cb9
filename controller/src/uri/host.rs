//! The host of a request as nginx accepts it: a port of `ngx_http_validate_host`, and the
//! authority of an absolute-form request-target.

/// Why a host (from the Host header or the request line) is refused (nginx answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Empty, or only a port.
    #[error("the host is empty")]
    Empty,
    /// A byte nginx does not accept in a host (space, `/`, `@`, control bytes, ...).
    #[error("the host has a character that is not allowed")]
    BadCharacter,
    /// Two dots in a row (an empty label).
    #[error("the host has an empty label")]
    EmptyLabel,
    /// An IPv6 literal without its `]`, or text after it that is not a port.
    #[error("the host's IP literal is malformed")]
    BadLiteral,
    /// A port that is not a number up to 65535.
    #[error("the host's port is not a number up to 65535")]
    BadPort,
}

/// The bytes nginx accepts in a host name besides dots: letters, digits, `-._~`, the
/// sub-delimiters and `%`.
static NAME: [bool; 256] = byte_table(b"-_~!$&'()*+,;=%");
/// The bytes nginx accepts inside an IP literal's brackets besides dots: as in a name, with
/// `:` and without `%`.
static LITERAL: [bool; 256] = byte_table(b"-_~!$&'()*+,;=:");

const fn byte_table(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// nginx's `ngx_http_validate_host`: checks a Host header or request-line authority and
/// returns its host part (port and one trailing dot removed, case kept; the table lowercases
/// it when it looks it up). Errors come in the order nginx meets them, left to right.
pub fn validate_host(raw: &str) -> Result<&str, HostError> {
    let bytes = raw.as_bytes();
    let (host_len, port) = match bytes.first() {
        Some(b'[') => {
            let end = bytes.iter().position(|&b| b == b']');
            labels(&bytes[1..end.unwrap_or(bytes.len())], &LITERAL)?;
            let end = end.ok_or(HostError::BadLiteral)?;
            match &bytes[end + 1..] {
                [] => (end + 1, &[][..]),
                [b':', port @ ..] => (end + 1, port),
                _ => return Err(HostError::BadLiteral),
            }
        }
        _ => {
            let colon = bytes.iter().position(|&b| b == b':');
            let name = &bytes[..colon.unwrap_or(bytes.len())];
            labels(name, &NAME)?;
            let port = colon.map_or(&[][..], |c| &bytes[c + 1..]);
            (name.strip_suffix(b".").unwrap_or(name).len(), port)
        }
    };
    let mut value: u32 = 0;
    for &digit in port {
        if !digit.is_ascii_digit() {
            return Err(HostError::BadPort);
        }
        value = value * 10 + u32::from(digit - b'0');
        if value > 65_535 {
            return Err(HostError::BadPort);
        }
    }
    if host_len == 0 {
        return Err(HostError::Empty);
    }
    Ok(&raw[..host_len])
}

/// Checks the bytes of a name or literal: each in `allowed`, or a dot that does not follow
/// another dot.
fn labels(part: &[u8], allowed: &[bool; 256]) -> Result<(), HostError> {
    let mut after_dot = false;
    for &b in part {
        if b == b'.' {
            if after_dot {
                return Err(HostError::EmptyLabel);
            }
            after_dot = true;
        } else if allowed[usize::from(b)] {
            after_dot = false;
        } else {
            return Err(HostError::BadCharacter);
        }
    }
    Ok(())
}

/// Splits an absolute-form request-target (`http://host:port/path?query`, RFC 9112 §3.2.2)
/// into its authority and the rest (origin form; empty when there is no path). `None` for
/// any other form.
pub fn split_absolute_form(target: &[u8]) -> Option<(&[u8], &[u8])> {
    // A scheme starts with a letter: origin-form (`/...`) ends here without a scan.
    if !target.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let colon = target.iter().position(|&b| b == b':')?;
    let scheme = &target[..colon];
    if scheme.is_empty() || !scheme[0].is_ascii_alphabetic() || !target[colon..].starts_with(b"://") {
        return None;
    }
    if !scheme.iter().all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        return None;
    }
    let rest = &target[colon + 3..];
    let end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Userinfo (`user@host`) is deprecated in http URIs; the host is after the last `@`.
    let authority = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    Some((authority, &rest[end..]))
}
