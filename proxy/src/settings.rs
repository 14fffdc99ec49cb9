//! Command-line settings. Flag names follow ingress-nginx where it has one, so that operators'
//! scripts carry over.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sluice_controller::cluster::{LeaseSettings, PublishAddress, StatusTarget};
use sluice_controller::{ClassSettings, ClusterOptions, GatewayOptions, Options};

/// Sluice: a Kubernetes ingress controller and L7 proxy on Pingora.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A helper subcommand; without one, Sluice runs the proxy.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The proxy's settings.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Helper subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an echo backend (for local demos and tests): answers every request with a JSON
    /// description of it, and echoes WebSocket messages.
    Echo(EchoArgs),
    /// Check Ingresses before migrating from ingress-nginx: prints how each annotation is
    /// treated and exits 1 when something would behave differently.
    Lint(crate::lint::LintArgs),
}

/// Settings of `sluice echo`.
#[derive(Debug, Args)]
pub struct EchoArgs {
    /// Address to listen on (repeatable).
    #[arg(long = "listen", required = true)]
    pub listen: Vec<SocketAddr>,
    /// The name this backend reports (the `backend` field and the `x-backend` header).
    #[arg(long, default_value = "echo")]
    pub name: String,
}

/// Settings of the proxy.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Read objects from this folder of YAML/JSON manifests and watch it (no cluster needed).
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    /// Watch a cluster with this kubeconfig (without --manifests or --kubeconfig: in-cluster config).
    #[arg(long, value_name = "PATH", conflicts_with = "manifests")]
    pub kubeconfig: Option<PathBuf>,
    /// Only watch this namespace (the kube source; default: all namespaces).
    #[arg(long, value_name = "NS")]
    pub watch_namespace: Option<String>,
    /// Addresses written into the status of our Ingresses (the Keepalived VIP), comma-separated IPs or hostnames.
    #[arg(long, value_name = "A,B", value_delimiter = ',', conflicts_with = "publish_service")]
    pub publish_status_address: Vec<String>,
    /// Copy this LoadBalancer Service's addresses into the status of our Ingresses (the SLB case), as NAMESPACE/NAME.
    #[arg(long, value_name = "NS/NAME", value_parser = parse_object_key)]
    pub publish_service: Option<(String, String)>,
    /// Name of the Lease that elects the replica writing status and Events.
    #[arg(long, default_value = "sluice-leader")]
    pub election_id: String,
    /// Namespace of that Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub election_namespace: String,
    /// HTTP listener address (`:80` means every IPv4 address).
    #[arg(long, default_value = ":80", value_parser = parse_listen)]
    pub http_addr: String,
    /// HTTPS listener address (certificates by SNI from the Ingresses' TLS Secrets).
    #[arg(long, default_value = ":443", value_parser = parse_listen)]
    pub https_addr: String,
    /// Admin listener address: /healthz, /readyz, /metrics.
    #[arg(long, default_value = ":10254", value_parser = parse_listen)]
    pub admin_addr: String,
    /// `spec.controller` of the IngressClasses this controller owns.
    #[arg(long, default_value = "sluice.dev/ingress-controller")]
    pub controller_class: String,
    /// Name of this controller's IngressClass, matched by the legacy `kubernetes.io/ingress.class` annotation.
    #[arg(long, default_value = "sluice")]
    pub ingress_class: String,
    /// Also serve Ingresses that name no class at all.
    #[arg(long)]
    pub watch_ingress_without_class: bool,
    /// The controller ConfigMap (global settings), as NAMESPACE/NAME.
    #[arg(long, value_name = "NS/NAME", value_parser = parse_object_key)]
    pub configmap: Option<(String, String)>,
    /// The Secret whose certificate answers unknown SNI names, as NAMESPACE/NAME (default: a
    /// self-signed certificate generated at start).
    #[arg(long, value_name = "NS/NAME", value_parser = parse_object_key)]
    pub default_ssl_certificate: Option<(String, String)>,
    /// Proxy worker threads (default: the number of CPUs available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// After SIGTERM, keep serving this long while health checks fail (so a VIP or SLB moves away).
    #[arg(long, default_value = "10s", value_parser = crate::lifecycle::parse_duration)]
    pub shutdown_grace_period: std::time::Duration,
    /// Then stop accepting and wait at most this long for in-flight requests.
    #[arg(long, default_value = "30s", value_parser = crate::lifecycle::parse_duration)]
    pub shutdown_drain_timeout: std::time::Duration,
    /// Do not write the per-request access log.
    #[arg(long)]
    pub disable_access_log: bool,
    /// `controllerName` of the GatewayClasses whose Gateways this controller serves.
    #[arg(long, default_value = "sluice.dev/gateway-controller")]
    pub gateway_controller_name: String,
    /// Address of the listeners of Gateways that have no `spec.addresses`.
    #[arg(long, default_value = "0.0.0.0")]
    pub gateway_bind_address: std::net::IpAddr,
}

