//! Provides [`assemble`]: a model deployment on a GPU plus vLLM's engine flags (with vLLM's
//! defaults, [`EngineFlags::default`]) → the engine's settings, its roofline step timer and its
//! KV cache in blocks. `sim serve`, `sim run` and the embedded engine of `bench serve` all
//! assemble their engine here.

use std::time::Duration;

use profilemate_model::error::ModelError;
use profilemate_model::hardware::Gpu;
use profilemate_model::kv::{KvLayout, KvSizingConfig};
use profilemate_model::roofline::Efficiency;
use profilemate_model::{Deployment, ModelSpec, PerfModel};

use crate::config::EngineConfig;
use crate::cudagraph::CudaGraphConfig;
use crate::offload::KvOffloadConfig;
use crate::roofline_timer::{KvBlocks, RooflineStepTimer, kv_blocks, roofline_timer};
use crate::spec_decode::SpecDecodeConfig;

const GIB: u64 = 1 << 30;

/// vLLM's engine flags, as `vllm serve` spells them; `None` and [`Default`] are vLLM 0.32's
/// defaults on GPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFlags {
    /// `--max-num-seqs` (`None`: vLLM's default for the GPU, [`batch_defaults`]).
    pub max_num_seqs: Option<u32>,
    /// `--max-num-batched-tokens` (`None`: vLLM's default for the GPU, [`batch_defaults`]).
    pub max_num_batched_tokens: Option<u32>,
    /// `--block-size`: tokens per KV-cache block.
    pub block_size: u32,
    /// `--gpu-memory-utilization`: the share of GPU memory that sizes the KV cache.
    pub gpu_memory_utilization: f64,
    /// `--num-gpu-blocks-override`: KV-cache blocks, instead of sizing them from GPU memory.
    pub num_gpu_blocks_override: Option<u32>,
    /// `--enable-prefix-caching` (vLLM V1's default on).
    pub enable_prefix_caching: bool,
    /// `--enable-chunked-prefill` (vLLM V1's default on); off, a prompt is scheduled whole or
    /// not at all, and the default token budget grows to `max_model_len`.
    pub enable_chunked_prefill: bool,
    /// `--long-prefill-token-threshold`: the most prompt tokens one request is scheduled per
    /// step while others are eligible (0: no cap).
    pub long_prefill_token_threshold: u32,
    /// `--max-model-len` (`None`: the model's `max_position_embeddings`, else 8192).
    pub max_model_len: Option<u32>,
    /// `--async-scheduling` (vLLM 0.32's default on GPUs).
    pub async_scheduling: bool,
    /// `--enforce-eager`: no CUDA graphs, so no padding.
    pub enforce_eager: bool,
    /// CPU time per step on top of the roofline's fixed overhead.
    pub cpu_overhead_per_step: Duration,
    /// `--kv-offloading-size`: the CPU KV buffer in GiB, summed over the TP ranks (`None`: off).
    pub kv_offloading_gib: Option<f64>,
    /// Speculative decoding (`None`: off).
    pub spec_decode: Option<SpecDecodeConfig>,
    /// Seed for the engine's random choices.
    pub seed: u64,
}

impl EngineFlags {
    /// `--block-size`'s default.
    pub const DEFAULT_BLOCK_SIZE: u32 = 16;
    /// `--gpu-memory-utilization`'s default.
    pub const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;
}

impl Default for EngineFlags {
    fn default() -> Self {
        EngineFlags {
            max_num_seqs: None,
            max_num_batched_tokens: None,
            block_size: Self::DEFAULT_BLOCK_SIZE,
            gpu_memory_utilization: Self::DEFAULT_GPU_MEMORY_UTILIZATION,
            num_gpu_blocks_override: None,
            enable_prefix_caching: true,
            enable_chunked_prefill: true,
            long_prefill_token_threshold: 0,
            max_model_len: None,
            async_scheduling: true,
            enforce_eager: false,
            cpu_overhead_per_step: Duration::ZERO,
            kv_offloading_gib: None,
            spec_decode: None,
            seed: 0,
        }
    }
}

/// A model as deployed: what [`assemble`] prices and sizes.
#[derive(Debug, Clone, Copy)]
pub struct ModelDeployment<'a> {
    /// The model's name in messages (preset, Hugging Face id, directory).
    pub label: &'a str,
    /// The architecture.
    pub spec: &'a ModelSpec,
    /// Dtypes and parallel layout.
    pub deployment: &'a Deployment,
}

