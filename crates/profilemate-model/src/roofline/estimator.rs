//! Provides [`StepTimeEstimator`]: the time of a scheduler step from a cost model on a
//! roofline, which the simulator's step timer (`profilemate_sim::RooflineStepTimer`) reads.

use std::time::Duration;

use crate::context::ExecutionContext;
use crate::roofline::{CostModel, Roofline};
use crate::step::StepInput;

/// Estimates one scheduler step's time: the step's batch (plus CUDA-graph padding) through a cost model
/// on a roofline. Reuses its scratch context, so a warm estimator never allocates.
#[derive(Debug, Clone)]
pub struct StepTimeEstimator<M> {
    model: M,
    roofline: Roofline,
    ctx: ExecutionContext,
}

impl<M: CostModel> StepTimeEstimator<M> {
    /// An estimator for `model` on `roofline`.
    pub fn new(model: M, roofline: Roofline) -> Self {
        Self {
            model,
            roofline,
            ctx: ExecutionContext::new(),
        }
    }

    /// The roofline.
    pub fn roofline(&self) -> &Roofline {
        &self.roofline
    }

    /// The cost model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Predicted time of `step`. `padding_tokens` (CUDA-graph padding up to the capture size)
    /// run through the model as one-token decodes at context 1: they cost weight reads and
    /// matmul work but attend to nothing.
    pub fn step_time(&mut self, step: &StepInput<'_>, padding_tokens: u64) -> Duration {
        step.fill_context(&mut self.ctx);
        for _ in 0..padding_tokens {
            self.ctx.add(1, 1, false);
        }
        self.roofline.step_time(&self.model, &self.ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::Deployment;
    use crate::dtype::Dtype;
    use crate::hardware;
    use crate::model::PerfModel;
    use crate::presets;
    use crate::roofline::Efficiency;
    use crate::step::StepRequest;

    fn estimator() -> StepTimeEstimator<PerfModel> {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
        StepTimeEstimator::new(
            model,
            Roofline::new(hardware::preset("h100-sxm").unwrap(), Efficiency::ideal()),
        )
    }

    #[test]
    fn matches_the_roofline_on_the_same_context() {
        let mut estimator = estimator();
        let cached = [StepRequest {
            num_computed_tokens: 4095,
            num_scheduled_tokens: 1,
        }; 32];
        let step = StepInput {
            new_requests: &[],
            cached_requests: &cached,
        };
        let mut ctx = ExecutionContext::new();
        step.fill_context(&mut ctx);
        let expected = estimator.roofline().step_time(estimator.model(), &ctx);
        assert_eq!(estimator.step_time(&step, 0), expected);
        assert!(expected > Duration::ZERO);
    }

    #[test]
    fn padding_costs_time_and_an_empty_step_costs_nothing() {
        let mut estimator = estimator();
        let cached = [StepRequest {
            num_computed_tokens: 99,
            num_scheduled_tokens: 1,
        }; 5];
        let step = StepInput {
            new_requests: &[],
            cached_requests: &cached,
        };
        let unpadded = estimator.step_time(&step, 0);
        assert!(estimator.step_time(&step, 3) > unpadded, "5 → 8 tokens");
        assert_eq!(
            estimator.step_time(&StepInput::default(), 0),
            Duration::ZERO
        );
    }
}
