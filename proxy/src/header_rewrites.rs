//! Rewrites of upstream response headers, as nginx's `proxy_redirect` (`Location`, `Refresh`),
//! `proxy_cookie_domain` and `proxy_cookie_path` (`Set-Cookie`) do them.

use http::header::{self, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::Result;
use sluice_controller::policy::HeaderRewrites;

/// Applies `rewrites` to an upstream response.
pub fn apply(rewrites: &HeaderRewrites, resp: &mut ResponseHeader) -> Result<()> {
    if let Some((from, to)) = &rewrites.location {
        for name in [header::LOCATION, header::REFRESH] {
            let value = resp.headers.get(&name).and_then(|v| v.to_str().ok());
            if let Some(new) = value.and_then(|v| redirect(v, from, to)) {
                if let Ok(new) = HeaderValue::try_from(new) {
                    resp.insert_header(name, new)?;
                }
            }
        }
    }
    if rewrites.cookie_domain.is_none() && rewrites.cookie_path.is_none() {
        return Ok(());
    }
    let cookies: Vec<HeaderValue> = resp.headers.get_all(header::SET_COOKIE).iter().cloned().collect();
    let rewritten: Vec<Option<String>> =
        cookies.iter().map(|c| c.to_str().ok().and_then(|c| cookie(c, rewrites))).collect();
    if rewritten.iter().all(Option::is_none) {
        return Ok(());
    }
    resp.remove_header(&header::SET_COOKIE);
    for (old, new) in cookies.into_iter().zip(rewritten) {
        let value = new.and_then(|n| HeaderValue::try_from(n).ok()).unwrap_or(old);
        resp.append_header(header::SET_COOKIE, value)?;
    }
    Ok(())
}

/// A `Location` (or the URL of a `Refresh: N; url=...`) starting with `from`, with `to` in its
/// place; None when it does not start so.
fn redirect(value: &str, from: &str, to: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let at = match lower.find("url=") {
        Some(i) if !value.starts_with(from) => i + 4,
        _ => 0,
    };
    let rest = value[at..].strip_prefix(from)?;
    Some(format!("{}{to}{rest}", &value[..at]))
}

/// The `Set-Cookie` value with its `Domain` and `Path` rewritten; None when nothing changed.
fn cookie(value: &str, rewrites: &HeaderRewrites) -> Option<String> {
    let mut changed = false;
    let parts: Vec<String> = value
        .split(';')
        .enumerate()
        .map(|(i, segment)| {
            let trimmed = segment.trim_start();
            let lead = &segment[..segment.len() - trimmed.len()];
            let Some((key, v)) = trimmed.split_once('=').filter(|_| i > 0) else {
                return segment.to_owned();
            };
            let v = v.trim();
            let replaced = match key.trim() {
                k if k.eq_ignore_ascii_case("domain") => {
                    rewrites.cookie_domain.as_ref().and_then(|(from, to)| {
                        let bare = |d: &str| d.trim_start_matches('.').to_ascii_lowercase();
                        (bare(v) == bare(from)).then(|| to.clone())
                    })
                }
                k if k.eq_ignore_ascii_case("path") => rewrites
                    .cookie_path
                    .as_ref()
                    .and_then(|(from, to)| v.strip_prefix(from.as_str()).map(|rest| format!("{to}{rest}"))),
                _ => None,
            };
            match replaced {
                Some(new) => {
                    changed = true;
                    format!("{lead}{}={new}", key.trim())
                }
                None => segment.to_owned(),
            }
        })
        .collect();
    changed.then(|| parts.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrites() -> HeaderRewrites {
        HeaderRewrites {
            location: Some(("http://backend:8080/".into(), "https://www.example.com/app/".into())),
            cookie_domain: Some(("backend.internal".into(), "example.com".into())),
            cookie_path: Some(("/two/".into(), "/".into())),
        }
    }

    #[test]
    fn locations_and_refresh_urls_get_the_new_prefix() {
        let (from, to) = rewrites().location.expect("set");
        assert_eq!(
            redirect("http://backend:8080/login?x=1", &from, &to).as_deref(),
            Some("https://www.example.com/app/login?x=1")
        );
        assert_eq!(redirect("http://other/login", &from, &to), None);
        assert_eq!(
            redirect("5; URL=http://backend:8080/next", &from, &to).as_deref(),
            Some("5; URL=https://www.example.com/app/next")
        );
    }

    #[test]
    fn cookie_domains_and_paths_are_rewritten_and_the_rest_kept() {
        let rw = rewrites();
        assert_eq!(
            cookie("id=1; Domain=.Backend.Internal; Path=/two/some/uri/; HttpOnly", &rw).as_deref(),
            Some("id=1; Domain=example.com; Path=/some/uri/; HttpOnly")
        );
        assert_eq!(cookie("id=1; Domain=other.test; Path=/one/", &rw), None);
        assert_eq!(
            cookie("path=/two/; Secure", &rw),
            None,
            "the cookie's own name=value is not an attribute"
        );
    }
}