impl RunArgs {
    /// What translation needs from the command line.
    pub fn options(&self) -> Options {
        Options {
            classes: ClassSettings {
                controller: self.controller_class.clone(),
                ingress_class: self.ingress_class.clone(),
                watch_without_class: self.watch_ingress_without_class,
            },
            configmap: self.configmap.clone(),
            default_certificate: self.default_ssl_certificate.clone(),
            gateway: GatewayOptions {
                controller_name: self.gateway_controller_name.clone(),
                bind_address: self.gateway_bind_address,
            },
        }
    }

    /// The kube source's settings.
    pub fn cluster_options(&self) -> ClusterOptions {
        let status = match (&self.publish_service, self.publish_status_address.as_slice()) {
            (Some(service), _) => Some(StatusTarget::Service(service.clone())),
            (None, []) => None,
            (None, addresses) => Some(StatusTarget::Addresses(
                addresses
                    .iter()
                    .map(|a| a.trim())
                    .filter(|a| !a.is_empty())
                    .map(PublishAddress::parse)
                    .collect(),
            )),
        };
        ClusterOptions {
            namespace: self.watch_namespace.clone(),
            configmap: self.configmap.clone(),
            status,
            lease: LeaseSettings {
                namespace: self.election_namespace.clone(),
                name: self.election_id.clone(),
                ..LeaseSettings::default()
            },
        }
    }

    /// The addresses `/readyz` probes: the HTTP listener (the HTTPS one is bound with it, in the
    /// same service; probing it with a bare TCP connect would log a failed handshake).
    pub fn listener_addresses(&self) -> Vec<SocketAddr> {
        self.http_addr.parse().ok().into_iter().collect()
    }

    /// The HTTPS listener's port (used in redirect Locations).
    pub fn https_port(&self) -> u16 {
        self.https_addr.parse::<SocketAddr>().map_or(443, |a| a.port())
    }

    /// Worker threads to run.
    pub fn worker_threads(&self) -> usize {
        self.threads
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    }
}

/// Accepts `HOST:PORT`, `[V6]:PORT` or `:PORT` (every IPv4 address) and returns `IP:PORT`.
pub fn parse_listen(s: &str) -> Result<String, String> {
    let full = if s.starts_with(':') { format!("0.0.0.0{s}") } else { s.to_owned() };
    full.parse::<SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|e| format!("{s:?} is not an IP:PORT address: {e}"))
}

/// Parses `NAMESPACE/NAME`.
pub fn parse_object_key(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(format!("{s:?} is not NAMESPACE/NAME")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_accept_bare_ports() {
        assert_eq!(parse_listen(":80").as_deref(), Ok("0.0.0.0:80"));
        assert_eq!(parse_listen("127.0.0.2:8080").as_deref(), Ok("127.0.0.2:8080"));
        assert_eq!(parse_listen("[::1]:81").as_deref(), Ok("[::1]:81"));
        assert!(parse_listen("localhost:80").is_err());
    }

    #[test]
    fn object_keys_need_a_namespace_and_a_name() {
        assert_eq!(parse_object_key("ns/name"), Ok(("ns".to_owned(), "name".to_owned())));
        assert!(parse_object_key("name").is_err());
        assert!(parse_object_key("a/b/c").is_err());
        assert!(parse_object_key("/b").is_err());
    }
}
