//! Provides the vLLM V1 scheduler: decode-first continuous batching under a token budget,
//! chunked prefill, FCFS admission, preemption by recomputation and prefix-cache lookups.
//!
//! Mirrors `Scheduler.schedule()`, `_preempt_request()` and `_update_after_schedule()` in
//! vllm/v1/core/sched/scheduler.py, plus the output placeholders of `AsyncScheduler`
//! (vllm/v1/core/sched/async_scheduler.py), vLLM 0.32, for the FCFS policy without KV
//! encoders, LoRA or pipeline parallelism; the KV connectors are CPU offloading
//! ([`offload`]) and prefill/decode disaggregation ([`remote`]). Output processing is in
//! [`update`].

mod offload;
mod remote;
mod update;

use std::collections::{BTreeSet, VecDeque};

use crate::EngineConfig;
use crate::batch::{BatchEntry, EntryKind};
use crate::block_pool::BlockId;
use crate::idmap::IdMap;
use crate::kv_manager::{Alloc, KvCacheManager};
use crate::offload::connector::OffloadConnector;
use crate::offload::transfer::TransferJob;
use crate::records::{PrefixCacheStats, RequestId};
use crate::state::{ReqState, Status};

pub(crate) use update::TokenOutput;

/// What one `schedule()` call decided.
#[derive(Debug, Default)]
pub(crate) struct SchedulerOutput {
    /// Scheduled requests, running ones first.
    pub(crate) entries: Vec<BatchEntry>,
    /// For each entry, whether its request samples a token in this step (its whole known
    /// sequence is computed after the step: not a partial prefill).
    pub(crate) samples: Vec<bool>,
    /// Requests preempted while scheduling.
    pub(crate) preempted: Vec<RequestId>,
    /// Prefix-cache lookups of admitted requests.
    pub(crate) prefix_cache: PrefixCacheStats,
    /// The KV connector's lookups of admitted requests, with a connector.
    pub(crate) connector_prefix_cache: Option<PrefixCacheStats>,
    /// Offload transfer jobs created while scheduling (the connector metadata).
    pub(crate) transfers: Vec<TransferJob>,
    /// Requests scheduled after their KV load landed, with their prefill split.
    pub(crate) loaded: Vec<LoadedPrefill>,
}

/// The prefill split of a request whose prefix was loaded (vLLM's `PrefillStats`, set when
/// the load was admitted).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadedPrefill {
    pub(crate) request: RequestId,
    /// Local plus external cached tokens.
    pub(crate) cached: u32,
    /// Tokens loaded through the connector.
    pub(crate) external: u32,
}

/// What became of a waiting request this step.
#[derive(Debug)]
enum Admission {
    /// Scheduled.
    Scheduled(BatchEntry),
    /// Skipped, keeping its place: its KV is loading, or the connector asked to wait.
    Skipped,
    /// Not enough room: admission stops for this step.
    Blocked,
}

impl SchedulerOutput {
    /// Σ scheduled tokens.
    pub(crate) fn total_tokens(&self) -> u32 {
        self.entries.iter().map(|e| e.num_scheduled_tokens).sum()
    }
}

/// The scheduler with its queues and the KV cache manager.
#[derive(Debug)]
pub(crate) struct Scheduler {
    config: EngineConfig,
    reqs: IdMap<ReqState>,
    waiting: VecDeque<u32>,
    running: Vec<u32>,
    kv: KvCacheManager,
    offload: Option<OffloadConnector>,
    /// Requests whose prefill is loading or unfinished, with a KV connector only
    /// (`_inflight_prefills`).
    inflight_prefills: BTreeSet<u32>,
    /// Prefill/decode disaggregation: KV pulls and blocks held for a decode instance.
    remote: remote::RemoteKv,
}

impl Scheduler {
    pub(crate) fn new(config: &EngineConfig) -> Self {
        Scheduler {
            config: config.clone(),
            reqs: IdMap::default(),
            waiting: VecDeque::new(),
            running: Vec::new(),
            kv: KvCacheManager::new(config),
            offload: OffloadConnector::from_config(config),
            inflight_prefills: BTreeSet::new(),
            remote: remote::RemoteKv::default(),
        }
    }

    /// Queues a request at the back of the waiting queue (`add_request`). Blocks are hashed
    /// with prefix caching or a KV connector, as vLLM's `EngineCore` does.
    pub(crate) fn add(&mut self, id: RequestId, mut state: ReqState) {
        self.remote.enabled |= state.kv_transfer != crate::request::KvTransfer::None;
        if self.config.enable_prefix_caching || self.has_connector() {
            state.update_hashes(id.0, self.config.block_size);
        }
        if let Some(c) = self.offload.as_mut() {
            c.on_new_request(id.0, state.num_prompt_tokens, &state.block_hashes);
        }
        self.reqs.insert(id.0, state);
        self.waiting.push_back(id.0);
    }

