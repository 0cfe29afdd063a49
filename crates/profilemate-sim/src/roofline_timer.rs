//! Provides the link from a model deployed on a GPU to the engine: [`RooflineStepTimer`], the step
//! timer from the model crate's [`StepTimeEstimator`] (CUDA-graph padding priced), [`roofline_timer`]
//! to build it for a deployment, and [`kv_blocks`], the KV cache of one GPU in blocks.
//!
//! Each step's batch is split into vLLM's `scheduled_new_reqs` / `scheduled_cached_reqs`
//! ([`StepBatch::split_for_model`]), turned into the step's `ExecutionContext` as
//! `get_step_perf_stats_per_gpu` does (vllm/v1/metrics/perf.py, vLLM 0.32), and priced on the
//! GPU's roofline; the tokens the CUDA-graph dispatcher pads on run as one-token decodes.

use std::time::Duration;

use profilemate_model::comm::Collectives;
use profilemate_model::error::ModelError;
use profilemate_model::hardware::Gpu;
use profilemate_model::kv::{DoesNotFit, KvCapacity, KvLayout, KvSizingConfig};
use profilemate_model::roofline::{
    CostModel, Efficiency, Roofline, StepTimeEstimator, uses_fp8_matmuls,
};
use profilemate_model::{Deployment, ModelSpec, PerfModel, StepInput, StepRequest};

use crate::batch::StepBatch;
use crate::step_timer::StepTimer;

/// A [`StepTimer`] pricing each step with a [`StepTimeEstimator`]; allocation-free once warm.
#[derive(Debug, Clone)]
pub struct RooflineStepTimer<M> {
    estimator: StepTimeEstimator<M>,
    new: Vec<StepRequest>,
    cached: Vec<StepRequest>,
}

impl<M: CostModel> RooflineStepTimer<M> {
    /// A timer reading step times off `estimator`.
    pub fn new(estimator: StepTimeEstimator<M>) -> Self {
        Self {
            estimator,
            new: Vec::new(),
            cached: Vec::new(),
        }
    }

    /// The estimator.
    pub fn estimator(&self) -> &StepTimeEstimator<M> {
        &self.estimator
    }

    /// The estimator, mutably: to price other inputs on it (a calibrated model's parts).
    pub fn estimator_mut(&mut self) -> &mut StepTimeEstimator<M> {
        &mut self.estimator
    }
}

impl<M: CostModel> RooflineStepTimer<M> {
    /// Prices `batch`, first showing its vLLM step input (unpadded, as vLLM's MFU metrics count
    /// it) to `observe`, e.g. to feed MFU counters from the same split.
    pub fn step_time_observed(
        &mut self,
        batch: &StepBatch<'_>,
        observe: impl FnOnce(&M, &StepInput<'_>),
    ) -> Duration {
        batch.split_for_model(&mut self.new, &mut self.cached);
        let step = StepInput {
            new_requests: &self.new,
            cached_requests: &self.cached,
        };
        observe(self.estimator.model(), &step);
        let dispatch = batch.cudagraph;
        let padding = dispatch
            .padded_tokens
            .saturating_sub(dispatch.unpadded_tokens);
        self.estimator.step_time(&step, u64::from(padding))
    }
}

impl<M: CostModel> StepTimer for RooflineStepTimer<M> {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        self.step_time_observed(batch, |_, _| {})
    }
}

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
) -> Result<RooflineStepTimer<PerfModel>, ModelError> {
    efficiency.validate()?;
    let model = PerfModel::vllm_exact(spec, deployment)?;
    let roofline = Roofline::new(gpu, efficiency)
        .with_fp8_compute(uses_fp8_matmuls(spec.quantization.as_deref()))
        .with_collectives(Collectives::from_spec(spec, deployment));
    Ok(RooflineStepTimer::new(StepTimeEstimator::new(
        model, roofline,
    )))
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
    // Two blocks at least: one is vLLM's null block.
    DoesNotFit::check(spec, deployment, sizing, &capacity, 2 * block_bytes)?;
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
    use crate::batch::{BatchEntry, EntryKind};
    use crate::records::RequestId;
    use profilemate_model::cudagraph::{Dispatch, RuntimeMode};

    fn estimator() -> StepTimeEstimator<PerfModel> {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
        let gpu = hardware::preset("h100-sxm").unwrap();
        StepTimeEstimator::new(model, Roofline::new(gpu, Efficiency::default()))
    }

    fn decode(request: u32) -> BatchEntry {
        BatchEntry {
            request: RequestId(request),
            num_computed_tokens: 500,
            num_scheduled_tokens: 1,
            num_spec_tokens: 0,
            num_cached_tokens: 0,
            kind: EntryKind::Running,
            is_context: false,
        }
    }

    #[test]
    fn prices_the_batch_and_its_padding_on_the_estimator() {
        let entries: Vec<BatchEntry> = (0..5).map(decode).collect();
        let batch = StepBatch {
            entries: &entries,
            num_scheduled_tokens: 5,
            cudagraph: Dispatch {
                mode: RuntimeMode::Full,
                unpadded_tokens: 5,
                padded_tokens: 8,
            },
        };
        let cached = [StepRequest {
            num_computed_tokens: 500,
            num_scheduled_tokens: 1,
        }; 5];
        let step = StepInput {
            new_requests: &[],
            cached_requests: &cached,
        };
        let want = estimator().step_time(&step, 3);
        let mut timer = RooflineStepTimer::new(estimator());
        assert_eq!(timer.step_time(&batch), want);
        assert!(want > estimator().step_time(&step, 0), "padding costs time");
    }

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