/// An assembled engine, ready to simulate.
#[derive(Debug)]
pub struct AssembledEngine {
    /// Engine settings.
    pub config: EngineConfig,
    /// The step timer: vLLM's FLOPs and bytes on the GPU's roofline.
    pub timer: RooflineStepTimer<PerfModel>,
    /// The KV cache sized from GPU memory (`None` with `--num-gpu-blocks-override`).
    pub kv: Option<KvBlocks>,
}

/// Why an engine cannot be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssemblyError {
    /// The model cannot be priced on the GPU.
    #[error("cannot model {model}")]
    Timer {
        /// The model's label.
        model: String,
        /// Why.
        #[source]
        source: ModelError,
    },
    /// The KV cache cannot be sized (e.g. the weights do not fit).
    #[error("{model} on one {gpu}")]
    KvCache {
        /// The model's label.
        model: String,
        /// The GPU's name.
        gpu: String,
        /// Why.
        #[source]
        source: ModelError,
    },
    /// The KV layout of the deployment, needed for offloading, cannot be derived.
    #[error(transparent)]
    Layout(ModelError),
    /// `--kv-offloading-size` not a positive number.
    #[error("--kv-offloading-size must be a positive number of GiB, got {0}")]
    OffloadSize(f64),
}

/// `--max-num-seqs` and `--max-num-batched-tokens` as vLLM's API server defaults them on `gpu`:
/// 16384 tokens with 160 GiB or more, 1024 sequences and 8192 tokens with 70 GiB or more except
/// A100s, else 256 and 2048. Mirrors `get_batch_defaults` (vllm/engine/arg_utils.py, vLLM 0.32).
pub fn batch_defaults(gpu: &Gpu) -> (u32, u32) {
    let memory = gpu.memory_bytes;
    let big = memory >= 70 * GIB && !gpu.name.to_lowercase().contains("a100");
    match () {
        _ if memory >= 160 * GIB => (1024, 16384),
        _ if big => (1024, 8192),
        _ => (256, 2048),
    }
}

/// The deployment of one data-parallel rank, the engine [`assemble`] builds: vLLM's DP runs an
/// independent engine core per rank, so a dense model is replicated whole (DP 1 on each rank),
/// while an MoE model keeps DP, its expert layers sharded over DP × TP.
fn rank_deployment(spec: &ModelSpec, deployment: &Deployment) -> Deployment {
    let mut rank = deployment.clone();
    if !matches!(spec.ffn.num_experts, Ok(n) if n > 0) {
        rank.parallel.dp = 1;
    }
    rank
}

/// The engine of one rank of `model` ([`rank_deployment`]) on `gpu` with `flags`: vLLM's batch defaults for the GPU, the KV
/// cache sized from GPU memory (unless overridden), the roofline step timer, and CPU KV
/// offloading and speculative decoding when asked.
pub fn assemble(
    model: ModelDeployment<'_>,
    gpu: &Gpu,
    flags: &EngineFlags,
) -> Result<AssembledEngine, AssemblyError> {
    let rank = rank_deployment(model.spec, model.deployment);
    let model = ModelDeployment {
        deployment: &rank,
        ..model
    };
    let (seqs, tokens) = batch_defaults(gpu);
    let max_num_seqs = flags.max_num_seqs.unwrap_or(seqs);
    let max_model_len = max_model_len(flags, model.spec);
    let max_num_batched_tokens = flags.max_num_batched_tokens.unwrap_or_else(|| {
        // vLLM's `_set_default_max_num_seqs_and_batched_tokens_args`: without chunked
        // prefill a whole prompt must fit the budget; a default never exceeds
        // max_num_seqs × max_model_len.
        let tokens = if flags.enable_chunked_prefill {
            tokens
        } else {
            tokens.max(max_model_len)
        };
        tokens.min(max_num_seqs.saturating_mul(max_model_len))
    });
    let kv = kv(
        model,
        gpu,
        flags,
        (max_num_seqs, max_num_batched_tokens, max_model_len),
    )?;
    let config = EngineConfig {
        max_num_seqs,
        max_num_batched_tokens,
        block_size: flags.block_size,
        num_gpu_blocks: kv.map_or(flags.num_gpu_blocks_override.unwrap_or(0), |k| k.num_blocks),
        enable_prefix_caching: flags.enable_prefix_caching,
        enable_chunked_prefill: flags.enable_chunked_prefill,
        long_prefill_token_threshold: flags.long_prefill_token_threshold,
        max_model_len,
        async_scheduling: flags.async_scheduling,
        cpu_overhead_per_step: flags.cpu_overhead_per_step,
        cudagraph: if flags.enforce_eager {
            CudaGraphConfig::eager()
        } else {
            CudaGraphConfig::default()
        },
        kv_offload: kv_offload(model, flags)?,
        spec_decode: flags.spec_decode.clone(),
        seed: flags.seed,
        ..EngineConfig::default()
    };
    let timer = roofline_timer(
        model.spec,
        model.deployment,
        gpu.clone(),
        Efficiency::default(),
    )
    .map_err(|source| AssemblyError::Timer {
        model: model.label.to_owned(),
        source,
    })?;
    Ok(AssembledEngine { config, timer, kv })
}

