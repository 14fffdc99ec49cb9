//! CORS as ingress-nginx does it: preflight `OPTIONS` requests from an allowed origin are
//! answered by Sluice with 204; other responses to allowed origins get the CORS headers
//! (replacing any the upstream set).

use http::{header, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::Result;
use sluice_controller::policy::Cors;

/// The `Origin` to answer for, when CORS applies to this request: `*` for any origin, else the
/// request's own `Origin` (the list matched it).
pub fn allowed_origin(cors: &Cors, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
    let text = origin.and_then(|o| o.to_str().ok());
    if !cors.allows(text) {
        return None;
    }
    match (&cors.origins, origin) {
        (None, _) => Some(HeaderValue::from_static("*")),
        (Some(_), Some(o)) => Some(o.clone()),
        (Some(_), None) => None,
    }
}

/// Sets the CORS headers on `resp`.
pub fn apply(cors: &Cors, origin: HeaderValue, resp: &mut ResponseHeader) -> Result<()> {
    resp.insert_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)?;
    if cors.credentials {
        resp.insert_header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true")?;
    }
    resp.insert_header(header::ACCESS_CONTROL_ALLOW_METHODS, cors.methods.clone())?;
    resp.insert_header(header::ACCESS_CONTROL_ALLOW_HEADERS, cors.headers.clone())?;
    if let Some(expose) = &cors.expose {
        resp.insert_header(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone())?;
    }
    resp.insert_header(header::ACCESS_CONTROL_MAX_AGE, cors.max_age.clone())?;
    Ok(())
}
