//! Basic auth's users, read from the `auth-secret` of an Ingress when the table is built.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;

use super::warning::{Invalid, Warning};
use crate::htpasswd::Htpasswd;
use crate::policy::Auth;
use crate::snapshot::{ObjectRef, Snapshot};

fn warn(warnings: &mut Vec<Warning>, object: &ObjectRef, reason: Invalid) {
    warnings.push(Warning { object: object.clone(), reason });
}

/// Basic auth from the Secret `secret` (`NAME`, or `NAMESPACE/NAME` of the Ingress's own
/// namespace); anything unusable refuses the routes (fails closed).
pub fn basic_auth(
    snapshot: &Snapshot,
    object: &ObjectRef,
    secret: &str,
    map: bool,
    challenge: &http::HeaderValue,
    warnings: &mut Vec<Warning>,
) -> Auth {
    let key = match object.own_namespace_key(secret) {
        Ok(key) => key,
        Err(reason) => {
            let reason = format!("auth-secret {reason}");
            warn(warnings, object, Invalid::AuthSecret { secret: secret.to_owned(), reason });
            return Auth::Broken;
        }
    };
    let Some(found) = snapshot.secrets.get(&key) else {
        let reason = "not found; the routes answer 503".to_owned();
        warn(warnings, object, Invalid::AuthSecret { secret: key.1, reason });
        return Auth::Broken;
    };
    let name = key.1.as_str();
    let entries = secret_entries(found);
    let (users, skipped) = if map {
        Htpasswd::parse_map(entries.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    } else {
        match entries.iter().find(|(k, _)| k == "auth") {
            Some((_, text)) => Htpasswd::parse_file(text),
            None => (Htpasswd::default(), vec!["no key \"auth\"".to_owned()]),
        }
    };
    for reason in skipped {
        warn(warnings, object, Invalid::AuthSecret { secret: name.to_owned(), reason });
    }
    Auth::Basic { challenge: challenge.clone(), users: Arc::new(users) }
}

/// The text entries of a Secret (`data` decoded, then `stringData`), non-UTF-8 values skipped.
fn secret_entries(secret: &Secret) -> Vec<(String, String)> {
    let data = secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)));
    let strings = secret.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone()));
    data.chain(strings).collect()
}
