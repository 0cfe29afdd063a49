//! Defines [`SimServeArgs`], the `sim serve` flags (vLLM's `vllm serve` spellings), and
//! resolves them into a [`ServerConfig`]: the model and GPU into a roofline step timer, the KV
//! cache into blocks (`--num-gpu-blocks-override`, else the model crate's KV sizing).

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use profilemate_bench::virtual_run::{kv_blocks, roofline_timer};
use profilemate_model::hardware::{self, Gpu};
use profilemate_model::kv::{KvLayout, KvSizingConfig};
use profilemate_model::roofline::Efficiency;
use profilemate_server::{
    LogConfig, LogTarget, RooflineStepTimer, ServerConfig, StepTiming, Timing,
};
use profilemate_sim::{
    CudaGraphConfig, EngineConfig, FixedTiming, KvOffloadConfig, SpecDecodeConfig,
};

use crate::commands::deployment_args::{DeploymentArgs, Setup};

/// `profilemate sim serve` flags.
#[derive(Debug, Args)]
pub(crate) struct SimServeArgs {
    /// A model preset (`profilemate estimate --list-models`).
    #[arg(long, default_value = "llama-3.1-8b", conflicts_with = "config")]
    pub(crate) model: String,
    /// A Hugging Face `config.json`, or the model directory holding it.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// GPU preset (`profilemate hardware list`) or a JSON file.
    #[arg(long, default_value = "h100-sxm")]
    pub(crate) gpu: String,
    /// Tensor-parallel size.
    #[arg(
        long = "tensor-parallel-size",
        short = 't',
        visible_alias = "tp",
        default_value_t = 1
    )]
    pub(crate) tp: u64,
    /// Model dtype: auto, bfloat16, float16.
    #[arg(long, default_value = "auto")]
    pub(crate) dtype: String,
    /// KV-cache dtype: auto, fp8, …
    #[arg(long, default_value = "auto")]
    pub(crate) kv_cache_dtype: String,
    /// Most requests in the running batch.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_num_seqs: u32,
    /// Token budget per step.
    #[arg(long, default_value_t = 2048)]
    pub(crate) max_num_batched_tokens: u32,
    /// Tokens per KV block.
    #[arg(long, default_value_t = 16)]
    pub(crate) block_size: u32,
    /// Fraction of GPU memory vLLM may use (sizes the KV cache).
    #[arg(long, default_value_t = 0.9)]
    pub(crate) gpu_memory_utilization: f64,
    /// KV blocks, instead of sizing the cache from GPU memory.
    #[arg(long)]
    pub(crate) num_gpu_blocks_override: Option<u32>,
    /// Reuse cached prompt blocks (on by default, as in vLLM V1).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) enable_prefix_caching: bool,
    /// Longest sequence (prompt + output).
    #[arg(long, default_value_t = 8192)]
    pub(crate) max_model_len: u32,
    /// No CUDA graphs.
    #[arg(long)]
    pub(crate) enforce_eager: bool,
    /// Model name clients must use (default: the --model preset or --config path).
    #[arg(long)]
    pub(crate) served_model_name: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    pub(crate) port: u16,
    /// Require `Authorization: Bearer KEY` on /v1 routes.
    #[arg(long, env = "VLLM_API_KEY")]
    pub(crate) api_key: Option<String>,
    /// Virtual time = wall time × this; 0 streams as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) time_scale: f64,
    /// Fixed timing: first token exactly this long after arrival (needs --fixed-itl-ms).
    #[arg(long, requires = "fixed_itl_ms")]
    pub(crate) fixed_ttft_ms: Option<f64>,
    /// Fixed timing: then one token every this many ms (needs --fixed-ttft-ms).
    #[arg(long, requires = "fixed_ttft_ms")]
    pub(crate) fixed_itl_ms: Option<f64>,
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
    /// CPU time added to every step (scheduling, sampling, output processing), in µs.
    #[arg(long, default_value_t = 0)]
    pub(crate) cpu_overhead_per_step_us: u64,
    /// Log one `Iteration(N): …` line per engine step.
    #[arg(long)]
    pub(crate) enable_logging_iteration_details: bool,
    /// Count the `vllm:estimated_*` MFU counters and log the MFU line.
    #[arg(long)]
    pub(crate) enable_mfu_metrics: bool,
    /// Log the CUDA-graph table each interval.
    #[arg(long)]
    pub(crate) cudagraph_metrics: bool,
    /// Seconds between periodic stats lines (vLLM's VLLM_LOG_STATS_INTERVAL).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) log_stats_interval: f64,
    /// Don't write vLLM-format log lines to stderr.
    #[arg(long)]
    pub(crate) disable_log_stats: bool,
}

impl SimServeArgs {
    /// The server configuration these flags describe.
    pub(crate) fn to_config(&self) -> anyhow::Result<ServerConfig> {
        let resolved = self.deployment().resolve()?;
        let gpu = hardware::resolve(&self.gpu)?;
        let engine = self.engine_config(&resolved, &gpu)?;
        let name = self
            .served_model_name
            .clone()
            .unwrap_or(resolved.label.clone());
        let mut config = ServerConfig::new(name);
        config.timing = self.timing(&resolved, gpu)?;
        config.engine = engine;
        config.time_scale = self.time_scale;
        config.api_key = self.api_key.clone();
        config.logging = self.logging()?;
        config.validate()?;
        Ok(config)
    }

