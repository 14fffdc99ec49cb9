//! The request target as nginx reads it before it picks a `location`: the normalized path
//! (`ngx_http_parse_complex_uri`) and the validated host (`ngx_http_validate_host`).
//!
//! Every routing decision (host and path matching, regex captures, `rewrite-target`,
//! `app-root`, `no-tls-redirect-locations`, auth exemptions, every path-scoped annotation) reads
//! these values, never the raw request-target, so that `//admin`, `/./admin`, `/x/../admin`,
//! `/%61dmin` and `/%2e/admin` all select the route of `/admin`, as they do in nginx.
//!
//! The path rules, each nginx's:
//! * percent-escapes are decoded (`%2F` becomes a separator, `%2E` a dot); a decoded `%`, `#`
//!   or `?` is a literal byte; a decoded NUL, or `%` without two hex digits, is a 400;
//! * `.` segments are removed and `..` segments remove the one before; a `..` above the root is
//!   a 400;
//! * runs of `/` are merged into one (`merge_slashes on`, nginx's default);
//! * a raw `?` ends the path and a raw `#` ends the target;
//! * an empty path is `/`; a target that does not start with `/` is a 400.
//!
//! A path that needs none of this is returned borrowed: no allocation on the common path.

use std::borrow::Cow;

/// Why a request path is refused (nginx answers 400 for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The target is neither origin-form (`/...`) nor empty.
    #[error("the request path does not start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hexadecimal digits.
    #[error("a '%' in the request path is not followed by two hex digits")]
    BadEscape,
    /// `%00`.
    #[error("the request path decodes to a NUL byte")]
    Nul,
    /// More `..` segments than there are segments above them.
    #[error("a '..' segment in the request path climbs above the root")]
    AboveRoot,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Usual,
    Slash,
    Dot,
    DotDot,
    Quoted,
    QuotedSecond,
}

/// The path nginx matches locations against (`$uri`), from a request-target in origin form
/// (path and optional query). `merge_slashes` is nginx's `merge_slashes` (on by default).
/// Bytes that are not UTF-8 are replaced (U+FFFD); [`normalize_path_bytes`] keeps them.
pub fn normalize_path(target: &[u8], merge_slashes: bool) -> Result<Cow<'_, str>, PathError> {
    Ok(match normalize_path_bytes(target, merge_slashes)? {
        Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Cow::Owned(text),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    })
}

/// [`normalize_path`] as bytes, exactly as nginx holds `$uri`.
pub fn normalize_path_bytes(target: &[u8], merge_slashes: bool) -> Result<Cow<'_, [u8]>, PathError> {
    let path_end = target.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(target.len());
    let path = &target[..path_end];
    if path.is_empty() {
        return Ok(Cow::Borrowed(b"/"));
    }
    if path[0] != b'/' {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(path, merge_slashes) {
        return Ok(Cow::Borrowed(path));
    }
    parse_complex(target, merge_slashes).map(Cow::Owned)
}

/// Whether nginx's parser would leave `path` (no `?` or `#` in it) unchanged: no escapes, no
/// `.` or `..` segment, and no `//` when slashes are merged.
fn is_normal(path: &[u8], merge_slashes: bool) -> bool {
    if path.contains(&b'%') {
        return false;
    }
    let mut previous = 0u8;
    for &b in path {
        if previous == b'/' && (b == b'.' || (merge_slashes && b == b'/')) {
            return false;
        }
        previous = b;
    }
    true
}

