//! Scale: time from start to `/readyz`, resident memory, and the time for one Ingress edit to go
//! live, with a large table from the manifests folder (default 10k Ingresses, 50k endpoints).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// What the scale run measured.
#[derive(Debug, serde::Serialize)]
pub struct Scale {
    /// Ingresses in the table.
    pub ingresses: usize,
    /// Endpoints over all Services.
    pub endpoints: usize,
    /// Process start to the first 200 from `/readyz`, in ms.
    pub ready_ms: f64,
    /// Resident set size once ready, in MiB.
    pub rss_mib: f64,
    /// Median time from an Ingress file edit (rename into place) to the new generation being live, in ms.
    pub edit_live_p50_ms: f64,
    /// The 99th percentile of those edits (nearest rank), in ms.
    pub edit_live_p99_ms: f64,
    /// Slowest of those edits, in ms.
    pub edit_live_max_ms: f64,
}

fn write_manifests(dir: &Path, ingresses: usize, endpoints: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let per = endpoints.div_ceil(ingresses);
    let mut y = String::from(
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: sluice}\nspec: {controller: sluice.dev/ingress-controller}\n",
    );
    for i in 0..ingresses {
        let eps: Vec<String> = (0..per)
            .map(|e| {
                let n = i * per + e;
                format!("{{addresses: [127.{}.{}.{}]}}", (n >> 16) & 255, (n >> 8) & 255, (n & 255).max(1))
            })
            .collect();
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: ns-{ns}}}\nspec: {{ports: [{{name: http, port: 80, targetPort: 8080}}]}}\n\
             ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: svc-{i}-1, namespace: ns-{ns}, labels: {{kubernetes.io/service-name: svc-{i}}}}}\n\
             addressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints: [{}]\n\
             ---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: ing-{i}, namespace: ns-{ns}}}\n\
             spec: {{ingressClassName: sluice, rules: [{{host: app-{i}.example.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: svc-{i}, port: {{number: 80}}}}}}}}]}}}}]}}\n",
            eps.join(", "),
            ns = i % 100
        );
    }
    std::fs::write(dir.join("routes.yaml"), y)?;
    write_edit(dir, 0)
}

fn write_edit(dir: &Path, n: usize) -> Result<()> {
    let svc = n % 2;
    let y = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: edited, namespace: ns-0}}\n\
         spec: {{ingressClassName: sluice, rules: [{{host: edited.example.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: svc-{svc}, port: {{number: 80}}}}}}}}]}}}}]}}\n"
    );
    let tmp = dir.join(".edit.yaml.tmp");
    std::fs::write(&tmp, y)?;
    std::fs::rename(tmp, dir.join("edit.yaml"))?;
    Ok(())
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    Some((status, text))
}

fn generation(port: u16) -> Option<u64> {
    let (_, text) = get(port, "/metrics")?;
    text.lines().find_map(|l| l.strip_prefix("sluice_config_generation ")).and_then(|v| v.trim().parse().ok())
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(str::to_owned))
        .and_then(|v| v.split_whitespace().next().and_then(|k| k.parse::<f64>().ok()))
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Runs the scale measurement with `sluice` in `run`.
pub fn run(sluice: &Path, run: &Path, ingresses: usize, endpoints: usize, edits: usize) -> Result<Scale> {
    let dir = run.join(format!("scale-{ingresses}"));
    let _ = std::fs::remove_dir_all(&dir);
    write_manifests(&dir, ingresses, endpoints)?;
    let (http, https, admin) = (super::free_port()?, super::free_port()?, super::free_port()?);
    let start = Instant::now();
    let child = Command::new(sluice)
        .arg("--manifests")
        .arg(&dir)
        .args(["--http-addr", &format!("127.0.0.1:{http}"), "--https-addr", &format!("127.0.0.1:{https}")])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}"), "--threads", "1", "--disable-access-log"])
        .args(["--shutdown-grace-period", "0s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let proc_ = super::Proc(child);
    let ready_ms = loop {
        if get(admin, "/readyz").is_some_and(|(s, _)| s == 200) {
            break start.elapsed().as_secs_f64() * 1e3;
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("sluice not ready after 120 s with {ingresses} Ingresses");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let rss_mib = rss_mib(proc_.0.id());
    let mut times = Vec::new();
    for n in 1..=edits {
        let before = generation(admin).unwrap_or(0);
        let t = Instant::now();
        write_edit(&dir, n)?;
        loop {
            if generation(admin).is_some_and(|g| g > before) {
                times.push(t.elapsed().as_secs_f64() * 1e3);
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("edit {n} never went live");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    times.sort_by(f64::total_cmp);
    Ok(Scale {
        ingresses,
        endpoints,
        ready_ms,
        rss_mib,
        edit_live_p50_ms: times[times.len() / 2],
        edit_live_p99_ms: times[(times.len() * 99).div_ceil(100) - 1],
        edit_live_max_ms: times[times.len() - 1],
    })
}
