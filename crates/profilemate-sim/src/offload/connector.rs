//! Provides [`OffloadConnector`], the scheduler side of the offloading connector: per-request
//! state, transfer jobs, their completion and the stats payload.
//!
//! Mirrors `OffloadingConnectorScheduler` (`on_new_request`, `request_finished`,
//! `update_connector_output`, `get_stats`) in
//! vllm/distributed/kv_transfer/kv_connector/v1/offloading/scheduler.py, vLLM 0.32, for one
//! full-attention group, the default chunk-level policy and `offload_prompt_only` (the
//! default: only prompt chunks are stored). Lookups and loads are in [`super::lookup`],
//! stores in [`super::store`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use profilemate_metrics::offload::OffloadStats;

use super::config::Geometry;
use super::cpu_pool::{CpuPool, OffloadKey};
use super::metrics;
use super::transfer::{Direction, Transfer, TransferJob};
use crate::block_hash::BlockHash;
use crate::idmap::IdMap;

/// One request's offloading state (`RequestOffloadState`).
#[derive(Debug, Default)]
pub(super) struct ReqOffload {
    /// Keys of the prompt's full chunks.
    pub(super) keys: Vec<OffloadKey>,
    pub(super) num_prompt_tokens: u32,
    /// Index of the next chunk to store.
    pub(super) next_stored_chunk: u32,
    /// GPU blocks the request holds (`len(block_ids)`).
    pub(super) num_blocks: u32,
    /// Jobs in flight: one load, or any number of stores.
    pub(super) num_jobs: u32,
    /// Its load has finished (`finished_recving`), not yet seen by the scheduler.
    pub(super) load_done: bool,
    /// When a lookup was first deferred, until it resolves.
    pub(super) deferred_since: Option<Duration>,
    /// Chunks it loaded or offered for storing, by index: its LRU footprint.
    pub(super) accessed: BTreeMap<u32, OffloadKey>,
    /// Tokens to store from at finish (`num_tokens_after_batch` of a finished request).
    pub(super) finished_tokens: Option<u32>,
}

/// A job in flight.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) req: u32,
    pub(super) keys: Vec<OffloadKey>,
}

/// The scheduler-side offloading connector with its CPU pool.
#[derive(Debug)]
pub(crate) struct OffloadConnector {
    pub(super) geo: Geometry,
    pub(super) pool: CpuPool,
    pub(super) reqs: IdMap<ReqOffload>,
    pub(super) jobs: HashMap<u64, Job>,
    next_job: u64,
    /// Chunks being loaded, with how many loads read them (`_chunks_being_loaded`); vLLM
    /// tracks them only with prefix caching.
    pub(super) being_loaded: Option<HashMap<OffloadKey, u32>>,
    /// Requests finished since the last `build_connector_meta`.
    pub(super) finished: Vec<u32>,
    pub(super) stats: OffloadStats,
    /// Jobs created since the last `build_connector_meta`.
    pub(super) new_jobs: Vec<TransferJob>,
    pub(super) now: Duration,
}

impl OffloadConnector {
    pub(crate) fn new(geo: Geometry, enable_prefix_caching: bool) -> Self {
        OffloadConnector {
            pool: CpuPool::new(geo.num_chunks),
            geo,
            reqs: IdMap::default(),
            jobs: HashMap::new(),
            next_job: 0,
            being_loaded: enable_prefix_caching.then(HashMap::new),
            finished: Vec::new(),
            stats: OffloadStats::new(),
            new_jobs: Vec::new(),
            now: Duration::ZERO,
        }
    }

    /// The connector of `config`, if it offloads (its settings are validated already).
    pub(crate) fn from_config(config: &crate::EngineConfig) -> Option<Self> {
        let offload = config.kv_offload.as_ref()?;
        let geo = offload.geometry(config.block_size).ok()?;
        Some(Self::new(geo, config.enable_prefix_caching))
    }

    /// Sets the virtual time lookups and finishes are stamped with.
    pub(crate) fn set_now(&mut self, now: Duration) {
        self.now = now;
    }

    /// Starts tracking a request from its prompt's block hashes (`on_new_request`).
    pub(crate) fn on_new_request(
        &mut self,
        req: u32,
        num_prompt_tokens: u32,
        hashes: &[BlockHash],
    ) {
        let bpc = self.geo.blocks_per_chunk as usize;
        let full = (num_prompt_tokens / self.geo.gpu_block_size) as usize;
        let keys = hashes[..full.min(hashes.len())]
            .iter()
            .skip(bpc - 1)
            .step_by(bpc)
            .copied()
            .collect();
        let state = ReqOffload {
            keys,
            num_prompt_tokens,
            ..Default::default()
        };
        self.reqs.insert(req, state);
    }