/// `--max-model-len`, else the model's `max_position_embeddings`, else 8192.
fn max_model_len(flags: &EngineFlags, spec: &ModelSpec) -> u32 {
    let from_model = spec.max_position_embeddings;
    let from_model = from_model.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    flags.max_model_len.or(from_model).unwrap_or(8192)
}

/// The KV cache from GPU memory, unless `--num-gpu-blocks-override` gives it.
/// `limits` are `max_num_seqs`, `max_num_batched_tokens` and `max_model_len`.
fn kv(
    model: ModelDeployment<'_>,
    gpu: &Gpu,
    flags: &EngineFlags,
    limits: (u32, u32, u32),
) -> Result<Option<KvBlocks>, AssemblyError> {
    let (seqs, tokens, len) = limits;
    if flags.num_gpu_blocks_override.is_some() {
        return Ok(None);
    }
    let sizing = KvSizingConfig {
        gpu_memory_bytes: gpu.memory_bytes,
        gpu_memory_utilization: flags.gpu_memory_utilization,
        max_model_len: u64::from(len),
        max_num_seqs: u64::from(seqs),
        max_num_batched_tokens: u64::from(tokens),
        weight_bytes: None,
        activation_reserve_bytes: None,
    };
    let kv =
        kv_blocks(model.spec, model.deployment, &sizing, flags.block_size).map_err(|source| {
            AssemblyError::KvCache {
                model: model.label.to_owned(),
                gpu: gpu.name.to_string(),
                source,
            }
        })?;
    Ok(Some(kv))
}

/// `--kv-offloading-size` as the CPU offloading connector's settings (vLLM 0.32's
/// `kv_offloading_size`: GiB over all TP ranks, so each worker gets its share).
fn kv_offload(
    model: ModelDeployment<'_>,
    flags: &EngineFlags,
) -> Result<Option<KvOffloadConfig>, AssemblyError> {
    let Some(gib) = flags.kv_offloading_gib else {
        return Ok(None);
    };
    if !(gib.is_finite() && gib > 0.0) {
        return Err(AssemblyError::OffloadSize(gib));
    }
    let layout = KvLayout::per_gpu(model.spec, model.deployment).map_err(AssemblyError::Layout)?;
    let per_block = layout.bytes_per_token() * u64::from(flags.block_size);
    let tp = model.deployment.parallel.tp.max(1);
    let bytes = gib * GIB as f64 / tp as f64;
    Ok(Some(KvOffloadConfig::new(bytes as u64, per_block)))
}

#[cfg(test)]
mod tests {
    use profilemate_model::{Dtype, hardware, presets};

    use super::*;

    fn llama() -> (ModelSpec, Deployment) {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        (spec, Deployment::new(Dtype::Bfloat16))
    }

    #[test]
    fn batch_defaults_follow_vllms_memory_tiers() {
        let gpu = |name: &str| hardware::preset(name).unwrap();
        assert_eq!(batch_defaults(&gpu("h100-sxm")), (1024, 8192));
        assert_eq!(batch_defaults(&gpu("h200")), (1024, 8192));
        assert_eq!(batch_defaults(&gpu("b200")), (1024, 16384));
        assert_eq!(batch_defaults(&gpu("a100-80gb")), (256, 2048));
        assert_eq!(batch_defaults(&gpu("l40s")), (256, 2048));
    }

