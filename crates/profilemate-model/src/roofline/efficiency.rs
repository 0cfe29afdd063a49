//! Defines [`Efficiency`]: the named factors between datasheet peaks and what a real step
//! achieves.

use std::time::Duration;

/// Achievable fractions of the peaks, and fixed per-step and per-collective costs.
///
/// The defaults are round figures for well-shaped work on a current GPU, not measurements:
/// large BF16 GEMMs reach 70–80 % of the dense peak, streaming kernels 80–90 % of HBM
/// bandwidth, NCCL ring collectives about 75 % of one-direction link bandwidth. Calibrate them
/// against a profile (`--compute-efficiency` and friends on the CLI).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Efficiency {
    /// Achieved / peak FLOP/s.
    pub compute: f64,
    /// Achieved / peak device-memory bandwidth.
    pub memory: f64,
    /// Achieved / peak one-direction interconnect bandwidth.
    pub interconnect: f64,
    /// Fixed time of every step: scheduling, input preparation, kernel launches, sampling.
    pub step_overhead: Duration,
    /// Fixed latency of one collective call.
    pub collective_latency: Duration,
}

impl Default for Efficiency {
    fn default() -> Self {
        Self {
            compute: 0.75,
            memory: 0.85,
            interconnect: 0.75,
            step_overhead: Duration::from_micros(500),
            collective_latency: Duration::from_micros(10),
        }
    }
}

impl Efficiency {
    /// Peaks with no losses and no fixed costs (the pure roofline).
    pub fn ideal() -> Self {
        Self {
            compute: 1.0,
            memory: 1.0,
            interconnect: 1.0,
            step_overhead: Duration::ZERO,
            collective_latency: Duration::ZERO,
        }
    }

    /// Checks every fraction is in `(0, 1]`, naming the first that is not.
    pub fn validate(&self) -> Result<(), crate::error::ModelError> {
        for (setting, value) in [
            ("compute-efficiency", self.compute),
            ("memory-efficiency", self.memory),
            ("interconnect-efficiency", self.interconnect),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(crate::error::ModelError::InvalidSetting {
                    setting,
                    reason: format!("must be in (0, 1], got {value}"),
                });
            }
        }
        Ok(())
    }
}
