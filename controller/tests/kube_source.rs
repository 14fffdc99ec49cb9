//! The kube source against a `tower-test` mock apiserver: the initial list, apply and delete,
//! a bookmark, a 410 Gone mid-stream followed by a relist, and a malformed event. The table is
//! checked after each step, and must never lose a route it should still have.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use sluice_controller::cluster::{KubeSource, Ready};
use sluice_controller::{ClusterOptions, Options, Pipeline, Publisher};
use tokio::sync::mpsc;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn ingress(name: &str, host: &str, rv: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": rv},
        "spec": {"ingressClassName": "sluice", "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})
}

fn list(kind: &str, api_version: &str, rv: &str, items: Vec<Value>) -> Vec<u8> {
    json!({"apiVersion": api_version, "kind": format!("{kind}List"), "metadata": {"resourceVersion": rv}, "items": items})
        .to_string()
        .into_bytes()
}

fn events(lines: &[Value]) -> Vec<u8> {
    lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes()
}

/// What the fake apiserver answers to Ingress requests, in order; other kinds get fixed objects.
enum Step {
    List(Vec<u8>),
    Watch(Vec<u8>),
}

async fn serve(mut handle: Handle, mut ingress_steps: mpsc::UnboundedReceiver<Step>) {
    while let Some((req, send)) = handle.next_request().await {
        let uri = req.uri().to_string();
        let watch = uri.contains("watch=true");
        let body: Vec<u8> = if uri.contains("/ingresses") {
            match ingress_steps.recv().await {
                Some(Step::List(b)) if !watch => b,
                Some(Step::Watch(b)) if watch => b,
                Some(_) => panic!("unexpected request order at {uri}"),
                None => return,
            }
        } else if watch {
            // Other kinds: nothing changes; answer slowly so the watcher does not spin.
            tokio::time::sleep(Duration::from_millis(200)).await;
            Vec::new()
        } else if uri.contains("/ingressclasses") {
            let class = json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": "sluice", "resourceVersion": "1"}, "spec": {"controller": "sluice.dev/ingress-controller"}});
            list("IngressClass", "networking.k8s.io/v1", "1", vec![class])
        } else if uri.contains("/services") {
            let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
                "spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
            list("Service", "v1", "1", vec![svc])
        } else if uri.contains("/endpointslices") {
            let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "web-1", "namespace": "default", "resourceVersion": "1", "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"port": 8080}], "endpoints": [{"addresses": ["127.0.0.2"]}]});
            list("EndpointSlice", "discovery.k8s.io/v1", "1", vec![slice])
        } else {
            list("Secret", "v1", "1", vec![])
        };
        send.send_response(Response::builder().status(200).body(Body::from(body)).expect("response"));
    }
}

fn hosts(publisher: &Publisher) -> Vec<&'static str> {
    let live = publisher.load();
    ["a.test", "b.test", "c.test"].into_iter().filter(|h| live.table.lookup(h, "/").is_some()).collect()
}

async fn wait_for(publisher: &Publisher, want: &[&str]) {
    for _ in 0..300 {
        if publisher.is_ready() && hosts(publisher) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("table never reached {want:?}; it has {:?}", hosts(publisher));
}

#[tokio::test]
async fn the_table_follows_the_watch_and_survives_410_and_malformed_events() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (steps, steps_rx) = mpsc::unbounded_channel();
    tokio::spawn(serve(handle, steps_rx));
    let client = Client::new(service, "default");
    let publisher = Arc::new(Publisher::new());
    let pipeline = Arc::new(Pipeline::new(publisher.clone(), Options::default()));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let source = KubeSource::new(client, pipeline, ClusterOptions::default(), Default::default());
    tokio::spawn(source.run(Ready::new(move || {
        let _ = ready_tx.send(());
    })));

    // Initial list.
    steps
        .send(Step::List(list("Ingress", "networking.k8s.io/v1", "10", vec![ingress("a", "a.test", "10")])))
        .expect("step");
    tokio::time::timeout(Duration::from_secs(5), ready_rx.recv()).await.expect("ready after the first sync");
    wait_for(&publisher, &["a.test"]).await;
    let first = publisher.load().generation;

    // Apply, a bookmark, delete.
    steps
        .send(Step::Watch(events(&[
            json!({"type": "ADDED", "object": ingress("b", "b.test", "11")}),
            json!({"type": "BOOKMARK", "object": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"resourceVersion": "12"}}}),
            json!({"type": "DELETED", "object": ingress("a", "a.test", "13")}),
        ])))
        .expect("step");
    wait_for(&publisher, &["b.test"]).await;
    assert!(publisher.load().generation > first);

    // 410 Gone mid-stream: the watcher relists; until the relist is done the table keeps serving b.
    steps
        .send(Step::Watch(events(&[json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "message": "too old resource version: 13 (20)", "reason": "Expired", "code": 410}})])))
        .expect("step");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(hosts(&publisher), ["b.test"], "a 410 must not empty the table");
    // The relist drops nothing silently: c appears, b stays.
    steps
        .send(Step::List(list(
            "Ingress",
            "networking.k8s.io/v1",
            "20",
            vec![ingress("b", "b.test", "11"), ingress("c", "c.test", "19")],
        )))
        .expect("step");
    wait_for(&publisher, &["b.test", "c.test"]).await;

    // A malformed event: the watch errors and restarts (with backoff), the table is unchanged,
    // and the next events apply.
    let generation = publisher.load().generation;
    steps.send(Step::Watch(b"{\"type\":\"ADDED\",\"object\":{\"metadata\":7}}\n".to_vec())).expect("step");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(hosts(&publisher), ["b.test", "c.test"]);
    assert_eq!(publisher.load().generation, generation);
    steps
        .send(Step::Watch(events(&[json!({"type": "DELETED", "object": ingress("c", "c.test", "21")})])))
        .expect("step");
    wait_for(&publisher, &["b.test"]).await;
}
