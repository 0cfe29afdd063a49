//! Defines [`CalibratedTimer`]: a [`StepTimer`] that prices each step's parts on the roofline
//! and turns them into time with a fitted [`StepTimeModel`].

use std::time::Duration;

use profilemate_model::ScheduledRequest;
use profilemate_model::roofline::{CostModel, StepClock};

use super::features::{Features, StepTimeModel};
use crate::batch::StepBatch;
use crate::step_timer::StepTimer;

/// Step times from a fitted [`StepTimeModel`] over a roofline [`StepClock`] (the clock must be
/// the model and GPU the calibration was fitted with).
#[derive(Debug, Clone)]
pub struct CalibratedTimer<M> {
    clock: StepClock<M>,
    model: StepTimeModel,
    scratch: [Vec<ScheduledRequest>; 3],
}

impl<M: CostModel> CalibratedTimer<M> {
    /// A timer applying `model` to steps priced on `clock`.
    pub fn new(clock: StepClock<M>, model: StepTimeModel) -> Self {
        CalibratedTimer {
            clock,
            model,
            scratch: Default::default(),
        }
    }

    /// The time of `batch` priced on `clock` by `model`, with `scratch` as working space: the
    /// shared body of this timer and of timers that hold their clock elsewhere.
    pub fn time_on(
        clock: &mut StepClock<M>,
        model: &StepTimeModel,
        batch: &StepBatch<'_>,
        scratch: &mut [Vec<ScheduledRequest>; 3],
    ) -> Duration {
        model.step_time(&Features::of_batch(clock, batch, scratch))
    }
}

impl<M: CostModel> StepTimer for CalibratedTimer<M> {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        Self::time_on(&mut self.clock, &self.model, batch, &mut self.scratch)
    }
}
