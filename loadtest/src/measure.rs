//! Measuring one cell: CPU time of a process tree from /proc, and wrk's figures.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// User and system CPU ticks of one process (utime, stime).
fn split_ticks(pid: u32) -> (u64, u64) {
    stat_fields(pid).map_or((0, 0), |f| (f[11].parse().unwrap_or(0), f[12].parse().unwrap_or(0)))
}

/// `pid` and all its descendants.
fn tree(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        pids.extend(children(pids[i]));
        i += 1;
    }
    pids
}

/// User and system CPU ticks of `pid` and all its descendants.
pub fn tree_split_ticks(pid: u32) -> (u64, u64) {
    tree(pid).iter().map(|p| split_ticks(*p)).fold((0, 0), |(u, s), (du, ds)| (u + du, s + ds))
}

/// System calls of a process counted by `perf stat` (the `raw_syscalls:sys_enter` tracepoint)
/// while it runs; `None` where perf is missing or not permitted.
pub struct Syscalls(Option<std::process::Child>);

impl Syscalls {
    /// Starts counting the system calls of `pid` and its descendants (every thread; nginx's
    /// workers are its master's children).
    pub fn start(pid: u32) -> Self {
        let pids: Vec<String> = tree(pid).iter().map(u32::to_string).collect();
        let child = Command::new("perf")
            .args(["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", &pids.join(",")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok();
        // perf attaches asynchronously; give it a moment before the load starts.
        std::thread::sleep(std::time::Duration::from_millis(200));
        Syscalls(child)
    }

    /// Stops counting and returns the count.
    pub fn finish(self) -> Option<u64> {
        let mut child = self.0?;
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut()?, &mut err).ok()?;
        let _ = child.wait();
        err.lines().find(|l| l.contains("raw_syscalls:sys_enter"))?.split(',').next()?.trim().parse().ok()
    }
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| stat_fields(*p).is_some_and(|f| f[1] == pid.to_string()))
        .collect()
}

/// Clock ticks per second.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What wrk reported.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WrkResult {
    /// Completed requests.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency in ms.
    pub p50_ms: f64,
    /// 99th percentile latency in ms.
    pub p99_ms: f64,
    /// Non-2xx responses plus socket errors.
    pub errors: u64,
}

fn ms(v: &str) -> f64 {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// One wrk run: where, how many connections, for how long.
#[derive(Debug, Clone, Copy)]
pub struct Load<'a> {
    /// The URL.
    pub url: &'a str,
    /// The Host header.
    pub host: &'a str,
    /// Connections.
    pub conns: usize,
    /// Seconds.
    pub seconds: u64,
    /// `Connection: close` on every request.
    pub close: bool,
    /// CPUs to pin wrk to.
    pub cpus: Option<&'a str>,
    /// A wrk Lua script (for example a `delay()` to pace requests).
    pub script: Option<&'a Path>,
}

/// Runs wrk (pinned with `taskset` when `load.cpus` is given) and parses its output.
pub fn wrk(wrk: &Path, load: &Load<'_>) -> Result<WrkResult> {
    let mut cmd = match load.cpus {
        Some(c) => {
            let mut t = Command::new("taskset");
            t.args(["-c", c]).arg(wrk);
            t
        }
        None => Command::new(wrk),
    };
    cmd.args([
        "-t1",
        &format!("-c{}", load.conns),
        &format!("-d{}s", load.seconds),
        "--latency",
        "-H",
        &format!("Host: {}", load.host),
    ]);
    if load.close {
        cmd.args(["-H", "Connection: close"]);
    }
    if let Some(script) = load.script {
        cmd.arg("-s").arg(script);
    }
    let url = load.url;
    let out = cmd.arg(url).output().with_context(|| format!("running {}", wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text} {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut r = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [n, "requests", "in", ..] => r.requests = n.parse().unwrap_or(0),
            ["Requests/sec:", v] => r.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => r.p50_ms = ms(v),
            ["99%", v] => r.p99_ms = ms(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                r.errors +=
                    rest.iter().filter_map(|t| t.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>();
            }
            _ => {}
        }
    }
    Ok(r)
}

/// One proxy's figures in one cell.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figures {
    /// User-space CPU-us per request.
    pub user_us_per_req: f64,
    /// Kernel CPU-us per request.
    pub kernel_us_per_req: f64,
    /// System calls per request (`perf stat`), where perf could count them.
    pub syscalls_per_req: Option<f64>,
    /// wrk's figures at saturation.
    pub wrk: WrkResult,
    /// p50 and p99 latency in ms at half the saturated rate (keep-alive cells).
    pub half_load_ms: Option<(f64, f64)>,
}

impl Figures {
    /// CPU-us of the proxy (process tree) per completed request: user plus kernel.
    pub fn cpu_us_per_req(&self) -> f64 {
        self.user_us_per_req + self.kernel_us_per_req
    }
}
