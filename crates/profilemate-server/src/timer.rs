//! Provides [`MfuMetricsStepTimer`], the [`StepTimer`] backed by the model crate's roofline
//! ([`RooflineStepTimer`], CUDA-graph padding priced), which also feeds the MFU counters and log line
//! when `--enable-mfu-metrics` is on.
//!
//! The MFU path computes the step's `PerfStats` as `get_step_perf_stats_per_gpu` does
//! (vllm/v1/metrics/perf.py, vLLM 0.32), on the unpadded batch as vLLM counts it.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use profilemate_metrics::mfu::MfuExporter;
use profilemate_model::{ExecutionContext, PerfModel, StepRequest};
use profilemate_sim::calibrate::{CalibratedTimer, StepTimeModel};
use profilemate_sim::vllm_log::MfuLog;
use profilemate_sim::{AffineStepTimer, RooflineStepTimer, StepBatch, StepTimer};

/// Step time = the roofline's time of the (padded) batch on one GPU of the deployment
/// ([`RooflineStepTimer`]), with the step's FLOPs and bytes also fed to the MFU counters when on.
#[derive(Debug, Clone)]
pub struct MfuMetricsStepTimer {
    timer: RooflineStepTimer<PerfModel>,
    mfu: Option<(MfuTap, ExecutionContext)>,
    calibration: Option<(StepTimeModel, [Vec<StepRequest>; 3])>,
}

impl MfuMetricsStepTimer {
    /// Prices steps with `timer` (a model on a GPU's roofline).
    pub fn new(timer: RooflineStepTimer<PerfModel>) -> Self {
        MfuMetricsStepTimer {
            timer,
            mfu: None,
            calibration: None,
        }
    }

    /// Times steps with a fitted `model` (`sim calibrate`) over the roofline's prices instead of
    /// the bare roofline; MFU is still counted from the roofline's FLOPs and bytes.
    pub fn with_calibration(mut self, model: StepTimeModel) -> Self {
        self.calibration = Some((model, Default::default()));
        self
    }

    /// Whether steps are timed by a fitted model.
    pub fn is_calibrated(&self) -> bool {
        self.calibration.is_some()
    }

    /// Also counts each step's FLOPs and bytes into `tap`.
    pub(crate) fn set_mfu(&mut self, tap: MfuTap) {
        self.mfu = Some((tap, ExecutionContext::new()));
    }
}

impl StepTimer for MfuMetricsStepTimer {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        let mfu = &mut self.mfu;
        let roofline = self.timer.step_time_observed(batch, |model, input| {
            if let Some((tap, ctx)) = mfu {
                tap.observe(&model.step_perf_stats(input, ctx, false));
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

/// Where step FLOPs and bytes go: the Prometheus counters and the MFU log line.
#[derive(Debug, Clone)]
pub(crate) struct MfuTap {
    exporter: MfuExporter,
    log: MfuLog,
    /// The data-parallel engine counted (the counters' `engine` label).
    engine: usize,
}

impl MfuTap {
    /// Engine 0's tap.
    pub(crate) fn new(exporter: MfuExporter) -> Self {
        MfuTap {
            exporter,
            log: MfuLog::new(),
            engine: 0,
        }
    }

    /// A tap for data-parallel engine `engine`: the same counters under its label, and its
    /// own MFU log line.
    pub(crate) fn for_engine(&self, engine: usize) -> Self {
        MfuTap {
            exporter: self.exporter.clone(),
            log: MfuLog::new(),
            engine,
        }
    }

    fn observe(&self, stats: &profilemate_model::PerfStats) {
        let _ = self.exporter.observe(stats, self.engine);
        self.log.observe(stats);
    }

    /// The MFU line's accumulator, for the log.
    pub(crate) fn log(&self) -> MfuLog {
        self.log.clone()
    }
}

/// The model time of one engine step: the roofline or a linear fit.
#[derive(Debug, Clone)]
pub enum EngineStepTimer {
    /// The model crate's roofline on a GPU preset.
    Roofline(Box<MfuMetricsStepTimer>),
    /// A linear fit (tests, calibrated stand-ins).
    Affine(AffineStepTimer),
    /// Any other [`StepTimer`]: a measured table, or a faulty timer that tests use to check
    /// that a failing engine step fails its requests, not the server.
    Custom(CustomStepTimer),
}

/// A caller's [`StepTimer`], shared so [`EngineStepTimer`] stays `Clone` (clones price steps with
/// the same timer).
#[derive(Clone)]
pub struct CustomStepTimer(Arc<Mutex<dyn StepTimer + Send>>);

impl CustomStepTimer {
    /// Wraps `timer` (a closure `|batch: &StepBatch<'_>| -> Duration` is a timer too).
    pub fn new(timer: impl StepTimer + Send + 'static) -> Self {
        CustomStepTimer(Arc::new(Mutex::new(timer)))
    }
}

impl fmt::Debug for CustomStepTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomStepTimer")
    }
}

impl StepTimer for CustomStepTimer {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        let mut timer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        timer.step_time(batch)
    }
}

impl StepTimer for EngineStepTimer {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        match self {
            EngineStepTimer::Roofline(t) => t.step_time(batch),
            EngineStepTimer::Affine(t) => t.step_time(batch),
            EngineStepTimer::Custom(t) => t.step_time(batch),
        }
    }
}
