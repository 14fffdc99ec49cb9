//! Parsing one manifest file: multi-document YAML (or JSON), `kind: List` included, into the
//! objects Sluice reads. Kinds it does not read are ignored.

use serde::Deserialize;
use serde_yaml::Value;

use crate::snapshot::Object;

/// The Gateway API versions read from manifests (`v1beta1` has the same shapes for the kinds
/// Sluice serves).
const GATEWAY_V1: &str = "gateway.networking.k8s.io/v1";
const GATEWAY_V1BETA1: &str = "gateway.networking.k8s.io/v1beta1";

/// Why a file could not be used. The whole file is rejected, so that its last good objects keep
/// serving instead of a half-read version of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}: {reason}")]
pub struct ParseError {
    /// The 1-based index of the YAML document that failed.
    pub document: usize,
    /// What failed.
    pub reason: String,
}

/// A document that parsed but is not used, with the reason (reported, never fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The 1-based document index.
    pub document: usize,
    /// Why it is not used.
    pub reason: String,
}

/// The objects of one file.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Objects of the kinds Sluice reads.
    pub objects: Vec<Object>,
    /// Documents of a known kind that were not used (for example an old apiVersion).
    pub skipped: Vec<Skipped>,
}

/// Parses every document of `text`. Fails on the first malformed document.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        let value = Value::deserialize(de).map_err(|e| ParseError { document, reason: e.to_string() })?;
        add_value(value, document, &mut parsed)?;
    }
    Ok(parsed)
}

fn add_value(value: Value, document: usize, parsed: &mut Parsed) -> Result<(), ParseError> {
    if value.is_null() {
        return Ok(());
    }
    let fail = |reason: String| ParseError { document, reason };
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return Err(fail("not a Kubernetes object: apiVersion and kind are required".to_owned()));
    };
    if kind.ends_with("List") {
        let items = match value.get("items") {
            Some(Value::Sequence(items)) => items.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(fail("a List's items must be a sequence".to_owned())),
        };
        for item in items {
            add_value(item, document, parsed)?;
        }
        return Ok(());
    }
    let typed = |r: Result<Object, serde_yaml::Error>| r.map_err(|e| fail(format!("{kind}: {e}")));
    let object = match (api_version.as_str(), kind.as_str()) {
        ("networking.k8s.io/v1", "Ingress") => typed(serde_yaml::from_value(value).map(Object::ingress))?,
        ("networking.k8s.io/v1", "IngressClass") => {
            typed(serde_yaml::from_value(value).map(Object::ingress_class))?
        }
        ("v1", "Service") => typed(serde_yaml::from_value(value).map(Object::service))?,
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            typed(serde_yaml::from_value(value).map(Object::endpoint_slice))?
        }
        ("v1", "Secret") => typed(serde_yaml::from_value(value).map(Object::secret))?,
        ("v1", "ConfigMap") => typed(serde_yaml::from_value(value).map(Object::config_map))?,
        ("v1", "Namespace") => typed(serde_yaml::from_value(value).map(Object::namespace))?,
        (GATEWAY_V1 | GATEWAY_V1BETA1, "GatewayClass") => {
            typed(serde_yaml::from_value(value).map(Object::gateway_class))?
        }
        (GATEWAY_V1 | GATEWAY_V1BETA1, "Gateway") => {
            typed(serde_yaml::from_value(value).map(Object::gateway))?
        }
        (GATEWAY_V1 | GATEWAY_V1BETA1, "HTTPRoute") => {
            typed(serde_yaml::from_value(value).map(Object::http_route))?
        }
        (GATEWAY_V1 | GATEWAY_V1BETA1, "ReferenceGrant") => {
            typed(serde_yaml::from_value(value).map(Object::reference_grant))?
        }
        (_, "Ingress" | "IngressClass" | "EndpointSlice") => {
            parsed.skipped.push(Skipped {
                document,
                reason: format!("{kind} {api_version} is not supported; use the v1 API"),
            });
            return Ok(());
        }
        _ => return Ok(()),
    };
    if object.object_ref().name.is_empty() {
        return Err(fail(format!("{kind} has no metadata.name")));
    }
    parsed.objects.push(object);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_and_lists_are_read_and_other_kinds_ignored() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\
                    apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n";
        let parsed = parse(text).expect("parses");
        let names: Vec<_> = parsed.objects.iter().map(|o| o.object_ref().to_string()).collect();
        assert_eq!(names, ["Service default/a", "ConfigMap default/c"]);
    }

    #[test]
    fn a_malformed_document_names_its_index() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\
                    apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: 7}\n";
        let err = parse(text).expect_err("fails");
        assert_eq!(err.document, 2);
        assert!(err.reason.contains("Service"), "{}", err.reason);
    }

    #[test]
    fn old_api_versions_are_skipped_with_a_reason() {
        let parsed =
            parse("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a}\n").expect("ok");
        assert!(parsed.objects.is_empty());
        assert_eq!(parsed.skipped.len(), 1);
    }

    #[test]
    fn json_is_accepted() {
        let parsed = parse(r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"j"}}"#).expect("ok");
        assert_eq!(parsed.objects.len(), 1);
    }
}
