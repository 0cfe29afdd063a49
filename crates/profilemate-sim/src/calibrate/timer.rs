//! Defines [`CalibratedTimer`]: a [`StepTimer`] that prices each step's parts on the roofline
//! and turns them into time with a fitted [`StepTimeModel`].

use std::time::Duration;

use profilemate_model::StepRequest;
use profilemate_model::roofline::{CostModel, StepTimeEstimator};

use super::features::{Features, StepTimeModel};
use crate::batch::StepBatch;
use crate::step_timer::StepTimer;

/// Step times from a fitted [`StepTimeModel`] over a roofline [`StepTimeEstimator`] (the clock must be
/// the model and GPU the calibration was fitted with).
#[derive(Debug, Clone)]
pub struct CalibratedTimer<M> {
    clock: StepTimeEstimator<M>,
    model: StepTimeModel,
    scratch: [Vec<StepRequest>; 3],
}

impl<M: CostModel> CalibratedTimer<M> {
    /// A timer applying `model` to steps priced on `clock`.
    pub fn new(clock: StepTimeEstimator<M>, model: StepTimeModel) -> Self {
        CalibratedTimer {
            clock,
            model,
            scratch: Default::default(),
        }
    }

    /// The time of `batch` priced on `clock` by `model`, with `scratch` as working space: the
    /// shared body of this timer and of timers that hold their clock elsewhere.
    pub fn time_on(
        clock: &mut StepTimeEstimator<M>,
        model: &StepTimeModel,
        batch: &StepBatch<'_>,
        scratch: &mut [Vec<StepRequest>; 3],
    ) -> Duration {
        model.step_time(&Features::of_batch(clock, batch, scratch))
    }
}

impl<M: CostModel> StepTimer for CalibratedTimer<M> {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        Self::time_on(&mut self.clock, &self.model, batch, &mut self.scratch)
    }
}

#[cfg(test)]
mod tests {
    use profilemate_model::cudagraph::{Dispatch, RuntimeMode};
    use profilemate_model::roofline::{Efficiency, Roofline};
    use profilemate_model::{Deployment, Dtype, PerfModel, hardware, presets};

    use super::*;
    use crate::batch::{BatchEntry, EntryKind};
    use crate::records::RequestId;

    fn clock() -> StepTimeEstimator<PerfModel> {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
        let gpu = hardware::preset("h100-sxm").unwrap();
        StepTimeEstimator::new(model, Roofline::new(gpu, Efficiency::default()))
    }

    fn entry(request: u32, computed: u32, scheduled: u32, is_context: bool) -> BatchEntry {
        BatchEntry {
            request: RequestId(request),
            num_computed_tokens: computed,
            num_scheduled_tokens: scheduled,
            num_spec_tokens: 0,
            num_cached_tokens: 0,
            kind: if is_context {
                EntryKind::New
            } else {
                EntryKind::Running
            },
            is_context,
        }
    }

    #[test]
    fn times_a_mixed_step_with_the_fitted_model() {
        let entries = [
            entry(0, 0, 256, true),
            entry(1, 999, 1, false),
            entry(2, 1999, 1, false),
        ];
        let batch = StepBatch {
            entries: &entries,
            num_scheduled_tokens: 258,
            cudagraph: Dispatch {
                mode: RuntimeMode::None,
                unpadded_tokens: 258,
                padded_tokens: 258,
            },
        };
        let model = StepTimeModel {
            coefficients: [1.0, 2.0, 0.0, 3.0, 0.5, 0.25],
            outside_ms: 2.0,
        };
        let mut c = clock();
        let mut tmp = Vec::new();
        let prefill = Features::price(
            &mut c,
            &[StepRequest {
                num_computed_tokens: 0,
                num_scheduled_tokens: 256,
            }],
            &[],
            &mut tmp,
        );
        let mut timer = CalibratedTimer::new(clock(), model);
        let got = timer.step_time(&batch).as_secs_f64() * 1000.0;
        // Fixed 1 + 2 × prefill + 3 × decode + 0.5 × 2 tokens + 0.25 × 3k context + 2 outside.
        let decode_min = 1.0 + 2.0 * prefill.prefill_roofline_ms + 1.0 + 0.75 + 2.0;
        assert!(got > decode_min, "{got} vs {decode_min}");
        let features = Features::of_batch(&mut c, &batch, &mut Default::default());
        assert_eq!(features.decode_context_ktokens, 3.0);
        assert_eq!(features.generation_tokens, 2.0);
        assert!((got - model.step_time(&features).as_secs_f64() * 1000.0).abs() < 1e-6);
    }
}
