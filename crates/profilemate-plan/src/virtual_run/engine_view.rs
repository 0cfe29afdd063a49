//! Provides [`EngineTotals`]: the engine's own counters over a virtual run, summed from its
//! step records, and the bench's [`ServerView`] of them — what `/metrics` would have shown.
//!
//! The sums are [`StepCounters`]'s, which mirror the counters vLLM 0.32 exports (vllm/v1/metrics/loggers.py):
//! `vllm:num_preemptions_total`, `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`
//! and `vllm:prefix_cache_queries_total` / `_hits_total` (requests never preempted).

use profilemate_sim::{StepCounters, StepRecord};

use profilemate_bench::server_metrics::ServerView;

/// Counters summed over every engine step ([`StepCounters`], the mapping `/metrics` uses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EngineTotals(StepCounters);

impl EngineTotals {
    /// Counts one step.
    pub(crate) fn add(&mut self, step: &StepRecord) {
        self.0.add(step);
    }

    /// The server's view of the run; FLOP and byte rates are left out (no `/metrics`).
    pub(crate) fn server_view(&self) -> ServerView {
        let c = &self.0;
        let queries = c.prefix_cache_queries as f64;
        ServerView {
            tflops_per_gpu: None,
            gbps_per_gpu: None,
            mfu_pct: None,
            mbu_pct: None,
            prefix_cache_hit_rate: (queries > 0.0).then(|| c.prefix_cache_hits as f64 / queries),
            preemptions: c.preemptions as f64,
            prompt_tokens: c.prompt_tokens as f64,
            generation_tokens: c.generation_tokens as f64,
            gpu: None,
        }
    }
}
