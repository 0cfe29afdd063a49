//! Connects the scheduler to the KV-offload connector: CPU lookups at admission, async loads
//! (`WAITING_FOR_REMOTE_KVS`), the per-step connector metadata, and transfer completions.
//!
//! Mirrors the KV-connector paths of `Scheduler.schedule()`, `_update_waiting_for_remote_kv`
//! and `_update_from_kv_xfer_finished` in vllm/v1/core/sched/scheduler.py, vLLM 0.32.

use std::time::Duration;

use profilemate_metrics::offload::OffloadStats;

use super::{Admission, LoadedPrefill, Scheduler, SchedulerOutput};
use crate::batch::EntryKind;
use crate::block_pool::BlockId;
use crate::kv_manager::Alloc;
use crate::offload::store::StoreCandidate;
use crate::offload::transfer::Transfer;
use crate::records::RequestId;
use crate::state::Status;

impl Scheduler {
    /// Sets the virtual time the connectors stamp lookups, pulls and finishes with.
    pub(crate) fn set_now(&mut self, now: Duration) {
        self.remote.now = now;
        if let Some(c) = self.offload.as_mut() {
            c.set_now(now);
        }
    }

    /// Whether a request waits for its KV load. A landed load caches the loaded blocks and
    /// turns the request back into a waiting (or preempted) one, a full-prompt hit
    /// recomputing its last token (`_update_waiting_for_remote_kv`).
    pub(super) fn still_loading(&mut self, slot: u32) -> bool {
        if self.reqs[&slot].status != Status::WaitingForRemoteKvs {
            return false;
        }
        if let Some(pending) = self.remote_pull_pending(slot) {
            return pending;
        }
        if !self
            .offload
            .as_mut()
            .is_some_and(|c| c.take_load_done(slot))
        {
            return true;
        }
        let Some(r) = self.reqs.get_mut(&slot) else {
            return true;
        };
        self.kv
            .cache_blocks(slot, r.num_computed_tokens, &r.block_hashes);
        if r.num_computed_tokens == r.num_tokens() {
            r.num_computed_tokens -= 1;
        }
        r.status = if r.num_preemptions > 0 {
            Status::Preempted
        } else {
            Status::Waiting
        };
        false
    }

    /// Reports the prefill split of a request scheduled after its load landed.
    pub(super) fn take_loaded_prefill(&mut self, slot: u32, out: &mut SchedulerOutput) {
        let split = self
            .reqs
            .get_mut(&slot)
            .and_then(|r| r.loaded_prefill.take());
        if let Some((cached, external)) = split {
            out.loaded.push(LoadedPrefill {
                request: RequestId(slot),
                cached,
                external,
            });
        }
    }

    /// Tokens the CPU tier adds after the GPU hit of `cached` tokens; `None` when the
    /// connector asks to wait (`get_num_new_matched_tokens`).
    pub(super) fn external_hit(&mut self, slot: u32, cached: u32) -> Option<u32> {
        let Some(c) = self.offload.as_mut() else {
            return Some(0);
        };
        c.get_num_new_matched_tokens(slot, self.reqs[&slot].num_tokens(), cached)
    }

    /// Admits a request whose prefix loads from the CPU: blocks for the hit and the loaded
    /// tokens, no forward pass yet, status `WAITING_FOR_REMOTE_KVS` (the `load_kv_async`
    /// path of `schedule()`).
    pub(super) fn start_load(
        &mut self,
        slot: u32,
        hit: &[BlockId],
        external: u32,
        out: &mut SchedulerOutput,
    ) -> Admission {
        let local = hit.len() as u32 * self.config.block_size;
        if !self.allocate_for_load(slot, hit, external) {
            return Admission::Blocked;
        }
        self.record_prefix_hit(slot, local, external, out);
        if let Some(c) = self.offload.as_mut() {
            c.update_state_after_alloc(slot, local, external);
        }
        if let Some(r) = self.reqs.get_mut(&slot) {
            r.status = Status::WaitingForRemoteKvs;
            r.num_computed_tokens = local + external;
            if r.num_preemptions == 0 {
                r.loaded_prefill = Some((local + external, external));
            }
        }
        self.inflight_prefills.insert(slot);
        Admission::Skipped
    }

