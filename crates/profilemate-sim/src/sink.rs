//! Defines [`EngineSink`], where the engine pushes what happens, step by step.
//!
//! The engine never prints: loggers (the `Iteration(N)` line), metrics and progress bars are
//! sinks.

use std::time::Duration;

use profilemate_metrics::offload::OffloadStats;

use crate::records::{EngineRequestRecord, RequestId, StepRecord};

/// Receives the engine's events as the simulation advances.
pub trait EngineSink {
    /// Called once per step, after its outputs were processed.
    fn on_step(&mut self, step: &StepRecord);

    /// Called when a request receives `num_tokens` output tokens at time `at` (the end of
    /// the step that produced them), after the step's `on_step`; a streaming server sends
    /// them from here.
    fn on_tokens(&mut self, _request: RequestId, _num_tokens: u32, _at: Duration) {}

    /// Called when a request finishes or is aborted, after its last `on_tokens`.
    fn on_request_finished(&mut self, _record: &EngineRequestRecord) {}

    /// Called with KV offloading on ([`EngineConfig::kv_offload`](crate::EngineConfig)):
    /// the offloading connector's stats payload (vLLM's `SchedulerStats.kv_connector_stats`)
    /// after each step's `on_step`, and at `at` when transfers finish while no step runs.
    /// Feed it to `profilemate_metrics::offload::OffloadExporter::observe` for `/metrics`,
    /// or to a [`KvTransferLogger`](crate::KvTransferLogger) for the log line.
    fn on_kv_connector_stats(&mut self, _stats: &OffloadStats, _at: Duration) {}

    /// Whether the driver wants the simulation to stop now (e.g. on Ctrl-C): `run` and
    /// `run_until` return at the next step boundary, leaving unfinished requests as they are.
    fn stop_requested(&self) -> bool {
        false
    }
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

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        self.0.on_request_finished(record);
        self.1.on_request_finished(record);
    }

    fn on_kv_connector_stats(&mut self, stats: &OffloadStats, at: Duration) {
        self.0.on_kv_connector_stats(stats, at);
        self.1.on_kv_connector_stats(stats, at);
    }

    fn stop_requested(&self) -> bool {
        self.0.stop_requested() || self.1.stop_requested()
    }
}

impl<S: EngineSink + ?Sized> EngineSink for &mut S {
    fn on_step(&mut self, step: &StepRecord) {
        (**self).on_step(step);
    }

    fn stop_requested(&self) -> bool {
        (**self).stop_requested()
    }

    fn on_tokens(&mut self, request: RequestId, num_tokens: u32, at: Duration) {
        (**self).on_tokens(request, num_tokens, at);
    }

    fn on_request_finished(&mut self, record: &EngineRequestRecord) {
        (**self).on_request_finished(record);
    }

    fn on_kv_connector_stats(&mut self, stats: &OffloadStats, at: Duration) {
        (**self).on_kv_connector_stats(stats, at);
    }
}
