//! Gateway API in a real cluster: the standard-channel CRDs (with the 1.20 fix-ups of
//! scripts/kube/gateway-api-crds.yaml), routes applied with kubectl, status conditions written
//! by the leader, and a route edit live within a second under load with no failed request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{service, slice, Cluster, RBAC};
use crate::support::{free_port, wait_until, Backends, Client, Sluice};

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kube/gateway-api-crds.yaml");

fn gateway_objects(addr: SocketAddr) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: sluice}}\n\
         spec: {{controllerName: sluice.dev/gateway-controller}}\n---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: edge, namespace: demo}}\n\
         spec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{}\"}}]\n\
         \x20 listeners:\n  - {{name: web, protocol: HTTP, port: {}}}\n",
        addr.ip(),
        addr.port()
    )
}

fn route(service: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: shop, namespace: demo}}\n\
         spec:\n  parentRefs: [{{name: edge}}]\n  hostnames: [shop.test]\n  rules:\n\
         \x20 - backendRefs: [{{name: {service}, port: 80}}]\n"
    )
}

fn get(cluster: &Cluster, what: &[&str]) -> Value {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&cluster.kubectl(&args, None).unwrap_or_default()).unwrap_or(Value::Null)
}

fn condition<'a>(conditions: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions.as_array()?.iter().find(|c| c["type"] == type_)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: run scripts/test.sh (it builds them) or cargo test -- --include-ignored"]
async fn gateway_api_in_a_real_cluster() {
    let _serial = super::cluster::ONE_CLUSTER_AT_A_TIME.lock().await;
    let cluster = Cluster::start();
    for ns in ["sluice", "demo"] {
        cluster.kubectl(&["create", "namespace", ns], None).expect("namespace");
    }
    cluster.kubectl(&["apply", "-f", RBAC], None).expect("rbac");
    cluster.kubectl(&["apply", "-f", CRDS], None).expect("Gateway API CRDs");
    for crd in ["gatewayclasses", "gateways", "httproutes", "referencegrants"] {
        let name = format!("crd/{crd}.gateway.networking.k8s.io");
        cluster
            .kubectl(&["wait", "--for=condition=Established", "--timeout=30s", &name], None)
            .expect("established");
    }
    let blue = Backends::start("blue", &["127.0.0.70"]).await;
    let green = Backends::start("green", &["127.0.0.71"]).await;
    for (name, b, ip) in [("blue", &blue, "127.0.0.70"), ("green", &green, "127.0.0.71")] {
        cluster.apply(&service("demo", name));
        cluster.apply(&slice("demo", name, b.port, &[ip]));
    }
    let addr: SocketAddr = format!("127.0.0.72:{}", free_port()).parse().expect("addr");
    cluster.apply(&gateway_objects(addr));
    cluster.apply(&route("blue"));

    let sluice = Sluice::start_kube(&cluster.sluice, &["--election-namespace", "sluice"]).await;
    let client = Client::new(addr);
    let backend = |c: Client| async move { c.echo("shop.test", "/").await.map(|e| e.backend) };
    let served = wait_until(Duration::from_secs(20), || async {
        backend(client.clone()).await.as_deref() == Some("blue")
    })
    .await;
    assert!(served, "the Gateway route does not serve; stderr:\n{}", sluice.stderr());

    // Status, written by the leader.
    let written = wait_until(Duration::from_secs(20), || async {
        let route = get(&cluster, &["httproute", "-n", "demo", "shop"]);
        let parent = &route["status"]["parents"][0];
        parent["controllerName"] == "sluice.dev/gateway-controller"
            && condition(&parent["conditions"], "Accepted").is_some_and(|c| c["status"] == "True")
            && condition(&parent["conditions"], "ResolvedRefs").is_some_and(|c| c["status"] == "True")
    })
    .await;
    assert!(
        written,
        "HTTPRoute status: {}\nstderr:\n{}",
        get(&cluster, &["httproute", "-n", "demo", "shop"])["status"],
        sluice.stderr()
    );
    let gateway = get(&cluster, &["gateway", "-n", "demo", "edge"]);
    let status = &gateway["status"];
    assert!(
        condition(&status["conditions"], "Programmed").is_some_and(|c| c["status"] == "True"),
        "{status}"
    );
    assert_eq!(status["listeners"][0]["attachedRoutes"], 1, "{status}");
    assert_eq!(status["addresses"][0]["value"], "127.0.0.72", "{status}");
    let class = get(&cluster, &["gatewayclass", "sluice"]);
    assert!(
        condition(&class["status"]["conditions"], "Accepted").is_some_and(|c| c["status"] == "True"),
        "{class}"
    );

    // A route edit is live within a second, under load, with no failed request.
    let load = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut failures = 0;
            for _ in 0..600 {
                match backend(client.clone()).await.as_deref() {
                    Some("blue" | "green") => {}
                    _ => failures += 1,
                }
            }
            failures
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let edited = Instant::now();
    cluster.apply(&route("green"));
    let live = wait_until(Duration::from_secs(5), || async {
        backend(client.clone()).await.as_deref() == Some("green")
    })
    .await;
    let took = edited.elapsed();
    assert!(live && took < Duration::from_secs(1), "edit live after {took:?}");
    assert_eq!(load.await.expect("load"), 0, "failed requests across the edit");
}
