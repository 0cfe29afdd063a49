//! Provides [`EngineTotals`]: the engine's own counters over a virtual run, summed from its
//! step records, and the bench's [`ServerView`] of them — what `/metrics` would have shown.
//!
//! The sums mirror the counters vLLM 0.32 exports (vllm/v1/metrics/loggers.py):
//! `vllm:num_preemptions_total`, `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`
//! and `vllm:prefix_cache_queries_total` / `_hits_total` (requests never preempted).

use profilemate_sim::StepRecord;

use profilemate_bench::server_metrics::ServerView;

/// Counters summed over every engine step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EngineTotals {
    preemptions: u64,
    prompt_tokens: u64,
    generation_tokens: u64,
    prefix_queries: u64,
    prefix_hits: u64,
}

impl EngineTotals {
    /// Counts one step.
    pub(crate) fn add(&mut self, step: &StepRecord) {
        self.preemptions += u64::from(step.num_preempted);
        self.prompt_tokens += u64::from(step.num_prompt_tokens);
        self.generation_tokens += u64::from(step.num_generated_tokens);
        self.prefix_queries += step.prefix_cache.queries;
        self.prefix_hits += step.prefix_cache.hits;
    }

    /// The server's view of the run; FLOP and byte rates are left out (no `/metrics`).
    pub(crate) fn server_view(&self) -> ServerView {
        let queries = self.prefix_queries as f64;
        ServerView {
            tflops_per_gpu: None,
            gbps_per_gpu: None,
            mfu_pct: None,
            mbu_pct: None,
            prefix_cache_hit_rate: (queries > 0.0).then(|| self.prefix_hits as f64 / queries),
            preemptions: self.preemptions as f64,
            prompt_tokens: self.prompt_tokens as f64,
            generation_tokens: self.generation_tokens as f64,
            gpu: None,
        }
    }
}
