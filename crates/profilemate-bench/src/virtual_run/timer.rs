//! Provides [`RooflineTimer`]: the engine's step timer from the model crate's [`StepClock`],
//! with CUDA-graph padding priced.
//!
//! Each step's batch is split into vLLM's `scheduled_new_reqs` / `scheduled_cached_reqs`
//! ([`StepBatch::split_for_model`]), turned into the step's `ExecutionContext` as
//! `get_step_perf_stats_per_gpu` does (vllm/v1/metrics/perf.py, vLLM 0.32), and priced on the
//! GPU's roofline; the tokens the CUDA-graph dispatcher pads on run as one-token decodes.

use std::time::Duration;

use profilemate_model::roofline::{CostModel, StepClock};
use profilemate_model::{ScheduledRequest, StepInput};
use profilemate_sim::{StepBatch, StepTimer};

/// A [`StepTimer`] pricing each step with a [`StepClock`]; allocation-free once warm.
#[derive(Debug, Clone)]
pub struct RooflineTimer<M> {
    clock: StepClock<M>,
    new: Vec<ScheduledRequest>,
    cached: Vec<ScheduledRequest>,
}

impl<M: CostModel> RooflineTimer<M> {
    /// A timer reading step times off `clock`.
    pub fn new(clock: StepClock<M>) -> Self {
        Self {
            clock,
            new: Vec::new(),
            cached: Vec::new(),
        }
    }

    /// The clock.
    pub fn clock(&self) -> &StepClock<M> {
        &self.clock
    }
}

impl<M: CostModel> StepTimer for RooflineTimer<M> {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        batch.split_for_model(&mut self.new, &mut self.cached);
        let step = StepInput {
            new_requests: &self.new,
            cached_requests: &self.cached,
        };
        let dispatch = batch.cudagraph;
        let padding = dispatch
            .padded_tokens
            .saturating_sub(dispatch.unpadded_tokens);
        self.clock.step_time(&step, u64::from(padding))
    }
}

#[cfg(test)]
mod tests {
    use profilemate_model::roofline::{Efficiency, Roofline};
    use profilemate_model::{Deployment, Dtype, PerfModel, hardware, presets};
    use profilemate_sim::{BatchEntry, Dispatch, EntryKind, RequestId, RuntimeMode};

    use super::*;

    fn clock() -> StepClock<PerfModel> {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
        let gpu = hardware::preset("h100-sxm").unwrap();
        StepClock::new(model, Roofline::new(gpu, Efficiency::default()))
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
    fn prices_the_batch_and_its_padding_on_the_clock() {
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
        let cached = [ScheduledRequest {
            num_computed_tokens: 500,
            num_scheduled_tokens: 1,
        }; 5];
        let step = StepInput {
            new_requests: &[],
            cached_requests: &cached,
        };
        let want = clock().step_time(&step, 3);
        let mut timer = RooflineTimer::new(clock());
        assert_eq!(timer.step_time(&batch), want);
        assert!(want > clock().step_time(&step, 0), "padding costs time");
    }
}