    /// Allocates an async load's blocks: the prefix-cache hit `hit` plus `external` tokens
    /// to load, none computed yet, caching delayed until the load lands; `false` when they
    /// do not fit.
    pub(super) fn allocate_for_load(&mut self, slot: u32, hit: &[BlockId], external: u32) -> bool {
        let r = &self.reqs[&slot];
        let alloc = Alloc {
            req: slot,
            num_computed_tokens: 0,
            num_new_tokens: 0,
            new_computed: hit,
            num_external_computed_tokens: external,
            delay_cache_blocks: true,
            reserved_blocks: self.inflight_reserved_blocks(),
            num_tokens: r.num_tokens(),
            num_lookahead_tokens: 0,
            admission: true,
            apply_watermark: !self.running.is_empty(),
            hashes: &r.block_hashes,
        };
        self.kv.allocate_slots(&alloc)
    }

    /// Blocks an async load must leave free: what the in-flight prefills still need for
    /// their whole sequence, plus one decode step's draft blocks
    /// (`_inflight_prefill_reserved_blocks() + _spec_decode_step_blocks`).
    fn inflight_reserved_blocks(&self) -> u32 {
        let bs = self.config.block_size;
        let spec = self
            .config
            .spec_decode
            .as_ref()
            .map_or(0, |s| 1 + s.num_speculative_tokens + s.num_lookahead_tokens);
        let remaining = |slot: &u32| {
            let r = &self.reqs[slot];
            let full = r.num_tokens().min(self.config.max_model_len) + spec;
            full.div_ceil(bs).saturating_sub(self.kv.num_blocks(*slot))
        };
        let inflight: u32 = self.inflight_prefills.iter().map(remaining).sum();
        inflight + spec.div_ceil(bs)
    }

    /// Keeps `_inflight_prefills` (only with a KV connector): admissions whose prefill goes
    /// on join, requests done prefilling leave (`_update_after_schedule`).
    pub(super) fn track_inflight_prefills(&mut self, out: &SchedulerOutput) {
        if !self.has_connector() {
            return;
        }
        for (e, &samples) in out.entries.iter().zip(&out.samples) {
            if samples {
                self.inflight_prefills.remove(&e.request.0);
            } else if e.kind != EntryKind::Running {
                self.inflight_prefills.insert(e.request.0);
            }
        }
    }

    /// The connector's store decisions for the scheduled requests, and every job created
    /// while scheduling (`build_connector_meta`, before `_update_after_schedule`).
    pub(super) fn build_connector_meta(&mut self, out: &mut SchedulerOutput) {
        let Some(c) = self.offload.as_mut() else {
            return;
        };
        let kv = &self.kv;
        let scheduled = out.entries.iter().map(|e| StoreCandidate {
            req: e.request.0,
            tokens_after_batch: e.num_computed_tokens + e.num_scheduled_tokens,
            num_blocks: kv.num_blocks(e.request.0),
        });
        out.transfers = c.build_connector_meta(scheduled);
    }

    /// Tells the connector a request finished with `tokens_after_batch` tokens computed.
    pub(super) fn offload_request_finished(&mut self, slot: u32, tokens_after_batch: u32) {
        if let Some(c) = self.offload.as_mut() {
            c.request_finished(slot, tokens_after_batch);
        }
    }

    /// Applies finished transfers (`update_connector_output`).
    pub(crate) fn complete_transfers(&mut self, done: &[Transfer]) {
        if let Some(c) = self.offload.as_mut() {
            c.complete(done);
        }
    }

    /// The connector's stats payload since the last call (`get_kv_connector_stats`).
    pub(crate) fn take_offload_stats(&mut self) -> Option<OffloadStats> {
        self.offload.as_mut().map(|c| c.take_stats())
    }
}
