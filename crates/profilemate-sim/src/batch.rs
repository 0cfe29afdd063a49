//! Defines [`StepBatch`], what one engine step computes, and vLLM's context/generation split.

use profilemate_model::StepRequest;
use profilemate_model::cudagraph::Dispatch;

use crate::records::RequestId;

/// How a request entered this step's batch (vLLM's `SchedulerOutput` lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// First scheduling of a waiting request (`scheduled_new_reqs`).
    New,
    /// A preempted request scheduled again, to recompute its KV (`resumed_req_ids`).
    Resumed,
    /// A request already running (`scheduled_cached_reqs`).
    Running,
}

/// One request's share of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry {
    /// The request.
    pub request: RequestId,
    /// Tokens whose KV was already computed before this step (prefix-cache hits included).
    pub num_computed_tokens: u32,
    /// Tokens computed in this step, speculative drafts included.
    pub num_scheduled_tokens: u32,
    /// Of `num_scheduled_tokens`, the draft tokens being verified.
    pub num_spec_tokens: u32,
    /// Of `num_computed_tokens`, those adopted from the prefix cache in this step.
    pub num_cached_tokens: u32,
    /// How the request entered the batch.
    pub kind: EntryKind,
    /// Whether vLLM's iteration log counts it as a context request: new, or not yet having
    /// produced an output token (`compute_iteration_details` in vllm/v1/utils.py).
    pub is_context: bool,
}

/// One engine step, as handed to a [`StepTimer`](crate::StepTimer).
#[derive(Debug, Clone, Copy)]
pub struct StepBatch<'a> {
    /// Scheduled requests: running ones first, then admissions from the waiting queue.
    pub entries: &'a [BatchEntry],
    /// Σ `num_scheduled_tokens`.
    pub num_scheduled_tokens: u32,
    /// CUDA-graph mode and padding of the step (vLLM's `CUDAGraphStat`).
    pub cudagraph: Dispatch,
}

/// The four counts of vLLM's `Iteration(N)` log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IterationCounts {
    /// Context requests (prefill, including chunks of a chunked prefill).
    pub num_ctx_requests: u32,
    /// Tokens scheduled for context requests.
    pub num_ctx_tokens: u32,
    /// Generation requests (decode, or recompute after preemption).
    pub num_generation_requests: u32,
    /// Tokens scheduled for generation requests.
    pub num_generation_tokens: u32,
}

impl IterationCounts {
    /// Splits a batch the way `compute_iteration_details` (vllm/v1/utils.py, vLLM 0.32) does.
    pub fn of(entries: &[BatchEntry]) -> Self {
        let mut counts = IterationCounts::default();
        for e in entries {
            if e.is_context {
                counts.num_ctx_requests += 1;
                counts.num_ctx_tokens += e.num_scheduled_tokens;
            } else {
                counts.num_generation_requests += 1;
                counts.num_generation_tokens += e.num_scheduled_tokens;
            }
        }
        counts
    }
}

impl StepBatch<'_> {
    /// Tokens the forward pass processes after CUDA-graph padding.
    pub fn padded_num_tokens(&self) -> u32 {
        self.cudagraph.padded_tokens
    }

    /// The step's `Iteration(N)` counts.
    pub fn iteration_counts(&self) -> IterationCounts {
        IterationCounts::of(self.entries)
    }

    /// Splits the batch into the model crate's `scheduled_new_reqs` and
    /// `scheduled_cached_reqs` lists (for a `profilemate_model::StepInput`); resumed requests
    /// are cached ones, as in vLLM's V1 model runner. Both lists are cleared first, so they
    /// can be reused from step to step.
    pub fn split_for_model(&self, new: &mut Vec<StepRequest>, cached: &mut Vec<StepRequest>) {
        new.clear();
        cached.clear();
        for e in self.entries {
            let r = StepRequest {
                num_computed_tokens: u64::from(e.num_computed_tokens),
                num_scheduled_tokens: u64::from(e.num_scheduled_tokens),
            };
            if e.kind == EntryKind::New {
                new.push(r)
            } else {
                cached.push(r)
            }
        }
    }

    /// Σ over requests of the context each attends to after the step (computed + scheduled).
    pub fn total_context_tokens(&self) -> u64 {
        let ctx = |e: &BatchEntry| u64::from(e.num_computed_tokens + e.num_scheduled_tokens);
        self.entries.iter().map(ctx).sum()
    }
}

#[cfg(test)]
mod tests {
    use profilemate_model::cudagraph::RuntimeMode;

    use super::*;

    fn entry(kind: EntryKind, computed: u32, scheduled: u32, is_context: bool) -> BatchEntry {
        BatchEntry {
            request: RequestId(0),
            num_computed_tokens: computed,
            num_scheduled_tokens: scheduled,
            num_spec_tokens: 0,
            num_cached_tokens: 0,
            kind,
            is_context,
        }
    }

    #[test]
    fn resumed_requests_are_cached_for_the_model_but_counted_by_output() {
        let entries = [
            entry(EntryKind::Running, 40, 1, false),
            entry(EntryKind::Resumed, 0, 13, false),
            entry(EntryKind::New, 16, 4, true),
        ];
        let cudagraph = Dispatch {
            mode: RuntimeMode::None,
            unpadded_tokens: 18,
            padded_tokens: 18,
        };
        let batch = StepBatch {
            entries: &entries,
            num_scheduled_tokens: 18,
            cudagraph,
        };
        let (mut new, mut cached) = (Vec::new(), Vec::new());
        batch.split_for_model(&mut new, &mut cached);
        let req = |c, s| StepRequest {
            num_computed_tokens: c,
            num_scheduled_tokens: s,
        };
        assert_eq!(new, vec![req(16, 4)]);
        assert_eq!(cached, vec![req(40, 1), req(0, 13)]);
        let counts = batch.iteration_counts();
        assert_eq!(
            (counts.num_ctx_requests, counts.num_generation_tokens),
            (1, 14)
        );
        assert_eq!(batch.total_context_tokens(), 41 + 13 + 20);
    }
}
