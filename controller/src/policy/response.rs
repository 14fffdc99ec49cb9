//! What happens to upstream responses on their way out: header rewrites (`proxy-redirect-*`,
//! `proxy-cookie-*`) and bandwidth limits (`limit-rate`, `limit-rate-after`).

use std::time::Duration;

/// Rewrites of upstream response headers, as nginx's `proxy_redirect`, `proxy_cookie_domain` and
/// `proxy_cookie_path` do them: each is a (from, to) pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRewrites {
    /// `proxy-redirect-from` / `-to`: a `Location` or `Refresh` URL starting with `from` gets
    /// `to` in place of that prefix.
    pub location: Option<(String, String)>,
    /// `proxy-cookie-domain`: a `Set-Cookie` `Domain` equal to `from` (case-insensitive, a
    /// leading dot ignored) becomes `to`.
    pub cookie_domain: Option<(String, String)>,
    /// `proxy-cookie-path`: a `Set-Cookie` `Path` starting with `from` gets `to` in place of
    /// that prefix.
    pub cookie_path: Option<(String, String)>,
}

impl HeaderRewrites {
    /// Whether nothing is rewritten (the common case, checked per response).
    pub fn is_empty(&self) -> bool {
        self.location.is_none() && self.cookie_domain.is_none() && self.cookie_path.is_none()
    }
}

/// nginx's `limit_rate` / `limit_rate_after`: after `after` bytes of a response body, the rest
/// is sent at most `bytes_per_second` fast. The annotations count in kilobytes, the ConfigMap
/// keys in bytes (as ingress-nginx writes them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseRate {
    /// The rate; 0 is unlimited.
    pub bytes_per_second: u64,
    /// Bytes sent at full speed first.
    pub after: u64,
}

impl ResponseRate {
    /// How long to wait before sending more, when `sent` body bytes have gone out (counting the
    /// chunk about to go) over `elapsed` since the first limited byte.
    pub fn delay(&self, sent: u64, elapsed: Duration) -> Option<Duration> {
        if self.bytes_per_second == 0 || sent <= self.after {
            return None;
        }
        let limited = (sent - self.after) as f64;
        let due = Duration::from_secs_f64(limited / self.bytes_per_second as f64);
        due.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_rate_delays_only_bytes_past_the_free_allowance() {
        let rate = ResponseRate { bytes_per_second: 1000, after: 500 };
        assert_eq!(rate.delay(500, Duration::ZERO), None, "within limit-rate-after");
        assert_eq!(rate.delay(1500, Duration::ZERO), Some(Duration::from_secs(1)));
        assert_eq!(rate.delay(1500, Duration::from_millis(400)), Some(Duration::from_millis(600)));
        assert_eq!(rate.delay(1500, Duration::from_secs(2)), None, "already slow enough");
        let off = ResponseRate { bytes_per_second: 0, after: 0 };
        assert_eq!(off.delay(u64::MAX, Duration::ZERO), None);
    }
}
