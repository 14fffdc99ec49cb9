//! The soak: Sluice under steady load (keepalive HTTP/1.1 and new TLS connections) while it
//! applies N changes of every kind to its manifests folder, one after another. Reports failed
//! requests by cause, changes applied, propagation time (write to rebuilt table, from the
//! `sluice_config_rebuilds_total` counter), resident memory at start and end, and ERROR lines
//! in Sluice's log. Bounded in changes and in time.

mod changes;
pub(crate) mod client;
mod fixtures;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use changes::Kind;

use crate::process::{free_port, Proc};
pub use client::Tally;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `sluice` binary.
    pub sluice: PathBuf,
    /// A folder for the manifests and logs (created; its contents are replaced).
    pub work: PathBuf,
    /// How many changes to apply.
    pub changes: usize,
    /// Pause between one change being live and the next being written.
    pub gap: Duration,
    /// Keepalive client connections (one thread each).
    pub connections: usize,
    /// Sluice's worker threads.
    pub threads: usize,
    /// Stop applying changes after this long, even if fewer than `changes` were applied.
    pub limit: Duration,
    /// Backends listen on 127.0.`block`.x.
    pub block: u8,
}

impl Config {
    /// Defaults for `sluice` working in `work`: 1,000 changes 20 ms apart, 8 connections,
    /// 1 worker, at most 30 minutes, backends on 127.0.77.x.
    pub fn new(sluice: PathBuf, work: PathBuf) -> Self {
        Config {
            sluice,
            work,
            changes: 1000,
            gap: Duration::from_millis(20),
            connections: 8,
            threads: 1,
            limit: Duration::from_secs(1800),
            block: 77,
        }
    }
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Millis {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// What a soak measured.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    /// Changes asked for.
    pub changes_requested: usize,
    /// Changes written and seen live (a rebuild after the write).
    pub changes_applied: usize,
    /// Changes written whose rebuild did not come within 10 s.
    pub changes_not_live: usize,
    /// Changes applied, by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// Keepalive HTTP requests, with failures by cause.
    pub http: Tally,
    /// TLS requests (a new handshake each), with failures by cause.
    pub tls: Tally,
    /// Time from a change's write to the rebuilt table being live.
    pub propagation_ms: Millis,
    /// Sluice's resident memory once warm, before the first change.
    pub rss_start_kib: u64,
    /// Sluice's resident memory after the last change, under load.
    pub rss_end_kib: u64,
    /// `sluice_proxy_events_total` by event at the end: normal events logged at DEBUG instead
    /// of ERROR.
    pub demoted_events: BTreeMap<String, u64>,
    /// Lines Sluice logged at ERROR.
    pub error_lines: usize,
    /// The first ERROR lines.
    pub error_samples: Vec<String>,
    /// Wall time of the change phase.
    pub seconds: f64,
}

impl Report {
    /// Failed requests, HTTP and TLS together.
    pub fn failed(&self) -> u64 {
        self.http.failures() + self.tls.failures()
    }
}

/// Runs the soak.
pub fn run(config: &Config) -> Result<Report> {
    let dir = config.work.join("manifests");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let addrs = fixtures::Addresses::new(config.block, free_port()?);
    let ca = fixtures::Authority::new()?;
    changes::initial(&dir, &addrs, &ca)?;

    let mut backends = Vec::new();
    for (name, ips) in [("a", &addrs.a), ("b", &addrs.b)] {
        let mut cmd = Command::new(&config.sluice);
        cmd.args(["echo", "--name", name]);
        for ip in ips {
            cmd.arg("--listen").arg(format!("{ip}:{}", addrs.port));
        }
        backends
            .push(Proc(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting echo")?));
    }
    let (http, https, admin): (SocketAddr, SocketAddr, SocketAddr) = (
        ([127, 0, 0, 1], free_port()?).into(),
        ([127, 0, 0, 1], free_port()?).into(),
        ([127, 0, 0, 1], free_port()?).into(),
    );
    let log = config.work.join("sluice.log");
    let log_file = std::fs::File::create(&log)?;
    let sluice = Proc(
        Command::new(&config.sluice)
            .arg("--manifests")
            .arg(&dir)
            .args(["--configmap", "soak/sluice", "--disable-access-log"])
            .args(["--http-addr", &http.to_string(), "--https-addr", &https.to_string()])
            .args(["--admin-addr", &admin.to_string(), "--threads", &config.threads.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("starting sluice")?,
    );
    wait_ready(admin, &addrs)?;

    let stop = Arc::new(AtomicBool::new(false));
    let targets: &'static [(&str, &str)] =
        &[(fixtures::APP_HOST, "/"), (fixtures::APP_HOST, "/b/x"), (fixtures::EXTRA_HOST, "/")];
    let mut clients = Vec::new();
    for i in 0..config.connections {
        let stop = stop.clone();
        // Each connection starts at another target, so every route is under load at once.
        let mine: Vec<_> = targets.iter().cycle().skip(i).take(targets.len()).copied().collect();
        clients.push(std::thread::spawn(move || client::keepalive(http, &mine, &stop)));
    }
    let tls = {
        let (stop, der) = (stop.clone(), ca.der());
        std::thread::spawn(move || client::tls(https, fixtures::APP_HOST, der, &stop))
    };
    std::thread::sleep(Duration::from_secs(1));
    let mut report = Report {
        changes_requested: config.changes,
        rss_start_kib: rss_kib(sluice.0.id()),
        ..Report::default()
    };

    let started = Instant::now();
    let mut propagation = Vec::with_capacity(config.changes);
    let mut rev = 0;
    while rev < config.changes && started.elapsed() < config.limit {
        rev += 1;
        let kind = Kind::ALL[(rev - 1) % Kind::ALL.len()];
        let before = rebuilds(admin)?;
        let written = Instant::now();
        changes::apply(&dir, kind, rev, &addrs, &ca)?;
        match wait_rebuild(admin, before, Duration::from_secs(10))? {
            true => {
                propagation.push(written.elapsed());
                report.changes_applied += 1;
                *report.by_kind.entry(format!("{kind:?}")).or_default() += 1;
            }
            false => report.changes_not_live += 1,
        }
        std::thread::sleep(config.gap);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.rss_end_kib = rss_kib(sluice.0.id());
    report.demoted_events = events(admin).unwrap_or_default();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        report.http.merge(c.join().unwrap_or_default());
    }
    report.tls = tls.join().unwrap_or_default();
    report.propagation_ms = percentiles(&mut propagation);
    drop(sluice);
    drop(backends);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(" ERROR ")).collect();
    report.error_lines = errors.len();
    report.error_samples = errors.iter().take(5).map(|l| l.to_string()).collect();
    Ok(report)
}

fn percentiles(samples: &mut [Duration]) -> Millis {
    if samples.is_empty() {
        return Millis::default();
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    Millis { p50: at(0.5), p99: at(0.99), max: at(1.0) }
}

/// Resident memory of `pid` in KiB (0 if unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A plain GET to the admin listener; the body.
fn admin_get(admin: SocketAddr, path: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&admin, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text)
}

/// Sluice's rebuild counter.
fn rebuilds(admin: SocketAddr) -> Result<u64> {
    let text = admin_get(admin, "/metrics")?;
    text.lines()
        .find_map(|l| l.strip_prefix("sluice_config_rebuilds_total "))
        .and_then(|v| v.trim().parse().ok())
        .context("no sluice_config_rebuilds_total in /metrics")
}

/// `sluice_proxy_events_total` by event.
fn events(admin: SocketAddr) -> Result<BTreeMap<String, u64>> {
    let text = admin_get(admin, "/metrics")?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("sluice_proxy_events_total{event=\""))
        .filter_map(|l| {
            let (event, rest) = l.split_once('"')?;
            Some((event.to_owned(), rest.rsplit(' ').next()?.trim().parse().ok()?))
        })
        .collect())
}

/// Waits until the rebuild counter passes `before`; false after `limit`.
fn wait_rebuild(admin: SocketAddr, before: u64, limit: Duration) -> Result<bool> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if rebuilds(admin)? > before {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(false)
}

fn wait_ready(admin: SocketAddr, addrs: &fixtures::Addresses) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let backends_up =
            addrs.a.iter().chain(&addrs.b).all(|ip| TcpStream::connect((*ip, addrs.port)).is_ok());
        if backends_up && admin_get(admin, "/readyz").is_ok_and(|t| t.starts_with("HTTP/1.1 200")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("sluice or its echo backends were not ready after 30 s")
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let causes = |t: &Tally| {
        if t.failed.is_empty() {
            "none".to_owned()
        } else {
            t.failed.iter().map(|(c, n)| format!("{c}: {n}")).collect::<Vec<_>>().join(", ")
        }
    };
    format!(
        "| changes applied (of asked) | not live in 10 s | HTTP requests ok | HTTP failed | TLS requests ok | TLS failed | propagation p50 / p99 / max | RSS start → end | ERROR lines | logged at DEBUG instead | seconds |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n\
         | {} ({}) | {} | {} | {} | {} | {} | {:.0} / {:.0} / {:.0} ms | {:.1} → {:.1} MiB | {} | {} | {:.0} |\n",
        r.changes_applied,
        r.changes_requested,
        r.changes_not_live,
        r.http.ok,
        causes(&r.http),
        r.tls.ok,
        causes(&r.tls),
        r.propagation_ms.p50,
        r.propagation_ms.p99,
        r.propagation_ms.max,
        r.rss_start_kib as f64 / 1024.0,
        r.rss_end_kib as f64 / 1024.0,
        r.error_lines,
        r.demoted_events.iter().map(|(e, n)| format!("{e}: {n}")).collect::<Vec<_>>().join(", "),
        r.seconds,
    )
}
