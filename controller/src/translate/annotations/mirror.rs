//! `mirror-target`, `mirror-host` and `mirror-request-body`: copies of the requests go to
//! another URL (nginx's `mirror`).

use std::sync::Arc;

use http::HeaderValue;

use super::auth::absolute_url;
use super::Reader;
use crate::policy::Mirror;
use crate::translate::values;

pub(super) fn parse(r: &mut Reader<'_>) -> Option<Arc<Mirror>> {
    let (target, target_host) = r.parse("mirror-target", absolute_url)?;
    let host = r.header("mirror-host").or_else(|| target_host.and_then(|h| HeaderValue::try_from(h).ok()));
    let Some(host) = host else {
        let value = r.get("mirror-target").unwrap_or_default();
        r.invalid("mirror-target", value, "its host is a variable; set mirror-host");
        return None;
    };
    let body = r.parse("mirror-request-body", values::on_off).unwrap_or(true);
    Some(Arc::new(Mirror { target, host, body, sample: None }))
}
