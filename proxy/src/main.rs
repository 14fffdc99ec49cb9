//! The `sluice` binary: the proxy, or a helper subcommand.

use clap::Parser;
use sluice_proxy::settings::{Cli, Command};
use sluice_proxy::{echo, lint, server, telemetry};

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
