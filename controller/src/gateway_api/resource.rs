//! The Kubernetes resource identity of each Gateway API kind (k8s-openapi's `Resource` and
//! `Metadata`, from which kube-rs derives its own), so the kube source can watch them like the
//! built-in kinds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};

use super::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};

macro_rules! resource {
    ($ty:ty, $version:literal, $kind:literal, $plural:literal, $scope:ty) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = concat!("gateway.networking.k8s.io/", $version);
            const GROUP: &'static str = "gateway.networking.k8s.io";
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = $scope;
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

resource!(GatewayClass, "v1", "GatewayClass", "gatewayclasses", ClusterResourceScope);
resource!(Gateway, "v1", "Gateway", "gateways", NamespaceResourceScope);
resource!(HttpRoute, "v1", "HTTPRoute", "httproutes", NamespaceResourceScope);
resource!(ReferenceGrant, "v1beta1", "ReferenceGrant", "referencegrants", NamespaceResourceScope);
