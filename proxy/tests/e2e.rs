//! End-to-end tests: the real `sluice` binary, real echo backends on distinct 127.0.0.x
//! addresses, manifests in a temporary folder.

mod e2e {
    mod auth;
    mod balancing;
    mod connection_caps;
    mod edge;
    mod edge_security;
    mod gateway;
    mod headers;
    mod hot_swap;
    mod idle;
    mod lint;
    mod manifests;
    mod mirror;
    mod nginx_diff;
    mod proxy_protocol;
    mod rewrites;
    mod routing;
    mod shutdown;
    mod soak;
    pub mod support;
    mod tls;
    pub mod tls_client;
    mod traffic;
    mod upstream;
}
