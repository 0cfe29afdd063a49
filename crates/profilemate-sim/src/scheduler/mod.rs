//! Provides the vLLM V1 scheduler: decode-first continuous batching under a token budget,
//! chunked prefill, FCFS admission, preemption by recomputation and prefix-cache lookups.
//!
//! Mirrors `Scheduler.schedule()`, `_preempt_request()`, `_update_after_schedule()` and
//! `update_from_output()` in vllm/v1/core/sched/scheduler.py, vLLM 0.32, for the FCFS policy
//! without KV connectors, encoders, LoRA, pipeline parallelism or async scheduling.

use std::collections::VecDeque;

use rand::rngs::StdRng;

use crate::EngineConfig;
use crate::batch::{BatchEntry, EntryKind};
use crate::idmap::IdMap;
use crate::kv_manager::{Alloc, KvCacheManager};
use crate::records::{PrefixCacheStats, RequestId};
use crate::spec_decode::SpecDecodeStats;
use crate::state::{ReqState, Status};

/// What one `schedule()` call decided.
#[derive(Debug, Default)]
pub(crate) struct SchedulerOutput {
    /// Scheduled requests, running ones first.
    pub(crate) entries: Vec<BatchEntry>,
    /// Requests preempted while scheduling.
    pub(crate) preempted: Vec<RequestId>,
    /// Prefix-cache lookups of admitted requests.
    pub(crate) prefix_cache: PrefixCacheStats,
}

impl SchedulerOutput {
    /// Σ scheduled tokens.
    pub(crate) fn total_tokens(&self) -> u32 {
        self.entries.iter().map(|e| e.num_scheduled_tokens).sum()
    }
}

/// Tokens a request produced in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenOutput {
    pub(crate) request: RequestId,
    pub(crate) num_tokens: u32,
    pub(crate) finished: bool,
}

/// The scheduler with its queues and the KV cache manager.
#[derive(Debug)]
pub(crate) struct Scheduler {
    config: EngineConfig,
    reqs: IdMap<ReqState>,
    waiting: VecDeque<u32>,
    running: Vec<u32>,
    kv: KvCacheManager,
}

impl Scheduler {
    pub(crate) fn new(config: &EngineConfig) -> Self {
        Scheduler {
            config: config.clone(),
            reqs: IdMap::default(),
            waiting: VecDeque::new(),
            running: Vec::new(),
            kv: KvCacheManager::new(config),
        }
    }

    /// Queues a request at the back of the waiting queue (`add_request`).
    pub(crate) fn add(&mut self, id: RequestId, mut state: ReqState) {
        if self.config.enable_prefix_caching {
            state.update_hashes(id.0, self.config.block_size);
        }
        self.reqs.insert(id.0, state);
        self.waiting.push_back(id.0);
    }

    /// Whether any request is waiting or running (`has_requests`).
    pub(crate) fn has_requests(&self) -> bool {
        !self.waiting.is_empty() || !self.running.is_empty()
    }

    pub(crate) fn num_running(&self) -> u32 {
        self.running.len() as u32
    }

    pub(crate) fn num_waiting(&self) -> u32 {
        self.waiting.len() as u32
    }

    pub(crate) fn kv_usage(&self) -> f64 {
        self.kv.usage()
    }

    /// Requests still holding KV blocks (0 once every request has finished).
    pub(crate) fn num_block_holders(&self) -> usize {
        self.kv.num_holding()
    }

    pub(crate) fn num_free_blocks(&self) -> u32 {
        self.kv.num_free_blocks()
    }

    /// Plans one step (`schedule()`): running requests first, then, if nothing was
    /// preempted, admissions from the waiting queue.
    pub(crate) fn schedule(&mut self) -> SchedulerOutput {
        let mut out = SchedulerOutput::default();
        let mut budget = self.config.max_num_batched_tokens;
        let eligible = self.running.len() + self.waiting.len();
        let threshold = if eligible > 1 {
            self.config.long_prefill_token_threshold
        } else {
            0
        };
        self.schedule_running(&mut out, &mut budget, threshold);
        if out.preempted.is_empty() {
            self.schedule_waiting(&mut out, &mut budget, threshold);
        }
        self.update_after_schedule(&out);
        out
    }

    fn lookahead(&self) -> u32 {
        self.config
            .spec_decode
            .as_ref()
            .map_or(0, |s| s.num_lookahead_tokens)
    }