/// A port of `ngx_http_parse_complex_uri` (non-Windows), state for state.
fn parse_complex(target: &[u8], merge_slashes: bool) -> Result<Vec<u8>, PathError> {
    let mut out: Vec<u8> = Vec::with_capacity(target.len() + 1);
    let mut state = State::Usual;
    let mut quoted_state = State::Usual;
    let mut decoded = 0u8;
    // `ch` is the byte being looked at and `next` the index of the one after it; a decoded
    // escape is looked at again in the state the `%` interrupted, without advancing.
    let mut ch = target[0];
    let mut next = 1;
    while next <= target.len() {
        let mut advance = true;
        match state {
            State::Usual => match ch {
                b'/' => {
                    state = State::Slash;
                    out.push(ch);
                }
                b'%' => (quoted_state, state) = (state, State::Quoted),
                b'?' => break,
                b'#' => break,
                _ => out.push(ch),
            },
            State::Slash => match ch {
                b'/' if merge_slashes => {}
                b'/' => out.push(ch),
                b'.' => {
                    state = State::Dot;
                    out.push(ch);
                }
                b'%' => (quoted_state, state) = (state, State::Quoted),
                b'?' | b'#' => break,
                _ => {
                    state = State::Usual;
                    out.push(ch);
                }
            },
            State::Dot => match ch {
                b'/' => {
                    state = State::Slash;
                    out.pop();
                }
                b'.' => {
                    state = State::DotDot;
                    out.push(ch);
                }
                b'%' => (quoted_state, state) = (state, State::Quoted),
                b'?' | b'#' => {
                    out.pop();
                    state = State::Usual;
                    break;
                }
                _ => {
                    state = State::Usual;
                    out.push(ch);
                }
            },
            State::DotDot => match ch {
                b'/' | b'?' | b'#' => {
                    pop_segment(&mut out)?;
                    state = State::Slash;
                    if ch != b'/' {
                        break;
                    }
                }
                b'%' => (quoted_state, state) = (state, State::Quoted),
                _ => {
                    state = State::Usual;
                    out.push(ch);
                }
            },
            State::Quoted => {
                decoded = hex(ch).ok_or(PathError::BadEscape)?;
                state = State::QuotedSecond;
            }
            State::QuotedSecond => {
                let low = hex(ch).ok_or(PathError::BadEscape)?;
                ch = (decoded << 4) | low;
                match ch {
                    b'%' | b'#' | b'?' => {
                        state = State::Usual;
                        out.push(ch);
                    }
                    0 => return Err(PathError::Nul),
                    _ => {
                        state = quoted_state;
                        advance = false;
                    }
                }
            }
        }
        if advance {
            ch = target.get(next).copied().unwrap_or(b'\n');
            next += 1;
        }
    }
    match state {
        State::Quoted | State::QuotedSecond => return Err(PathError::BadEscape),
        State::Dot => {
            out.pop();
        }
        State::DotDot => pop_segment(&mut out)?,
        State::Usual | State::Slash => {}
    }
    Ok(out)
}

/// Removes the `..` segment that `out` ends with and the segment before it, keeping the `/`
/// that precedes that one (nginx's `u -= 4` and backward scan).
fn pop_segment(out: &mut Vec<u8>) -> Result<(), PathError> {
    let mut u = out.len().checked_sub(4).ok_or(PathError::AboveRoot)?;
    loop {
        if out[u] == b'/' {
            out.truncate(u + 1);
            return Ok(());
        }
        u = u.checked_sub(1).ok_or(PathError::AboveRoot)?;
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

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

/// Where byte `offset` of `String::from_utf8_lossy(raw)` falls in `raw`: each invalid sequence
/// of `raw` is one U+FFFD (three bytes) in the lossy text. `offset` must be a character boundary
/// of the lossy text.
pub fn raw_offset(raw: &[u8], offset: usize) -> usize {
    let (mut lossy, mut at) = (0, 0);
    for chunk in raw.utf8_chunks() {
        let valid = chunk.valid().len();
        if offset <= lossy + valid {
            return at + (offset - lossy);
        }
        lossy += valid;
        at += valid;
        if !chunk.invalid().is_empty() {
            if offset < lossy + 3 {
                return at;
            }
            lossy += 3;
            at += chunk.invalid().len();
        }
    }
    at
}

/// Appends `text` (a piece of a normalized, decoded path) to `out` with every byte that cannot
/// stand for itself in a request path percent-encoded: controls, space, non-ASCII, and
/// `"#%<>?\\^`{|}`. Used where decoded text goes back into a request-target (`rewrite-target`
/// captures), so that the upstream sees the same path the route matched.
pub fn escape_path_into(out: &mut String, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text {
        if b <= b' ' || b >= 0x7f || b"\"#%<>?\\^`{|}".contains(&b) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push(char::from(b));
        }
    }
}

#[cfg(test)]
#[path = "uri_tests.rs"]
mod tests;
