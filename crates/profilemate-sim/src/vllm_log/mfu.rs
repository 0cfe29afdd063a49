//! Provides [`MfuLog`], the MFU line's accumulator shared by the step timer that counts each
//! step's FLOPs and bytes and the log that writes the line, and [`MfuLogStepTimer`], the roofline step
//! timer that feeds it.
//!
//! The step's `PerfStats` are computed as `get_step_perf_stats_per_gpu` does
//! (vllm/v1/metrics/perf.py, vLLM 0.32), on the unpadded batch as vLLM counts it; the line is
//! `PerfMetricsLogging.log`'s.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use profilemate_model::logging::MfuAccumulator;
use profilemate_model::{ExecutionContext, PerfModel, PerfStats, StepRequest};

use crate::batch::StepBatch;
use crate::calibrate::{CalibratedTimer, StepTimeModel};
use crate::roofline_timer::RooflineStepTimer;
use crate::step_timer::StepTimer;

/// The FLOPs and bytes counted since the last MFU line (a shared handle: clones count into
/// the same interval).
#[derive(Debug, Clone, Default)]
pub struct MfuLog(Arc<Mutex<MfuAccumulator>>);

impl MfuLog {
    /// An empty interval.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one step.
    pub fn observe(&self, stats: &PerfStats) {
        self.lock().observe(stats);
    }

    /// Engine `engine`'s MFU line for the interval `elapsed`, if anything was counted; starts a
    /// new interval.
    pub fn log_line(&self, engine: u32, elapsed: Duration) -> Option<String> {
        let prefix = format!("Engine {engine:03}: ");
        let lines = self.lock().log(&prefix, elapsed)?;
        lines.into_iter().next()
    }

    fn lock(&self) -> MutexGuard<'_, MfuAccumulator> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A [`RooflineStepTimer`] that also counts each step into an [`MfuLog`] when one is set.
#[derive(Debug, Clone)]
pub struct MfuLogStepTimer {
    timer: RooflineStepTimer<PerfModel>,
    mfu: Option<(MfuLog, ExecutionContext)>,
    calibration: Option<(StepTimeModel, [Vec<StepRequest>; 3])>,
}

impl MfuLogStepTimer {
    /// Prices steps with `timer`, counting them into `mfu` if given.
    pub fn new(timer: RooflineStepTimer<PerfModel>, mfu: Option<MfuLog>) -> Self {
        let mfu = mfu.map(|log| (log, ExecutionContext::new()));
        MfuLogStepTimer {
            timer,
            mfu,
            calibration: None,
        }
    }

    /// Times steps with a fitted `model` (`sim calibrate`) over the roofline's prices instead
    /// of the bare roofline; MFU is still counted from the roofline's FLOPs and bytes.
    pub fn with_calibration(mut self, model: StepTimeModel) -> Self {
        self.calibration = Some((model, Default::default()));
        self
    }
}

impl StepTimer for MfuLogStepTimer {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        let mfu = &mut self.mfu;
        let roofline = self.timer.step_time_observed(batch, |model, input| {
            if let Some((log, ctx)) = mfu {
                log.observe(&model.step_perf_stats(input, ctx, false));
            }
        });
        match &mut self.calibration {
            Some((model, scratch)) => {
                CalibratedTimer::time_on(self.timer.estimator_mut(), model, batch, scratch)
            }
            None => roofline,
        }
    }
}
