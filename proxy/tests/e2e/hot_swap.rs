//! Hot swap under load: while clients send requests continuously, the Ingress file is rewritten
//! 20 times between two Services. Every request must succeed, and each change must be live
//! within 1 s. The switch latencies are printed (run with `--nocapture` to see them).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::support::{ingress, ingress_class, manifests, service, Backends, Sluice};

const SWAPS: usize = 20;
const MIN_REQUESTS: usize = 2_000;
/// Hard bound on the load loop, whatever happens.
const MAX_REQUESTS: usize = 200_000;
const LOAD_CLIENTS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_the_ingress_twenty_times_under_load_fails_no_request() {
    let blue = Backends::start("blue", &["127.0.0.40", "127.0.0.41"]).await;
    let green = Backends::start("green", &["127.0.0.42", "127.0.0.43"]).await;
    let services = [
        service("blue", blue.port, &["127.0.0.40", "127.0.0.41"], true),
        service("green", green.port, &["127.0.0.42", "127.0.0.43"], true),
    ]
    .join("---\n");
    let dir = manifests(&[
        ("class.yaml", ingress_class()),
        ("services.yaml", services),
        ("swap.yaml", ingress("swap", "swap.test", &[("Prefix", "/", "blue")])),
    ]);
    let sluice = Sluice::start(dir).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..LOAD_CLIENTS {
        let (c, stop, sent) = (sluice.client(), stop.clone(), sent.clone());
        load.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS {
                match c.get("swap.test", "/load").await {
                    Ok((status, _, body)) if status.is_success() => {
                        let e: Result<sluice_proxy::echo::Echo, _> = serde_json::from_slice(&body);
                        if !e.is_ok_and(|e| e.backend == "blue" || e.backend == "green") {
                            failures.push("a 2xx that is not from blue or green".to_owned());
                        }
                    }
                    Ok((status, _, _)) => failures.push(format!("status {status}")),
                    Err(e) => failures.push(e),
                }
            }
            failures
        }));
    }

    let probe = sluice.client();
    let mut latencies = Vec::new();
    // Swaps are paced by the load, so that the minimum request count spans all of them.
    let deadline = Instant::now() + Duration::from_secs(120);
    let wait_for = |count: usize| {
        let sent = sent.clone();
        async move {
            while sent.load(Ordering::Relaxed) < count && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    for i in 0..SWAPS {
        let target = if i % 2 == 0 { "green" } else { "blue" };
        wait_for((i + 1) * MIN_REQUESTS / SWAPS).await;
        let written = Instant::now();
        sluice.write("swap.yaml", &ingress("swap", "swap.test", &[("Prefix", "/", target)]));
        loop {
            if probe.echo("swap.test", "/probe").await.is_some_and(|e| e.backend == target) {
                latencies.push(written.elapsed());
                break;
            }
            assert!(written.elapsed() < Duration::from_secs(1), "swap {i} to {target} not live within 1 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // Traffic goes on for a while after the last swap too.
    wait_for(sent.load(Ordering::Relaxed) + MIN_REQUESTS / SWAPS).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for task in load {
        failures.extend(task.await.expect("load task"));
    }
    let total = sent.load(Ordering::Relaxed);
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    eprintln!(
        "hot swap: {SWAPS} swaps under {total} requests from {LOAD_CLIENTS} clients; \
         switch latency p50 {p50:?} max {max:?}; failures {}",
        failures.len()
    );
    assert!(total >= MIN_REQUESTS + MIN_REQUESTS / SWAPS, "only {total} requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(max < Duration::from_secs(1));
}
