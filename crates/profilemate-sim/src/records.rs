//! Defines the engine's outputs: one [`EngineRequestRecord`] per request and one [`StepRecord`]
//! per step, all times in virtual time from the simulation's time zero.

use std::time::Duration;

use profilemate_model::cudagraph::Dispatch;

use crate::batch::IterationCounts;
use crate::spec_decode::SpecDecodeStats;

/// Identifies a request: its index in the order requests were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u32);

/// Why a request stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// Reached `max_tokens` or `--max-model-len` (vLLM's `FINISHED_LENGTH_CAPPED`).
    Length,
    /// Cancelled through [`Simulation::abort`](crate::Simulation::abort).
    Aborted,
}

/// Everything that happened to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineRequestRecord {
    /// The request.
    pub id: RequestId,
    /// Arrival at the engine.
    pub arrival: Duration,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Requested output tokens, capped to what `--max-model-len` leaves after the prompt.
    pub max_tokens: u32,
    /// Start of the step that first scheduled it.
    pub first_scheduled: Option<Duration>,
    /// Emission time of every output token, in order; empty when token times are not
    /// recorded (see [`Simulation::record_token_times`](crate::Simulation::record_token_times)).
    pub token_times: Vec<Duration>,
    /// Output tokens produced.
    pub num_output_tokens: u32,
    /// Emission time of the first output token.
    pub first_token: Option<Duration>,
    /// Emission time of the last output token.
    pub last_token: Option<Duration>,
    /// When it finished.
    pub finished: Option<Duration>,
    /// Why it finished.
    pub finish_reason: Option<FinishReason>,
    /// Times it was preempted and recomputed.
    pub num_preemptions: u32,
    /// Prompt tokens served from the prefix cache at its first admission, tokens loaded from
    /// the CPU tier included (vLLM's `num_cached_tokens`, local plus external, even when the
    /// last one is recomputed).
    pub num_cached_tokens: u32,
    /// Of those, the tokens loaded through the KV connector (KV offloading): vLLM's
    /// `num_external_cached_tokens`, the `external_kv_transfer` share of
    /// `vllm:prompt_tokens_by_source`.
    pub num_external_cached_tokens: u32,
}

impl EngineRequestRecord {
    pub(crate) fn new(
        id: RequestId,
        arrival: Duration,
        prompt_tokens: u32,
        max_tokens: u32,
    ) -> Self {
        EngineRequestRecord {
            id,
            arrival,
            prompt_tokens,
            max_tokens,
            first_scheduled: None,
            token_times: Vec::new(),
            num_output_tokens: 0,
            first_token: None,
            last_token: None,
            finished: None,
            finish_reason: None,
            num_preemptions: 0,
            num_cached_tokens: 0,
            num_external_cached_tokens: 0,
        }
    }

    /// Time to first token.
    pub fn ttft(&self) -> Option<Duration> {
        self.first_token.map(|t| t.saturating_sub(self.arrival))
    }

    /// Arrival to finish.
    pub fn e2e_latency(&self) -> Option<Duration> {
        self.finished.map(|t| t.saturating_sub(self.arrival))
    }

    /// Arrival to first scheduling.
    pub fn queue_time(&self) -> Option<Duration> {
        self.first_scheduled.map(|t| t.saturating_sub(self.arrival))
    }
}

/// Prefix-cache lookups of one step (`PrefixCacheStats` in vllm/v1/metrics/stats.py).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixCacheStats {
    /// Requests that looked up the cache, never preempted.
    pub requests: u64,
    /// Tokens they queried.
    pub queries: u64,
    /// Tokens found.
    pub hits: u64,
    /// Previously preempted requests that looked up the cache.
    pub preempted_requests: u64,
    /// Tokens they queried.
    pub preempted_queries: u64,
    /// Tokens found.
    pub preempted_hits: u64,
}

impl PrefixCacheStats {
    /// Counts one lookup (`PrefixCacheStats.record`).
    pub(crate) fn record(&mut self, num_tokens: u32, num_hits: u32, preempted: bool) {
        let (requests, queries, hits) = if preempted {
            (
                &mut self.preempted_requests,
                &mut self.preempted_queries,
                &mut self.preempted_hits,
            )
        } else {
            (&mut self.requests, &mut self.queries, &mut self.hits)
        };
        *requests += 1;
        *queries += u64::from(num_tokens);
        *hits += u64::from(num_hits);
    }

    /// Adds `other`'s counts.
    pub(crate) fn merge(&mut self, other: &PrefixCacheStats) {
        self.requests += other.requests;
        self.queries += other.queries;
        self.hits += other.hits;
        self.preempted_requests += other.preempted_requests;
        self.preempted_queries += other.preempted_queries;
        self.preempted_hits += other.preempted_hits;
    }
}

/// Everything one engine step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Step number from 0; equals vLLM's `Iteration(N)` index (no empty steps are run).
    pub index: u64,
    /// Start of the step.
    pub start: Duration,
    /// Model time from the [`StepTimer`](crate::StepTimer) plus the per-step CPU overhead.
    pub duration: Duration,
    /// The [`StepTimer`](crate::StepTimer)'s share of `duration`.
    pub model_time: Duration,
    /// Context/generation split, as in the `Iteration(N)` line.
    pub counts: IterationCounts,
    /// Scheduled tokens.
    pub num_scheduled_tokens: u32,
    /// CUDA-graph mode and padding (vLLM's `CUDAGraphStat`; feed it to the model crate's
    /// `CudaGraphStats` for the `--cudagraph-metrics` table).
    pub cudagraph: Dispatch,
    /// KV-cache usage in `[0, 1]` after the step's outputs were processed.
    pub kv_cache_usage: f64,
    /// Requests running after the step.
    pub num_running: u32,
    /// Requests waiting after the step.
    pub num_waiting: u32,
    /// Requests preempted while scheduling this step.
    pub num_preempted: u32,
    /// Requests that finished in this step.
    pub num_finished: u32,
    /// Output tokens emitted by this step.
    pub num_generated_tokens: u32,
    /// Prompt tokens, prefix-cache hits excluded, of the requests that emitted their first
    /// token in this step (vLLM's `prompt_token_stats.computed`, the stats line's prompt
    /// throughput).
    pub num_prompt_tokens: u32,
    /// Prefix-cache lookups made while scheduling this step.
    pub prefix_cache: PrefixCacheStats,
    /// With KV offloading on, the KV connector's lookups past the GPU hit (vLLM's
    /// `connector_prefix_cache_stats`, exported as `vllm:external_prefix_cache_queries` /
    /// `_hits`): tokens the GPU missed, and those the CPU tier supplied.
    pub connector_prefix_cache: Option<PrefixCacheStats>,
    /// Speculative-decoding counters, when it is on.
    pub spec_decode: Option<SpecDecodeStats>,
}

impl StepRecord {
    /// End of the step, when its tokens are emitted.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }
}
