//! The `sluice` binary: the proxy, or a helper subcommand.

use clap::Parser;
use sluice_proxy::settings::{Cli, Command};
use sluice_proxy::{echo, lint, server, telemetry};

/// mimalloc, with its defaults: freed pages go back to the system on the allocator's next call
/// after its purge delay (1 s). Purging at once (`MIMALLOC_PURGE_DELAY=0`) returned a surge's
/// memory sooner but cost an `madvise` and fresh page faults for every few connections: 61.5 ->
/// 46.9 CPU-us per request with a new connection per request (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _guard = telemetry::init(!cli.run.disable_access_log);
    match cli.command {
        Some(Command::Echo(args)) => echo::run(&args.listen, &args.name),
        Some(Command::Lint(args)) => std::process::exit(lint::run(&args)?),
        None => server::run(cli.run),
    }
}