    /// The running loop: every running request gets what it still needs, within the budget,
    /// preempting from the back of the running queue when blocks run out.
    fn schedule_running(&mut self, out: &mut SchedulerOutput, budget: &mut u32, threshold: u32) {
        let mut i = 0;
        while i < self.running.len() && *budget > 0 {
            let slot = self.running[i];
            let n = self.running_tokens(slot, *budget, threshold);
            if n == 0 {
                i += 1;
                continue;
            }
            if !self.allocate_or_preempt(slot, n, out) {
                break;
            }
            out.entries.push(self.running_entry(slot, n));
            *budget -= n;
            i += 1;
        }
    }

    /// Tokens to schedule for a running request: everything it lacks, capped by the long
    /// prefill threshold, the budget and `max_model_len`.
    fn running_tokens(&self, slot: u32, budget: u32, threshold: u32) -> u32 {
        let r = &self.reqs[&slot];
        let mut n = r.num_tokens_with_spec() - r.num_computed_tokens;
        if threshold > 0 && n > threshold {
            n = threshold;
        }
        let room = self
            .config
            .max_model_len
            .saturating_sub(r.num_computed_tokens + 1);
        n.min(budget).min(room)
    }

    fn running_entry(&mut self, slot: u32, n: u32) -> BatchEntry {
        let r = self.reqs.get_mut(&slot).expect("running request has state");
        let drafts = (r.num_computed_tokens + n).saturating_sub(r.num_tokens());
        let num_spec_tokens = drafts.min(r.num_spec_tokens);
        r.num_spec_tokens = 0;
        BatchEntry {
            request: RequestId(slot),
            num_computed_tokens: r.num_computed_tokens,
            num_scheduled_tokens: n,
            num_spec_tokens,
            num_cached_tokens: 0,
            kind: EntryKind::Running,
            is_context: r.num_output_tokens == 0,
        }
    }

    /// Allocates slots for a running request, preempting the last running request until it
    /// fits; `false` when the request itself had to be preempted.
    fn allocate_or_preempt(&mut self, slot: u32, n: u32, out: &mut SchedulerOutput) -> bool {
        loop {
            let r = &self.reqs[&slot];
            let alloc = Alloc {
                req: slot,
                num_computed_tokens: r.num_computed_tokens,
                num_new_tokens: n,
                new_computed: &[],
                num_tokens: r.num_tokens(),
                num_lookahead_tokens: self.lookahead(),
                admission: false,
                apply_watermark: false,
                hashes: &r.block_hashes,
            };
            if self.kv.allocate_slots(&alloc) {
                return true;
            }
            let Some(victim) = self.running.pop() else {
                return false;
            };
            self.preempt(victim);
            out.preempted.push(RequestId(victim));
            if victim == slot {
                return false;
            }
        }
    }

    /// Frees a request's blocks and puts it at the front of the waiting queue
    /// (`_preempt_request`).
    fn preempt(&mut self, slot: u32) {
        self.kv.free(slot);
        let r = self
            .reqs
            .get_mut(&slot)
            .expect("preempted request has state");
        r.status = Status::Preempted;
        r.num_computed_tokens = 0;
        r.num_spec_tokens = 0;
        r.num_preemptions += 1;
        self.waiting.push_front(slot);
    }

    /// The waiting loop: FCFS admission while budget, `max_num_seqs` and blocks allow.
    fn schedule_waiting(&mut self, out: &mut SchedulerOutput, budget: &mut u32, threshold: u32) {
        while *budget > 0 && self.running.len() < self.config.max_num_seqs as usize {
            let Some(&slot) = self.waiting.front() else {
                break;
            };
            let Some(entry) = self.try_admit(slot, *budget, threshold, &mut out.prefix_cache)
            else {
                break;
            };
            self.waiting.pop_front();
            self.running.push(slot);
            *budget -= entry.num_scheduled_tokens;
            out.entries.push(entry);
        }
    }

    /// Looks up the prefix cache and allocates for the head of the waiting queue; `None`
    /// stops admission for this step.
    fn try_admit(
        &mut self,
        slot: u32,
        budget: u32,
        threshold: u32,
        stats: &mut PrefixCacheStats,
    ) -> Option<BatchEntry> {
        let r = &self.reqs[&slot];
        let (hit, cached) = self.kv.computed_blocks(&r.block_hashes, r.num_tokens());
        let mut n = r.num_tokens() - cached;
        if threshold > 0 && n > threshold {
            n = threshold;
        }
        if !self.config.enable_chunked_prefill && n > budget {
            return None;
        }
        let n = n.min(budget);
        let alloc = Alloc {
            req: slot,
            num_computed_tokens: 0,
            num_new_tokens: n,
            new_computed: &hit,
            num_tokens: r.num_tokens(),
            num_lookahead_tokens: self.lookahead(),
            admission: true,
            apply_watermark: !self.running.is_empty(),
            hashes: &r.block_hashes,
        };
        if !self.kv.allocate_slots(&alloc) {
            return None;
        }
        if self.config.enable_prefix_caching {
            stats.record(r.num_tokens(), cached, r.num_preemptions > 0);
        }
        Some(self.admit(slot, n, cached))
    }

