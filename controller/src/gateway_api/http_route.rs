//! HTTPRoute (`gateway.networking.k8s.io/v1`): parent references, hostnames, and rules of
//! matches, filters and weighted backends.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// An HTTPRoute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRoute {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The route's spec.
    #[serde(default)]
    pub spec: HttpRouteSpec,
    /// The status as the cluster holds it (read for other controllers' parent entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// `HTTPRoute.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    /// The Gateways (and listeners) the route attaches to.
    #[serde(default)]
    pub parent_refs: Vec<ParentRef>,
    /// The hostnames the route serves (intersected with each listener's).
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// The rules; none means one rule matching every request with no backend.
    #[serde(default)]
    pub rules: Option<Vec<HttpRouteRule>>,
}

/// `parentRefs[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    /// The parent's group (default `gateway.networking.k8s.io`).
    #[serde(default)]
    pub group: Option<String>,
    /// The parent's kind (default `Gateway`).
    #[serde(default)]
    pub kind: Option<String>,
    /// The parent's namespace (default: the route's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The parent's name.
    #[serde(default)]
    pub name: String,
    /// One listener's name.
    #[serde(default)]
    pub section_name: Option<String>,
    /// Listeners on this port only.
    #[serde(default)]
    pub port: Option<i32>,
}

/// `rules[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    /// The matches (any of them selects the rule); none means `PathPrefix /`.
    #[serde(default)]
    pub matches: Option<Vec<HttpRouteMatch>>,
    /// Filters applied to every request of the rule.
    #[serde(default)]
    pub filters: Vec<HttpRouteFilter>,
    /// Where requests go, by weight.
    #[serde(default)]
    pub backend_refs: Vec<HttpBackendRef>,
    /// Request and backend-request timeouts.
    #[serde(default)]
    pub timeouts: Option<HttpRouteTimeouts>,
    /// Retries (experimental channel).
    #[serde(default)]
    pub retry: Option<HttpRouteRetry>,
}

/// `rules[].retry` (experimental channel): which answers are retried, and how often.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRouteRetry {
    /// Upstream status codes that are retried (5xx).
    #[serde(default)]
    pub codes: Vec<i32>,
    /// Retries at most (besides the first attempt).
    #[serde(default)]
    pub attempts: Option<i32>,
    /// Wait between attempts (not applied: retries go to the next endpoint at once).
    #[serde(default)]
    pub backoff: Option<String>,
}

/// `rules[].matches[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteMatch {
    /// The path match (default `PathPrefix /`).
    #[serde(default)]
    pub path: Option<HttpPathMatch>,
    /// Header matches, all of which must hold.
    #[serde(default)]
    pub headers: Vec<HttpHeaderMatch>,
    /// Query parameter matches, all of which must hold.
    #[serde(default)]
    pub query_params: Vec<HttpHeaderMatch>,
    /// The method.
    #[serde(default)]
    pub method: Option<String>,
}

/// A path match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpPathMatch {
    /// `Exact`, `PathPrefix` (the default) or `RegularExpression`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// The path (default `/`).
    #[serde(default)]
    pub value: Option<String>,
}

/// A header or query parameter match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpHeaderMatch {
    /// `Exact` (the default) or `RegularExpression`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// The header or parameter name.
    #[serde(default)]
    pub name: String,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// `backendRefs[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpBackendRef {
    /// The group (empty: core).
    #[serde(default)]
    pub group: Option<String>,
    /// The kind (default `Service`).
    #[serde(default)]
    pub kind: Option<String>,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The namespace (default: the route's; another one needs a ReferenceGrant).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The Service port (required for Services).
    #[serde(default)]
    pub port: Option<i32>,
    /// The share of requests (default 1; 0 sends none).
    #[serde(default)]
    pub weight: Option<i32>,
    /// Filters applied when this backend is chosen.
    #[serde(default)]
    pub filters: Vec<HttpRouteFilter>,
}

/// A filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteFilter {
    /// `RequestHeaderModifier`, `ResponseHeaderModifier`, `RequestRedirect`, `URLRewrite`,
    /// `RequestMirror` or `ExtensionRef`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// For `RequestHeaderModifier`.
    #[serde(default)]
    pub request_header_modifier: Option<HeaderModifier>,
    /// For `ResponseHeaderModifier`.
    #[serde(default)]
    pub response_header_modifier: Option<HeaderModifier>,
    /// For `RequestRedirect`.
    #[serde(default)]
    pub request_redirect: Option<RequestRedirect>,
    /// For `URLRewrite`.
    #[serde(default, rename = "urlRewrite")]
    pub url_rewrite: Option<UrlRewrite>,
    /// For `RequestMirror`.
    #[serde(default)]
    pub request_mirror: Option<RequestMirror>,
    /// For `CORS`.
    #[serde(default)]
    pub cors: Option<CorsFilter>,
}

/// The `CORS` filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsFilter {
    /// Allowed origins (`*`, exact, or `https://*.example.com`).
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Whether credentials are allowed (false).
    #[serde(default)]
    pub allow_credentials: Option<bool>,
    /// Allowed methods (`*` for any).
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Allowed request headers.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers exposed to scripts.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// How long a preflight answer may be cached, in seconds (5).
    #[serde(default)]
    pub max_age: Option<i32>,
}

/// A header modifier: set, add, remove.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeaderModifier {
    /// Headers replaced (or added when absent).
    #[serde(default)]
    pub set: Vec<HeaderPair>,
    /// Headers appended.
    #[serde(default)]
    pub add: Vec<HeaderPair>,
    /// Header names removed.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A header name and value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeaderPair {
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// `RequestRedirect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRedirect {
    /// `http` or `https`.
    #[serde(default)]
    pub scheme: Option<String>,
    /// The host name of the Location.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The path of the Location.
    #[serde(default)]
    pub path: Option<PathModifier>,
    /// The port of the Location.
    #[serde(default)]
    pub port: Option<i32>,
    /// 301 (the default) or 302 (also 303, 307, 308).
    #[serde(default)]
    pub status_code: Option<i32>,
}

/// `URLRewrite`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UrlRewrite {
    /// The Host sent upstream.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The path sent upstream.
    #[serde(default)]
    pub path: Option<PathModifier>,
}

/// A path replacement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathModifier {
    /// `ReplaceFullPath` or `ReplacePrefixMatch`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// For `ReplaceFullPath`.
    #[serde(default)]
    pub replace_full_path: Option<String>,
    /// For `ReplacePrefixMatch`.
    #[serde(default)]
    pub replace_prefix_match: Option<String>,
}

/// `RequestMirror`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMirror {
    /// The backend copies go to.
    #[serde(default)]
    pub backend_ref: HttpBackendRef,
    /// The percentage of requests copied (0-100).
    #[serde(default)]
    pub percent: Option<i32>,
    /// The fraction of requests copied (`numerator` of `denominator`, default 100).
    #[serde(default)]
    pub fraction: Option<MirrorFraction>,
}

/// `requestMirror.fraction`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MirrorFraction {
    /// Requests copied per `denominator`.
    #[serde(default)]
    pub numerator: i32,
    /// The whole (default 100).
    #[serde(default)]
    pub denominator: Option<i32>,
}

/// `rules[].timeouts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteTimeouts {
    /// The whole request, as a Gateway API duration (`10s`, `500ms`, `1h`).
    #[serde(default)]
    pub request: Option<String>,
    /// Each request to a backend.
    #[serde(default)]
    pub backend_request: Option<String>,
}
