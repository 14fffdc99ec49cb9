//! `sluice-loadtest ir`: user-space instructions per proxied request, counted by callgrind, for
//! nginx, bare Pingora and Sluice side by side on the same origin and routes (the
//! `anchor-bench/ir-per-request.sh` method). Each proxy runs with one worker under
//! `valgrind --tool=callgrind`; after a warm-up its counters are zeroed, N keep-alive requests
//! are sent over a few connections, and the counters are dumped. Unlike CPU time on a shared VM,
//! the count repeats within about 0.5%, so it decides whether a change helped.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use sluice_loadtest::http1;

use crate::{configs, free_port, spawn, Proc};

/// `sluice-loadtest ir` flags.
#[derive(Debug, clap::Args)]
pub struct IrArgs {
    /// The sluice binary (a release build).
    #[arg(long, default_value = "target/release/sluice")]
    sluice: PathBuf,
    /// The bare Pingora binary (built from this workspace: `bare-pingora`).
    #[arg(long, default_value = "target/release/bare-pingora")]
    bare: PathBuf,
    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
    /// Requests counted per proxy.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Keep-alive client connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Where results and callgrind files go.
    #[arg(long, default_value = "target/loadtest/ir")]
    out: PathBuf,
}

/// One proxy's count.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IrRow {
    /// `nginx`, `pingora` or `sluice`.
    pub proxy: String,
    /// Instructions per request.
    pub ir_per_request: u64,
}

/// Runs the three proxies one after the other and reports their counts.
pub fn run(args: &IrArgs) -> Result<()> {
    for tool in ["valgrind", "callgrind_control"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("{tool} not found: install valgrind (Debian package)");
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let run = args.out.canonicalize()?;
    let origin_port = free_port()?;
    std::fs::write(run.join("origin.conf"), configs::origin_conf(&run, origin_port))?;
    let _origin =
        spawn(&mut crate::nginx_cmd(&args.nginx, &run.join("origin.conf")), None, &run.join("origin.log"))?;
    crate::wait_port(origin_port)?;
    let manifests = run.join("manifests");
    configs::manifests(&manifests, 1, origin_port)?;
    let host = configs::request_host(1);
    let mut rows = Vec::new();
    for proxy in ["nginx", "pingora", "sluice"] {
        let port = free_port()?;
        let mut cmd = valgrind(&run, proxy);
        match proxy {
            "nginx" => {
                let conf = run.join("proxy.conf");
                std::fs::write(&conf, configs::proxy_conf(&run, port, origin_port, 1, 1))?;
                // One process: callgrind follows the worker that serves.
                cmd.arg(&args.nginx)
                    .args(["-e", "stderr", "-g", "daemon off; master_process off;", "-c"])
                    .arg(conf);
            }
            "pingora" => {
                cmd.arg(&args.bare)
                    .env("LISTEN", format!("127.0.0.1:{port}"))
                    .env("UPSTREAM", format!("127.0.0.1:{origin_port}"))
                    .env("THREADS", "1");
            }
            _ => {
                cmd.arg(&args.sluice)
                    .arg("--manifests")
                    .arg(&manifests)
                    .args(["--http-addr", &format!("127.0.0.1:{port}")])
                    .args(["--https-addr", &format!("127.0.0.1:{}", free_port()?)])
                    .args(["--admin-addr", &format!("127.0.0.1:{}", free_port()?)])
                    .args(["--threads", "1"])
                    .env("RUST_LOG", "warn");
            }
        }
        let child = spawn(&mut cmd, None, &run.join(format!("{proxy}.log")))?;
        let ir = count(&child, port, &host, args, &run.join(format!("{proxy}.out")))
            .with_context(|| format!("counting {proxy}"))?;
        drop(child);
        eprintln!("{proxy:8} Ir/request={ir}");
        rows.push(IrRow { proxy: proxy.into(), ir_per_request: ir });
    }
    let md = markdown(&rows);
    print!("{md}");
    std::fs::write(run.join("results.md"), &md)?;
    std::fs::write(run.join("results.json"), serde_json::to_string_pretty(&rows)?)?;
    eprintln!("callgrind files in {} (callgrind_annotate --inclusive=yes sluice.out.1)", run.display());
    Ok(())
}

/// `valgrind --tool=callgrind` writing to `run/<proxy>.out.<dump>`.
fn valgrind(run: &Path, proxy: &str) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--collect-atstart=yes"])
        .arg(format!("--callgrind-out-file={}/{proxy}.out", run.display()));
    cmd
}

