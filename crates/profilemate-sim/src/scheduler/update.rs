//! Applies a finished step to the scheduler: sampled tokens, draft acceptance, stop checks,
//! and the removal of finished requests.
//!
//! Mirrors `Scheduler.update_from_output()` / `_update_request_with_output()` in
//! vllm/v1/core/sched/scheduler.py and `AsyncScheduler._update_request_with_output()` in
//! vllm/v1/core/sched/async_scheduler.py, vLLM 0.32, with `check_stop` reduced to
//! `max_tokens` and `max_model_len` (generation ignores EOS).

use rand::rngs::StdRng;

use super::{Scheduler, SchedulerOutput};
use crate::batch::BatchEntry;
use crate::records::RequestId;
use crate::spec_decode::SpecDecodeStats;
use crate::state::Status;

/// Tokens a request produced in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenOutput {
    pub(crate) request: RequestId,
    pub(crate) num_tokens: u32,
    pub(crate) finished: bool,
}

impl Scheduler {
    /// Applies a step's results: requests that sample get a token plus accepted drafts;
    /// finished ones leave the queues and free their blocks.
    pub(crate) fn update_from_output(
        &mut self,
        out: &SchedulerOutput,
        rng: &mut StdRng,
        spec_stats: &mut Option<SpecDecodeStats>,
    ) -> Vec<TokenOutput> {
        let mut outputs = Vec::with_capacity(out.entries.len());
        let mut finished_waiting = false;
        for (e, &samples) in out.entries.iter().zip(&out.samples) {
            if let Some(output) = self.sample(e, samples, rng, spec_stats) {
                finished_waiting |= output.finished && self.is_waiting(e.request);
                outputs.push(output);
            }
        }
        if outputs.iter().any(|o| o.finished) {
            self.remove_finished(&outputs, finished_waiting);
        }
        outputs
    }

    fn is_waiting(&self, id: RequestId) -> bool {
        self.reqs
            .get(&id.0)
            .is_some_and(|r| r.status == Status::Preempted)
    }

    /// One request's share of the output; `None` when it produced nothing (a partial prefill,
    /// or a request that finished or was aborted while the step ran).
    fn sample(
        &mut self,
        e: &BatchEntry,
        samples: bool,
        rng: &mut StdRng,
        spec_stats: &mut Option<SpecDecodeStats>,
    ) -> Option<TokenOutput> {
        let max_model_len = self.config.max_model_len;
        let r = self.reqs.get_mut(&e.request.0)?;
        r.num_in_flight_tokens = r
            .num_in_flight_tokens
            .saturating_sub(e.num_scheduled_tokens);
        let stale = r.num_stale_tokens > 0;
        r.num_stale_tokens = r.num_stale_tokens.saturating_sub(e.num_scheduled_tokens);
        if !samples {
            return None;
        }
        let mut generated = 1;
        if let (Some(spec), Some(stats)) = (self.config.spec_decode.as_ref(), spec_stats.as_mut())
            && e.num_spec_tokens > 0
        {
            let accepted = spec.sample_accepted(e.num_spec_tokens, rng);
            stats.observe(e.num_spec_tokens, accepted);
            if !stale {
                r.reject_drafts(e.num_spec_tokens - accepted);
            }
            generated += accepted;
        }
        let limit = r
            .max_tokens
            .min(max_model_len.saturating_sub(r.num_prompt_tokens));
        let room = limit.saturating_sub(r.num_output_tokens);
        let num_tokens = generated.min(room);
        r.num_output_tokens += num_tokens;
        if !stale {
            r.num_output_placeholders = r.num_output_placeholders.saturating_sub(num_tokens);
        }
        Some(self.after_tokens(e, num_tokens, num_tokens == room, stale))
    }

    /// Stop handling, next drafts (synchronous mode) and prefix-cache bookkeeping.
    fn after_tokens(
        &mut self,
        e: &BatchEntry,
        num_tokens: u32,
        finished: bool,
        stale: bool,
    ) -> TokenOutput {
        let (block_size, caching) = (self.config.block_size, self.config.enable_prefix_caching);
        let drafts = self
            .config
            .spec_decode
            .as_ref()
            .map_or(0, |s| s.num_speculative_tokens);
        let asynchronous = self.config.async_scheduling;
        let Some(r) = self.reqs.get_mut(&e.request.0) else {
            return TokenOutput {
                request: e.request,
                num_tokens,
                finished,
            };
        };
        if !finished && !asynchronous && !stale {
            r.num_spec_tokens = drafts;
        }
        if caching {
            r.update_hashes(e.request.0, block_size);
            let upto = r
                .num_computed_tokens
                .saturating_sub(r.num_output_placeholders)
                .min(r.num_tokens());
            // Known tokens grow by `num_tokens`; only a crossed block boundary fills a block.
            let crossed = upto / block_size > upto.saturating_sub(num_tokens) / block_size;
            if asynchronous && r.status == Status::Running && crossed {
                self.kv.cache_blocks(e.request.0, upto, &r.block_hashes);
            }
        }
        TokenOutput {
            request: e.request,
            num_tokens,
            finished,
        }
    }

    fn remove_finished(&mut self, outputs: &[TokenOutput], finished_waiting: bool) {
        for o in outputs.iter().filter(|o| o.finished) {
            // The final token's slot is never committed: store up to the one before it.
            let mut held = false;
            if let Some(r) = self.reqs.remove(&o.request.0) {
                let tokens = r.num_prompt_tokens.max(r.num_tokens().saturating_sub(1));
                self.offload_request_finished(o.request.0, tokens);
                held = self.hold_after_finish(o.request.0, r.kv_transfer);
            }
            self.inflight_prefills.remove(&o.request.0);
            if !held {
                self.kv.free(o.request.0);
            }
        }
        let reqs = &self.reqs;
        self.running.retain(|slot| reqs.contains_key(slot));
        if finished_waiting {
            self.waiting.retain(|slot| reqs.contains_key(slot));
        }
    }
}
