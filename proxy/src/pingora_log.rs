//! Pingora's own log lines, classified before they reach the log.
//!
//! Pingora logs at ERROR things that are normal on a busy edge: a pooled upstream connection
//! that the idle watcher still held when a request wanted it ("failed to acquire reusable
//! stream": the request simply opens a new connection), a client that failed its TLS handshake
//! (scanners, old clients, a client that does not trust the certificate), a client that went
//! away before its answer was written. ERROR must mean an operator should look, so these are
//! logged at DEBUG and counted instead (`sluice_proxy_events_total{event}`); nginx logs the
//! same client-side events at `info`. Every other record passes through unchanged.

use std::sync::atomic::{AtomicU64, Ordering};

use log::{Level, Log, Metadata, Record};
use tracing_log::LogTracer;

/// A normal event Pingora reports as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A pooled upstream connection could not be taken (the idle watcher held it); the request
    /// used a new connection.
    PoolMiss,
    /// A client's TLS handshake failed.
    DownstreamHandshake,
    /// The client went away before its answer (or error page) was written.
    DownstreamGone,
}

impl Event {
    /// Every event, in label order.
    pub const ALL: [Event; 3] = [Event::PoolMiss, Event::DownstreamHandshake, Event::DownstreamGone];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Event::PoolMiss => "upstream_pool_miss",
            Event::DownstreamHandshake => "downstream_tls_handshake_failed",
            Event::DownstreamGone => "downstream_gone",
        }
    }
}

static COUNTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Counts one event (also used by the router for client-caused request failures).
pub fn count(event: Event) {
    COUNTS[event as usize].fetch_add(1, Ordering::Relaxed);
}

/// How many of `event` were seen so far.
pub fn total(event: Event) -> u64 {
    COUNTS[event as usize].load(Ordering::Relaxed)
}

/// Message prefixes of Pingora's records that are normal events.
const RULES: [(&str, Event); 4] = [
    ("failed to acquire reusable stream", Event::PoolMiss),
    ("Downstream handshake error", Event::DownstreamHandshake),
    ("Error finish sending body to downstream", Event::DownstreamGone),
    ("failed to send error response to downstream", Event::DownstreamGone),
];

/// The event a record reports, if it is one of the normal ones.
pub fn classify(record: &Record<'_>) -> Option<Event> {
    if record.level() > Level::Warn || !record.target().starts_with("pingora") {
        return None;
    }
    let message = match record.args().as_str() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(record.args().to_string()),
    };
    RULES.iter().find(|(prefix, _)| message.starts_with(prefix)).map(|&(_, event)| event)
}

/// The `log` bridge: classifies, then hands the record to `tracing`.
struct Classifier {
    inner: LogTracer,
}

impl Log for Classifier {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Classified records must reach `log` even when only DEBUG would show them: they are
        // counted.
        metadata.level() <= Level::Warn || self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let Some(event) = classify(record) else {
            return self.inner.log(record);
        };
        count(event);
        let demoted = Record::builder()
            .args(*record.args())
            .level(Level::Debug)
            .target(record.target())
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        if self.inner.enabled(demoted.metadata()) {
            self.inner.log(&demoted);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the classifying bridge from `log` to `tracing`, passing records up to `max`
/// (WARN and ERROR always pass, to be classified).
pub fn install(max: log::LevelFilter) {
    if log::set_boxed_logger(Box::new(Classifier { inner: LogTracer::new() })).is_ok() {
        log::set_max_level(max.max(log::LevelFilter::Warn));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(target: &'a str, level: Level, args: std::fmt::Arguments<'a>) -> Option<Event> {
        classify(&Record::builder().target(target).level(level).args(args).build())
    }

    #[test]
    fn normal_pingora_errors_are_events_and_the_rest_passes() {
        let pool = record(
            "pingora_core::connectors",
            Level::Error,
            format_args!("failed to acquire reusable stream"),
        );
        assert_eq!(pool, Some(Event::PoolMiss));
        let peer = "127.0.0.1:4000";
        let handshake = record(
            "pingora_core::services::listening",
            Level::Error,
            format_args!("Downstream handshake error from {peer}: TLSHandshakeFailure"),
        );
        assert_eq!(handshake, Some(Event::DownstreamHandshake));
        let gone = record(
            "pingora_proxy",
            Level::Error,
            format_args!("failed to send error response to downstream: x"),
        );
        assert_eq!(gone, Some(Event::DownstreamGone));
        // An upstream failure is something to look at; other crates and levels are not touched.
        assert_eq!(
            record("pingora_proxy", Level::Error, format_args!("Fail to proxy: ConnectRefused")),
            None
        );
        assert_eq!(record("other", Level::Error, format_args!("failed to acquire reusable stream")), None);
        assert_eq!(
            record("pingora_core", Level::Info, format_args!("failed to acquire reusable stream")),
            None
        );
    }
}
