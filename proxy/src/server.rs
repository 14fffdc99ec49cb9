//! Assembles the running proxy: the source feeding the pipeline, the Pingora server with the
//! router on the HTTP and HTTPS listeners, and the admin listener.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs as PingoraRunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use pingora::services::ServiceReadyNotifier;
use sluice_controller::cluster::{self, Ready};
use sluice_controller::manifests::{self, ManifestSource};
use sluice_controller::{ClusterOptions, Pipeline, Publisher};
use tracing::{error, info};

use crate::admin::Admin;
use crate::gateway_listeners::GatewaySockets;
use crate::lifecycle::{Lifecycle, SignalWatch};
use crate::listener::{PreTlsProxyProtocol, ProxyProtocolApp};
use crate::metrics::Metrics;
use crate::router::Router;
use crate::settings::RunArgs;
use crate::tls::{self, SniResolver};

/// Starts the manifests source and publishes its first table before any listener opens, so that
/// the first request already sees the routes.
fn start_manifests(dir: &Path, pipeline: &Arc<Pipeline>) -> anyhow::Result<()> {
    let mut source = ManifestSource::new(dir);
    let scan = source.scan().with_context(|| format!("reading manifests from {}", dir.display()))?;
    pipeline.apply(Arc::new(source.snapshot()), scan.failed.is_empty(), None);
    let pipeline = pipeline.clone();
    manifests::watch(source, move |snapshot, scan| {
        pipeline.apply(Arc::new(snapshot), scan.failed.is_empty(), scan.seen);
    })?;
    Ok(())
}

/// The kube source as a Pingora background service. It signals ready after the first full sync,
/// and the proxy service depends on it, so the listeners open only once routes are known.
struct KubeService {
    config: kube::Config,
    pipeline: Arc<Pipeline>,
    options: ClusterOptions,
    lifecycle: Arc<Lifecycle>,
}

#[async_trait]
impl BackgroundService for KubeService {
    async fn start_with_ready_notifier(&self, mut shutdown: ShutdownWatch, ready: ServiceReadyNotifier) {
        let client = match kube::Client::try_from(self.config.clone()) {
            Ok(client) => client,
            Err(error) => {
                error!(%error, "Cannot create the Kubernetes client");
                std::process::exit(1);
            }
        };
        let ready = Ready::new(move || ready.notify_ready());
        tokio::select! {
            () = cluster::run(client, self.pipeline.clone(), self.options.clone(), ready, self.lifecycle.stopping()) => {}
            _ = shutdown.changed() => {}
        }
    }
}

fn kube_config(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Config> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(cluster::config(kubeconfig.as_deref()))?)
}

/// The application behind every proxy socket: the HTTP proxy driven by `router` (HTTP/2 with
/// prior knowledge, nginx's request-line rules, header deadlines, idle connections without a
/// session) inside the PROXY protocol reader and connection caps.
fn proxy_app(
    conf: &Arc<ServerConf>,
    router: Router,
    publisher: &Arc<Publisher>,
    metrics: &Metrics,
    threads: usize,
) -> ProxyProtocolApp<pingora::proxy::HttpProxy<Router>> {
    let mut http = http_proxy(conf, router);
    // HTTP/2 with prior knowledge on the plain listener (gRPC clients use it); HTTP/1.1
    // connections are told apart by the missing preface.
    let mut options = HttpServerOptions::default();
    options.h2c = true;
    // `GET http://a.example/` with `Host: b.example` routes by a.example (RFC 9112 §3.2.2), as
    // nginx does; Pingora rejects it by default (see vendor/README.md).
    options.target_authority_wins = true;
    // A space or control byte in the request line, or both Transfer-Encoding and
    // Content-Length, is a 400 as in nginx, not repaired.
    options.strict_request_head = true;
    // The first head of a connection (HTTPS; plain ones are read earlier by `first_head`) must
    // arrive within ingress-nginx's default `client-header-timeout` of its first byte; later
    // heads use the ConfigMap's value, set per request by the router.
    options.header_read_timeout = Some(std::time::Duration::from_secs(60));
    // An idle keep-alive connection waits for its next request holding only its stream (no
    // session, header buffer or request future; see vendor/README.md).
    options.idle_without_session = true;
    http.server_options = Some(options);
    ProxyProtocolApp::new(http, publisher.clone(), metrics.connections(), threads)
}

/// Runs the proxy until the process is told to stop (see [`crate::lifecycle`]).
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let metrics = Metrics::new()?;
    let publisher = Arc::new(Publisher::new());
    let pipeline =
        Arc::new(Pipeline::new(publisher.clone(), args.options()).with_propagation(metrics.propagation()));
    let lifecycle = Arc::new(Lifecycle::default());
    let kube = match args.manifests.as_deref() {
        Some(dir) => {
            start_manifests(dir, &pipeline)?;
            None
        }
        None => Some(KubeService {
            config: kube_config(args.kubeconfig.clone()).context("configuring the Kubernetes source")?,
            pipeline: pipeline.clone(),
            options: args.cluster_options(),
            lifecycle: lifecycle.clone(),
        }),
    };

    let threads = args.worker_threads();
    let conf = ServerConf {
        threads,
        work_stealing: false,
        // Backstops only: SignalWatch runs the grace period and exits once drained.
        grace_period_seconds: Some(args.shutdown_drain_timeout.as_secs() + 1),
        graceful_shutdown_timeout_seconds: Some(1),
        upstream_keepalive_pool_size: 1024,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let fallback = tls::fake_certificate()?.certified;
    let resolver = Arc::new(SniResolver::new(publisher.clone(), fallback));
    let router = Router::new(publisher.clone(), lifecycle.clone(), metrics.clone(), args.https_port());
    let app = proxy_app(&server.configuration, router, &publisher, &metrics, threads);
    let gateway_router =
        Router::new(publisher.clone(), lifecycle.clone(), metrics.clone(), args.https_port()).gateway_only();
    let gateway_sockets = GatewaySockets::new(
        publisher.clone(),
        proxy_app(&server.configuration, gateway_router, &publisher, &metrics, threads),
        tls::listener_settings(resolver.clone())?.build(),
        PreTlsProxyProtocol::new(publisher.clone()),
        [&args.http_addr, &args.https_addr].iter().filter_map(|a| a.parse().ok()).collect(),
        args.admin_addr.parse().ok().into_iter().collect(),
    );
    let mut proxy = Service::new("proxy".to_owned(), app);
    proxy.add_tcp(&args.http_addr);
    proxy.add_tls_with_settings(&args.https_addr, None, tls::listener_settings(resolver)?);
    proxy.endpoints().set_pre_tls_callback(Arc::new(PreTlsProxyProtocol::new(publisher.clone())));
    proxy.threads = Some(threads);

    let mut admin = Service::new(
        "admin".to_owned(),
        Admin::new(pipeline, lifecycle.clone(), metrics, args.listener_addresses()),
    );
    admin.add_tcp(&args.admin_addr);
    admin.threads = Some(1);

    server.add_service(admin);
    let proxy = server.add_service(proxy);
    let gateways = server.add_service(background_service("gateway sockets", gateway_sockets));
    gateways.add_dependency(&proxy);
    if let Some(kube) = kube {
        let source = server.add_service(background_service("kube source", kube));
        proxy.add_dependency(&source);
    }
    info!(http = %args.http_addr, https = %args.https_addr, admin = %args.admin_addr, threads, "Sluice starting");
    let signals = SignalWatch::new(lifecycle, args.shutdown_grace_period, args.shutdown_drain_timeout);
    server.run(PingoraRunArgs { shutdown_signal: Box::new(signals) });
    Ok(())
}
