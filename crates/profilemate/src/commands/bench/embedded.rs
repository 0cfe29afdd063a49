//! Provides the embedded target of `bench serve`: with no `--base-url`, `--host` or `--port`,
//! the simulated engine (`profilemate-server`, with `profilemate sim serve`'s defaults: model
//! and GPU presets, real time) is started in this process on a free loopback port and
//! benchmarked, so `profilemate bench serve` works with nothing else running.

use anyhow::Context;
use clap::{Args, FromArgMatches};
use profilemate_bench::BenchConfig;
use profilemate_server::RunningServer;

use crate::commands::sim::SimServeArgs;

/// Starts the embedded server, points `config` at it and says what it is.
pub(super) async fn start(config: &mut BenchConfig) -> anyhow::Result<RunningServer> {
    let args = sim_serve_defaults()?;
    let server_config = args.to_config()?;
    let model = server_config.served_model_name.clone();
    let server = profilemate_server::spawn(server_config)
        .await
        .context("cannot start the embedded simulated engine")?;
    config.base_url = server.base_url();
    println!(
        "No --base-url, --host or --port: benchmarking the embedded simulated engine ({model} on {}, `profilemate sim serve` defaults, real time) at {}.",
        args.gpu,
        server.base_url()
    );
    Ok(server)
}

/// `sim serve`'s flags with their defaults, its vLLM log lines off (they would interleave
/// with the benchmark's output).
fn sim_serve_defaults() -> anyhow::Result<SimServeArgs> {
    let cmd = SimServeArgs::augment_args(clap::Command::new("sim-serve"));
    let matches = cmd.try_get_matches_from(["sim-serve", "--disable-log-stats"])?;
    Ok(SimServeArgs::from_arg_matches(&matches)?)
}

/// Stops the embedded server; a failure to stop cleanly is reported, not fatal.
pub(super) async fn stop(server: RunningServer) {
    if let Err(e) = server.shutdown().await {
        eprintln!("WARNING: the embedded simulated engine did not stop cleanly: {e}");
    }
}
