//! The test cluster: scripts/kube/cluster.sh in a temporary run folder on free ports, kubectl,
//! and manifest builders.

#![allow(dead_code)] // Shared by the kube and deploy tiers, which use different parts.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kube/cluster.sh");
/// The RBAC Sluice ships with.
pub const RBAC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/base/rbac.yaml");

fn two_free_ports() -> u16 {
    for _ in 0..50 {
        let Ok(a) = TcpListener::bind("127.0.0.1:0") else { continue };
        let port = a.local_addr().expect("addr").port();
        if port < 65535 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free ports");
}

/// Held by each Kubernetes-tier test for its whole run: two clusters (etcd, apiserver and
/// Sluice replicas each) at once on a 2-core machine slowed the scenario's lease hand-over phase
/// past its limits, so the tier's tests run one after the other.
pub static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running etcd + kube-apiserver, stopped (by PID) on drop.
pub struct Cluster {
    run: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    /// Admin kubeconfig.
    pub admin: PathBuf,
    /// Sluice's kubeconfig (user system:serviceaccount:sluice:sluice).
    pub sluice: PathBuf,
}

impl Cluster {
    /// Starts the cluster. Panics with instructions when the apiserver binary is missing.
    pub fn start() -> Cluster {
        let run = tempfile::Builder::new().prefix("sluice-kube").tempdir().expect("run dir");
        let env = vec![
            ("RUN", run.path().display().to_string()),
            ("ETCD_PORT", two_free_ports().to_string()),
            ("API_PORT", super::super::support::free_port().to_string()),
        ];
        let cluster = Cluster {
            admin: run.path().join("kubeconfig"),
            sluice: run.path().join("sluice.kubeconfig"),
            run,
            env,
        };
        let out = cluster.script("start");
        assert!(
            out.status.success(),
            "cluster.sh start failed (build the apiserver with scripts/kube/build-apiserver.sh):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn script(&self, verb: &str) -> std::process::Output {
        self.script_with(verb, &[])
    }

    fn script_with(&self, verb: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("bash");
        cmd.arg(SCRIPT).arg(verb).args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().expect("run cluster.sh")
    }

    /// Restarts the apiserver only (etcd keeps its data).
    pub fn restart_apiserver(&self) {
        let out = self.script("restart-apiserver");
        assert!(out.status.success(), "restart failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops the apiserver (every watch connection is cut); etcd keeps running.
    pub fn stop_apiserver(&self) {
        let out = self.script("stop-apiserver");
        assert!(out.status.success(), "stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the apiserver again and waits until it serves.
    pub fn start_apiserver(&self) {
        let out = self.script("start-apiserver");
        assert!(out.status.success(), "start failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Deletes an Ingress straight from etcd (with the apiserver down, no watch event is sent:
    /// only a relist can show the deletion).
    pub fn delete_ingress_in_etcd(&self, ns: &str, name: &str) {
        let key = format!("/registry/ingress/{ns}/{name}");
        let out = self.script_with("etcd-delete", &[&key]);
        let deleted = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && deleted.trim() == "1", "etcd delete of {key}: {deleted:?}");
    }

    /// Moves etcd's revision past every watcher's resourceVersion (forces 410 after a restart).
    pub fn bump_etcd(&self) {
        let out = self.script("bump-etcd");
        assert!(out.status.success(), "bump failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs kubectl as admin; Err carries stderr.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.admin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        if let Some(text) = stdin {
            child.stdin.take().expect("stdin").write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Server-side applies `yaml` (works for built-in kinds and the EndpointSlice shim alike).
    pub fn apply(&self, yaml: &str) {
        self.kubectl(
            &["apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-"],
            Some(yaml),
        )
        .unwrap_or_else(|e| panic!("apply failed: {e}\n{yaml}"));
    }

    /// The run folder (logs are under log/).
    pub fn path(&self) -> &Path {
        self.run.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("stop");
    }
}

/// A Service in `ns` (port 80 named http, targetPort 8080, protocol TCP as 1.20's SSA needs).
pub fn service(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n\
         spec:\n  ports:\n  - {{name: http, port: 80, targetPort: 8080, protocol: TCP}}\n"
    )
}

/// An EndpointSlice for Service `service` with `ips` on `port`.
pub fn slice(ns: &str, service: &str, port: u16, ips: &[&str]) -> String {
    let endpoints: String =
        ips.iter().map(|ip| format!("- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n")).collect();
    let endpoints = if endpoints.is_empty() { "[]\n".to_owned() } else { format!("\n{endpoints}") };
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata:\n  name: {service}-1\n  namespace: {ns}\n  labels: {{kubernetes.io/service-name: {service}}}\n\
         addressType: IPv4\nports:\n- {{name: http, port: {port}, protocol: TCP}}\nendpoints: {endpoints}"
    )
}

/// An Ingress of `class` routing `host` `/` to `service`.
pub fn ingress(ns: &str, name: &str, class: &str, host: &str, service: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}, namespace: {ns}}}\n\
         spec:\n  ingressClassName: {class}\n  rules:\n  - host: {host}\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service: {{name: {service}, port: {{number: 80}}}}\n"
    )
}

/// The IngressClasses `sluice` (ours) and `other`.
pub fn classes() -> String {
    "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: sluice}\nspec: {controller: sluice.dev/ingress-controller}\n---\n\
     apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: other}\nspec: {controller: example.com/other}\n"
        .to_owned()
}
