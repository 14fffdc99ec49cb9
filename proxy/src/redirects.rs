//! `Location` values for the redirects Sluice answers: HTTP to HTTPS, `app-root` and
//! `from-to-www-redirect`. The request's path and query are kept as sent.

use pingora::http::RequestHeader;
use sluice_controller::matching::strip_port;

use crate::facts::request_uri;

/// The port suffix of the request's host (`:8080`), empty when it has none.
fn port_suffix(host: &str) -> &str {
    &host[strip_port(host).len()..]
}

/// HTTP to HTTPS: same host (`host`, without its port; the HTTPS port is added unless it is
/// 443), path and query as sent.
pub fn https(req: &RequestHeader, host: &str, https_port: u16) -> String {
    let path = request_uri(req);
    match https_port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    }
}

/// `app-root`: the same scheme and host (`raw_host`, with its port), and the new path.
pub fn same_host(raw_host: &str, scheme: &str, path: &str) -> String {
    format!("{scheme}://{raw_host}{path}")
}

/// `from-to-www-redirect`: the other host, same scheme, port (from `raw_host`), path and query.
pub fn www(req: &RequestHeader, raw_host: &str, scheme: &str, to: &str) -> String {
    format!("{scheme}://{to}{}{}", port_suffix(raw_host), request_uri(req))
}