    fn deployment(&self) -> DeploymentArgs {
        DeploymentArgs {
            model: self.config.is_none().then(|| self.model.clone()),
            config: self.config.clone(),
            dtype: self.dtype.clone(),
            kv_cache_dtype: self.kv_cache_dtype.clone(),
            tp: self.tp,
            pp: 1,
            dp: 1,
            enable_expert_parallel: false,
            disable_sliding_window: false,
        }
    }

    fn engine_config(&self, r: &Setup, gpu: &Gpu) -> anyhow::Result<EngineConfig> {
        let cudagraph = if self.enforce_eager {
            CudaGraphConfig::eager()
        } else {
            CudaGraphConfig::default()
        };
        Ok(EngineConfig {
            max_num_seqs: self.max_num_seqs,
            max_num_batched_tokens: self.max_num_batched_tokens,
            block_size: self.block_size,
            num_gpu_blocks: self.num_gpu_blocks(r, gpu)?,
            enable_prefix_caching: self.enable_prefix_caching,
            max_model_len: self.max_model_len,
            cpu_overhead_per_step: Duration::from_micros(self.cpu_overhead_per_step_us),
            cudagraph,
            kv_offload: self.kv_offload(r)?,
            spec_decode: (self.num_speculative_tokens > 0).then_some(SpecDecodeConfig {
                num_speculative_tokens: self.num_speculative_tokens,
                acceptance_probability: self.spec_acceptance_rate,
                num_lookahead_tokens: 0,
            }),
            ..EngineConfig::default()
        })
    }

    /// `--num-gpu-blocks-override`, else the blocks that fit in one GPU's KV budget
    /// (`kv_blocks`, shared with `sim run`).
    fn num_gpu_blocks(&self, r: &Setup, gpu: &Gpu) -> anyhow::Result<u32> {
        if let Some(n) = self.num_gpu_blocks_override {
            return Ok(n);
        }
        let sizing = KvSizingConfig {
            gpu_memory_bytes: gpu.memory_bytes,
            gpu_memory_utilization: self.gpu_memory_utilization,
            max_model_len: u64::from(self.max_model_len),
            max_num_seqs: u64::from(self.max_num_seqs),
            max_num_batched_tokens: u64::from(self.max_num_batched_tokens),
            weight_bytes: None,
            activation_reserve_bytes: None,
        };
        let kv = kv_blocks(&r.spec, &r.deployment, &sizing, self.block_size)
            .context("cannot size the KV cache")?;
        Ok(kv.num_blocks)
    }

    /// `--kv-offloading-size` as the CPU offloading connector's settings (vLLM 0.32's
    /// `kv_offloading_size`: GiB over all TP ranks, so each worker gets its share).
    fn kv_offload(&self, r: &Setup) -> anyhow::Result<Option<KvOffloadConfig>> {
        let Some(gib) = self.kv_offloading_size else {
            return Ok(None);
        };
        if !(gib.is_finite() && gib > 0.0) {
            anyhow::bail!("--kv-offloading-size must be a positive number of GiB, got {gib}");
        }
        let layout = KvLayout::per_gpu(&r.spec, &r.deployment)?;
        let per_block = layout.bytes_per_token() * u64::from(self.block_size);
        let bytes = gib * (1_u64 << 30) as f64 / self.tp.max(1) as f64;
        Ok(Some(KvOffloadConfig::new(bytes as u64, per_block)))
    }

    fn timing(&self, r: &Setup, gpu: Gpu) -> anyhow::Result<Timing> {
        if let (Some(ttft), Some(itl)) = (self.fixed_ttft_ms, self.fixed_itl_ms) {
            let ms = |v: f64, flag: &str| {
                Duration::try_from_secs_f64(v / 1e3)
                    .with_context(|| format!("{flag} must be a non-negative number of ms, got {v}"))
            };
            let ttft = ms(ttft, "--fixed-ttft-ms")?;
            let itl = ms(itl, "--fixed-itl-ms")?;
            return Ok(Timing::Fixed(FixedTiming { ttft, itl }));
        }
        let timer = roofline_timer(&r.spec, &r.deployment, gpu, Efficiency::default())
            .with_context(|| format!("cannot model {}", r.label))?;
        let timer = RooflineStepTimer::new(timer.clock().clone());
        Ok(Timing::Engine(StepTiming::Roofline(Box::new(timer))))
    }

    fn logging(&self) -> anyhow::Result<LogConfig> {
        let interval = Duration::try_from_secs_f64(self.log_stats_interval)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| {
                format!(
                    "--log-stats-interval must be > 0 s, got {}",
                    self.log_stats_interval
                )
            })?;
        let target =
            (!self.disable_log_stats).then(|| LogTarget::new(BufWriter::new(std::io::stderr())));
        Ok(LogConfig {
            target,
            stats_interval: interval,
            iteration_details: self.enable_logging_iteration_details,
            mfu_metrics: self.enable_mfu_metrics,
            cudagraph_metrics: self.cudagraph_metrics,
            ..LogConfig::default()
        })
    }
}