    /// Whether any request is waiting or running, or finished requests still have to be
    /// passed to the KV connector (`has_requests`, `has_finished_requests`).
    pub(crate) fn has_requests(&self) -> bool {
        let finished = self
            .offload
            .as_ref()
            .is_some_and(OffloadConnector::has_finished_requests);
        !self.waiting.is_empty() || !self.running.is_empty() || finished
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

    pub(crate) fn reset_prefix_cache(&mut self) -> bool {
        self.kv.reset_prefix_cache()
    }

    /// Plans one step (`schedule()`): running requests first, then, if nothing was
    /// preempted, admissions from the waiting queue.
    pub(crate) fn schedule(&mut self) -> SchedulerOutput {
        let mut out = SchedulerOutput {
            connector_prefix_cache: self.offload.as_ref().map(|_| PrefixCacheStats::default()),
            ..Default::default()
        };
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
        self.build_connector_meta(&mut out);
        self.update_after_schedule(&mut out);
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
    /// prefill threshold, the budget and `max_model_len`; 0 when async scheduling already
    /// has its last token in flight.
    fn running_tokens(&self, slot: u32, budget: u32, threshold: u32) -> u32 {
        let r = &self.reqs[&slot];
        if r.last_token_in_flight() {
            return 0;
        }
        let mut n = r.num_tokens_with_spec() + r.num_output_placeholders - r.num_computed_tokens;
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
        let known = r.num_tokens() + r.num_output_placeholders;
        let drafts = (r.num_computed_tokens + n).saturating_sub(known);
        let num_spec_tokens = drafts.min(r.num_spec_tokens);
        r.num_spec_tokens = 0;
        BatchEntry {
            request: RequestId(slot),
            num_computed_tokens: r.num_computed_tokens,
            num_scheduled_tokens: n,
            num_spec_tokens,
            num_cached_tokens: 0,
            kind: EntryKind::Running,
            is_context: r.num_output_tokens + r.num_output_placeholders == 0,
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
                num_external_computed_tokens: 0,
                delay_cache_blocks: false,
                reserved_blocks: 0,
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
    /// (`_preempt_request`). Output still in flight becomes stale: it is delivered, but the
    /// request waits until it has drained.
    fn preempt(&mut self, slot: u32) {
        self.kv.free(slot);
        self.inflight_prefills.remove(&slot);
        if let Some(c) = self.offload.as_mut() {
            c.on_preempt(slot);
        }
        let r = self
            .reqs
            .get_mut(&slot)
            .expect("preempted request has state");
        r.status = Status::Preempted;
        r.num_computed_tokens = 0;
        r.num_spec_tokens = 0;
        r.num_stale_tokens = r.num_in_flight_tokens;
        r.num_output_placeholders = 0;
        r.num_preemptions += 1;
        self.waiting.push_front(slot);
    }

    /// The waiting loop: FCFS admission while budget, `max_num_seqs` and blocks allow;
    /// requests with stale output in flight or KV still loading are skipped and keep their
    /// place. With a KV connector, requests holding KV blocks (loading or loaded) go first,
    /// as vLLM drains its `kv_holding_waiting` queue before `waiting`.
    fn schedule_waiting(&mut self, out: &mut SchedulerOutput, budget: &mut u32, threshold: u32) {
        let holding_first = self.has_connector();
        if holding_first && !self.admit_waiting(out, budget, threshold, Some(true)) {
            return;
        }
        self.admit_waiting(out, budget, threshold, holding_first.then_some(false));
    }

    /// One FCFS pass over the waiting requests that hold KV blocks (`Some(true)`), that do
    /// not (`Some(false)`), or all; `false` when admission stopped before the queue's end.
    fn admit_waiting(
        &mut self,
        out: &mut SchedulerOutput,
        budget: &mut u32,
        threshold: u32,
        holding: Option<bool>,
    ) -> bool {
        let mut j = 0;
        while *budget > 0 && self.running.len() < self.config.max_num_seqs as usize {
            let Some(&slot) = self.waiting.get(j) else {
                return true;
            };
            let other_queue = holding.is_some_and(|h| self.reqs[&slot].holds_kv_blocks() != h);
            if other_queue || self.reqs[&slot].num_stale_tokens > 0 || self.still_loading(slot) {
                j += 1;
                continue;
            }
            match self.try_admit(slot, *budget, threshold, out) {
                Admission::Scheduled(entry) => {
                    self.take_loaded_prefill(slot, out);
                    self.waiting.remove(j);
                    self.running.push(slot);
                    *budget -= entry.num_scheduled_tokens;
                    out.entries.push(entry);
                }
                Admission::Skipped => j += 1,
                Admission::Blocked => return false,
            }
        }
        false
    }

    /// Looks up the prefix cache (and the KV connector) and allocates for a waiting request.
    /// A request whose load has landed resumes from its loaded tokens.
    fn try_admit(
        &mut self,
        slot: u32,
        budget: u32,
        threshold: u32,
        out: &mut SchedulerOutput,
    ) -> Admission {
        let r = &self.reqs[&slot];
        if r.num_computed_tokens > 0 {
            return self.schedule_prefill(slot, &[], budget, threshold);
        }
        let (hit, cached) = self.kv.computed_blocks(&r.block_hashes, r.num_tokens());
        if let Some(admission) = self.start_remote_pull(slot, &hit, cached, out) {
            return admission;
        }
        let Some(external) = self.external_hit(slot, cached) else {
            return Admission::Skipped;
        };
        if external > 0 {
            return self.start_load(slot, &hit, external, out);
        }
        let admission = self.schedule_prefill(slot, &hit, budget, threshold);
        if matches!(admission, Admission::Scheduled(_)) {
            self.record_prefix_hit(slot, cached, 0, out);
        }
        admission
    }

    /// Allocates and schedules the uncomputed tokens after the request's computed ones and
    /// the prefix-hit blocks `hit`.
    fn schedule_prefill(
        &mut self,
        slot: u32,
        hit: &[BlockId],
        budget: u32,
        threshold: u32,
    ) -> Admission {
        let r = &self.reqs[&slot];
        let cached = r.num_computed_tokens + hit.len() as u32 * self.config.block_size;
        let mut n = r.num_tokens() - cached;
        if threshold > 0 && n > threshold {
            n = threshold;
        }
        if !self.config.enable_chunked_prefill && n > budget {
            return Admission::Blocked;
        }
        let n = n.min(budget);
        let alloc = Alloc {
            req: slot,
            num_computed_tokens: r.num_computed_tokens,
            num_new_tokens: n,
            new_computed: hit,
            num_external_computed_tokens: 0,
            delay_cache_blocks: false,
            reserved_blocks: 0,
            num_tokens: r.num_tokens(),
            num_lookahead_tokens: self.lookahead(),
            admission: true,
            apply_watermark: !self.running.is_empty(),
            hashes: &r.block_hashes,
        };
        if !self.kv.allocate_slots(&alloc) {
            return Admission::Blocked;
        }
        Admission::Scheduled(self.admit(slot, n, cached))
    }

    /// Counts an admitted request's prefix-cache lookup (`record_prefix_cache_stats`) and
    /// its connector lookup past the `cached` GPU tokens, `external` found
    /// (`connector_prefix_cache_stats.record`, skipped when nothing was left to query).
    fn record_prefix_hit(&self, slot: u32, cached: u32, external: u32, out: &mut SchedulerOutput) {
        let r = &self.reqs[&slot];
        let preempted = r.num_preemptions > 0;
        if self.config.enable_prefix_caching {
            out.prefix_cache.record(r.num_tokens(), cached, preempted);
        }
        let queries = r.num_tokens() - cached;
        if let Some(stats) = out.connector_prefix_cache.as_mut().filter(|_| queries > 0) {
            stats.record(queries, external, preempted);
        }
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

    /// Advances `num_computed_tokens` by the scheduled tokens and decides which requests
    /// sample (`_update_after_schedule`). With async scheduling, a sampling request gets
    /// output placeholders (and placeholder drafts) so the next step can schedule its decode
    /// before this step's output is known (`AsyncScheduler._update_after_schedule`).
    fn update_after_schedule(&mut self, out: &mut SchedulerOutput) {
        let num_drafts = self
            .config
            .spec_decode
            .as_ref()
            .map_or(0, |s| s.num_speculative_tokens);
        for e in &out.entries {
            let Some(r) = self.reqs.get_mut(&e.request.0) else {
                continue;
            };
            r.num_computed_tokens += e.num_scheduled_tokens;
            r.num_in_flight_tokens += e.num_scheduled_tokens;
            let samples = r.num_computed_tokens >= r.num_tokens() + r.num_output_placeholders;
            if samples && self.config.async_scheduling {
                r.num_output_placeholders += 1 + e.num_spec_tokens;
                r.num_spec_tokens = num_drafts;
            }
            out.samples.push(samples);
        }
        self.track_inflight_prefills(out);
    }

    /// Removes a request wherever it is and frees its blocks (`finish_requests` with
    /// `FINISHED_ABORTED`); `false` if it was not known.
    pub(crate) fn abort(&mut self, id: RequestId) -> bool {
        let Some(r) = self.reqs.remove(&id.0) else {
            return false;
        };
        self.offload_request_finished(id.0, r.num_computed_tokens);
        self.forget_remote(id.0);
        self.inflight_prefills.remove(&id.0);
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
