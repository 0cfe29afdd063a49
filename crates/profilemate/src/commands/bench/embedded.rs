//! Provides the embedded target of `bench serve`: with no `--base-url`, `--host` or `--port`,
//! the simulated engine (`profilemate-server`, with `profilemate sim serve`'s defaults, in real
//! time; `--model` and `--gpu` pick its model and GPU presets) is started in this process on a
//! free loopback port and benchmarked, so `profilemate bench serve` works with nothing else
//! running. It counts vLLM's `estimated_*` FLOP and byte counters (`--enable-mfu-metrics`), and
//! the run's MFU / MBU are measured against its GPU preset.

use anyhow::Context;
use profilemate_bench::BenchConfig;
use profilemate_server::{LogConfig, RunningServer, ServerConfig};
use profilemate_sim::assembly::EngineFlags;

use super::EndpointArgs;
use crate::commands::deployment_args::Setup;
use crate::commands::sim::{self, DEFAULT_GPU, Engine, resolve_gpu};

/// Starts the embedded server, points `config` at it and says what it is.
pub(super) async fn start(
    config: &mut BenchConfig,
    endpoint: &EndpointArgs,
) -> anyhow::Result<RunningServer> {
    let gpu_name = endpoint.gpu.as_deref().unwrap_or(DEFAULT_GPU);
    let (server_config, vocab) = server_config(endpoint, gpu_name)?;
    let model = server_config.served_model_name.clone();
    if config.workload.backend.takes_token_ids() {
        config.workload.prompt_vocab = vocab;
    }
    let server = profilemate_server::spawn(server_config)
        .await
        .context("cannot start the embedded simulated engine")?;
    config.endpoint.base_url = server.base_url();
    if config.endpoint.gpu.is_none() {
        config.endpoint.gpu = Some(super::convert::gpu(gpu_name)?);
    }
    println!(
        "No --base-url, --host or --port: benchmarking the embedded simulated engine ({model} on {gpu_name}, otherwise `profilemate sim serve` defaults, real time) at {}.",
        server.base_url()
    );
    Ok(server)
}

/// `sim serve`'s configuration with its defaults, bench's `--model` and `--gpu` as the model
/// and GPU presets when given, the MFU counters on, the profiler routes with `--profile`, and
/// its vLLM log lines off (they would interleave with the output); beside it, the model's
/// vocabulary size, which token-id prompts are drawn over. `--lora-modules` is refused: the
/// simulated engine serves no LoRA adapters.
fn server_config(
    endpoint: &EndpointArgs,
    gpu_name: &str,
) -> anyhow::Result<(ServerConfig, Option<u32>)> {
    if !endpoint.lora_modules.is_empty() {
        anyhow::bail!(
            "--lora-modules needs a server started with those LoRA modules; the embedded simulated engine serves none (benchmark a vLLM server with --base-url)"
        );
    }
    let setup = Setup::load(endpoint.model.as_deref())?;
    let gpu = resolve_gpu(gpu_name)?;
    let engine = Engine::assemble(setup, gpu, &EngineFlags::default())?;
    let vocab = engine.prompt_vocab();
    let name = engine.setup.label.clone();
    let mut config = sim::args::server_config(name, engine);
    config.logging = LogConfig {
        target: None,
        mfu_metrics: true,
        ..LogConfig::default()
    };
    // --profile: the embedded engine answers /start_profile and /stop_profile.
    config.profiler = endpoint.profile.then(|| "torch".to_owned());
    config.validate()?;
    Ok((config, vocab))
}

/// Stops the embedded server; a failure to stop cleanly is reported, not fatal.
pub(super) async fn stop(server: RunningServer) {
    if let Err(e) = server.shutdown().await {
        eprintln!("WARNING: the embedded simulated engine did not stop cleanly: {e}");
    }
}
