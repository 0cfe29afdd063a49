//! Runs the subcommands; each module owns one.

pub(crate) mod analyze;
pub(crate) mod bench;
pub(crate) mod deployment_args;
pub(crate) mod estimate;
pub(crate) mod hardware;
pub(crate) mod interrupt;
pub(crate) mod kv;
pub(crate) mod model_source;
pub(crate) mod progress;
pub(crate) mod sim;
pub(crate) mod slo_search_args;

use std::process::ExitCode;

use crate::cli::Command;

/// Runs one subcommand to completion.
pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Estimate(args) => estimate::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Hardware(args) => hardware::run(&args),
        Command::Kv(args) => kv::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Analyze(args) => analyze::run(&args),
    }
}
