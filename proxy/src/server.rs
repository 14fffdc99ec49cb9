//! Assembles the running proxy: the source feeding the pipeline, the Pingora server with the
//! HTTP router and the admin listener.

use std::sync::Arc;

use anyhow::Context as _;
use pingora::proxy::http_proxy_service;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::listening::Service;
use sluice_controller::manifests::{self, ManifestSource};
use sluice_controller::{Pipeline, Publisher};
use tracing::info;

use crate::admin::Admin;
use crate::metrics::Metrics;
use crate::router::Router;
use crate::settings::RunArgs;
use crate::tls::{self, SniResolver};

/// Starts the manifests source and publishes its first table before any listener opens, so that
/// the first request already sees the routes.
fn start_manifests(dir: &std::path::Path, pipeline: &Arc<Pipeline>) -> anyhow::Result<()> {
    let mut source = ManifestSource::new(dir);
    let scan = source.scan().with_context(|| format!("reading manifests from {}", dir.display()))?;
    pipeline.apply(&source.snapshot(), scan.failed.is_empty());
    let pipeline = pipeline.clone();
    manifests::watch(source, move |snapshot, scan| {
        pipeline.apply(&snapshot, scan.failed.is_empty());
    })?;
    Ok(())
}

/// Runs the proxy until the process is told to stop. Returns only on a startup error.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let publisher = Arc::new(Publisher::new());
    let pipeline = Arc::new(Pipeline::new(publisher.clone(), args.options()));
    let Some(dir) = args.manifests.as_deref() else {
        anyhow::bail!("no source given: pass --manifests DIR (the Kubernetes source is not built yet)");
    };
    start_manifests(dir, &pipeline)?;

    let threads = args.worker_threads();
    let conf = ServerConf {
        threads,
        work_stealing: false,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(5),
        upstream_keepalive_pool_size: 1024,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let metrics = Metrics::new()?;

    let fallback = tls::fake_certificate()?.certified;
    let resolver = Arc::new(SniResolver::new(publisher.clone(), fallback));
    let router = Router::new(publisher, metrics.clone(), args.https_port());
    let mut proxy = http_proxy_service(&server.configuration, router);
    proxy.add_tcp(&args.http_addr);
    proxy.add_tls_with_settings(&args.https_addr, None, tls::listener_settings(resolver)?);
    proxy.threads = Some(threads);

    let mut admin = Service::new("admin".to_owned(), Admin::new(pipeline, metrics));
    admin.add_tcp(&args.admin_addr);
    admin.threads = Some(1);

    server.add_service(proxy);
    server.add_service(admin);
    info!(http = %args.http_addr, https = %args.https_addr, admin = %args.admin_addr, threads, "Sluice listening");
    server.run_forever()
}
