//! deploy/: every kustomization renders with `kubectl kustomize`, the real test apiserver
//! accepts every object with `kubectl apply --dry-run=server`, and the rendered DaemonSet has the
//! shape the ingress pool needs. Ignored by a plain `cargo test` (it needs the apiserver):
//! `scripts/test.sh` runs it.

#[path = "e2e/support.rs"]
mod support;

mod kube_tier {
    pub mod cluster;
}

use std::process::Command;

use serde_json::Value;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");
const KUSTOMIZATIONS: [&str; 4] =
    ["base", "overlays/keepalived-vip", "overlays/slb", "overlays/keepalived-vip-tuned"];

fn render(dir: &str) -> Vec<Value> {
    let out =
        Command::new("kubectl").args(["kustomize", &format!("{DEPLOY}/{dir}")]).output().expect("kubectl");
    assert!(out.status.success(), "{dir} does not render: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str::<Value>(d).expect("rendered YAML parses"))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn sluice_args(docs: &[Value]) -> Vec<String> {
    find(docs, "DaemonSet", "sluice")["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

fn seconds(args: &[String], flag: &str) -> u64 {
    let v = args.iter().find_map(|a| a.strip_prefix(&format!("{flag}="))).expect("flag present");
    v.trim_end_matches('s').parse().expect("seconds")
}

#[test]
fn the_base_daemonset_is_a_host_network_guaranteed_non_root_edge_pod() {
    let docs = render("base");
    let ds = find(&docs, "DaemonSet", "sluice");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    let text = serde_json::to_string(&docs).expect("json");
    assert!(!text.contains("hostPort"), "no hostPort anywhere");
    assert!(pod["nodeSelector"].as_object().is_some_and(|m| !m.is_empty()), "a nodeSelector");
    let tolerations = pod["tolerations"].as_array().expect("tolerations");
    assert!(tolerations.iter().any(|t| t["key"] == "Ingress" && t["effect"] == "NoExecute"));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["port"], 10254, "{probe}");
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
    }
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["add"], serde_json::json!(["NET_BIND_SERVICE"]));
    assert_eq!(c["securityContext"]["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
    assert_eq!(req, lim, "Guaranteed QoS: requests equal limits");
    assert_eq!(req["cpu"], "15");
    let args = sluice_args(&docs);
    assert!(args.contains(&"--threads=15".to_owned()), "--threads matches the CPU request");
    let sequence = seconds(&args, "--shutdown-grace-period") + seconds(&args, "--shutdown-drain-timeout");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    assert!(grace > sequence, "terminationGracePeriodSeconds {grace} must exceed Sluice's {sequence} s");
    let pdb = find(&docs, "PodDisruptionBudget", "sluice");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
}

#[test]
fn the_overlays_publish_status_the_way_their_front_end_needs() {
    let vip = render("overlays/keepalived-vip");
    assert!(sluice_args(&vip).iter().any(|a| a.starts_with("--publish-status-address=")));
    let keepalived = find(&vip, "DaemonSet", "keepalived");
    let pod = &keepalived["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    let caps = pod["containers"][0]["securityContext"]["capabilities"]["add"].to_string();
    assert!(caps.contains("NET_ADMIN"), "{caps}");
    let conf = vip
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("keepalived"))
        })
        .expect("keepalived ConfigMap");
    let conf = conf["data"]["keepalived.conf"].as_str().expect("keepalived.conf");
    assert!(
        conf.contains("track_script") && conf.contains("10254/healthz"),
        "the VIP follows Sluice's health"
    );

    let slb = render("overlays/slb");
    assert!(sluice_args(&slb).contains(&"--publish-service=sluice/sluice-slb".to_owned()));
    let svc = find(&slb, "Service", "sluice-slb");
    assert_eq!(svc["spec"]["type"], "LoadBalancer");
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Local");

    let tuned = render("overlays/keepalived-vip-tuned");
    let init: Vec<String> = find(&tuned, "DaemonSet", "sluice")["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .expect("init containers")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(init.len(), 2, "{init:?}");
}

#[test]
#[ignore = "needs kube-apiserver and etcd: run scripts/test.sh"]
fn every_rendered_object_is_accepted_by_a_real_apiserver() {
    let cluster = kube_tier::cluster::Cluster::start();
    cluster.kubectl(&["create", "namespace", "sluice"], None).expect("namespace");
    for dir in KUSTOMIZATIONS {
        for doc in render(dir) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            match (kind.as_str(), doc["apiVersion"].as_str().unwrap_or_default()) {
                // CRD-only kind: checked client-side.
                ("PrometheusRule", _) => panic!("alerts are not part of a kustomization"),
                // policy/v1 is served from 1.21; the test apiserver is 1.20: checked client-side.
                ("PodDisruptionBudget", "policy/v1") => {
                    assert!(doc["spec"]["selector"]["matchLabels"].is_object());
                }
                _ => {
                    let yaml = serde_yaml::to_string(&doc).expect("yaml");
                    let applied = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&yaml));
                    assert!(
                        applied.is_ok(),
                        "{dir}: {kind} {} rejected: {:?}",
                        doc["metadata"]["name"],
                        applied.err()
                    );
                }
            }
        }
    }
}

#[test]
fn the_alert_rules_are_well_formed() {
    let text = std::fs::read_to_string(format!("{DEPLOY}/alerts/prometheusrule.yaml")).expect("alerts");
    let rule: Value = serde_yaml::from_str(&text).expect("yaml");
    assert_eq!(rule["kind"], "PrometheusRule");
    let alerts: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .collect();
    for a in &alerts {
        assert!(a["alert"].is_string() && a["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{a}");
        assert!(a["labels"]["severity"].is_string(), "{a}");
    }
    let exprs: String = alerts.iter().filter_map(|a| a["expr"].as_str()).collect();
    for needle in [
        "status=~\"5..\"",
        "sluice_config_last_reload_successful",
        "sluice_backends_without_ready_endpoints",
        "node_nf_conntrack_entries_limit",
    ] {
        assert!(exprs.contains(needle), "no alert on {needle}");
    }
}
