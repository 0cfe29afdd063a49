//! Provides [`EngineStatus`]: what the engine thread publishes for the HTTP side and tests
//! (live requests, KV blocks held, steps), as atomics; and [`ScheduleCheck`], the fixed-timing
//! mode's record of how late each chunk left compared with its schedule.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use profilemate_sim::StepRecord;
use serde::Serialize;

/// Engine counters readable from any thread.
#[derive(Debug, Default)]
pub struct EngineStatus {
    live: AtomicU64,
    steps: AtomicU64,
    running: AtomicU32,
    waiting: AtomicU32,
    block_holders: AtomicU64,
    free_blocks: AtomicU32,
    kv_usage_bits: AtomicU64,
    generated: AtomicU64,
    records_kept: AtomicU64,
    dead: AtomicBool,
}

/// A copy of [`EngineStatus`] at one moment (`GET /profilemate/engine`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EngineSnapshot {
    /// Requests admitted and not yet finished.
    pub live_requests: u64,
    /// Engine steps run.
    pub steps: u64,
    /// Running requests after the last step.
    pub running: u32,
    /// Waiting requests after the last step.
    pub waiting: u32,
    /// Requests holding KV blocks (0 once everything finished or was aborted).
    pub kv_block_holders: u64,
    /// Free KV blocks.
    pub free_kv_blocks: u32,
    /// KV-cache usage in `[0, 1]` after the last step.
    pub kv_cache_usage: f64,
    /// Output tokens emitted by engine steps.
    pub generated_tokens: u64,
    /// Per-request records the engine still holds (bounded: finished ones are forgotten).
    pub records_kept: u64,
    /// The engine thread died (a step panicked): every request now fails with a 500.
    pub dead: bool,
}

impl EngineStatus {
    pub(crate) fn set_live(&self, n: usize) {
        self.live.store(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn on_step(&self, step: &StepRecord) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.running.store(step.num_running, Ordering::Relaxed);
        self.waiting.store(step.num_waiting, Ordering::Relaxed);
        let bits = step.kv_cache_usage.to_bits();
        self.kv_usage_bits.store(bits, Ordering::Relaxed);
        let tokens = u64::from(step.num_generated_tokens);
        self.generated.fetch_add(tokens, Ordering::Relaxed);
    }

    /// Several engines' load summed (running, waiting) and their mean KV-cache usage, in place
    /// of the last step's.
    pub(crate) fn set_load(&self, running: u32, waiting: u32, kv_cache_usage: f64) {
        self.running.store(running, Ordering::Relaxed);
        self.waiting.store(waiting, Ordering::Relaxed);
        let bits = kv_cache_usage.to_bits();
        self.kv_usage_bits.store(bits, Ordering::Relaxed);
    }

    pub(crate) fn set_blocks(&self, holders: usize, free: u32) {
        self.block_holders.store(holders as u64, Ordering::Relaxed);
        self.free_blocks.store(free, Ordering::Relaxed);
    }

    /// The engine died: `/health` answers 503 and requests fail from now on.
    pub(crate) fn set_dead(&self) {
        self.dead.store(true, Ordering::Release);
    }

    /// Whether the engine died.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    pub(crate) fn set_records_kept(&self, n: usize) {
        self.records_kept.store(n as u64, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> EngineSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EngineSnapshot {
            live_requests: load(&self.live),
            steps: load(&self.steps),
            running: self.running.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            kv_block_holders: load(&self.block_holders),
            free_kv_blocks: self.free_blocks.load(Ordering::Relaxed),
            kv_cache_usage: f64::from_bits(load(&self.kv_usage_bits)),
            generated_tokens: load(&self.generated),
            records_kept: load(&self.records_kept),
            dead: self.is_dead(),
        }
    }
}

/// Lateness of streamed chunks against the fixed-timing schedule: each chunk's last token
/// was due at `arrival + ttft + i × itl`; lateness is when the chunk was handed to the
/// connection minus that.
#[derive(Debug, Default)]
pub struct ScheduleCheck {
    chunks: AtomicU64,
    tokens: AtomicU64,
    sum_late_ns: AtomicU64,
    max_late_ns: AtomicU64,
    early: AtomicU64,
}

/// A copy of [`ScheduleCheck`] (`GET /profilemate/engine`, under `schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScheduleSnapshot {
    /// Chunks checked.
    pub chunks: u64,
    /// Tokens in them.
    pub tokens: u64,
    /// Mean lateness in microseconds.
    pub mean_late_us: f64,
    /// Worst lateness in microseconds.
    pub max_late_us: f64,
    /// Chunks sent before their due time (should be 0).
    pub early: u64,
}

impl ScheduleCheck {
    pub(crate) fn record(&self, tokens: u32, late: Option<Duration>) {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.tokens.fetch_add(u64::from(tokens), Ordering::Relaxed);
        let Some(late) = late else {
            self.early.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.sum_late_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_late_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> ScheduleSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let chunks = load(&self.chunks);
        let on_time = chunks.saturating_sub(load(&self.early)).max(1);
        ScheduleSnapshot {
            chunks,
            tokens: load(&self.tokens),
            mean_late_us: load(&self.sum_late_ns) as f64 / on_time as f64 / 1e3,
            max_late_us: load(&self.max_late_ns) as f64 / 1e3,
            early: load(&self.early),
        }
    }
}
