//! The SIGTERM sequence under load: `/healthz` fails at once, serving goes on through the grace
//! period, slow requests in flight when the listeners close still complete, new connections are
//! refused, and the process exits by itself once drained.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::support::{ingress, ingress_class, manifests, service, Backends, Client, Sluice};

const GRACE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_health_keeps_serving_then_drains_without_failing_a_request() {
    let b = Backends::start("web", &["127.0.0.80"]).await;
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("svc.yaml", service("web", b.port, &["127.0.0.80"], true)),
        ("ing.yaml", ingress("web", "drain.test", &[("Prefix", "/", "web")])),
    ]);
    let mut sluice =
        Sluice::start_with(dir, &["--shutdown-grace-period", "1500ms", "--shutdown-drain-timeout", "5s"])
            .await;
    assert_eq!(sluice.healthz().await, Some(StatusCode::OK));

    // Bounded load through the grace period.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (c, stop, ok, failed) = (sluice.client(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                for _ in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match c.get("drain.test", "/fast").await {
                        Ok((StatusCode::OK, _, _)) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let term = Instant::now();
    sluice.sigterm();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_ne!(sluice.healthz().await, Some(StatusCode::OK), "/healthz must fail at once after SIGTERM");

    // Slow requests that start inside the grace period and end after the listeners closed.
    tokio::time::sleep(GRACE.saturating_sub(term.elapsed() + Duration::from_millis(400))).await;
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let c = Client::new(sluice.http); // fresh connections
            tokio::spawn(async move { c.get("drain.test", "/slow?delay_ms=1200").await.map(|r| r.0) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_ne!(
        sluice.healthz().await,
        Some(StatusCode::OK),
        "/healthz keeps failing through the grace period"
    );
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 20, "only {ok} requests were served during the grace period");
    assert_eq!(failed, 0, "{failed} of {} requests failed during the grace period", ok + failed);

    // After the grace period: new connections are refused while the slow ones drain.
    tokio::time::sleep((GRACE + Duration::from_millis(300)).saturating_sub(term.elapsed())).await;
    let refused = tokio::net::TcpStream::connect(sluice.http).await;
    assert!(refused.is_err(), "a new connection was accepted after the grace period");

    for task in slow {
        assert_eq!(
            task.await.expect("slow task"),
            Ok(StatusCode::OK),
            "an in-flight request failed during the drain"
        );
    }
    let status = sluice.wait_exit(Duration::from_secs(6)).await.expect("sluice did not exit after draining");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        term.elapsed() < GRACE + Duration::from_secs(4),
        "exit took {:?}: the drain should end once idle",
        term.elapsed()
    );
}
