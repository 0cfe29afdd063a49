//! Defines [`EngineArgs`], the engine flags of `sim run` spelled as `vllm serve` spells them,
//! and resolves them with [`profilemate_sim::assembly`] into the engine's settings, its roofline
//! step timer and its KV cache.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use profilemate_model::PerfModel;
use profilemate_model::hardware::{self, Gpu};
use profilemate_sim::SpecDecodeConfig;
use profilemate_sim::assembly::{self, AssembledEngine, EngineFlags, ModelDeployment};
use profilemate_sim::{EngineConfig, KvBlocks, RooflineStepTimer};

use super::calibrate::Calibration;
use crate::commands::deployment_args::{DeploymentArgs, Setup};

/// `--gpu`'s default.
pub(crate) const DEFAULT_GPU: &str = "h100-sxm";

/// The simulated engine: model, GPU, and vLLM's scheduler and cache flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct EngineArgs {
    #[command(flatten)]
    pub(crate) deployment: DeploymentArgs,
    /// GPU preset (`profilemate hardware list`) or a JSON file describing one.
    #[arg(long, default_value = DEFAULT_GPU)]
    pub(crate) gpu: String,
    /// Most requests in the running batch (default: vLLM's for the GPU, 1024 with 70 GiB or
    /// more except A100s, else 256).
    #[arg(long)]
    pub(crate) max_num_seqs: Option<u32>,
    /// Token budget per step (default: vLLM's for the GPU, 16384 with 160 GiB or more, 8192
    /// with 70 GiB or more except A100s, else 2048).
    #[arg(long)]
    pub(crate) max_num_batched_tokens: Option<u32>,
    /// Tokens per KV-cache block.
    #[arg(long, default_value_t = EngineFlags::DEFAULT_BLOCK_SIZE)]
    pub(crate) block_size: u32,
    /// Share of GPU memory vLLM may use (sizes the KV cache).
    #[arg(long, default_value_t = EngineFlags::DEFAULT_GPU_MEMORY_UTILIZATION)]
    pub(crate) gpu_memory_utilization: f64,
    /// KV-cache blocks, instead of sizing the cache from GPU memory.
    #[arg(long)]
    pub(crate) num_gpu_blocks_override: Option<u32>,
    /// Reuse cached prompt blocks (vLLM V1's default).
    #[arg(long, overrides_with = "no_enable_prefix_caching")]
    pub(crate) enable_prefix_caching: bool,
    /// Turn prefix caching off.
    #[arg(long, overrides_with = "enable_prefix_caching")]
    pub(crate) no_enable_prefix_caching: bool,
    /// Split prompts across steps to fit the token budget (vLLM V1's default).
    #[arg(long, overrides_with = "no_enable_chunked_prefill")]
    pub(crate) enable_chunked_prefill: bool,
    /// Schedule each prompt whole or not at all; the default token budget then grows to
    /// --max-model-len, as vLLM's does.
    #[arg(long, overrides_with = "enable_chunked_prefill")]
    pub(crate) no_enable_chunked_prefill: bool,
    /// The most prompt tokens one request is scheduled per step while other requests are
    /// eligible (0: no cap), so long prompts do not hold up short ones.
    #[arg(long, value_name = "TOKENS", default_value_t = 0)]
    pub(crate) long_prefill_token_threshold: u32,
    /// Longest sequence, prompt and output (default: the model's max_position_embeddings).
    #[arg(long)]
    pub(crate) max_model_len: Option<u32>,
    /// Schedule step N+1 while step N runs (vLLM 0.32's default on GPUs).
    #[arg(long, overrides_with = "no_async_scheduling")]
    pub(crate) async_scheduling: bool,
    /// Schedule each step after the previous one's outputs are processed.
    #[arg(long, overrides_with = "async_scheduling")]
    pub(crate) no_async_scheduling: bool,
    /// No CUDA graphs, so no padding.
    #[arg(long)]
    pub(crate) enforce_eager: bool,
    /// (profilemate) CPU time per step (scheduling, input preparation, sampling, output
    /// processing) on top of the roofline's fixed 0.5 ms, in µs.
    #[arg(long, default_value_t = 0)]
    pub(crate) cpu_overhead_per_step_us: u64,
    /// KV offloading to CPU memory (vLLM's native backend): the buffer in GiB, summed over
    /// the tensor-parallel ranks.
    #[arg(long, value_name = "GIB")]
    pub(crate) kv_offloading_size: Option<f64>,
    /// Speculative decoding: draft tokens proposed per decode step (0 = off).
    #[arg(long, default_value_t = 0)]
    pub(crate) num_speculative_tokens: u32,
    /// Speculative decoding: probability that each draft token is accepted.
    #[arg(long, default_value_t = 0.7)]
    pub(crate) spec_acceptance_rate: f64,
    /// (profilemate) Time steps with a model fitted by `profilemate sim calibrate` instead of
    /// the bare roofline (same --model and --gpu as the calibration).
    #[arg(long, value_name = "calibration.json")]
    pub(crate) calibration: Option<PathBuf>,
}

