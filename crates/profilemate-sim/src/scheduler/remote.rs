//! Connects the scheduler to prefill/decode disaggregation (vLLM's NIXL connector, pull
//! mode): a decode instance admits a remotely prefilled request into
//! `WAITING_FOR_REMOTE_KVS`, pulls its prompt's KV over the instance's link, then recomputes
//! the last prompt token; a prefill instance keeps a finished request's blocks until the
//! decode side has read them.
//!
//! Mirrors `get_num_new_matched_tokens` / `request_finished` of
//! vllm/distributed/kv_transfer/kv_connector/v1/nixl/pull_scheduler.py and the remote-KV
//! paths of `Scheduler.schedule()` / `_update_waiting_for_remote_kv`
//! (vllm/v1/core/sched/scheduler.py), vLLM 0.32. The transfer itself is a time on the link
//! ([`KvLink`]): pulls hold it one at a time in admission order, each for its bytes over the
//! bandwidth, and land a fixed latency after.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use super::{Admission, Scheduler, SchedulerOutput};
use crate::block_pool::BlockId;
use crate::request::{KvLink, KvTransfer};
use crate::state::Status;

/// The disaggregation side of one scheduler: pulls in progress and blocks held for a
/// decode instance.
#[derive(Debug, Default)]
pub(crate) struct RemoteKv {
    /// A request with a [`KvTransfer`] was ever added: the scheduler then behaves as with a
    /// KV connector (requests holding blocks are admitted first, prefills in flight reserve
    /// their blocks).
    pub(super) enabled: bool,
    /// The scheduler's current time.
    pub(super) now: Duration,
    /// When the link finishes the last pull started.
    link_free_at: Duration,
    /// Pulls in progress: (landing time, request).
    landing: BTreeSet<(Duration, u32)>,
    /// Each pulling request's landing time.
    lands_at: HashMap<u32, Duration>,
    /// Finished prefills whose blocks wait for the decode side.
    held: HashSet<u32>,
    /// Pulls landed since the last [`Scheduler::take_landed_pulls`], with their landing time.
    landed: Vec<(u32, Duration)>,
}

impl Scheduler {
    /// Whether the scheduler has a KV connector (CPU offloading or disaggregation).
    pub(super) fn has_connector(&self) -> bool {
        self.offload.is_some() || self.remote.enabled
    }

    /// For a remotely prefilled request: allocates blocks for its whole prompt past the
    /// local hit (`hit`, `cached` tokens) and starts the pull; `None` when there is nothing
    /// to pull (a plain request, or the whole prompt hits locally).
    pub(super) fn start_remote_pull(
        &mut self,
        slot: u32,
        hit: &[BlockId],
        cached: u32,
        out: &mut SchedulerOutput,
    ) -> Option<Admission> {
        let r = &self.reqs[&slot];
        let KvTransfer::RemotePrefill(link) = r.kv_transfer else {
            return None;
        };
        // The decode side asks for every prompt token (no backoff for attention models).
        let external = r.num_prompt_tokens.saturating_sub(cached);
        if external == 0 {
            return None;
        }
        if !self.allocate_for_load(slot, hit, external) {
            return Some(Admission::Blocked);
        }
        self.record_prefix_hit(slot, cached, external, out);
        let lands = self.schedule_pull(&link, external);
        self.remote.landing.insert((lands, slot));
        self.remote.lands_at.insert(slot, lands);
        if let Some(r) = self.reqs.get_mut(&slot) {
            r.status = Status::WaitingForRemoteKvs;
            r.num_computed_tokens = cached + external;
            r.kv_transfer = KvTransfer::None;
        }
        self.inflight_prefills.insert(slot);
        Some(Admission::Skipped)
    }

    /// Puts a pull of `tokens` tokens on the link; returns when it lands.
    fn schedule_pull(&mut self, link: &KvLink, tokens: u32) -> Duration {
        let start = self.remote.now.max(self.remote.link_free_at);
        let free = start.saturating_add(link.busy_time(tokens));
        self.remote.link_free_at = free;
        free.saturating_add(link.latency)
    }

    /// For a request whose KV is pulled: `Some(true)` while the pull is in progress;
    /// `Some(false)` once it has landed, the blocks cached and the request waiting again
    /// with its last prompt token to recompute (`_update_waiting_for_remote_kv`); `None`
    /// when it pulls nothing.
    pub(super) fn remote_pull_pending(&mut self, slot: u32) -> Option<bool> {
        let lands = *self.remote.lands_at.get(&slot)?;
        if lands > self.remote.now {
            return Some(true);
        }
        self.remote.lands_at.remove(&slot);
        self.remote.landing.remove(&(lands, slot));
        self.remote.landed.push((slot, lands));
        let r = self.reqs.get_mut(&slot)?;
        self.kv
            .cache_blocks(slot, r.num_computed_tokens, &r.block_hashes);
        if r.num_computed_tokens == r.num_tokens() {
            r.num_computed_tokens -= 1;
        }
        r.status = Status::Waiting;
        Some(false)
    }

    /// The pulls landed since the last call, with when each landed.
    pub(crate) fn take_landed_pulls(&mut self) -> Vec<(u32, Duration)> {
        std::mem::take(&mut self.remote.landed)
    }

    /// When the next pull in progress lands.
    pub(crate) fn next_remote_landing(&self) -> Option<Duration> {
        self.remote.landing.first().map(|(t, _)| *t)
    }

    /// Whether a finished request keeps its blocks for a decode instance; if so they are
    /// held until [`release_held`](Self::release_held).
    pub(super) fn hold_after_finish(&mut self, slot: u32, kv_transfer: KvTransfer) -> bool {
        if kv_transfer != KvTransfer::RemoteDecode {
            return false;
        }
        self.remote.held.insert(slot);
        true
    }

    /// Frees the blocks a finished prefill held for its decode instance; `false` if it
    /// held none.
    pub(crate) fn release_held(&mut self, slot: u32) -> bool {
        if !self.remote.held.remove(&slot) {
            return false;
        }
        self.kv.free(slot);
        true
    }

    /// Forgets a pull of a request that leaves (abort).
    pub(super) fn forget_remote(&mut self, slot: u32) {
        if let Some(lands) = self.remote.lands_at.remove(&slot) {
            self.remote.landing.remove(&(lands, slot));
        }
        self.release_held(slot);
    }
}