    #[test]
    fn defaults_size_the_cache_from_gpu_memory_and_flags_override() {
        let (spec, deployment) = llama();
        let model = ModelDeployment {
            label: "llama",
            spec: &spec,
            deployment: &deployment,
        };
        let gpu = hardware::preset("h100-sxm").unwrap();
        let e = assemble(model, &gpu, &EngineFlags::default()).unwrap();
        assert_eq!(
            (e.config.max_num_seqs, e.config.max_num_batched_tokens),
            (1024, 8192)
        );
        let kv = e.kv.unwrap();
        assert_eq!(e.config.num_gpu_blocks, kv.num_blocks);
        assert!(kv.num_blocks > 1000);
        assert!(e.config.kv_offload.is_none());
        let flags = EngineFlags {
            num_gpu_blocks_override: Some(100),
            max_num_seqs: Some(8),
            kv_offloading_gib: Some(1.0),
            ..EngineFlags::default()
        };
        let e = assemble(model, &gpu, &flags).unwrap();
        assert_eq!((e.config.num_gpu_blocks, e.config.max_num_seqs), (100, 8));
        assert!(e.kv.is_none());
        assert!(e.config.kv_offload.is_some());
        let bad = EngineFlags {
            kv_offloading_gib: Some(-1.0),
            ..EngineFlags::default()
        };
        let err = assemble(model, &gpu, &bad).unwrap_err();
        assert!(matches!(err, AssemblyError::OffloadSize(v) if v == -1.0));
    }

    #[test]
    fn without_chunked_prefill_the_default_budget_fits_a_whole_prompt() {
        let (spec, deployment) = llama();
        let model = ModelDeployment {
            label: "llama",
            spec: &spec,
            deployment: &deployment,
        };
        let gpu = hardware::preset("h100-sxm").unwrap();
        let flags = |chunked: bool, len: u32, budget: Option<u32>| EngineFlags {
            enable_chunked_prefill: chunked,
            long_prefill_token_threshold: 256,
            max_model_len: Some(len),
            max_num_batched_tokens: budget,
            num_gpu_blocks_override: Some(1000),
            ..EngineFlags::default()
        };
        let budget = |f: EngineFlags| {
            let e = assemble(model, &gpu, &f).unwrap();
            assert_eq!(e.config.long_prefill_token_threshold, 256);
            (
                e.config.enable_chunked_prefill,
                e.config.max_num_batched_tokens,
            )
        };
        // vLLM's H100 default of 8192, raised to max_model_len when prompts go whole.
        assert_eq!(budget(flags(true, 32_768, None)), (true, 8192));
        assert_eq!(budget(flags(false, 32_768, None)), (false, 32_768));
        assert_eq!(budget(flags(false, 4096, None)), (false, 8192));
        // A budget given is kept; one below max_model_len is refused when the engine checks
        // its settings, as vLLM refuses it.
        assert_eq!(budget(flags(false, 4096, Some(6000))), (false, 6000));
        let e = assemble(model, &gpu, &flags(false, 32_768, Some(8192))).unwrap();
        assert!(e.config.validate().is_err());
    }

    #[test]
    fn a_dense_rank_is_replicated_whole_and_an_moe_rank_keeps_its_expert_shard() {
        use profilemate_model::{StepInput, StepRequest};
        let gpu = hardware::preset("h100-sxm").unwrap();
        // One decode step of 64 requests at 500 tokens of context, on one rank.
        let decode_step = |name: &str, dp: u64| {
            let spec = presets::spec(name).unwrap();
            let mut deployment = Deployment::new(Dtype::Bfloat16);
            deployment.parallel.dp = dp;
            let model = ModelDeployment {
                label: name,
                spec: &spec,
                deployment: &deployment,
            };
            let mut e = assemble(model, &gpu, &EngineFlags::default()).unwrap();
            let cached = [StepRequest {
                num_computed_tokens: 500,
                num_scheduled_tokens: 1,
            }; 64];
            let step = StepInput {
                new_requests: &[],
                cached_requests: &cached,
            };
            e.timer.estimator_mut().step_time(&step, 64)
        };
        // Llama: each DP rank runs all of the model, so it steps as fast as DP 1, no faster.
        assert_eq!(
            decode_step("llama-3.1-8b", 4),
            decode_step("llama-3.1-8b", 1)
        );
        // Qwen3-30B-A3B: its experts are sharded over the ranks, so each rank reads less.
        assert!(decode_step("qwen3-30b-a3b", 4) < decode_step("qwen3-30b-a3b", 1));
    }
}
