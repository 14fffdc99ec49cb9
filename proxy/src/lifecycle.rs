//! The SIGTERM sequence a VIP or load-balancer failover depends on:
//!
//! 1. SIGTERM: `/healthz` and `/readyz` fail at once, so Keepalived's track script or the SLB
//!    health check moves traffic away; Sluice keeps serving for `--shutdown-grace-period`.
//! 2. Then it stops accepting connections (Pingora's graceful shutdown) and drains in-flight
//!    requests for at most `--shutdown-drain-timeout`, exiting as soon as none is left.
//!
//! On SIGTERM the leader also releases its Lease at once (see the controller's `leader`), so that
//! another replica writes status while this one still serves its grace period.
//!
//! SIGINT stops at once. The in-flight count is kept by an RAII guard in each request's context.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

/// Shared shutdown state: whether Sluice is draining, and how many requests are in flight.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// Becomes true on SIGTERM or SIGINT (the leader then releases its Lease).
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Lifecycle {
    /// Completes once the process has been told to stop (at once on SIGTERM, before the grace
    /// period): the cluster side releases its Lease then.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopping.subscribe();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    /// Whether SIGTERM has been received (health checks fail from then on).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Requests currently being served.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts one request until the guard is dropped.
    pub fn track(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request in flight (decrements on drop).
#[derive(Debug)]
pub struct InFlight(Arc<Lifecycle>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Pingora's shutdown trigger, replaced so that the grace period comes before the listeners
/// close (Pingora closes them first and waits after).
pub struct SignalWatch {
    lifecycle: Arc<Lifecycle>,
    grace: Duration,
    drain: Duration,
}

impl SignalWatch {
    /// A watch with the given grace period and drain timeout.
    pub fn new(lifecycle: Arc<Lifecycle>, grace: Duration, drain: Duration) -> Self {
        SignalWatch { lifecycle, grace, drain }
    }
}

#[async_trait]
impl ShutdownSignalWatch for SignalWatch {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            warn!("Cannot install signal handlers; stopping");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {
                self.lifecycle.stopping.send_replace(true);
                return ShutdownSignal::FastShutdown;
            }
        }
        self.lifecycle.draining.store(true, Ordering::Release);
        self.lifecycle.stopping.send_replace(true);
        info!(
            grace_s = self.grace.as_secs_f64(),
            "SIGTERM: health checks fail now; serving through the grace period"
        );
        tokio::select! {
            () = tokio::time::sleep(self.grace) => {}
            _ = int.recv() => return ShutdownSignal::FastShutdown,
        }
        info!(
            in_flight = self.lifecycle.in_flight(),
            drain_s = self.drain.as_secs_f64(),
            "Grace period over: no new connections; draining in-flight requests"
        );
        let (lifecycle, drain) = (self.lifecycle.clone(), self.drain);
        std::thread::spawn(move || {
            // Let Pingora close its listeners before counting.
            std::thread::sleep(Duration::from_millis(100));
            let deadline = Instant::now() + drain;
            while lifecycle.in_flight() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let left = lifecycle.in_flight();
            if left > 0 {
                warn!(left, "Drain timeout: exiting with requests still in flight");
            } else {
                info!("Drained: exiting");
            }
            crate::access_log::batch::flush();
            std::process::exit(0);
        });
        ShutdownSignal::GracefulTerminate
    }
}

/// Parses `30s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s.find(|c: char| !c.is_ascii_digit() && c != '.').map_or((s, ""), |i| s.split_at(i));
    let value: f64 = number.parse().map_err(|_| format!("{s:?} is not a duration like 30s, 500ms or 2m"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn in_flight_guards_count_and_release() {
        let l = Arc::new(Lifecycle::default());
        let a = l.track();
        let b = l.track();
        assert_eq!(l.in_flight(), 2);
        drop(a);
        assert_eq!(l.in_flight(), 1);
        drop(b);
        assert_eq!(l.in_flight(), 0);
    }
}
