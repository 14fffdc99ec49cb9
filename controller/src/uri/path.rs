//! The request path as nginx matches it against `location`s: a port of
//! `ngx_http_parse_complex_uri` (non-Windows), state for state, and the way back from the
//! decoded path to a request-target (`rewrite-target` captures).

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
    percent_encode_into(out, text, |b| b > b' ' && b < 0x7f && !b"\"#%<>?\\^`{|}".contains(&b));
}

/// Appends `bytes` to `out`, each byte that `keep` refuses as `%XX` (upper-case hex): the one
/// percent-encoder for paths and URL components.
pub fn percent_encode_into(out: &mut String, bytes: &[u8], keep: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}
