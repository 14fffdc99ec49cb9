//! `sluice-loadtest`: runs nginx, bare Pingora (`bare-pingora`, built from this workspace) and
//! Sluice side by side on the same origin and routes, and reports CPU-us per request (process
//! CPU from /proc divided by requests served, split into user and kernel time), system calls per
//! request (perf, where available), requests per second, p50/p99 latency at saturation and at
//! half of it, and errors, per cell: worker threads, keepalive or a new connection per request,
//! client connections, and table size. Every run is bounded by `--duration`.
//!
//! `sluice-loadtest ir` counts instructions per request under callgrind (see [`ir`]);
//! `sluice-loadtest conns` measures resident bytes per held connection (see
//! [`sluice_loadtest::conns`]); `sluice-loadtest soak` runs the soak (see [`sluice_loadtest::soak`]): steady load
//! while N configuration changes land, reporting failed requests, propagation and memory.
//!
//! Output: a Markdown table on stdout and in `<out>/results.md`, `<out>/results.json`, and
//! `<out>/cpu_us_per_request.svg`. Needs `nginx` and `wrk` (Debian packages) and a release
//! `sluice`; `loadtest/run.sh` installs and builds them.

mod cells;
mod configs;
mod connections;
mod ir;
mod measure;
mod report;
mod scale;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::report::Row;
pub(crate) use sluice_loadtest::process::{free_port, Proc};

/// Side-by-side load test of Sluice and nginx.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Args {
    /// Another mode than the side-by-side run.
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The sluice binary (a release build).
    #[arg(long, default_value = "target/release/sluice")]
    sluice: PathBuf,
    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
    /// The bare Pingora binary (`bare-pingora`, built from this workspace): the third column.
    #[arg(long, default_value = "target/release/bare-pingora")]
    bare: PathBuf,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// Measurements per cell and proxy, interleaved (nginx, Pingora, Sluice, nginx, ...); the
    /// run with the median CPU per request is reported.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Also measure p50/p99 latency at half of each proxy's saturated rate (keep-alive cells).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    half_load: bool,
    /// Seconds of load per cell and proxy.
    #[arg(long, default_value_t = 3)]
    duration: u64,
    /// Worker counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
    /// Client connection counts (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "64,1024")]
    conns: Vec<usize>,
    /// Table sizes in Ingresses (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,10000")]
    ingresses: Vec<usize>,
    /// Client modes: keepalive, close (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "keepalive,close")]
    modes: Vec<String>,
    /// Where results go.
    #[arg(long, default_value = "target/loadtest")]
    out: PathBuf,
    /// Also measure scale: readiness time, memory and edit-to-live time with this many Ingresses
    /// (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    scale_ingresses: usize,
    /// Endpoints in total for the scale measurement.
    #[arg(long, default_value_t = 50_000)]
    scale_endpoints: usize,
    /// Ingress edits timed in the scale measurement (p50, p99 and max are reported).
    #[arg(long, default_value_t = 30)]
    scale_edits: usize,
}

/// The harness's other modes.
#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// Steady load while N changes of every kind land; fails if any request failed.
    Soak(SoakArgs),
    /// Resident bytes per idle, slow, TLS and HTTP/2 connection, Sluice and nginx side by side.
    Conns(connections::ConnsArgs),
    /// Instructions per request (callgrind): nginx, bare Pingora and Sluice side by side.
    Ir(ir::IrArgs),
}

/// `sluice-loadtest soak` flags.
#[derive(Debug, clap::Args)]
struct SoakArgs {
    /// The sluice binary (a release build).
    #[arg(long, default_value = "target/release/sluice")]
    sluice: PathBuf,
    /// Changes to apply.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Pause after each change is live, in milliseconds.
    #[arg(long, default_value_t = 20)]
    gap_ms: u64,
    /// Keepalive client connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Sluice worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Stop applying changes after this many seconds.
    #[arg(long, default_value_t = 1800)]
    limit_s: u64,
    /// Where results go.
    #[arg(long, default_value = "target/loadtest/soak")]
    out: PathBuf,
}

