//! The Kubernetes tier: the real `sluice` binary against a real kube-apiserver v1.20.2 and etcd
//! (started by scripts/kube/cluster.sh), running as its ServiceAccount under the RBAC in
//! deploy/base/rbac.yaml, with echo backends on 127.0.0.x.
//!
//! Ignored by a plain `cargo test` because it needs the apiserver binary; `scripts/test.sh`
//! builds (or reuses) it and runs this tier with `--include-ignored`.

#[path = "e2e/support.rs"]
mod support;

mod kube_tier {
    pub mod cluster;
    mod gateway;
    mod scenario;
}
