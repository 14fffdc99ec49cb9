//! Prometheus metrics, with ingress-nginx's names where one exists so that dashboards carry over.
//!
//! Request metrics are updated once per request in the logging phase; configuration gauges are
//! refreshed from the pipeline's counters at scrape time.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use sluice_controller::Pipeline;

pub mod series;

use crate::connections::{Connections, Refusal};
use crate::pingora_log;

/// Label names of the per-request metrics, as ingress-nginx has them.
const REQUEST_LABELS: [&str; 6] = ["ingress", "namespace", "service", "status", "method", "host"];

/// The per-request labels.
#[derive(Debug, Clone, Copy)]
pub struct RequestLabels<'a> {
    /// The Ingress that routed the request (empty when none matched).
    pub ingress: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// The Service it went to.
    pub service: &'a str,
    /// The response status.
    pub status: &'a str,
    /// The request method (methods outside a fixed set are counted as `OTHER`).
    pub method: &'a str,
    /// The rule host that matched (not the raw Host header, which would be unbounded).
    pub host: &'a str,
}

/// Every metric Sluice exports, in a registry of its own.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    generation: IntGauge,
    rebuilds: IntCounter,
    events: IntCounterVec,
    connections: Arc<Connections>,
    open_connections: IntGauge,
    refused_connections: IntCounterVec,
    /// Serialises scrapes, so that the rebuild counter is advanced once per rebuild.
    scrape: Arc<Mutex<()>>,
    last_ok: IntGauge,
    nginx_last_ok: IntGauge,
    warnings: IntGauge,
    empty_backends: IntGauge,
    propagation: Histogram,
    fallback: IntCounterVec,
}

/// The methods that get a label value of their own; any other method (a client may send any
/// token) is counted as `OTHER`, so that clients cannot create series.
const KNOWN_METHODS: [&str; 16] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
];

/// The `method` label value for a request method.
pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS.iter().find(|m| **m == method).copied().unwrap_or("OTHER")
}

/// Advances `counter` to `total`, a count kept by the code that counts (an atomic, so the
/// request path never touches the registry); scrapes are serialised, so it moves once per count.
fn catch_up(counter: &IntCounter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("nginx_ingress_controller_requests", "The total number of client requests"),
            &REQUEST_LABELS,
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "nginx_ingress_controller_request_duration_seconds",
                "The request processing time in seconds",
            ),
            &REQUEST_LABELS,
        )?;
        let generation = IntGauge::new("sluice_config_generation", "Generation of the live routing table")?;
        let rebuilds = IntCounter::new(
            "sluice_config_rebuilds_total",
            "Routing table rebuilds (translations) so far, whether or not the table changed",
        )?;
        registry.register(Box::new(rebuilds.clone()))?;
        let events = IntCounterVec::new(
            Opts::new(
                "sluice_proxy_events_total",
                "Normal events Pingora reports as errors, logged at DEBUG instead: upstream_pool_miss (a pooled connection could not be taken; a new one was used), downstream_tls_handshake_failed, downstream_gone (the client left before its answer)",
            ),
            &["event"],
        )?;
        registry.register(Box::new(events.clone()))?;
        let open_connections = IntGauge::new(
            "sluice_connections_open",
            "Client connections open (counted against max-worker-connections)",
        )?;
        registry.register(Box::new(open_connections.clone()))?;
        let refused_connections = IntCounterVec::new(
            Opts::new(
                "sluice_connections_refused_total",
                "Client connections refused or closed at a cap: max_connections, per_client, unfinished_head_closed (the oldest connection still reading its first head, closed to make room)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(refused_connections.clone()))?;
        let last_ok = IntGauge::new(
            "sluice_config_last_reload_successful",
            "Whether the last rebuild read every source object (1) or kept some last good objects (0)",
        )?;
        let nginx_last_ok = IntGauge::new(
            "nginx_ingress_controller_config_last_reload_successful",
            "Whether the last configuration rebuild was successful (ingress-nginx name)",
        )?;
        let warnings =
            IntGauge::new("sluice_config_warnings", "Objects or rules skipped by the last translation")?;
        let empty_backends = IntGauge::new(
            "sluice_backends_without_ready_endpoints",
            "Backends that routes point at but that have no ready endpoint (requests get 503)",
        )?;
        registry.register(Box::new(empty_backends.clone()))?;
        let propagation = Histogram::with_opts(
            HistogramOpts::new(
                "sluice_config_propagation_seconds",
                "Time from an object change seen by a source to the routing table that includes it being live",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )?;
        registry.register(Box::new(propagation.clone()))?;
        let fallback = IntCounterVec::new(
            Opts::new(
                "sluice_fallback_requests_total",
                "Requests sent to the sluice.dev/fallback-service backend because the route's Service had no ready endpoint or could not be reached",
            ),
            &["namespace", "ingress", "service"],
        )?;
        registry.register(Box::new(fallback.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(generation.clone()))?;
        registry.register(Box::new(last_ok.clone()))?;
        registry.register(Box::new(nginx_last_ok.clone()))?;
        registry.register(Box::new(warnings.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            duration,
            generation,
            rebuilds,
            events,
            connections: Arc::default(),
            open_connections,
            refused_connections,
            scrape: Arc::default(),
            last_ok,
            nginx_last_ok,
            warnings,
            empty_backends,
            propagation,
            fallback,
        })
    }

    /// The open connections and their caps, for the listeners to count in.
    pub fn connections(&self) -> Arc<Connections> {
        self.connections.clone()
    }

    /// The config propagation histogram, for the pipeline to observe.
    pub fn propagation(&self) -> Histogram {
        self.propagation.clone()
    }

    /// Counts one finished request. With a `series` (the request matched a route), the handles
    /// are found by that identity ([`series`]); the labels are hashed only without one.
    pub fn observe(&self, labels: &RequestLabels<'_>, series: Option<series::SeriesKey>, seconds: f64) {
        let values = || {
            let method = method_label(labels.method);
            [labels.ingress, labels.namespace, labels.service, labels.status, method, labels.host]
        };
        match series {
            Some(key) => series::observe(&self.requests, &self.duration, key, values, seconds),
            None => {
                let values = values();
                self.requests.with_label_values(&values).inc();
                self.duration.with_label_values(&values).observe(seconds);
            }
        }
    }

    /// Counts one request served by a fallback Service.
    pub fn fallback(&self, namespace: &str, ingress: &str, service: &str) {
        self.fallback.with_label_values(&[namespace, ingress, service]).inc();
    }

    /// The text exposition of every metric, with configuration gauges read from `pipeline`.
    pub fn encode(&self, pipeline: &Pipeline) -> Vec<u8> {
        let _scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.set(pipeline.publisher().load().generation as i64);
        catch_up(&self.rebuilds, pipeline.stats.rebuilds.load(Ordering::Relaxed));
        self.open_connections.set(self.connections.open() as i64);
        for reason in Refusal::ALL {
            let counter = self.refused_connections.with_label_values(&[reason.label()]);
            catch_up(&counter, self.connections.refused(reason));
        }
        for event in pingora_log::Event::ALL {
            catch_up(&self.events.with_label_values(&[event.label()]), pingora_log::total(event));
        }
        let ok = i64::from(pipeline.stats.last_source_ok.load(Ordering::Relaxed));
        self.last_ok.set(ok);
        self.nginx_last_ok.set(ok);
        self.warnings.set(pipeline.stats.warnings.load(Ordering::Relaxed) as i64);
        self.empty_backends.set(pipeline.stats.empty_backends.load(Ordering::Relaxed) as i64);
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail on I/O; a metric family error would be a bug here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}
