//! Provides [`StepCounters`]: what one engine step adds to vLLM's Prometheus counters — the
//! one mapping from a [`StepRecord`] to `/metrics`, used by the server's exporter and by the
//! virtual-time driver's view of a run.

use crate::records::StepRecord;

/// One step's (or, summed with [`StepCounters::add`], a run's) increments of vLLM 0.32's
/// counters (`PrometheusStatLogger.record` in vllm/v1/metrics/loggers.py).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounters {
    /// `vllm:num_preemptions_total`.
    pub preemptions: u64,
    /// Prompt tokens computed (prefix-cache hits excluded) of the requests whose first token
    /// this step emitted.
    pub prompt_tokens: u64,
    /// Output tokens emitted (`vllm:generation_tokens_total`).
    pub generation_tokens: u64,
    /// `vllm:prefix_cache_queries_total` (requests never preempted).
    pub prefix_cache_queries: u64,
    /// `vllm:prefix_cache_hits_total` (requests never preempted).
    pub prefix_cache_hits: u64,
    /// Tokens the step ran, context and generation (`vllm:iteration_tokens_total`'s sample).
    pub iteration_tokens: u64,
}

impl StepCounters {
    /// The increments of `step`.
    pub fn of(step: &StepRecord) -> Self {
        StepCounters {
            preemptions: u64::from(step.num_preempted),
            prompt_tokens: u64::from(step.num_prompt_tokens),
            generation_tokens: u64::from(step.num_generated_tokens),
            prefix_cache_queries: step.prefix_cache.queries,
            prefix_cache_hits: step.prefix_cache.hits,
            iteration_tokens: u64::from(step.counts.num_ctx_tokens)
                + u64::from(step.counts.num_generation_tokens),
        }
    }

    /// Adds `step`'s increments.
    pub fn add(&mut self, step: &StepRecord) {
        let s = Self::of(step);
        self.preemptions += s.preemptions;
        self.prompt_tokens += s.prompt_tokens;
        self.generation_tokens += s.generation_tokens;
        self.prefix_cache_queries += s.prefix_cache_queries;
        self.prefix_cache_hits += s.prefix_cache_hits;
        self.iteration_tokens += s.iteration_tokens;
    }
}
