//! The harness: start `sluice` on free ports (stopped by PID on drop), echo backends on
//! loopback addresses, an HTTP client, and manifest writers.

#![allow(dead_code)] // Shared with the kube tier, which uses a different subset.

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use sluice_proxy::echo::Echo;
use tokio::task::JoinHandle;

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Three different free ports (each is free when read, but two reads can return the same port
/// once the first is released; a listener pair on one port would share it through SO_REUSEPORT).
pub fn distinct_ports() -> [u16; 3] {
    for _ in 0..100 {
        let ports = [free_port(), free_port(), free_port()];
        if ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2] {
            return ports;
        }
    }
    panic!("no three distinct free ports");
}

/// A running `sluice` process.
pub struct Sluice {
    child: Child,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    stderr: PathBuf,
    /// Where the access log goes, when it is on.
    access_log: Option<PathBuf>,
    pub dir: Option<tempfile::TempDir>,
}

impl Sluice {
    /// Starts sluice on `dir`'s manifests (the folder is kept alive by the returned value) and
    /// waits for `/readyz`.
    pub async fn start(dir: tempfile::TempDir) -> Sluice {
        Self::start_with(dir, &[]).await
    }

    /// As [`Sluice::start`], with extra flags.
    pub async fn start_with(dir: tempfile::TempDir, extra: &[&str]) -> Sluice {
        let mut args = vec!["--manifests".to_owned(), dir.path().display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::launch(args, Some(dir), false).await
    }

    /// As [`Sluice::start_with`], with the access log on (read it with [`Sluice::access_log`]).
    pub async fn start_logged(dir: tempfile::TempDir, extra: &[&str]) -> Sluice {
        let mut args = vec!["--manifests".to_owned(), dir.path().display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::launch(args, Some(dir), true).await
    }

    /// Starts sluice on a cluster (`--kubeconfig` plus `extra` flags) and waits for `/readyz`.
    pub async fn start_kube(kubeconfig: &Path, extra: &[&str]) -> Sluice {
        let mut args = vec!["--kubeconfig".to_owned(), kubeconfig.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::launch(args, None, false).await
    }

    async fn launch(source: Vec<String>, dir: Option<tempfile::TempDir>, logged: bool) -> Sluice {
        let [http, https, admin] = distinct_ports().map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
        let logs = tempfile::Builder::new().prefix("sluice-stderr").tempfile().expect("log file");
        let (file, stderr) = logs.keep().expect("keep log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(&source)
            .args(["--http-addr", &http.to_string(), "--https-addr", &https.to_string()])
            .args(["--admin-addr", &admin.to_string(), "--threads", "1"])
            .env("RUST_LOG", "info")
            .stderr(file);
        let access_log = if logged {
            let out = tempfile::Builder::new().prefix("sluice-access").tempfile().expect("log file");
            let (file, path) = out.keep().expect("keep log");
            command.stdout(file);
            Some(path)
        } else {
            command.arg("--disable-access-log").stdout(Stdio::null());
            None
        };
        let child = command.spawn().expect("spawn sluice");
        let sluice = Sluice { child, http, https, admin, stderr, access_log, dir };
        let client = Client::new(http);
        let ready = wait_until(Duration::from_secs(20), || async {
            client
                .get_url(&format!("http://{admin}/readyz"))
                .await
                .map(|r| r.0 == StatusCode::OK)
                .unwrap_or(false)
        })
        .await;
        assert!(ready, "sluice did not become ready; stderr:\n{}", sluice.stderr());
        sluice
    }

    /// The access log so far (empty unless started with [`Sluice::start_logged`]).
    pub fn access_log(&self) -> String {
        self.access_log.as_ref().and_then(|p| fs::read_to_string(p).ok()).unwrap_or_default()
    }

    /// Everything sluice wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Writes a manifest atomically (a temporary file renamed into place).
    pub fn write(&self, name: &str, text: &str) {
        write_atomic(self.dir.as_ref().expect("a manifests folder").path(), name, text);
    }

    /// The process ID (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to this process (by its PID).
    pub fn sigterm(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// The status of `/healthz`.
    pub async fn healthz(&self) -> Option<StatusCode> {
        Client::new(self.admin).get_url(&format!("http://{}/healthz", self.admin)).await.ok().map(|r| r.0)
    }

    /// An HTTP client for the proxy listener.
    pub fn client(&self) -> Client {
        Client::new(self.http)
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let r = self.client().get_url(&format!("http://{}/metrics", self.admin)).await.expect("metrics");
        String::from_utf8_lossy(&r.2).into_owned()
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.stderr);
        if let Some(log) = &self.access_log {
            let _ = fs::remove_file(log);
        }
    }
}

/// Writes `dir/name` via a rename, so that the watcher never sees a half-written file.
pub fn write_atomic(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, text).expect("write manifest");
    fs::rename(&tmp, dir.join(name)).expect("rename manifest");
}

/// A manifests folder with the given files.
pub fn manifests(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write manifest");
    }
    dir
}

/// Polls `check` every 10 ms until it holds or `limit` passes.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Echo backends sharing one port on several loopback addresses, stopped on drop.
pub struct Backends {
    pub port: u16,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Backends {
    /// Starts one echo backend named `name` on each address in `ips`, all on one free port.
    pub async fn start(name: &str, ips: &[&str]) -> Backends {
        let name: Arc<str> = Arc::from(name);
        'attempt: for _ in 0..20 {
            let port = free_port();
            let mut listeners = Vec::new();
            for ip in ips {
                let ip: IpAddr = ip.parse().expect("ip");
                match tokio::net::TcpListener::bind((ip, port)).await {
                    Ok(l) => listeners.push(l),
                    Err(_) => continue 'attempt,
                }
            }
            let tasks = listeners
                .into_iter()
                .map(|l| tokio::spawn(sluice_proxy::echo::serve(l, name.clone())))
                .collect();
            return Backends { port, tasks };
        }
        panic!("no common free port for {ips:?}");
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Sends `request` byte for byte on a new connection and reads until the server closes it (send
/// `Connection: close`); the status and the whole answer, or an error text.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = answer.get(9..12).and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse().ok());
    let text = String::from_utf8_lossy(&answer).into_owned();
    status.map(|s| (s, text.clone())).ok_or(text)
}

/// A keepalive HTTP/1.1 client aimed at one proxy address.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    base: SocketAddr,
}

/// Status, headers and body of a response.
pub type Reply = (StatusCode, HeaderMap, Bytes);

impl Client {
    pub fn new(base: SocketAddr) -> Self {
        Client { inner: HyperClient::builder(TokioExecutor::new()).build_http(), base }
    }

    /// A client whose connections come from `local` (one of the 127.0.0.x addresses).
    pub fn from_address(base: SocketAddr, local: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_local_address(Some(local.parse().expect("local ip")));
        Client { inner: HyperClient::builder(TokioExecutor::new()).build(connector), base }
    }

    /// Sends `req` (its URI is a path; the proxy address is filled in).
    pub async fn send(&self, mut req: Request<Full<Bytes>>) -> Result<Reply, String> {
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        *req.uri_mut() = format!("http://{}{path}", self.base).parse().map_err(|e| format!("{e}"))?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.inner.request(req))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| format!("{e}"))?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// GET `path` with `Host: host`.
    pub async fn get(&self, host: &str, path: &str) -> Result<Reply, String> {
        let req = Request::get(path).header("host", host).body(Full::default()).map_err(|e| e.to_string())?;
        self.send(req).await
    }

    /// GET `path` with `Host: host` and `headers`; panics when no answer comes.
    pub async fn get_with(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = Request::get(path).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(Full::default()).expect("request")).await.expect("response")
    }

    pub async fn get_url(&self, url: &str) -> Result<Reply, String> {
        let resp =
            self.inner.get(url.parse().map_err(|e| format!("{e}"))?).await.map_err(|e| format!("{e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| format!("{e}"))?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// GET and decode the echo body; None unless the answer is a 200 from an echo backend.
    pub async fn echo(&self, host: &str, path: &str) -> Option<Echo> {
        match self.get(host, path).await {
            Ok((StatusCode::OK, _, body)) => serde_json::from_slice(&body).ok(),
            _ => None,
        }
    }
}

/// A Service `name` in `demo` (port 80, named `http`, targetPort `web`) with an EndpointSlice of
/// `ips` on `port`; `ready` false marks every endpoint not ready.
pub fn service(name: &str, port: u16, ips: &[&str], ready: bool) -> String {
    let endpoints: String =
        ips.iter().map(|ip| format!("- addresses: [\"{ip}\"]\n  conditions: {{ready: {ready}}}\n")).collect();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: demo}}\n\
         spec:\n  ports:\n  - {{name: http, port: 80, targetPort: web}}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata:\n  name: {name}-1\n  namespace: demo\n  labels: {{kubernetes.io/service-name: {name}}}\n\
         addressType: IPv4\nports:\n- {{name: http, port: {port}}}\nendpoints:\n{endpoints}"
    )
}

/// The IngressClass `sluice` of our controller.
pub fn ingress_class() -> String {
    "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: sluice}\n\
     spec: {controller: sluice.dev/ingress-controller}\n"
        .to_owned()
}

/// An Ingress `name` in `demo` with one rule: `host` and `(pathType, path, service)` paths.
pub fn ingress(name: &str, host: &str, paths: &[(&str, &str, &str)]) -> String {
    let paths: String = paths
        .iter()
        .map(|(t, p, s)| {
            format!(
                "      - pathType: {t}\n        path: {p}\n        backend:\n          service: {{name: {s}, port: {{number: 80}}}}\n"
            )
        })
        .collect();
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}, namespace: demo}}\n\
         spec:\n  ingressClassName: sluice\n  rules:\n  - host: {host}\n    http:\n      paths:\n{paths}"
    )
}

