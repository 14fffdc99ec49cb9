//! Request mirroring (`mirror-target`, `mirror-host`, `mirror-request-body`): a copy of each
//! request goes to another URL and its answer is dropped, as nginx's `mirror` does.

use http::HeaderValue;

use super::UrlPart;

/// Where copies of a route's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `mirror-target`: an http(s) URL with the variables of [`UrlPart`]
    /// (`https://shadow.internal$request_uri`).
    pub target: Vec<UrlPart>,
    /// `mirror-host`: the Host of the copies (default: the target's host name).
    pub host: HeaderValue,
    /// `mirror-request-body` (on): whether the copies carry the request body.
    pub body: bool,
    /// The share of requests copied, as (numerator, denominator) with numerator < denominator;
    /// `None` copies every request (Gateway API `percent` / `fraction`).
    pub sample: Option<(u32, u32)>,
}