/// A resolved engine, ready to simulate.
#[derive(Debug)]
pub(crate) struct Engine {
    /// The model and deployment.
    pub(crate) setup: Setup,
    /// The GPU.
    pub(crate) gpu: Gpu,
    /// Engine settings.
    pub(crate) config: EngineConfig,
    /// The step timer.
    pub(crate) timer: RooflineStepTimer<PerfModel>,
    /// The KV cache sized from GPU memory (`None` with `--num-gpu-blocks-override`).
    pub(crate) kv: Option<KvBlocks>,
    /// The fitted step-time model (`--calibration`), if any.
    pub(crate) calibration: Option<Calibration>,
}

impl Engine {
    /// The vocabulary the virtual client draws synthetic prompts from, as vLLM's client draws
    /// them from the model's tokenizer: the model's `vocab_size` (`None` when the config has
    /// none).
    pub(crate) fn prompt_vocab(&self) -> Option<u32> {
        let vocab = self.setup.spec.vocab_size.clone().ok()?;
        u32::try_from(vocab).ok().filter(|&v| v > 0)
    }

    /// Assembles the engine of `setup` on `gpu` with `flags`.
    pub(crate) fn assemble(setup: Setup, gpu: Gpu, flags: &EngineFlags) -> anyhow::Result<Self> {
        let model = ModelDeployment {
            label: &setup.label,
            spec: &setup.spec,
            deployment: &setup.deployment,
        };
        let AssembledEngine { config, timer, kv } = assembly::assemble(model, &gpu, flags)?;
        Ok(Engine {
            setup,
            gpu,
            config,
            timer,
            kv,
            calibration: None,
        })
    }
}

/// The GPU preset or JSON file `--gpu` names.
pub(crate) fn resolve_gpu(name: &str) -> anyhow::Result<Gpu> {
    hardware::resolve(name).with_context(|| format!("invalid --gpu {name:?}"))
}

impl EngineArgs {
    /// Loads the model and GPU and builds the engine; `seed` seeds its random choices.
    pub(crate) fn resolve(&self, seed: u64) -> anyhow::Result<Engine> {
        self.resolve_with(&self.flags(seed))
    }

    /// Loads the model and GPU and builds the engine with `flags` (from [`Self::flags`], with
    /// what only some commands set).
    pub(crate) fn resolve_with(&self, flags: &EngineFlags) -> anyhow::Result<Engine> {
        let setup = self.deployment.resolve()?;
        let gpu = resolve_gpu(&self.gpu)?;
        let mut engine = Engine::assemble(setup, gpu, flags)?;
        if let Some(path) = &self.calibration {
            let calibration = Calibration::load(path)?;
            calibration.check(&engine.setup.spec, &engine.gpu.name)?;
            engine.calibration = Some(calibration);
        }
        Ok(engine)
    }

    /// The engine flags given; `seed` seeds the engine's random choices.
    pub(crate) fn flags(&self, seed: u64) -> EngineFlags {
        EngineFlags {
            max_num_seqs: self.max_num_seqs,
            max_num_batched_tokens: self.max_num_batched_tokens,
            block_size: self.block_size,
            gpu_memory_utilization: self.gpu_memory_utilization,
            num_gpu_blocks_override: self.num_gpu_blocks_override,
            enable_prefix_caching: self.enable_prefix_caching || !self.no_enable_prefix_caching,
            enable_chunked_prefill: self.enable_chunked_prefill || !self.no_enable_chunked_prefill,
            long_prefill_token_threshold: self.long_prefill_token_threshold,
            max_model_len: self.max_model_len,
            async_scheduling: self.async_scheduling || !self.no_async_scheduling,
            enforce_eager: self.enforce_eager,
            cpu_overhead_per_step: Duration::from_micros(self.cpu_overhead_per_step_us),
            kv_offloading_gib: self.kv_offloading_size,
            spec_decode: (self.num_speculative_tokens > 0).then_some(SpecDecodeConfig {
                num_speculative_tokens: self.num_speculative_tokens,
                acceptance_probability: self.spec_acceptance_rate,
                num_lookahead_tokens: 0,
            }),
            seed,
        }
    }
}
