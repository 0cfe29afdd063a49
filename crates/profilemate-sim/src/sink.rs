//! Defines [`EngineSink`], where the engine pushes what happens, step by step.
//!
//! The engine never prints: loggers (the `Iteration(N)` line), metrics and progress bars are
//! sinks.

use std::time::Duration;

use crate::records::{RequestId, RequestRecord, StepRecord};

/// Receives the engine's events as the simulation advances.
pub trait EngineSink {
    /// Called once per step, after its outputs were processed.
    fn on_step(&mut self, step: &StepRecord);

    /// Called when a request receives `num_tokens` output tokens at time `at` (the end of
    /// the step that produced them), after the step's `on_step`; a streaming server sends
    /// them from here.
    fn on_tokens(&mut self, _request: RequestId, _num_tokens: u32, _at: Duration) {}

    /// Called when a request finishes or is aborted, after its last `on_tokens`.
    fn on_request_finished(&mut self, _record: &RequestRecord) {}
}

/// Discards everything.
impl EngineSink for () {
    fn on_step(&mut self, _step: &StepRecord) {}
}

/// Keeps every step record.
impl EngineSink for Vec<StepRecord> {
    fn on_step(&mut self, step: &StepRecord) {
        self.push(step.clone());
    }
}

/// Fans every event out to two sinks, in order.
impl<A: EngineSink, B: EngineSink> EngineSink for (A, B) {
    fn on_step(&mut self, step: &StepRecord) {
        self.0.on_step(step);
        self.1.on_step(step);
    }

    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        self.0.on_tokens(request, num_tokens, at);
        self.1.on_tokens(request, num_tokens, at);
    }

    fn on_request_finished(&mut self, record: &RequestRecord) {
        self.0.on_request_finished(record);
        self.1.on_request_finished(record);
    }
}

impl<S: EngineSink + ?Sized> EngineSink for &mut S {
    fn on_step(&mut self, step: &StepRecord) {
        (**self).on_step(step);
    }

    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        (**self).on_tokens(request, num_tokens, at);
    }

    fn on_request_finished(&mut self, record: &RequestRecord) {
        (**self).on_request_finished(record);
    }
}
