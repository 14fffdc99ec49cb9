//! Table-driven tests of `translate` + `RoutingTable::lookup` against the Kubernetes
//! documentation's tables and the ingress-nginx selection rules.

mod translate {
    mod annotations;
    pub mod fixtures;
    mod gateway;
    mod hosts_and_conflicts;
    mod incremental;
    mod paths;
    mod selection;
    mod services;
    mod tls_and_config;
}
