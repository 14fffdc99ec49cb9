//! One cluster, phases in order (each needs the state the previous one left): routing from
//! kubectl-applied objects, Ingress status, Events, EndpointSlice scale up/down, Ingress
//! deletion, basic auth from an Opaque Secret, the emergency swap under load, an apiserver restart with a forced 410 under load,
//! two outages with a deletion made during one (applied from the relist) under load,
//! a class move, and two replicas with one status writer handing over on SIGTERM.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

use super::cluster::{classes, ingress, service, slice, Cluster, RBAC};
use crate::support::{wait_until, Backends, Client, Sluice};

const VIP: &str = "192.0.2.10";
const SECOND_VIP: &str = "192.0.2.20";

fn status_ips(cluster: &Cluster, ns: &str, name: &str) -> Vec<String> {
    let out = cluster.kubectl(&["get", "ingress", "-n", ns, name, "-o", "json"], None).unwrap_or_default();
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["ip"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Continuous, bounded load on one host; returns (requests, failures) when stopped.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(client: &Client, host: &'static str, accept: &'static [&'static str]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let tasks = (0..2)
            .map(|_| {
                let (c, stop, sent) = (client.clone(), stop.clone(), sent.clone());
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) && sent.fetch_add(1, Ordering::Relaxed) < 500_000 {
                        match c.echo(host, "/load").await {
                            Some(e) if accept.contains(&e.backend.as_str()) => {}
                            Some(e) => failures.push(format!("served by {}", e.backend)),
                            None => failures.push("a non-200 or failed request".to_owned()),
                        }
                    }
                    failures
                })
            })
            .collect();
        Load { stop, sent, tasks }
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for t in self.tasks {
            failures.extend(t.await.expect("load task"));
        }
        (self.sent.load(Ordering::Relaxed), failures)
    }
}

