//! `Location` values for the redirects Sluice answers: HTTP to HTTPS, `app-root` and
//! `from-to-www-redirect`. The request's path and query are kept as sent.

use pingora::prelude::Session;
use sluice_controller::matching::strip_port;

use crate::router::{request_host, request_uri};

fn path_and_query(session: &Session) -> &str {
    request_uri(session.req_header())
}

/// The port suffix of the request's host (`:8080`), empty when it has none.
fn port_suffix(host: &str) -> &str {
    &host[strip_port(host).len()..]
}

/// HTTP to HTTPS: same host (port replaced by the HTTPS port unless it is 443), path and query.
pub fn https(session: &Session, https_port: u16) -> String {
    let host = strip_port(request_host(session));
    let path = path_and_query(session);
    match https_port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    }
}

/// `app-root`: the same scheme and host (with its port), and the new path.
pub fn same_host(session: &Session, scheme: &str, path: &str) -> String {
    format!("{scheme}://{}{path}", request_host(session))
}

/// `from-to-www-redirect`: the other host, same scheme, port, path and query.
pub fn www(session: &Session, scheme: &str, to: &str) -> String {
    let host = request_host(session);
    format!("{scheme}://{to}{}{}", port_suffix(host), path_and_query(session))
}
