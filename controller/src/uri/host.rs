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

/// nginx's `ngx_http_validate_host`: checks a Host header or request-line authority and
/// returns its host part (port and one trailing dot removed, case kept; the table lowercases
/// it when it looks it up).
pub fn validate_host(raw: &str) -> Result<&str, HostError> {
    #[derive(PartialEq)]
    enum HostState {
        Start,
        Host,
        Literal,
        LiteralEnd,
        Port,
    }
    let bytes = raw.as_bytes();
    let mut state = HostState::Start;
    let mut host_len = bytes.len();
    let mut last_dot: Option<usize> = None;
    let mut port: u32 = 0;
    for (i, &ch) in bytes.iter().enumerate() {
        if state == HostState::Start {
            if ch == b'[' {
                state = HostState::Literal;
                continue;
            }
            state = HostState::Host;
        }
        match state {
            HostState::Host | HostState::Literal => match ch {
                b':' if state == HostState::Host => {
                    host_len = i;
                    state = HostState::Port;
                }
                b']' if state == HostState::Literal => {
                    host_len = i + 1;
                    state = HostState::LiteralEnd;
                }
                b'.' => {
                    if last_dot.is_some_and(|d| d + 1 == i) {
                        return Err(HostError::EmptyLabel);
                    }
                    last_dot = Some(i);
                }
                b'%' if state == HostState::Host => {}
                b':' => {}
                _ if ch.is_ascii_alphanumeric() || b"-_~!$&'()*+,;=".contains(&ch) => {}
                _ => return Err(HostError::BadCharacter),
            },
            HostState::LiteralEnd => match ch {
                b':' => state = HostState::Port,
                _ => return Err(HostError::BadLiteral),
            },
            HostState::Port => match ch {
                b'0'..=b'9' => {
                    port = port * 10 + u32::from(ch - b'0');
                    if port > 65_535 {
                        return Err(HostError::BadPort);
                    }
                }
                _ => return Err(HostError::BadPort),
            },
            HostState::Start => {}
        }
    }
    if state == HostState::Literal {
        return Err(HostError::BadLiteral);
    }
    if host_len > 0 && last_dot == Some(host_len - 1) {
        host_len -= 1;
    }
    if host_len == 0 {
        return Err(HostError::Empty);
    }
    Ok(&raw[..host_len])
}

/// Splits an absolute-form request-target (`http://host:port/path?query`, RFC 9112 §3.2.2)
/// into its authority and the rest (origin form; empty when there is no path). `None` for
/// any other form.
pub fn split_absolute_form(target: &[u8]) -> Option<(&[u8], &[u8])> {
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