async fn backend_of(c: &Client, host: &str) -> Option<String> {
    c.echo(host, "/").await.map(|e| e.backend)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: run scripts/test.sh (it builds them) or cargo test -- --include-ignored"]
async fn sluice_in_a_real_cluster() {
    let _serial = super::cluster::ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start();
    for ns in ["sluice", "demo"] {
        cluster.kubectl(&["create", "namespace", ns], None).expect("namespace");
    }
    cluster.kubectl(&["apply", "-f", RBAC], None).expect("rbac");
    cluster.apply(&classes());

    let blue = Backends::start("blue", &["127.0.0.60", "127.0.0.61"]).await;
    let green = Backends::start("green", &["127.0.0.62"]).await;
    let emergency = Backends::start("emergency", &["127.0.0.63"]).await;
    for (name, b, ips) in [
        ("blue", &blue, &["127.0.0.60"][..]),
        ("green", &green, &["127.0.0.62"][..]),
        ("emergency", &emergency, &["127.0.0.63"][..]),
    ] {
        cluster.apply(&service("demo", name));
        cluster.apply(&slice("demo", name, b.port, ips));
    }
    cluster.apply(&ingress("demo", "app", "sluice", "app.test", "blue"));
    cluster.apply(&ingress("demo", "broken", "sluice", "broken.test", "no-such-service"));
    cluster.apply(&ingress("demo", "mover", "sluice", "mover.test", "green"));

    // The controller ConfigMap (in Sluice's namespace) names a header ConfigMap in another one.
    cluster.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sluice-config, namespace: sluice}\n\
         data: {add-headers: demo/kube-headers, global-allowed-response-headers: X-Team}\n",
    );

    // Phase 1: routing from kubectl-applied objects, Sluice running as its ServiceAccount.
    let flags = [
        "--publish-status-address",
        VIP,
        "--election-namespace",
        "sluice",
        "--configmap",
        "sluice/sluice-config",
    ];
    let a = Sluice::start_kube(&cluster.sluice, &flags).await;
    let c = a.client();
    assert_eq!(backend_of(&c, "app.test").await.as_deref(), Some("blue"), "stderr:\n{}", a.stderr());
    assert_eq!(backend_of(&c, "mover.test").await.as_deref(), Some("green"));
    assert_eq!(c.get("broken.test", "/").await.expect("404").0, 404);

    // Phase 2: status carries the VIP; a Warning Event names the broken Ingress.
    let published =
        wait_until(Duration::from_secs(20), || async { status_ips(&cluster, "demo", "app") == [VIP] }).await;
    assert!(published, "status not published; stderr:\n{}", a.stderr());
    let evented = wait_until(Duration::from_secs(20), || async {
        let out = cluster
            .kubectl(&["get", "events.events.k8s.io", "-n", "demo", "-o", "json"], None)
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        v["items"].as_array().is_some_and(|items| {
            items.iter().any(|e| {
                e["regarding"]["name"] == "broken"
                    && e["reason"] == "ServiceNotFound"
                    && e["type"] == "Warning"
            })
        })
    })
    .await;
    assert!(evented, "no Warning Event for the broken Ingress; stderr:\n{}", a.stderr());

    // Phase 3: EndpointSlice scale up and down, each live within 1 s.
    let t = Instant::now();
    cluster.apply(&slice("demo", "blue", blue.port, &["127.0.0.60", "127.0.0.61"]));
    let up = wait_until(Duration::from_secs(5), || async {
        c.echo("app.test", "/").await.is_some_and(|e| e.local_addr.starts_with("127.0.0.61:"))
    })
    .await;
    let scale_up = t.elapsed();
    assert!(up && scale_up < Duration::from_secs(1), "scale-up took {scale_up:?}");
    let t = Instant::now();
    cluster.apply(&slice("demo", "blue", blue.port, &["127.0.0.61"]));
    let down = wait_until(Duration::from_secs(5), || async {
        for _ in 0..4 {
            if !c.echo("app.test", "/").await.is_some_and(|e| e.local_addr.starts_with("127.0.0.61:")) {
                return false;
            }
        }
        true
    })
    .await;
    let scale_down = t.elapsed();
    assert!(down && scale_down < Duration::from_secs(1), "scale-down took {scale_down:?}");
    eprintln!(
        "kube: endpoint scale-up live in {scale_up:?}, scale-down in {scale_down:?} (kubectl apply included)"
    );

    // Phase 4: a deleted Ingress stops routing.
    cluster.apply(&ingress("demo", "gone", "sluice", "gone.test", "green"));
    assert!(
        wait_until(Duration::from_secs(5), || async { backend_of(&c, "gone.test").await.is_some() }).await
    );
    cluster.kubectl(&["delete", "ingress", "-n", "demo", "gone"], None).expect("delete");
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || async {
            c.get("gone.test", "/").await.is_ok_and(|r| r.0 == 404)
        })
        .await
    );
    assert!(t.elapsed() < Duration::from_secs(1), "deletion took {:?}", t.elapsed());

    // Phase 4b: basic auth from an Opaque Secret (the Secret watch is not limited to TLS ones),
    // and an Ingress whose Secret is missing fails closed.
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata: {name: basic-auth, namespace: demo}\ntype: Opaque\n\
                  stringData: {auth: \"alice:{PLAIN}s3cret\"}\n";
    cluster.apply(secret);
    let annotated = |name: &str, host: &str, secret: &str| {
        ingress("demo", name, "sluice", host, "green").replacen(
            "namespace: demo}",
            &format!(
                "namespace: demo, annotations: {{nginx.ingress.kubernetes.io/auth-type: basic, \
                 nginx.ingress.kubernetes.io/auth-secret: {secret}}}}}"
            ),
            1,
        )
    };
    cluster.apply(&annotated("private", "private.test", "basic-auth"));
    cluster.apply(&annotated("locked", "locked.test", "no-such-secret"));
    let status = |host: &'static str, auth: Option<&'static str>| {
        let c = c.clone();
        async move {
            let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
            c.get_with(host, "/", &headers).await.0.as_u16()
        }
    };
    // "alice:s3cret" in base64.
    let alice = Some("Basic YWxpY2U6czNjcmV0");
    let ready =
        wait_until(Duration::from_secs(5), || async { status("private.test", alice).await == 200 }).await;
    assert!(ready, "basic auth with the Opaque Secret lets alice in");
    assert_eq!(status("private.test", None).await, 401);
    let locked =
        wait_until(Duration::from_secs(5), || async { status("locked.test", alice).await == 503 }).await;
    assert!(locked, "a missing auth Secret fails closed: {}", status("locked.test", alice).await);

    // Phase 4c: header ConfigMaps, watched cluster-wide under the ClusterRole: the controller
    // ConfigMap's add-headers (created after Sluice started, then edited) and an Ingress's
    // custom-headers.
    let header_of = |host: &'static str, name: &'static str| {
        let c = c.clone();
        async move {
            let (_, headers, _) = c.get_with(host, "/", &[]).await;
            headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
        }
    };
    let headers_map = |value: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: kube-headers, namespace: demo}}\ndata: {{X-Kube: {value}}}\n")
    };
    cluster.apply(&headers_map("first"));
    let added =
        wait_until(Duration::from_secs(5), || async { header_of("mover.test", "x-kube").await == "first" })
            .await;
    assert!(added, "add-headers from a ConfigMap created later; stderr:\n{}", a.stderr());
    cluster.apply(&headers_map("second"));
    let edited =
        wait_until(Duration::from_secs(5), || async { header_of("mover.test", "x-kube").await == "second" })
            .await;
    assert!(edited, "an edit of the referenced ConfigMap applies");
    cluster.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: team, namespace: demo}\ndata: {X-Team: green}\n",
    );
    cluster.apply(&ingress("demo", "teamed", "sluice", "teamed.test", "green").replacen(
        "namespace: demo}",
        "namespace: demo, annotations: {nginx.ingress.kubernetes.io/custom-headers: team}}",
        1,
    ));
    let custom =
        wait_until(Duration::from_secs(5), || async { header_of("teamed.test", "x-team").await == "green" })
            .await;
    assert!(custom, "custom-headers from the Ingress's namespace; stderr:\n{}", a.stderr());

    // Phase 5: the emergency swap, `kubectl replace -f` under continuous load, 20 swaps.
    let load = Load::start(&c, "app.test", &["blue", "emergency"]);
    let mut latencies = Vec::new();
    for i in 0..20 {
        let target = if i % 2 == 0 { "emergency" } else { "blue" };
        let manifest = ingress("demo", "app", "sluice", "app.test", target);
        cluster.kubectl(&["replace", "-f", "-"], Some(&manifest)).expect("kubectl replace");
        let t = Instant::now();
        let live = wait_until(Duration::from_secs(5), || async {
            backend_of(&c, "app.test").await.as_deref() == Some(target)
        })
        .await;
        assert!(live, "swap {i} to {target} not live");
        latencies.push(t.elapsed());
    }
    let (requests, failures) = load.finish().await;
    latencies.sort();
    eprintln!(
        "kube: emergency swap (kubectl replace, 20 swaps, {requests} requests): switch latency after kubectl returned p50 {:?} p99 {:?} max {:?}; failures {}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed during swaps: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // Phase 6: apiserver restart after an etcd bump (the watchers get 410 and relist) under load.
    let load = Load::start(&c, "app.test", &["blue"]);
    cluster.bump_etcd();
    cluster.restart_apiserver();
    cluster.apply(&ingress("demo", "after", "sluice", "after.test", "green"));
    let relisted = wait_until(Duration::from_secs(60), || async {
        backend_of(&c, "after.test").await.as_deref() == Some("green")
    })
    .await;
    let (requests, failures) = load.finish().await;
    assert!(relisted, "changes after the restart never applied; stderr:\n{}", a.stderr());
    assert!(
        a.stderr().contains("too old resource version"),
        "the restart did not force a 410 relist:\n{}",
        a.stderr()
    );
    assert!(failures.is_empty(), "{} of {requests} requests failed across the restart", failures.len());
    assert_eq!(backend_of(&c, "app.test").await.as_deref(), Some("blue"));
    assert_eq!(backend_of(&c, "mover.test").await.as_deref(), Some("green"));

    // Phase 6b: faults under load. The apiserver goes down (every watch is cut), an Ingress is
    // deleted behind its back (no watch event can carry that), etcd moves on (410 on resume),
    // and it comes back; then it is restarted a second time. The last good table serves
    // throughout, the deletion is applied from the relist, and no request fails.
    cluster.apply(&ingress("demo", "doomed", "sluice", "doomed.test", "green"));
    let doomed_live = wait_until(Duration::from_secs(10), || async {
        backend_of(&c, "doomed.test").await.as_deref() == Some("green")
    })
    .await;
    assert!(doomed_live, "doomed.test never routed");
    let load = Load::start(&c, "app.test", &["blue"]);
    cluster.stop_apiserver();
    cluster.delete_ingress_in_etcd("demo", "doomed");
    cluster.bump_etcd();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(backend_of(&c, "doomed.test").await.as_deref(), Some("green"), "the last good table serves");
    cluster.start_apiserver();
    let gone = wait_until(Duration::from_secs(60), || async {
        c.get("doomed.test", "/").await.map(|r| r.0.as_u16()).ok() == Some(404)
    })
    .await;
    assert!(gone, "a deletion made during the outage was not applied after it; stderr:\n{}", a.stderr());
    cluster.restart_apiserver();
    cluster.apply(&ingress("demo", "second", "sluice", "second.test", "green"));
    let resumed = wait_until(Duration::from_secs(60), || async {
        backend_of(&c, "second.test").await.as_deref() == Some("green")
    })
    .await;
    let (requests, failures) = load.finish().await;
    assert!(resumed, "changes after the second restart never applied; stderr:\n{}", a.stderr());
    eprintln!(
        "kube: two apiserver outages, a deletion during one: {requests} requests, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed across the outages: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(backend_of(&c, "app.test").await.as_deref(), Some("blue"));

    // Phase 7: an Ingress that moves to another class loses our status (and its routes).
    assert!(
        wait_until(Duration::from_secs(20), || async { status_ips(&cluster, "demo", "mover") == [VIP] })
            .await
    );
    cluster.apply(&ingress("demo", "mover", "other", "mover.test", "green"));
    let cleared =
        wait_until(Duration::from_secs(20), || async { status_ips(&cluster, "demo", "mover").is_empty() })
            .await;
    assert!(cleared, "status not cleared after a class move");
    assert_eq!(c.get("mover.test", "/").await.expect("404").0, 404);

    // Phase 8: two replicas, one status writer. The second publishes another address; while the
    // first leads, status keeps the first's address. When the first stops, the second takes over.
    let flags_b = ["--publish-status-address", SECOND_VIP, "--election-namespace", "sluice"];
    let b = Sluice::start_kube(&cluster.sluice, &flags_b).await;
    assert_eq!(backend_of(&b.client(), "app.test").await.as_deref(), Some("blue"));
    cluster.apply(&ingress("demo", "fresh", "sluice", "fresh.test", "green"));
    assert!(
        wait_until(Duration::from_secs(20), || async { status_ips(&cluster, "demo", "fresh") == [VIP] })
            .await
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(status_ips(&cluster, "demo", "fresh"), [VIP], "the non-leader wrote status");
    assert_eq!(status_ips(&cluster, "demo", "app"), [VIP], "the non-leader wrote status");
    // SIGTERM: the leader releases its Lease at once (ReleaseOnCancel), so the follower, which
    // watches the Lease, writes status within 2 s instead of after the 15 s lease; status is
    // never empty on the way.
    let mut a = a;
    a.sigterm();
    let term = Instant::now();
    let mut seen_empty = false;
    let mut took_over = None;
    while term.elapsed() < Duration::from_secs(40) {
        let ips = status_ips(&cluster, "demo", "app");
        seen_empty |= ips.is_empty();
        if ips == [SECOND_VIP] {
            took_over = Some(term.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let exited = a.wait_exit(Duration::from_secs(30)).await.map(|_| term.elapsed());
    eprintln!("kube: hand-over on SIGTERM: successor wrote status {took_over:?} after SIGTERM; old leader exited after {exited:?}");
    assert!(a.stderr().contains("Released the leader Lease"), "no release; stderr:\n{}", a.stderr());
    let took_over =
        took_over.unwrap_or_else(|| panic!("the second replica never took over; stderr:\n{}", b.stderr()));
    assert!(took_over < Duration::from_secs(2), "hand-over took {took_over:?}; stderr:\n{}", b.stderr());
    assert!(!seen_empty, "Ingress status was empty during the hand-over");
    assert!(exited.is_some(), "the old leader did not exit");
    let _ = cluster.path();
}
