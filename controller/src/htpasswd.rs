//! htpasswd credentials for `auth-type: basic`, parsed once per table from the Secret named by
//! `auth-secret` (`auth-secret-type: auth-file`, the `auth` key with `user:hash` lines, or
//! `auth-map`, one key per user).
//!
//! Hash formats, as nginx's `auth_basic_user_file` accepts them: `$apr1$` and `$1$` (MD5-crypt),
//! `$2y$`/`$2a$`/`$2b$` (bcrypt), `{SHA}`, `{SSHA}` and `{PLAIN}`. Other formats (DES crypt,
//! `$5$`, `$6$`) are reported and their entries skipped. Comparisons of digests are constant
//! time.

use std::collections::BTreeMap;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;

/// The most users one Secret may hold.
pub const MAX_USERS: usize = 10_000;

/// A stored password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hash {
    /// `$apr1$salt$hash` or `$1$salt$hash`.
    Md5Crypt { magic: &'static str, salt: String, full: String },
    /// `$2y$...`.
    Bcrypt(String),
    /// `{SHA}base64(sha1(pw))`.
    Sha(Vec<u8>),
    /// `{SSHA}base64(sha1(pw + salt) + salt)`.
    Ssha(Vec<u8>),
    /// `{PLAIN}pw`.
    Plain(String),
}

/// The users of one `auth-secret`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Htpasswd {
    users: BTreeMap<String, Hash>,
}

impl Htpasswd {
    /// Parses `user:hash` lines; returns the users and the lines skipped (with why).
    pub fn parse_file(text: &str) -> (Htpasswd, Vec<String>) {
        let pairs = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split_once(':').map_or((l, ""), |(u, h)| (u, h)));
        Self::from_pairs(pairs)
    }

    /// Parses an `auth-map` Secret: one key per user, the value its hash.
    pub fn parse_map<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> (Htpasswd, Vec<String>) {
        Self::from_pairs(entries.map(|(u, h)| (u, h.trim())))
    }

    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> (Htpasswd, Vec<String>) {
        let mut users = BTreeMap::new();
        let mut skipped = Vec::new();
        for (user, hash) in pairs {
            if users.len() >= MAX_USERS {
                skipped.push(format!("more than {MAX_USERS} users"));
                break;
            }
            match parse_hash(hash) {
                Some(h) if !user.is_empty() => {
                    users.insert(user.to_owned(), h);
                }
                _ => skipped.push(format!("user {user:?}: unsupported or malformed hash")),
            }
        }
        (Htpasswd { users }, skipped)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no user (every request is refused then).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether verifying `user`'s password is slow (bcrypt): the caller runs it off the request
    /// thread.
    pub fn is_slow(&self, user: &str) -> bool {
        matches!(self.users.get(user), Some(Hash::Bcrypt(_)))
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        match hash {
            Hash::Md5Crypt { magic, salt, full } => constant_eq(
                md5_crypt(password.as_bytes(), salt.as_bytes(), magic).as_bytes(),
                full.as_bytes(),
            ),
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Sha(digest) => constant_eq(&Sha1::digest(password.as_bytes()), digest),
            Hash::Ssha(stored) => {
                let (digest, salt) = stored.split_at(20);
                let mut h = Sha1::new();
                h.update(password.as_bytes());
                h.update(salt);
                constant_eq(&h.finalize(), digest)
            }
            Hash::Plain(p) => constant_eq(p.as_bytes(), password.as_bytes()),
        }
    }
}

fn parse_hash(hash: &str) -> Option<Hash> {
    let b64 = base64::engine::general_purpose::STANDARD;
    for magic in ["$apr1$", "$1$"] {
        if let Some(rest) = hash.strip_prefix(magic) {
            let (salt, _) = rest.split_once('$')?;
            if salt.len() > 8 || salt.is_empty() {
                return None;
            }
            return Some(Hash::Md5Crypt { magic, salt: salt.to_owned(), full: hash.to_owned() });
        }
    }
    if ["$2y$", "$2a$", "$2b$"].iter().any(|m| hash.starts_with(m)) {
        return Some(Hash::Bcrypt(hash.to_owned()));
    }
    if let Some(rest) = hash.strip_prefix("{SHA}") {
        return b64.decode(rest).ok().filter(|d| d.len() == 20).map(Hash::Sha);
    }
    if let Some(rest) = hash.strip_prefix("{SSHA}") {
        return b64.decode(rest).ok().filter(|d| d.len() > 20).map(Hash::Ssha);
    }
    hash.strip_prefix("{PLAIN}").map(|p| Hash::Plain(p.to_owned()))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// MD5-crypt (Poul-Henning Kamp's algorithm; `$apr1$` is the same with Apache's magic).
fn md5_crypt(pw: &[u8], salt: &[u8], magic: &str) -> String {
    let mut alt = Md5::new();
    alt.update(pw);
    alt.update(salt);
    alt.update(pw);
    let alt = alt.finalize();
    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(magic.as_bytes());
    ctx.update(salt);
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1.min(pw.len())]);
        }
        i >>= 1;
    }
    let mut digest = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(pw);
        } else {
            c.update(digest);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(pw);
        }
        if round & 1 == 1 {
            c.update(digest);
        } else {
            c.update(pw);
        }
        digest = c.finalize();
    }
    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = format!("{magic}{}$", String::from_utf8_lossy(salt));
    let mut put = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    let d = |i: usize| u32::from(digest[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put((d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    put(d(11), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_format_verifies() {
        let bcrypt = bcrypt::hash("s3cret", 4).expect("bcrypt");
        let file = format!(
            "# comment\n\
             apr:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00\n\
             md5:$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/\n\
             sha:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n\
             plain:{{PLAIN}}hunter2\n\
             bc:{bcrypt}\n\
             des:abJnggxhB/yWI\n"
        );
        let (users, skipped) = Htpasswd::parse_file(&file);
        assert_eq!(users.len(), 5);
        assert_eq!(skipped.len(), 1, "DES crypt is skipped: {skipped:?}");
        assert!(users.verify("apr", "password"));
        assert!(!users.verify("apr", "Password"));
        assert!(users.verify("md5", "password"));
        assert!(users.verify("sha", "password"));
        assert!(users.verify("plain", "hunter2"));
        assert!(users.verify("bc", "s3cret") && users.is_slow("bc"));
        assert!(!users.verify("nobody", "password"));
    }

    #[test]
    fn auth_maps_have_one_key_per_user() {
        let (users, skipped) = Htpasswd::parse_map([("alice", "{PLAIN}a"), ("bob", "garbage")].into_iter());
        assert!(users.verify("alice", "a"));
        assert_eq!((users.len(), skipped.len()), (1, 1));
    }
}