    /// A preempted request lost its GPU blocks.
    pub(crate) fn on_preempt(&mut self, req: u32) {
        if let Some(state) = self.reqs.get_mut(&req) {
            state.num_blocks = 0;
        }
    }

    /// A request finished or was aborted with `tokens_after_batch` tokens computed; its last
    /// stores are built at the next `build_connector_meta` (`request_finished`).
    pub(crate) fn request_finished(&mut self, req: u32, tokens_after_batch: u32) {
        let Some(state) = self.reqs.get_mut(&req) else {
            return;
        };
        state.finished_tokens = Some(tokens_after_batch);
        self.observe_async_delay(req);
        self.finished.push(req);
    }

    /// Observes the time since the request's lookup was first deferred, if it was
    /// (`_maybe_observe_lookup_async_delay`).
    pub(super) fn observe_async_delay(&mut self, req: u32) {
        let since = self
            .reqs
            .get_mut(&req)
            .and_then(|s| s.deferred_since.take());
        if let Some(since) = since {
            let delay = self.now.saturating_sub(since).as_secs_f64();
            metrics::observe(&mut self.stats, metrics::LOOKUP_ASYNC_DELAY, delay);
        }
    }

    /// Whether finished requests await their last `build_connector_meta`.
    pub(crate) fn has_finished_requests(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Whether the request's load has finished; clears the flag (`finished_recving`).
    pub(crate) fn take_load_done(&mut self, req: u32) -> bool {
        self.reqs
            .get_mut(&req)
            .is_some_and(|s| std::mem::take(&mut s.load_done))
    }

    /// Registers a new job for `req`.
    pub(super) fn add_job(
        &mut self,
        req: u32,
        direction: Direction,
        keys: Vec<OffloadKey>,
        blocks: u32,
    ) {
        let id = self.next_job;
        self.next_job += 1;
        let bytes = u64::from(blocks).saturating_mul(self.geo.block_bytes);
        self.new_jobs.push(TransferJob {
            id,
            direction,
            bytes,
        });
        self.jobs.insert(id, Job { req, keys });
        if let Some(state) = self.reqs.get_mut(&req) {
            state.num_jobs += 1;
        }
    }

    /// Applies finished transfers: their stats, then chunk states and request flags
    /// (`update_connector_output`).
    pub(crate) fn complete(&mut self, done: &[Transfer]) {
        self.record_transfers(done, Direction::Load);
        self.record_transfers(done, Direction::Store);
        for t in done {
            let Some(job) = self.jobs.remove(&t.job.id) else {
                continue;
            };
            match t.job.direction {
                Direction::Load => self.finish_load(&job),
                Direction::Store => self.pool.complete_store(&job.keys),
            }
            if let Some(state) = self.reqs.get_mut(&job.req) {
                state.num_jobs = state.num_jobs.saturating_sub(1);
            }
        }
    }

    fn finish_load(&mut self, job: &Job) {
        self.pool.complete_load(&job.keys);
        if let Some(loading) = self.being_loaded.as_mut() {
            for key in &job.keys {
                let left = loading.get_mut(key).map(|n| {
                    *n -= 1;
                    *n
                });
                if left == Some(0) {
                    loading.remove(key);
                }
            }
        }
        if let Some(state) = self.reqs.get_mut(&job.req) {
            state.load_done = true;
        }
    }

    /// One direction's `DirectionalTransferStats` of a step: bytes, time, then each size.
    fn record_transfers(&mut self, done: &[Transfer], direction: Direction) {
        let mine: Vec<&Transfer> = done
            .iter()
            .filter(|t| t.job.direction == direction)
            .collect();
        if mine.is_empty() {
            return;
        }
        let (bytes, time, size) = match direction {
            Direction::Load => (metrics::LOAD_BYTES, metrics::LOAD_TIME, metrics::LOAD_SIZE),
            Direction::Store => (
                metrics::STORE_BYTES,
                metrics::STORE_TIME,
                metrics::STORE_SIZE,
            ),
        };
        let total = mine
            .iter()
            .fold(0u64, |acc, t| acc.saturating_add(t.job.bytes));
        let secs = mine
            .iter()
            .fold(0.0, |acc, t| acc + t.duration.as_secs_f64());
        metrics::increase(&mut self.stats, bytes, total);
        metrics::increase(&mut self.stats, time, secs);
        for t in mine {
            metrics::observe(&mut self.stats, size, t.job.bytes);
        }
    }

    /// The payload since the last call: connector stats plus the CPU pool's (`get_stats`).
    pub(crate) fn take_stats(&mut self) -> OffloadStats {
        let mut stats = std::mem::take(&mut self.stats);
        self.pool.take_stats(&mut stats);
        stats
    }
}
