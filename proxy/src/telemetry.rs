//! Logging setup: human-readable logs on stderr (filtered by `RUST_LOG`, `info` by default);
//! the access log (JSON lines on stdout, written by [`crate::access_log`]) is switched on here.
//!
//! Pingora's `log` records go through [`crate::pingora_log`], which logs normal events it reports
//! as errors at DEBUG. Filters are static (`EnvFilter` directives) so that tracing caches each callsite's
//! interest, and Pingora's `log` records are capped at the same level before they are built.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::access_log;

/// Flushes buffered access-log lines when dropped (keep it alive for the life of the process).
#[derive(Debug)]
pub struct FlushGuard;

impl Drop for FlushGuard {
    fn drop(&mut self) {
        access_log::batch::flush();
    }
}

/// Installs the global subscriber and the `log` bridge.
pub fn init(access_log: bool) -> FlushGuard {
    access_log::set_enabled(access_log);
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let max = env.max_level_hint().unwrap_or(LevelFilter::TRACE);
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(env);
    let subscriber = tracing_subscriber::registry().with(logs);
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let log_max = match max.into_level() {
            None => log::LevelFilter::Off,
            Some(tracing::Level::ERROR) => log::LevelFilter::Error,
            Some(tracing::Level::WARN) => log::LevelFilter::Warn,
            Some(tracing::Level::INFO) => log::LevelFilter::Info,
            Some(tracing::Level::DEBUG) => log::LevelFilter::Debug,
            Some(tracing::Level::TRACE) => log::LevelFilter::Trace,
        };
        crate::pingora_log::install(log_max);
    }
    FlushGuard
}
