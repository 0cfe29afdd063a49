//! Provides the link from a model deployed on a GPU to the simulated engine: the roofline step
//! timer ([`roofline_timer`]) and the KV cache in blocks ([`kv_blocks`]).

use profilemate_model::comm::Collectives;
use profilemate_model::error::ModelError;
use profilemate_model::hardware::Gpu;
use profilemate_model::kv::{KvCapacity, KvLayout, KvSizingConfig};
use profilemate_model::roofline::{Efficiency, Roofline, StepClock, uses_fp8_matmuls};
use profilemate_model::{Deployment, ModelSpec, PerfModel};

use crate::virtual_run::RooflineTimer;

/// The step timer of `spec` deployed as `deployment` on `gpu`: vLLM's exact FLOPs and bytes
/// (`PerfModel::vllm_exact`) on the GPU's roofline, FP8 matmuls for W8A8 checkpoints, TP/EP
/// collectives over the interconnect.
///
/// `efficiency.step_overhead` is part of every step; give the engine's per-step CPU overhead
/// there or in the engine config, not both.
pub fn roofline_timer(
    spec: &ModelSpec,
    deployment: &Deployment,
    gpu: Gpu,
    efficiency: Efficiency,
) -> Result<RooflineTimer<PerfModel>, ModelError> {
    efficiency.validate()?;
    let model = PerfModel::vllm_exact(spec, deployment)?;
    let roofline = Roofline::new(gpu, efficiency)
        .with_fp8_compute(uses_fp8_matmuls(spec.quantization.as_deref()))
        .with_collectives(Collectives::from_spec(spec, deployment));
    Ok(RooflineTimer::new(StepClock::new(model, roofline)))
}

/// The KV cache of one GPU of a deployment, in engine blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvBlocks {
    /// The memory budget behind it.
    pub capacity: KvCapacity,
    /// Blocks of `block_size` tokens (vLLM's `num_gpu_blocks`, the null block included).
    pub num_blocks: u32,
}

/// How many `block_size`-token blocks fit in the KV budget of one GPU: GPU memory ×
/// utilization − weights − activation reserve, over the per-GPU bytes of a block.
///
/// Mirrors `get_num_blocks` (vllm/v1/core/kv_cache_utils.py, vLLM 0.32): `available memory //
/// page size // layers`; every layer counts as full attention.
pub fn kv_blocks(
    spec: &ModelSpec,
    deployment: &Deployment,
    sizing: &KvSizingConfig,
    block_size: u32,
) -> Result<KvBlocks, ModelError> {
    let layout = KvLayout::per_gpu(spec, deployment)?;
    let capacity = KvCapacity::compute(spec, deployment, &layout, sizing)?;
    let block_bytes = layout.bytes_per_token() * u64::from(block_size.max(1));
    let blocks = capacity.kv_bytes / block_bytes.max(1);
    Ok(KvBlocks {
        capacity,
        num_blocks: u32::try_from(blocks).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use profilemate_model::{Dtype, hardware, presets};

    use super::*;

    #[test]
    fn blocks_are_the_kv_budget_over_the_block_bytes() {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let d = Deployment::new(Dtype::Bfloat16);
        let sizing = KvSizingConfig {
            gpu_memory_bytes: 80 << 30,
            gpu_memory_utilization: 0.9,
            max_model_len: 8192,
            max_num_seqs: 256,
            max_num_batched_tokens: 8192,
            weight_bytes: Some(16 << 30),
            activation_reserve_bytes: Some(4 << 30),
        };
        let kv = kv_blocks(&spec, &d, &sizing, 16).unwrap();
        // 72 − 16 − 4 = 52 GiB over 16 tokens × 32 layers × 2 × 8 heads × 128 × 2 bytes.
        let budget = (80u64 << 30) as f64 * 0.9;
        let kv_bytes = budget as u64 - (20 << 30);
        assert_eq!(kv.num_blocks as u64, kv_bytes / (16 * 32 * 2 * 8 * 128 * 2));
        assert_eq!(kv.capacity.kv_bytes, kv_bytes);
    }

    #[test]
    fn the_timer_rejects_impossible_efficiencies() {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let gpu = hardware::preset("h100-sxm").unwrap();
        let bad = Efficiency {
            memory: 1.5,
            ..Efficiency::default()
        };
        let d = Deployment::new(Dtype::Bfloat16);
        assert!(roofline_timer(&spec, &d, gpu, bad).is_err());
    }
}
