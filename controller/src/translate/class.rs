//! IngressClass selection: which Ingresses belong to this controller.
//!
//! In order, as ingress-nginx decides it:
//! 1. the legacy `kubernetes.io/ingress.class` annotation, if present, must equal `--ingress-class`;
//! 2. else `spec.ingressClassName`, if set, must name an IngressClass whose `spec.controller` is
//!    `--controller-class`;
//! 3. else (no class at all) the Ingress is ours if `--watch-ingress-without-class` is set, or if
//!    one of our IngressClasses carries `ingressclass.kubernetes.io/is-default-class: "true"`.

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::snapshot::Snapshot;

/// The legacy class annotation.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// The annotation that marks an IngressClass as the cluster default.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// Which Ingresses this controller owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSettings {
    /// `spec.controller` of our IngressClasses (`--controller-class`).
    pub controller: String,
    /// The class name the legacy annotation must carry (`--ingress-class`).
    pub ingress_class: String,
    /// Whether Ingresses with no class at all are ours (`--watch-ingress-without-class`).
    pub watch_without_class: bool,
}

impl Default for ClassSettings {
    fn default() -> Self {
        ClassSettings {
            controller: "sluice.dev/ingress-controller".to_owned(),
            ingress_class: "sluice".to_owned(),
            watch_without_class: false,
        }
    }
}

fn is_our_class(class: &IngressClass, settings: &ClassSettings) -> bool {
    class.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(settings.controller.as_str())
}

fn is_default(class: &IngressClass) -> bool {
    class
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Whether `ingress` belongs to this controller.
pub fn is_ours(ingress: &Ingress, snapshot: &Snapshot, settings: &ClassSettings) -> bool {
    let annotation = ingress.metadata.annotations.as_ref().and_then(|a| a.get(LEGACY_CLASS_ANNOTATION));
    if let Some(class) = annotation {
        return class == &settings.ingress_class;
    }
    if let Some(name) = ingress.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref()) {
        return snapshot
            .ingress_classes
            .get(&(String::new(), name.to_owned()))
            .is_some_and(|c| is_our_class(c, settings));
    }
    settings.watch_without_class
        || snapshot.ingress_classes.values().any(|c| is_our_class(c, settings) && is_default(c))
}
