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

mod host;
mod path;

pub use host::{split_absolute_form, validate_host, HostError};
pub use path::{
    escape_path_into, normalize_path, normalize_path_bytes, percent_encode_into, raw_offset, PathError,
};

#[cfg(test)]
mod tests;
