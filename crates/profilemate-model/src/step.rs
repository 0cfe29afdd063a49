//! Provides the per-step input (what the scheduler decided) and output ([`PerfStats`]).
//!
//! Mirrors `ModelMetrics.get_step_perf_stats_per_gpu` and the `PerfStats` /
//! `DebugPerfStats` dataclasses of `vllm/v1/metrics/perf.py` (vLLM 0.32).

use crate::breakdown::Breakdown;
use crate::context::ExecutionContext;

/// One request scheduled in a step, as vLLM's `SchedulerOutput` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRequest {
    /// Tokens of this request already computed before the step.
    pub num_computed_tokens: u64,
    /// Tokens scheduled for it in this step (spec-decode drafts included, padding excluded).
    pub num_scheduled_tokens: u64,
}

/// What the scheduler decided for one step.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepInput<'a> {
    /// Requests scheduled for the first time (`scheduled_new_reqs`): always billed as prefill.
    pub new_requests: &'a [StepRequest],
    /// Continuing requests (`scheduled_cached_reqs`): prefill when more than one token is
    /// scheduled (a chunked-prefill chunk or a spec-decode verify), decode otherwise.
    pub cached_requests: &'a [StepRequest],
}

impl StepInput<'_> {
    /// Fills `ctx` (after clearing it) the way vLLM builds the step's `ExecutionContext`:
    /// requests with zero scheduled tokens are skipped, context = computed + scheduled.
    pub fn fill_context(&self, ctx: &mut ExecutionContext) {
        ctx.clear();
        let new = self.new_requests.iter().map(|r| (r, true));
        let cached = self
            .cached_requests
            .iter()
            .map(|r| (r, r.num_scheduled_tokens > 1));
        for (r, is_prefill) in new.chain(cached) {
            if r.num_scheduled_tokens > 0 {
                let context_len = r.num_computed_tokens + r.num_scheduled_tokens;
                ctx.add(r.num_scheduled_tokens, context_len, is_prefill);
            }
        }
    }
}

/// FLOPs and bytes of one step on one GPU (`PerfStats` in vLLM).
///
/// Values are `u128` because Python integers are unbounded: a 128k-token prefill of a 70B
/// model already exceeds `u64` in a single breakdown term.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfStats {
    /// Floating-point operations per GPU.
    pub num_flops_per_gpu: u128,
    /// Bytes read from device memory per GPU.
    pub num_read_bytes_per_gpu: u128,
    /// Bytes written to device memory per GPU.
    pub num_write_bytes_per_gpu: u128,
    /// Breakdowns and counts, present only when debug stats were requested.
    pub debug_stats: Option<DebugPerfStats>,
}

impl PerfStats {
    /// Whether all three counters are zero (vLLM skips such steps when exporting).
    pub fn is_zero(&self) -> bool {
        self.num_flops_per_gpu == 0
            && self.num_read_bytes_per_gpu == 0
            && self.num_write_bytes_per_gpu == 0
    }
}

/// The debugging detail of one step (`DebugPerfStats` in vLLM).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DebugPerfStats {
    /// Time spent computing the stats.
    pub calc_duration: std::time::Duration,
    /// Prefill requests in the step.
    pub num_prefill_requests: u64,
    /// Decode requests in the step.
    pub num_decode_requests: u64,
    /// The aggregate fields of the step's context (the per-request list is left out, which is
    /// what makes our aggregation work where vLLM 0.32's raises `TypeError`).
    pub context: ExecutionContext,
    /// Per-GPU FLOPs by `component.term`.
    pub flops_breakdown: Breakdown,
    /// Per-GPU read bytes by `component.term`.
    pub read_bytes_breakdown: Breakdown,
    /// Per-GPU write bytes by `component.term`.
    pub write_bytes_breakdown: Breakdown,
}