/// Warms up, zeroes the counters, sends the requests, dumps, and reads the instructions back.
fn count(child: &Proc, port: u16, host: &str, args: &IrArgs, out: &Path) -> Result<u64> {
    let pid = child.0.id().to_string();
    let start = Instant::now();
    // Under valgrind, start-up takes seconds: retry the warm-up until it is served.
    loop {
        match requests(port, host, args.connections, 200) {
            Ok(()) => break,
            Err(e) if start.elapsed() > Duration::from_secs(180) => {
                return Err(e.context("no answer in 180 s"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    control(&["-z", &pid])?;
    requests(port, host, args.connections, args.requests)?;
    control(&["-d", &pid])?;
    let dump = PathBuf::from(format!("{}.1", out.display()));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(total) = std::fs::read_to_string(&dump).ok().as_deref().and_then(summary) {
            return Ok(total / args.requests as u64);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("no callgrind dump at {}", dump.display())
}

fn control(flags: &[&str]) -> Result<()> {
    let status = Command::new("callgrind_control").args(flags).output()?.status;
    if !status.success() {
        bail!("callgrind_control {flags:?} failed");
    }
    Ok(())
}

/// The `summary:` (or `totals:`) line of a complete callgrind dump.
fn summary(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Sends `n` GET requests over `connections` keep-alive connections, one in flight on each,
/// and fails on any answer other than 200.
pub fn requests(port: u16, host: &str, connections: usize, n: usize) -> Result<()> {
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe\r\nAccept: */*\r\n\r\n");
    let mut socks = (0..connections.max(1))
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.set_nodelay(true)?;
            Ok(BufReader::new(s))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut done = 0;
    while done < n {
        let batch = socks.len().min(n - done);
        for s in &mut socks[..batch] {
            s.get_mut().write_all(request.as_bytes())?;
        }
        for s in &mut socks[..batch] {
            match http1::read_answer(s, true) {
                Ok((200, true)) => {}
                Ok((status, open)) => bail!("answer {status} (connection open: {open})"),
                Err(e) => bail!("{e}"),
            }
        }
        done += batch;
    }
    Ok(())
}

/// The table: instructions per request and the ratios the performance goals are stated in.
pub fn markdown(rows: &[IrRow]) -> String {
    let of = |name: &str| rows.iter().find(|r| r.proxy == name).map(|r| r.ir_per_request as f64);
    let mut out = String::from(
        "| proxy | instructions per request | vs nginx | vs bare Pingora |\n|---|---|---|---|\n",
    );
    for r in rows {
        let ratio = |base: Option<f64>| {
            base.map_or(String::from("-"), |b| format!("{:.2}", r.ir_per_request as f64 / b))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.proxy,
            r.ir_per_request,
            ratio(of("nginx")),
            ratio(of("pingora"))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_is_read_from_a_dump() {
        assert_eq!(summary("events: Ir\nsummary: 190003322\ntotals: 1\n"), Some(190_003_322));
        assert_eq!(summary("events: Ir\n"), None);
    }

    #[test]
    fn ratios_are_against_nginx_and_bare_pingora() {
        let rows = [("nginx", 20_000), ("pingora", 66_000), ("sluice", 99_000)]
            .map(|(p, ir)| IrRow { proxy: p.into(), ir_per_request: ir });
        let md = markdown(&rows);
        assert!(md.contains("| sluice | 99000 | 4.95 | 1.50 |"), "{md}");
        assert!(md.contains("| nginx | 20000 | 1.00 | 0.30 |"), "{md}");
    }
}
