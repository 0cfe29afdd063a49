//! Provides the embedded target of `bench serve`: with no `--base-url`, `--host` or `--port`,
//! the simulated engine (`profilemate-server`, with `profilemate sim serve`'s defaults, in real
//! time; `--model` and `--gpu` pick its model and GPU presets) is started in this process on a
//! free loopback port and benchmarked, so `profilemate bench serve` works with nothing else
//! running. It counts vLLM's `estimated_*` FLOP and byte counters (`--enable-mfu-metrics`), and
//! the run's MFU / MBU are measured against its GPU preset.

use anyhow::Context;
use clap::{Args, FromArgMatches};
use profilemate_bench::BenchConfig;
use profilemate_server::RunningServer;

use super::EndpointArgs;
use crate::commands::sim::SimServeArgs;

/// Starts the embedded server, points `config` at it and says what it is.
pub(super) async fn start(
    config: &mut BenchConfig,
    endpoint: &EndpointArgs,
) -> anyhow::Result<RunningServer> {
    let args = sim_serve_args(endpoint)?;
    let server_config = args.to_config()?;
    let model = server_config.served_model_name.clone();
    let server = profilemate_server::spawn(server_config)
        .await
        .context("cannot start the embedded simulated engine")?;
    config.base_url = server.base_url();
    if config.gpu.is_none() {
        config.gpu = Some(super::convert::gpu(&args.engine.gpu)?);
    }
    println!(
        "No --base-url, --host or --port: benchmarking the embedded simulated engine ({model} on {}, otherwise `profilemate sim serve` defaults, real time) at {}.",
        args.engine.gpu,
        server.base_url()
    );
    Ok(server)
}

/// `sim serve`'s flags: its defaults, bench's `--model` and `--gpu` as the model and GPU
/// presets when given, the MFU counters on, the profiler routes with `--profile`, and its vLLM
/// log lines off (they would interleave with the output). `--lora-modules` is refused: the
/// simulated engine serves no LoRA adapters.
fn sim_serve_args(endpoint: &EndpointArgs) -> anyhow::Result<SimServeArgs> {
    if !endpoint.lora_modules.is_empty() {
        anyhow::bail!(
            "--lora-modules needs a server started with those LoRA modules; the embedded simulated engine serves none (benchmark a vLLM server with --base-url)"
        );
    }
    let mut argv = vec!["sim-serve", "--disable-log-stats", "--enable-mfu-metrics"];
    if endpoint.profile {
        // --profile: the embedded engine answers /start_profile and /stop_profile.
        argv.extend(["--profiler-config", r#"{"profiler": "torch"}"#]);
    }
    if let Some(model) = &endpoint.model {
        argv.extend(["--model", model]);
    }
    if let Some(gpu) = &endpoint.gpu {
        argv.extend(["--gpu", gpu]);
    }
    let cmd = SimServeArgs::augment_args(clap::Command::new("sim-serve"));
    let matches = cmd.try_get_matches_from(argv)?;
    Ok(SimServeArgs::from_arg_matches(&matches)?)
}

/// Stops the embedded server; a failure to stop cleanly is reported, not fatal.
pub(super) async fn stop(server: RunningServer) {
    if let Err(e) = server.shutdown().await {
        eprintln!("WARNING: the embedded simulated engine did not stop cleanly: {e}");
    }
}
