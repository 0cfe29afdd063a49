//! Defines [`EngineArgs`], the engine flags of `sim run` spelled as `vllm serve` spells them,
//! and resolves them into the engine's settings, its roofline step timer and its KV cache.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use profilemate_bench::virtual_run::{KvBlocks, RooflineTimer, kv_blocks, roofline_timer};
use profilemate_model::PerfModel;
use profilemate_model::hardware::{self, Gpu};
use profilemate_model::kv::KvSizingConfig;
use profilemate_model::roofline::Efficiency;
use profilemate_sim::{CudaGraphConfig, EngineConfig};

use super::calibrate::Calibration;
use crate::commands::deployment_args::{DeploymentArgs, Setup};

const GIB: u64 = 1 << 30;

/// The simulated engine: model, GPU, and vLLM's scheduler and cache flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct EngineArgs {
    #[command(flatten)]
    pub(crate) deployment: DeploymentArgs,
    /// GPU preset (`profilemate hardware list`) or a JSON file describing one.
    #[arg(long, default_value = "h100-sxm")]
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
    #[arg(long, default_value_t = 16)]
    pub(crate) block_size: u32,
    /// Share of GPU memory vLLM may use (sizes the KV cache).
    #[arg(long, default_value_t = 0.9)]
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
    pub(crate) timer: RooflineTimer<PerfModel>,
    /// The KV cache sized from GPU memory (`None` with `--num-gpu-blocks-override`).
    pub(crate) kv: Option<KvBlocks>,
    /// The fitted step-time model (`--calibration`), if any.
    pub(crate) calibration: Option<Calibration>,
}

impl EngineArgs {
    /// Loads the model and GPU and builds the engine; `seed` seeds its random choices.
    pub(crate) fn resolve(&self, seed: u64) -> anyhow::Result<Engine> {
        let r = self.deployment.resolve()?;
        let gpu = hardware::resolve(&self.gpu)
            .with_context(|| format!("invalid --gpu {:?}", self.gpu))?;
        let (max_num_seqs, max_num_batched_tokens) = self.limits(&gpu);
        let max_model_len = self.max_model_len(&r);
        let kv = self.kv(
            &r,
            &gpu,
            (max_num_seqs, max_num_batched_tokens, max_model_len),
        )?;
        let config = EngineConfig {
            max_num_seqs,
            max_num_batched_tokens,
            block_size: self.block_size,
            num_gpu_blocks: kv.map_or(self.num_gpu_blocks_override.unwrap_or(0), |k| k.num_blocks),
            enable_prefix_caching: self.enable_prefix_caching || !self.no_enable_prefix_caching,
            max_model_len,
            async_scheduling: self.async_scheduling || !self.no_async_scheduling,
            cpu_overhead_per_step: Duration::from_micros(self.cpu_overhead_per_step_us),
            cudagraph: self.cudagraph(),
            seed,
            ..EngineConfig::default()
        };
        let timer = roofline_timer(&r.spec, &r.deployment, gpu.clone(), Efficiency::default())
            .with_context(|| format!("cannot model {}", r.label))?;
        let calibration = match &self.calibration {
            Some(path) => {
                let c = Calibration::load(path)?;
                c.check(&r.spec, &gpu.name)?;
                Some(c)
            }
            None => None,
        };
        Ok(Engine {
            setup: r,
            gpu,
            config,
            timer,
            kv,
            calibration,
        })
    }

    /// `--max-num-seqs` and `--max-num-batched-tokens`, defaulting as vLLM's API server does
    /// on this GPU. Mirrors `get_batch_defaults` (vllm/engine/arg_utils.py, vLLM 0.32).
    fn limits(&self, gpu: &Gpu) -> (u32, u32) {
        let memory = gpu.memory_bytes;
        let big = memory >= 70 * GIB && !gpu.name.to_lowercase().contains("a100");
        let (seqs, tokens) = match () {
            _ if memory >= 160 * GIB => (1024, 16384),
            _ if big => (1024, 8192),
            _ => (256, 2048),
        };
        (
            self.max_num_seqs.unwrap_or(seqs),
            self.max_num_batched_tokens.unwrap_or(tokens),
        )
    }

    /// `--max-model-len`, else the model's `max_position_embeddings`, else 8192.
    fn max_model_len(&self, r: &Setup) -> u32 {
        let from_model = r.spec.max_position_embeddings;
        let from_model = from_model.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        self.max_model_len.or(from_model).unwrap_or(8192)
    }

    /// The KV cache from GPU memory, unless `--num-gpu-blocks-override` gives it.
    /// `limits` are `max_num_seqs`, `max_num_batched_tokens` and `max_model_len`.
    fn kv(
        &self,
        r: &Setup,
        gpu: &Gpu,
        limits: (u32, u32, u32),
    ) -> anyhow::Result<Option<KvBlocks>> {
        let (seqs, tokens, len) = limits;
        if self.num_gpu_blocks_override.is_some() {
            return Ok(None);
        }
        let sizing = KvSizingConfig {
            gpu_memory_bytes: gpu.memory_bytes,
            gpu_memory_utilization: self.gpu_memory_utilization,
            max_model_len: u64::from(len),
            max_num_seqs: u64::from(seqs),
            max_num_batched_tokens: u64::from(tokens),
            weight_bytes: None,
            activation_reserve_bytes: None,
        };
        let kv = kv_blocks(&r.spec, &r.deployment, &sizing, self.block_size)
            .with_context(|| format!("{} on one {}", r.label, gpu.name))?;
        Ok(Some(kv))
    }

    fn cudagraph(&self) -> CudaGraphConfig {
        if self.enforce_eager {
            CudaGraphConfig::eager()
        } else {
            CudaGraphConfig::default()
        }
    }
}
