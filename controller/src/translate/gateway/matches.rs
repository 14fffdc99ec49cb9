//! HTTPRoute matches beyond the path (method, headers, query parameters), and the label
//! selectors of listeners' `allowedRoutes`.

use std::collections::BTreeMap;

use http::{HeaderName, Method};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::gateway_api::HttpRouteMatch;
use crate::policy::{Conditions, ValueMatch};
use crate::rewrite::RegexPath;

/// A match's method, header and query conditions, validated.
pub(super) fn conditions(m: &HttpRouteMatch) -> Result<Conditions, String> {
    let method = match m.method.as_deref() {
        None => None,
        Some(text) => {
            Some(Method::from_bytes(text.as_bytes()).map_err(|_| format!("invalid method {text:?}"))?)
        }
    };
    let value = |kind: Option<&str>, v: &str| -> Result<ValueMatch, String> {
        match kind.unwrap_or("Exact") {
            "Exact" => Ok(ValueMatch::Exact(v.to_owned())),
            "RegularExpression" => {
                RegexPath::whole(v).map(ValueMatch::Regex).map_err(|e| format!("regex {v:?}: {e}"))
            }
            other => Err(format!("match type {other:?} is not supported")),
        }
    };
    let mut headers: Vec<(HeaderName, ValueMatch)> = Vec::new();
    for h in &m.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("invalid header name {:?}", h.name))?;
        // Only the first entry of a name counts (the spec's rule for duplicates).
        if !headers.iter().any(|(n, _)| *n == name) {
            headers.push((name, value(h.type_.as_deref(), &h.value)?));
        }
    }
    let mut query: Vec<(String, ValueMatch)> = Vec::new();
    for q in &m.query_params {
        if !query.iter().any(|(n, _)| *n == q.name) {
            query.push((q.name.clone(), value(q.type_.as_deref(), &q.value)?));
        }
    }
    Ok(Conditions { method, headers, query })
}

/// Whether a label selector (`matchLabels` and `matchExpressions`) selects these labels.
pub(super) fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}
