//! Measuring one cell for every proxy: saturated load with wrk (CPU per request from /proc,
//! split into user and kernel time; system calls from perf), then, for keep-alive clients, the
//! latency at half of that proxy's saturated rate. Repeats are interleaved across the proxies so
//! that a slow spell of the machine hits all of them, and the median run is kept.

use std::path::Path;

use anyhow::Result;

use crate::measure::{clock_ticks, tree_split_ticks, wrk, Figures, Load, Syscalls};
use crate::{Args, Proc};

/// What is measured in a cell.
pub struct Cell<'a> {
    /// The Host header.
    pub host: &'a str,
    /// Client connections.
    pub conns: usize,
    /// A new connection per request.
    pub close: bool,
    /// CPUs for wrk (the proxies have theirs).
    pub client_cpus: Option<&'a str>,
    /// Where scripts go.
    pub run: &'a Path,
}

/// Measures every proxy `args.repeats` times, interleaved, and returns each one's median run.
pub fn measure_interleaved<'p>(
    args: &Args,
    cell: &Cell<'_>,
    proxies: &[(&'p str, &Proc, u16)],
) -> Result<Vec<(&'p str, Figures)>> {
    let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); proxies.len()];
    for _ in 0..args.repeats.max(1) {
        for (i, (_, proc_, port)) in proxies.iter().enumerate() {
            runs[i].push(measure(args, cell, proc_, *port)?);
        }
    }
    Ok(proxies.iter().zip(runs).map(|((name, _, _), runs)| (*name, median(runs))).collect())
}

fn median(mut runs: Vec<Figures>) -> Figures {
    runs.sort_by(|a, b| a.cpu_us_per_req().total_cmp(&b.cpu_us_per_req()));
    runs.swap_remove(runs.len() / 2)
}

fn measure(args: &Args, cell: &Cell<'_>, proxy: &Proc, port: u16) -> Result<Figures> {
    let url = format!("http://127.0.0.1:{port}/");
    let pid = proxy.0.id();
    let load = Load {
        url: &url,
        host: cell.host,
        conns: cell.conns,
        seconds: args.duration,
        close: cell.close,
        cpus: cell.client_cpus,
        script: None,
    };
    // Warm up (connections, pools), then measure.
    wrk(&args.wrk, &Load { seconds: 1, ..load })?;
    let syscalls = Syscalls::start(pid);
    let (user0, system0) = tree_split_ticks(pid);
    let result = wrk(&args.wrk, &load)?;
    let (user1, system1) = tree_split_ticks(pid);
    let calls = syscalls.finish();
    let per_request = |ticks: u64| {
        if result.requests > 0 {
            ticks as f64 / clock_ticks() * 1e6 / result.requests as f64
        } else {
            f64::NAN
        }
    };
    let (user_us_per_req, kernel_us_per_req) = (per_request(user1 - user0), per_request(system1 - system0));
    let half_load_ms = if args.half_load && !cell.close && result.rps > 0.0 {
        Some(half_load(args, cell, &load, result.rps)?)
    } else {
        None
    };
    Ok(Figures {
        user_us_per_req,
        kernel_us_per_req,
        syscalls_per_req: calls.filter(|_| result.requests > 0).map(|n| n as f64 / result.requests as f64),
        wrk: result,
        half_load_ms,
    })
}

/// p50 and p99 with each connection pausing between requests so that together they ask for
/// half of `saturated_rps` (wrk's `delay()` hook; the pause is whole milliseconds).
fn half_load(args: &Args, cell: &Cell<'_>, load: &Load<'_>, saturated_rps: f64) -> Result<(f64, f64)> {
    let pause_ms = (cell.conns as f64 * 1000.0 / (saturated_rps / 2.0)).round().max(1.0) as u64;
    let script = cell.run.join(format!("delay-{pause_ms}.lua"));
    std::fs::write(&script, format!("function delay()\n  return {pause_ms}\nend\n"))?;
    let r = wrk(&args.wrk, &Load { script: Some(&script), ..*load })?;
    Ok((r.p50_ms, r.p99_ms))
}
