//! Regular expressions from Ingresses: `use-regex` paths and `rewrite-target`, with nginx's
//! semantics and bounded cost.
//!
//! * A regex path is matched as nginx's `location ~* "^PATH"`: anchored at the start,
//!   case-insensitive, unanchored at the end.
//! * `rewrite-target` is nginx's `rewrite "(?i)PATH" TARGET break;`: when the path matches
//!   anywhere, the whole URI becomes TARGET with `$1`..`$9` replaced by the captures, and the
//!   original query is appended (after `&` when TARGET has its own query; not at all when TARGET
//!   ends with `?`).
//!
//! The regex engine is Rust's `regex` (linear time, no backtracking), with a compiled-size limit:
//! a hostile pattern is rejected when the table is built, never slow per request. PCRE-only
//! syntax (look-around, back-references) is rejected with a warning.

use std::hash::{Hash, Hasher};

use regex::{Regex, RegexBuilder};

use crate::uri::{escape_path_into, raw_offset};

/// Compiled-size limit for one pattern (the `regex` crate's default is 10 MiB).
const SIZE_LIMIT: usize = 256 * 1024;
/// Nesting limit for one pattern.
const NEST_LIMIT: u32 = 32;
/// Longest pattern accepted, in bytes.
const MAX_PATTERN: usize = 1024;

/// Compiles `pattern` with the limits above.
pub fn compile(pattern: &str, case_insensitive: bool) -> Result<Regex, String> {
    if pattern.len() > MAX_PATTERN {
        return Err(format!("longer than {MAX_PATTERN} bytes"));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "too complex".to_owned(),
            other => other.to_string().lines().last().unwrap_or("invalid").trim().to_owned(),
        })
}

/// A `use-regex` path: `^PATH`, case-insensitive. Equal and hashed by its source text.
#[derive(Debug, Clone)]
pub struct RegexPath {
    source: String,
    regex: Regex,
}

impl RegexPath {
    /// Compiles the path as nginx's `~* "^PATH"`.
    pub fn new(path: &str) -> Result<Self, String> {
        let regex = compile(&format!("^(?:{path})"), true)?;
        Ok(RegexPath { source: path.to_owned(), regex })
    }

    /// Compiles a Gateway API `RegularExpression` match: the whole value must match,
    /// case-sensitively (RE2 syntax, which the `regex` crate follows).
    pub fn whole(pattern: &str) -> Result<Self, String> {
        let regex = compile(&format!("^(?:{pattern})$"), false)?;
        Ok(RegexPath { source: pattern.to_owned(), regex })
    }

    /// The path as written in the Ingress.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the request path matches.
    pub fn is_match(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }
}

impl PartialEq for RegexPath {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for RegexPath {}

impl Hash for RegexPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

/// A piece of a `rewrite-target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPart {
    /// Text copied as is.
    Literal(String),
    /// `$N`: capture group N (empty when it did not participate).
    Group(usize),
}

/// A compiled `rewrite-target` for one route.
#[derive(Debug, Clone)]
pub struct Rewrite {
    regex: Regex,
    target: Vec<TargetPart>,
}

impl PartialEq for Rewrite {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str() && self.target == other.target
    }
}

impl Rewrite {
    /// The rewrite of a route whose path is `path` to `target`.
    pub fn new(path: &str, target: &str) -> Result<Self, String> {
        let regex = compile(path, true)?;
        let target = parse_target(target);
        let groups = regex.captures_len();
        if let Some(TargetPart::Group(n)) =
            target.iter().find(|p| matches!(p, TargetPart::Group(n) if *n >= groups))
        {
            return Err(format!("${n} refers to a capture group the path does not have"));
        }
        Ok(Rewrite { regex, target })
    }