fn soak(args: &SoakArgs) -> Result<()> {
    use sluice_loadtest::soak;
    std::fs::create_dir_all(&args.out)?;
    let mut config = soak::Config::new(args.sluice.clone(), args.out.canonicalize()?);
    config.changes = args.changes;
    config.gap = Duration::from_millis(args.gap_ms);
    config.connections = args.connections;
    config.threads = args.threads;
    config.limit = Duration::from_secs(args.limit_s);
    let report = soak::run(&config)?;
    let md = soak::markdown(&report);
    print!("{md}");
    for sample in report.http.samples.iter().chain(&report.tls.samples).chain(&report.error_samples) {
        eprintln!("  {sample}");
    }
    std::fs::write(args.out.join("results.md"), &md)?;
    std::fs::write(args.out.join("results.json"), serde_json::to_string_pretty(&report)?)?;
    if report.failed() > 0 || report.changes_not_live > 0 {
        bail!("{} failed requests, {} changes not live", report.failed(), report.changes_not_live);
    }
    Ok(())
}

pub(crate) fn wait_port(port: u16) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("nothing listening on port {port} after 60 s")
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU sets: (proxy, everything else), when the machine has room to pin.
fn pinning(workers: usize) -> Option<(String, String)> {
    let n = cpus();
    (n > workers).then(|| (format!("0-{}", workers - 1), format!("{workers}-{}", n - 1)))
}

pub(crate) fn spawn(cmd: &mut Command, pin: Option<&str>, log: &Path) -> Result<Proc> {
    let mut full = match pin {
        Some(cpus) => {
            let mut t = Command::new("taskset");
            t.args(["-c", cpus]).arg(cmd.get_program()).args(cmd.get_args());
            t.envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
            t
        }
        None => std::mem::replace(cmd, Command::new("true")),
    };
    let file = std::fs::File::create(log)?;
    Ok(Proc(full.stdout(file.try_clone()?).stderr(file).stdin(Stdio::null()).spawn()?))
}

/// nginx in the foreground on `conf`.
pub(crate) fn nginx_cmd(bin: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["-e", "stderr", "-g", "daemon off;", "-c"]).arg(conf);
    cmd
}

fn nginx(args: &Args, conf: &Path, pin: Option<&str>, log: &Path) -> Result<Proc> {
    spawn(&mut nginx_cmd(&args.nginx, conf), pin, log)
}