/// `yaml` (a manifest from [`ingress`]) with these annotations added to its metadata.
pub fn annotate(yaml: &str, annotations: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = annotations
        .iter()
        .map(|(k, v)| format!("{}: {}", serde_json::json!(k), serde_json::json!(v)))
        .collect();
    yaml.replacen("namespace: demo}", &format!("namespace: demo, annotations: {{{}}}}}", pairs.join(", ")), 1)
}

/// A ConfigMap `name` in `namespace` with `data` (headers for `proxy-set-headers`, ...).
pub fn data_config_map(namespace: &str, name: &str, data: &[(&str, &str)]) -> String {
    let pairs: Vec<String> =
        data.iter().map(|(k, v)| format!("{}: {}", serde_json::json!(k), serde_json::json!(v))).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{{}}}\n",
        pairs.join(", ")
    )
}

/// An Opaque Secret `name` in `demo` with `data` (htpasswd files for basic auth, ...).
pub fn opaque_secret(name: &str, data: &[(&str, &str)]) -> String {
    let entries: String =
        data.iter().map(|(k, v)| format!("  {}: {}\n", serde_json::json!(k), serde_json::json!(v))).collect();
    format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: demo}}\ntype: Opaque\nstringData:\n{entries}")
}

/// A controller ConfigMap `sluice-config` in `demo` (start Sluice with
/// `--configmap demo/sluice-config`).
pub fn config_map(data: &[(&str, &str)]) -> String {
    data_config_map("demo", "sluice-config", data)
}