    fn admit(&mut self, slot: u32, n: u32, cached: u32) -> BatchEntry {
        let r = self
            .reqs
            .get_mut(&slot)
            .expect("admitted request has state");
        let kind = if r.status == Status::Waiting {
            EntryKind::New
        } else {
            EntryKind::Resumed
        };
        r.status = Status::Running;
        r.num_computed_tokens = cached;
        BatchEntry {
            request: RequestId(slot),
            num_computed_tokens: cached,
            num_scheduled_tokens: n,
            num_spec_tokens: 0,
            num_cached_tokens: cached,
            kind,
            is_context: kind == EntryKind::New || r.num_output_tokens == 0,
        }
    }

    /// Advances `num_computed_tokens` by the scheduled tokens (`_update_after_schedule`).
    fn update_after_schedule(&mut self, out: &SchedulerOutput) {
        for e in &out.entries {
            if let Some(r) = self.reqs.get_mut(&e.request.0) {
                r.num_computed_tokens += e.num_scheduled_tokens;
            }
        }
    }

    /// Applies a step's results (`update_from_output`): requests whose whole sequence is now
    /// computed sample a token (plus accepted drafts); finished ones leave and free blocks.
    pub(crate) fn update_from_output(
        &mut self,
        out: &SchedulerOutput,
        rng: &mut StdRng,
        spec_stats: &mut Option<SpecDecodeStats>,
    ) -> Vec<TokenOutput> {
        let mut outputs = Vec::with_capacity(out.entries.len());
        for e in &out.entries {
            if let Some(output) = self.sample(e, rng, spec_stats) {
                outputs.push(output);
            }
        }
        if outputs.iter().any(|o| o.finished) {
            self.remove_finished(&outputs);
        }
        outputs
    }

    fn sample(
        &mut self,
        e: &BatchEntry,
        rng: &mut StdRng,
        spec_stats: &mut Option<SpecDecodeStats>,
    ) -> Option<TokenOutput> {
        let (max_model_len, block_size) = (self.config.max_model_len, self.config.block_size);
        let spec = self.config.spec_decode.as_ref();
        let r = self.reqs.get_mut(&e.request.0)?;
        if r.status != Status::Running || r.num_computed_tokens < r.num_tokens() {
            return None;
        }
        let mut generated = 1;
        if let (Some(spec), Some(stats)) = (spec, spec_stats.as_mut())
            && e.num_spec_tokens > 0
        {
            let accepted = spec.sample_accepted(e.num_spec_tokens, rng);
            stats.observe(e.num_spec_tokens, accepted);
            r.num_computed_tokens -= e.num_spec_tokens - accepted;
            generated += accepted;
        }
        let room = r.max_tokens.min(max_model_len - r.num_prompt_tokens) - r.num_output_tokens;
        let num_tokens = generated.min(room);
        r.num_output_tokens += num_tokens;
        let finished = num_tokens == room;
        if finished {
            r.status = Status::Finished;
        } else {
            r.num_spec_tokens = spec.map_or(0, |s| s.num_speculative_tokens);
        }
        if self.config.enable_prefix_caching {
            r.update_hashes(e.request.0, block_size);
        }
        Some(TokenOutput {
            request: e.request,
            num_tokens,
            finished,
        })
    }

    fn remove_finished(&mut self, outputs: &[TokenOutput]) {
        for o in outputs.iter().filter(|o| o.finished) {
            self.kv.free(o.request.0);
            self.reqs.remove(&o.request.0);
        }
        let reqs = &self.reqs;
        self.running.retain(|slot| reqs.contains_key(slot));
    }

    /// Removes a request wherever it is and frees its blocks (`finish_requests` with
    /// `FINISHED_ABORTED`); `false` if it was not known.
    pub(crate) fn abort(&mut self, id: RequestId) -> bool {
        if self.reqs.remove(&id.0).is_none() {
            return false;
        }
        self.kv.free(id.0);
        self.running.retain(|&slot| slot != id.0);
        self.waiting.retain(|&slot| slot != id.0);
        true
    }

    /// Preemptions so far of a request still known to the scheduler.
    pub(crate) fn num_preemptions(&self, id: RequestId) -> Option<u32> {
        self.reqs.get(&id.0).map(|r| r.num_preemptions)
    }
}
