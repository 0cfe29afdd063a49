//! Runs `profilemate bench …`: load generation against OpenAI-compatible servers.
//!
//! `bench serve` is a drop-in for `vllm bench serve` (vLLM 0.32). Without `--base-url` it targets
//! `--host`/`--port`; with none of the three it starts the embedded simulated engine in process
//! and benchmarks that ([`embedded`]).

mod args;
mod convert;
mod embedded;
mod plot;
mod present;
mod sweep;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use profilemate_bench::{BenchError, EventSink, cancel_pair};

pub(crate) use args::{EndpointArgs, ServeArgs, WorkloadArgs};
pub(crate) use convert::sim_workload_config;
pub(crate) use present::{finish, present_event};

/// `profilemate bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    pub(crate) command: BenchCommand,
}

/// The `bench` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Benchmark an OpenAI-compatible server, like `vllm bench serve` (same flags, metrics, table
    /// and JSON), plus per-token ITL, client lag, an error taxonomy and the server's /metrics view.
    Serve(Box<ServeArgs>),
    /// Run server and bench commands over parameter grids, like `vllm bench sweep` (same
    /// files and layout); with `--slo`, find the highest load that meets the SLOs.
    Sweep(sweep::SweepArgs),
}

/// Runs a `bench` subcommand.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        BenchCommand::Serve(serve_args) => serve(serve_args),
        BenchCommand::Sweep(sweep_args) => sweep::run(sweep_args),
    }
}

/// `bench serve`: configure, start the embedded engine if no server is named, run with
/// Ctrl-C handling, present and save.
fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.to_config().context("invalid bench serve arguments")?;
    present::warn_temperature(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let server = match args.endpoint.embedded() {
            true => Some(embedded::start(&mut config, &args.endpoint).await?),
            false => None,
        };
        let result = run_with_progress(&config, args.workload.disable_tqdm).await;
        if let Some(server) = server {
            embedded::stop(server).await;
        }
        anyhow::Ok(result)
    })?;
    match report {
        Ok(report) => {
            let code = present::finish(&config.workload.output, &report)?;
            present::next_steps(args.endpoint.embedded(), &config);
            Ok(code)
        }
        Err(BenchError::Interrupted) => {
            eprintln!("profilemate: {}", BenchError::Interrupted);
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs the benchmark with the progress printer; the first Ctrl-C (or SIGTERM) stops new
/// requests and gives those in flight `--interrupt-grace-sec`, a second cuts them now.
async fn run_with_progress(
    config: &profilemate_bench::BenchConfig,
    hide_progress: bool,
) -> Result<profilemate_bench::Report, BenchError> {
    let (canceller, token) = cancel_pair();
    crate::commands::interrupt::spawn_handler(canceller);
    let (events, rx) = EventSink::channel();
    let mode = crate::commands::progress::Mode::detect(hide_progress);
    let printer = tokio::spawn(present::consume_events(rx, mode));
    let result = profilemate_bench::run(config, &events, &token).await;
    drop(events);
    let _ = printer.await;
    result
}

#[cfg(test)]
mod tests;
