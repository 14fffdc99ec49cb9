//! The one pipeline both sources feed: translate a snapshot, report new warnings, publish.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use prometheus::Histogram;
use tracing::{info, warn};

use crate::gateway_api::{Condition, GatewayStatuses};
use crate::publish::{Outcome, Publisher};
use crate::snapshot::Snapshot;
use crate::translate::{translate_incremental, Options, Previous, Warning};

/// Counters about rebuilds, read by the metrics endpoint at scrape time.
#[derive(Debug, Default)]
pub struct Stats {
    /// Whether the last rebuild had every source object readable (no rejected file or object).
    pub last_source_ok: AtomicBool,
    /// Number of warnings of the last translation.
    pub warnings: AtomicU64,
    /// Number of rebuilds (translations) so far.
    pub rebuilds: AtomicU64,
    /// Backends in the live table with no ready endpoint.
    pub empty_backends: AtomicU64,
}

/// The last translation's input and output, kept for the next one.
#[derive(Debug)]
struct Last {
    snapshot: Arc<Snapshot>,
    warnings: Vec<Warning>,
    /// The generation its table was published as (or found equal to).
    generation: u64,
}

/// Translates and publishes snapshots with one set of class settings.
#[derive(Debug)]
pub struct Pipeline {
    publisher: Arc<Publisher>,
    options: Options,
    propagation: Option<Histogram>,
    /// The status of the Gateway API objects of the last translation.
    gateway_status: Mutex<Arc<GatewayStatuses>>,
    /// What the last translation started from, for the next one to rebuild only what changed.
    last: Mutex<Option<Last>>,
    /// Rebuild counters.
    pub stats: Stats,
}

impl Pipeline {
    /// A pipeline publishing into `publisher`.
    pub fn new(publisher: Arc<Publisher>, options: Options) -> Self {
        Pipeline {
            publisher,
            options,
            propagation: None,
            gateway_status: Mutex::new(Arc::default()),
            last: Mutex::new(None),
            stats: Stats::default(),
        }
    }

    /// Records, for every rebuild, the time from the first object change it includes to the
    /// table being live (`sluice_config_propagation_seconds`).
    pub fn with_propagation(mut self, histogram: Histogram) -> Self {
        self.propagation = Some(histogram);
        self
    }

    /// The translation options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The publisher this pipeline writes to.
    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// Translates `snapshot` and publishes the table. `source_ok` says whether the source could
    /// read every object (a rejected file makes it false); `seen` is when the source first saw
    /// the change this rebuild carries. Warnings are logged once each, while they persist; the
    /// full list is returned for callers that report them elsewhere.
    pub fn apply(
        &self,
        snapshot: Arc<Snapshot>,
        source_ok: bool,
        seen: Option<Instant>,
    ) -> (Outcome, Vec<Warning>) {
        let started = Instant::now();
        // One rebuild at a time: each starts from the one before.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.publisher.load();
        // The live table is the last translation's (or equal to it) unless someone else
        // published since: then translate everything.
        let previous = last.as_ref().filter(|l| l.generation == live.generation).map(|l| Previous {
            snapshot: &l.snapshot,
            table: &live.table,
            warnings: &l.warnings,
        });
        let translation = translate_incremental(previous, &snapshot, &self.options, SystemTime::now());
        drop(live);
        let rebuilt_hosts = translation.rebuilt_hosts;
        report(last.as_ref().map_or(&[], |l| l.warnings.as_slice()), &translation.warnings);
        self.record_gateway_status(translation.gateway_status);
        let routes = translation.table.route_count();
        let hosts = translation.table.host_count();
        let empty = translation.table.backends_without_endpoints();
        let warnings = translation.warnings.clone();
        let outcome = self.publisher.publish(translation.table);
        let generation = match outcome {
            Outcome::Swapped(g) | Outcome::Unchanged(g) => g,
        };
        *last = Some(Last { snapshot, warnings, generation });
        drop(last);
        if let (Some(histogram), Some(seen)) = (&self.propagation, seen) {
            histogram.observe(seen.elapsed().as_secs_f64());
        }
        self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        self.stats.empty_backends.store(empty as u64, Ordering::Relaxed);
        self.stats.warnings.store(translation.warnings.len() as u64, Ordering::Relaxed);
        self.stats.last_source_ok.store(source_ok, Ordering::Relaxed);
        if let Outcome::Swapped(generation) = outcome {
            info!(
                generation,
                hosts,
                routes,
                warnings = translation.warnings.len(),
                rebuilt_hosts,
                elapsed_us = started.elapsed().as_micros() as u64,
                "Published routing table"
            );
        }
        (outcome, translation.warnings)
    }

    /// The status of the Gateway API objects of the last translation (`/status/gateways`).
    pub fn gateway_status(&self) -> Arc<GatewayStatuses> {
        self.gateway_status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps the new Gateway API status and logs what changed in it: each Gateway, listener
    /// and route parent whose conditions are new, so a local user sees why a route is not
    /// attached.
    fn record_gateway_status(&self, status: GatewayStatuses) {
        let mut current = self.gateway_status.lock().unwrap_or_else(|e| e.into_inner());
        if **current == status {
            return;
        }
        if tracing::enabled!(tracing::Level::INFO) {
            log_status_changes(&current, &status);
        }
        *current = Arc::new(status);
    }
}

/// Logs each Gateway, listener and route parent of `status` whose conditions are not those of
/// `current`.
fn log_status_changes(current: &GatewayStatuses, status: &GatewayStatuses) {
    for gateway in status.gateways.iter().filter(|g| !current.gateways.contains(g)) {
        let conditions = summary(&gateway.conditions);
        let listeners: Vec<String> = gateway
            .listeners
            .iter()
            .map(|l| format!("{} ({} routes; {})", l.name, l.attached_routes, summary(&l.conditions)))
            .collect();
        info!(gateway = %format!("{}/{}", gateway.namespace, gateway.name), addresses = ?gateway.addresses, %conditions, listeners = ?listeners, "Gateway status");
    }
    for route in status.http_routes.iter().filter(|r| !current.http_routes.contains(r)) {
        for parent in &route.parents {
            let conditions = summary(&parent.conditions);
            info!(route = %format!("{}/{}", route.namespace, route.name), parent = %parent.parent_ref.name, section = ?parent.parent_ref.section_name, %conditions, "HTTPRoute status");
        }
    }
}

/// Logs the warnings of `current` that `previous` (the last translation's) did not have: each
/// once, while it persists.
fn report(previous: &[Warning], current: &[Warning]) {
    let known: HashSet<&Warning> = previous.iter().collect();
    for w in current.iter().filter(|w| !known.contains(w)) {
        warn!(object = %w.object, reason = %w.reason, "Translation warning (the rest of the object is applied; what it names is skipped or defaulted)");
    }
}

/// Conditions as `Type=Status(Reason)`, comma-separated.
fn summary(conditions: &[Condition]) -> String {
    let parts: Vec<String> =
        conditions.iter().map(|c| format!("{}={}({})", c.type_, c.status, c.reason)).collect();
    parts.join(", ")
}