fn main() -> Result<()> {
    let args = Args::parse();
    match &args.mode {
        Some(Mode::Soak(soak_args)) => return soak(soak_args),
        Some(Mode::Conns(conns_args)) => return connections::run(conns_args),
        Some(Mode::Ir(ir_args)) => return ir::run(ir_args),
        None => {}
    }
    let run = args.out.join("run");
    std::fs::create_dir_all(&run)?;
    let run = run.canonicalize()?;
    let origin_port = free_port()?;
    let mut rows = Vec::new();
    for &workers in &args.workers {
        let pin = pinning(workers);
        let (proxy_cpus, other_cpus) =
            (pin.as_ref().map(|p| p.0.as_str()), pin.as_ref().map(|p| p.1.as_str()));
        std::fs::write(run.join("origin.conf"), configs::origin_conf(&run, origin_port))?;
        let _origin = nginx(&args, &run.join("origin.conf"), other_cpus, &run.join("origin.log"))?;
        wait_port(origin_port)?;
        for &ingresses in &args.ingresses {
            let host = configs::request_host(ingresses);
            let manifests = run.join(format!("manifests-{ingresses}"));
            configs::manifests(&manifests, ingresses, origin_port)?;
            let (nginx_port, sluice_port, admin_port, tls_port, bare_port) =
                (free_port()?, free_port()?, free_port()?, free_port()?, free_port()?);
            let conf = run.join(format!("proxy-{workers}-{ingresses}.conf"));
            std::fs::write(&conf, configs::proxy_conf(&run, nginx_port, origin_port, workers, ingresses))?;
            let nginx_proxy = nginx(&args, &conf, proxy_cpus, &run.join("nginx-proxy.log"))?;
            let mut bare_cmd = Command::new(&args.bare);
            bare_cmd
                .env("LISTEN", format!("127.0.0.1:{bare_port}"))
                .env("UPSTREAM", format!("127.0.0.1:{origin_port}"))
                .env("THREADS", workers.to_string());
            let bare = spawn(&mut bare_cmd, proxy_cpus, &run.join("bare-pingora.log"))
                .with_context(|| format!("starting {}", args.bare.display()))?;
            let mut sluice_cmd = Command::new(&args.sluice);
            sluice_cmd
                .arg("--manifests")
                .arg(&manifests)
                .args(["--http-addr", &format!("127.0.0.1:{sluice_port}")])
                .args(["--https-addr", &format!("127.0.0.1:{tls_port}")])
                .args(["--admin-addr", &format!("127.0.0.1:{admin_port}")])
                .args(["--threads", &workers.to_string()])
                .args(["--shutdown-grace-period", "0s", "--shutdown-drain-timeout", "1s"])
                .env("RUST_LOG", "warn");
            // The access log stays on: its JSON lines go to this file.
            let sluice = spawn(&mut sluice_cmd, proxy_cpus, &run.join("sluice-access.log"))
                .with_context(|| format!("starting {}", args.sluice.display()))?;
            for port in [nginx_port, bare_port, sluice_port] {
                wait_port(port)?;
            }
            let proxies = [
                ("nginx", &nginx_proxy, nginx_port),
                ("pingora", &bare, bare_port),
                ("sluice", &sluice, sluice_port),
            ];
            for mode in &args.modes {
                let close = mode == "close";
                for &conns in &args.conns {
                    let cell = cells::Cell { host: &host, conns, close, client_cpus: other_cpus, run: &run };
                    for (name, m) in cells::measure_interleaved(&args, &cell, &proxies)? {
                        eprintln!(
                            "{name:7} workers={workers} {mode:9} c={conns:<5} ingresses={ingresses:<6} cpu_us/req={:.1} (user {:.1}, kernel {:.1}) rps={:.0} errors={}",
                            m.cpu_us_per_req(), m.user_us_per_req, m.kernel_us_per_req, m.wrk.rps, m.wrk.errors
                        );
                        rows.push(Row {
                            proxy: name.into(),
                            workers,
                            mode: mode.clone(),
                            conns,
                            ingresses,
                            figures: m,
                        });
                    }
                }
            }
        }
    }
    let mut md = report::markdown(&rows);
    let scale = if args.scale_ingresses > 0 {
        let edits = args.scale_edits.max(1);
        let s = scale::run(&args.sluice, &run, args.scale_ingresses, args.scale_endpoints, edits)?;
        md.push_str(&format!(
            "\nScale ({} Ingresses, {} endpoints, manifests folder): ready in {:.0} ms, RSS {:.0} MiB, \
             one Ingress edit live in {:.1} ms (p50) / {:.1} ms (p99) / {:.1} ms (max of {edits}).\n",
            s.ingresses,
            s.endpoints,
            s.ready_ms,
            s.rss_mib,
            s.edit_live_p50_ms,
            s.edit_live_p99_ms,
            s.edit_live_max_ms
        ));
        Some(s)
    } else {
        None
    };
    print!("{md}");
    std::fs::write(args.out.join("results.md"), &md)?;
    let json = serde_json::json!({"cells": rows, "scale": scale});
    std::fs::write(args.out.join("results.json"), serde_json::to_string_pretty(&json)?)?;
    std::fs::write(args.out.join("cpu_us_per_request.svg"), report::svg(&rows))?;
    eprintln!("results in {}", args.out.display());
    Ok(())
}
