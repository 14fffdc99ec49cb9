//! Logging setup: human-readable logs on stderr (filtered by `RUST_LOG`, `info` by default),
//! and the access log as JSON lines on stdout through a non-blocking writer.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::access_log;

/// Installs the global subscriber. Keep the guard alive for the life of the process: dropping
/// it flushes and stops the access-log writer.
pub fn init(access_log: bool) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    let access = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer)
        .with_filter(filter_fn(move |m| access_log && m.target() == access_log::TARGET));
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter_fn(|m| m.target() != access_log::TARGET))
        .with_filter(env);
    let _ = tracing_subscriber::registry().with(access).with(logs).try_init();
    guard
}
