//! The Sluice data plane: a Pingora [`router::Router`] that routes every request by the
//! currently published [`sluice_controller::RoutingTable`], the admin listener, and the pieces
//! the `sluice` binary assembles.

pub mod access_log;
pub mod admin;
pub mod auth;
pub mod bounded;
pub mod connections;
pub mod cors;
pub mod echo;
pub mod error_pages;
pub mod facts;
pub mod first_head;
pub mod forwarding;
pub mod gateway;
pub mod gateway_listeners;
pub mod header_rewrites;
pub mod lifecycle;
pub mod limits;
pub mod lint;
pub mod listener;
pub mod metrics;
pub mod mirror;
pub mod pingora_log;
pub mod proxy_protocol;
pub mod redirects;
pub mod respond;
pub mod router;
pub mod server;
pub mod settings;
pub mod subrequest;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod traffic;
pub mod upstream;
