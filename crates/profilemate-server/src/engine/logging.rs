//! Provides [`EngineLogs`]: the engine's vLLM log lines ([`profilemate_sim::vllm_log`]) stamped
//! by the wall clock, with the interval lines written when a wall-clock timer is due, as vLLM's
//! API server does every `VLLM_LOG_STATS_INTERVAL` (vllm/entrypoints/launchers/utils/
//! server_utils.py, vLLM 0.32).

use std::time::{Duration, Instant};

use profilemate_sim::vllm_log;
use profilemate_sim::{OffloadStats, StepRecord};

use crate::config::LogTarget;

/// The engine's log state and its wall-clock interval.
#[derive(Debug)]
pub(crate) struct EngineLogs {
    pub(crate) lines: vllm_log::EngineLogs<LogTarget>,
    pub(crate) interval: Duration,
    pub(crate) next_due: Instant,
}

impl EngineLogs {
    /// One step of `engine`: its `Iteration(N)` line and the interval's accumulators.
    pub(crate) fn on_step(&mut self, engine: usize, step: &StepRecord) {
        self.lines.on_engine_step(engine, step);
    }

    /// One payload of `engine`'s KV-offloading connector, for the interval's line.
    pub(crate) fn on_kv_connector_stats(&mut self, engine: usize, stats: &OffloadStats) {
        self.lines.on_engine_kv_connector_stats(engine, stats);
    }

    pub(crate) fn next_due(&self) -> Instant {
        self.next_due
    }

    /// Writes the interval's lines when due; `virtual_now` is the engine's clock.
    pub(crate) fn maybe_log(&mut self, now: Instant, virtual_now: Duration) {
        if now < self.next_due {
            return;
        }
        self.next_due = later(now, self.interval);
        self.lines.log_interval(virtual_now);
    }

    pub(crate) fn flush(&mut self) {
        self.lines.flush();
    }
}

/// `now + d`, or a day from now if that overflows the clock.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}