    /// The upstream URI (path and query) for a request whose normalized path is `path`, or
    /// `None` when the path does not match (the URI then stays as it is, as in nginx). Captures
    /// are decoded text, so they are percent-encoded back where a request-target needs it, from
    /// `raw` (the path's bytes, when they are not UTF-8 and `path` is their lossy rendering) so
    /// that the upstream gets the bytes the client sent, as nginx sends them.
    pub fn apply(&self, path: &str, raw: Option<&[u8]>, query: Option<&str>) -> Option<String> {
        let caps = self.regex.captures(path)?;
        let mut out = String::with_capacity(path.len() + 16);
        for part in &self.target {
            match part {
                TargetPart::Literal(s) => out.push_str(s),
                TargetPart::Group(n) => {
                    let Some(m) = caps.get(*n) else { continue };
                    match raw {
                        Some(raw) => {
                            let (start, end) = (raw_offset(raw, m.start()), raw_offset(raw, m.end()));
                            escape_path_into(&mut out, raw.get(start..end).unwrap_or_default());
                        }
                        None => escape_path_into(&mut out, m.as_str().as_bytes()),
                    }
                }
            }
        }
        if let Some(stripped) = out.strip_suffix('?') {
            out.truncate(stripped.len());
            return Some(out);
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(q);
        }
        if !out.starts_with('/') {
            out.insert(0, '/');
        }
        Some(out)
    }
}

fn parse_target(target: &str) -> Vec<TargetPart> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = target.chars().peekable();
    while let Some(c) = chars.next() {
        let digit = chars.peek().and_then(|d| d.to_digit(10));
        match (c, digit) {
            ('$', Some(n)) => {
                chars.next();
                if !literal.is_empty() {
                    parts.push(TargetPart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(TargetPart::Group(n as usize));
            }
            _ => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(TargetPart::Literal(literal));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(path: &str, target: &str) -> Rewrite {
        Rewrite::new(path, target).expect("valid rewrite")
    }

    #[test]
    fn captures_are_substituted_and_query_kept() {
        let r = rw("/something(/|$)(.*)", "/$2");
        assert_eq!(r.apply("/something/new", None, None).as_deref(), Some("/new"));
        assert_eq!(r.apply("/something", None, Some("a=1")).as_deref(), Some("/?a=1"));
        assert_eq!(r.apply("/SOMETHING/x", None, None).as_deref(), Some("/x"));
        assert_eq!(r.apply("/other", None, None), None);
        assert_eq!(
            r.apply("/something/a b?%", None, None).as_deref(),
            Some("/a%20b%3F%25"),
            "decoded text re-encoded"
        );
        let raw = b"/something/x\xffy\xfe";
        let lossy = String::from_utf8_lossy(raw);
        assert_eq!(r.apply(&lossy, Some(raw), None).as_deref(), Some("/x%FFy%FE"), "the client's bytes");
    }

    #[test]
    fn a_target_without_groups_replaces_the_whole_uri() {
        let r = rw("/foo", "/");
        assert_eq!(r.apply("/foo/bar/baz", None, Some("q=1")).as_deref(), Some("/?q=1"));
        assert_eq!(rw("/foo", "/x?a=1").apply("/foo", None, Some("b=2")).as_deref(), Some("/x?a=1&b=2"));
        assert_eq!(rw("/foo", "/x?").apply("/foo", None, Some("b=2")).as_deref(), Some("/x"));
    }

    #[test]
    fn bad_patterns_and_groups_are_rejected() {
        assert!(Rewrite::new("/(?=x)", "/").is_err(), "look-ahead is PCRE only");
        assert!(Rewrite::new("/a(.*)", "/$2").is_err());
        assert!(Rewrite::new(r"/(\w{100}){100}", "/").is_err(), "too complex");
        assert!(Rewrite::new(&"/a".repeat(600), "/").is_err(), "too long");
        assert!(RegexPath::new("/x{1000}{1000}").is_err(), "too complex");
    }

    #[test]
    fn regex_paths_are_anchored_at_the_start_only() {
        let p = RegexPath::new("/api/v[0-9]+").expect("valid");
        assert!(p.is_match("/API/v2/users"));
        assert!(!p.is_match("/x/api/v2"));
    }
}
