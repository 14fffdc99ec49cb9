//! The `sluice` binary: the proxy, or a helper subcommand.

use std::os::unix::process::CommandExt;

use clap::Parser;
use sluice_proxy::settings::{Cli, Command};
use sluice_proxy::{echo, lint, server, telemetry};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc returns freed memory to the system only when it is called again after its purge
/// delay (10 ms); a proxy that goes quiet after a connection surge would keep the surge's peak
/// resident. With no delay, freed pages go back at once (0.012 `madvise` per request under
/// keep-alive load). mimalloc reads its options before `main`, so the setting is made by
/// starting the binary again with it (same PID, `exec`), unless the environment already chose.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

fn main() -> anyhow::Result<()> {
    if std::env::var_os(PURGE_DELAY).is_none() {
        if let Ok(exe) = std::env::current_exe() {
            let error = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env(PURGE_DELAY, "0")
                .exec();
            eprintln!(
                "sluice: could not restart with {PURGE_DELAY}=0 ({error}); memory is given back more slowly"
            );
        }
    }
    let cli = Cli::parse();
    let _guard = telemetry::init(!cli.run.disable_access_log);
    match cli.command {
        Some(Command::Echo(args)) => echo::run(&args.listen, &args.name),
        Some(Command::Lint(args)) => std::process::exit(lint::run(&args)?),
        None => server::run(cli.run),
    }
}
