//! Defines [`StepTimer`], the seam through which a step's model time enters the engine, and
//! two simple timers: constant and affine.
//!
//! The roofline timer lives in the model crate; these built-ins keep the engine testable
//! without it and serve as calibrated stand-ins (an affine fit of measured step times).

use std::time::Duration;

use crate::batch::StepBatch;

/// Gives the model (GPU) time of one engine step.
///
/// The engine adds [`EngineConfig::cpu_overhead_per_step`](crate::EngineConfig) on top.
/// Timers may keep state (caches, counters), hence `&mut self`.
pub trait StepTimer {
    /// Model time of `batch`.
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration;
}

impl<F: FnMut(&StepBatch<'_>) -> Duration> StepTimer for F {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        self(batch)
    }
}

/// Every step takes the same time, whatever the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstantStepTimer(pub Duration);

impl StepTimer for ConstantStepTimer {
    fn step_time(&mut self, _batch: &StepBatch<'_>) -> Duration {
        self.0
    }
}

/// `fixed + per_token × padded tokens + per_context_token × Σ context`: a linear cost for
/// the weights-and-activations part and one for attention over the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AffineStepTimer {
    /// Cost of any step (kernel launches, weight reads of a memory-bound decode).
    pub fixed: Duration,
    /// Cost per processed token, padding included.
    pub per_token: Duration,
    /// Cost per token of context attended to (Σ over requests of computed + scheduled).
    pub per_context_token: Duration,
}

impl StepTimer for AffineStepTimer {
    fn step_time(&mut self, batch: &StepBatch<'_>) -> Duration {
        let tokens = self.per_token.saturating_mul(batch.padded_num_tokens());
        let ctx = u32::try_from(batch.total_context_tokens()).unwrap_or(u32::MAX);
        let attention = self.per_context_token.saturating_mul(ctx);
        self.fixed.saturating_add(tokens).saturating_add(attention)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchEntry, EntryKind};
    use crate::records::RequestId;
    use profilemate_model::cudagraph::{Dispatch, RuntimeMode};

    #[test]
    fn affine_timer_adds_its_three_terms() {
        let entry = BatchEntry {
            request: RequestId(0),
            num_computed_tokens: 90,
            num_scheduled_tokens: 10,
            num_spec_tokens: 0,
            num_cached_tokens: 0,
            kind: EntryKind::New,
            is_context: true,
        };
        let batch = StepBatch {
            entries: &[entry],
            num_scheduled_tokens: 10,
            cudagraph: Dispatch {
                mode: RuntimeMode::Piecewise,
                unpadded_tokens: 10,
                padded_tokens: 16,
            },
        };
        let mut timer = AffineStepTimer {
            fixed: Duration::from_millis(5),
            per_token: Duration::from_micros(10),
            per_context_token: Duration::from_micros(1),
        };
        assert_eq!(
            timer.step_time(&batch),
            Duration::from_micros(5000 + 160 + 100)
        );
    }
}
