//! Provides the connector's per-step store decisions: which newly computed prompt chunks to
//! copy to the CPU, and the finishing of requests.
//!
//! Mirrors `OffloadingConnectorScheduler.build_connector_meta` / `_build_store_jobs` and
//! `RequestOffloadState.storable_chunks` in
//! vllm/distributed/kv_transfer/kv_connector/v1/offloading/scheduler.py, vLLM 0.32: every
//! step, each scheduled request offers the full chunks its tokens after the step cover
//! (prompt only), from the first not yet stored; chunks already on the CPU are not copied
//! again; a failed allocation is counted and retried at the next step.

use super::connector::OffloadConnector;
use super::cpu_pool::{Lookup, OffloadKey};
use super::metrics;
use super::transfer::{Direction, TransferJob};

/// A request scheduled in this step, as the store policy sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreCandidate {
    /// Request index.
    pub(crate) req: u32,
    /// `num_computed_tokens + num_scheduled_tokens`.
    pub(crate) tokens_after_batch: u32,
    /// GPU blocks it holds after allocation.
    pub(crate) num_blocks: u32,
}

impl OffloadConnector {
    /// Builds this step's store jobs, finishes the requests that ended since the last call,
    /// and returns every job created since then (loads included).
    pub(crate) fn build_connector_meta(
        &mut self,
        scheduled: impl IntoIterator<Item = StoreCandidate>,
    ) -> Vec<TransferJob> {
        for c in scheduled {
            if let Some(state) = self.reqs.get_mut(&c.req) {
                state.num_blocks = c.num_blocks;
                self.store(c.req, c.tokens_after_batch);
            }
        }
        for req in std::mem::take(&mut self.finished) {
            let tokens = self.reqs.get(&req).and_then(|s| s.finished_tokens);
            if let Some(tokens) = tokens {
                self.store(req, tokens);
            }
            self.finish(req);
        }
        std::mem::take(&mut self.new_jobs)
    }

    /// Offers the request's new full prompt chunks for storing.
    fn store(&mut self, req: u32, tokens_after_batch: u32) {
        let Some(state) = self.reqs.get_mut(&req) else {
            return;
        };
        let offloadable = tokens_after_batch.min(state.num_prompt_tokens);
        let num_chunks = (offloadable / self.geo.tokens_per_chunk())
            .min(state.num_blocks / self.geo.blocks_per_chunk)
            .min(state.keys.len() as u32);
        let start = state.next_stored_chunk;
        if num_chunks <= start {
            return;
        }
        let offered: Vec<OffloadKey> = state.keys[start as usize..num_chunks as usize].to_vec();
        let Some(new) = self.pool.prepare_store(&offered) else {
            metrics::increase(&mut self.stats, metrics::ALLOCATION_FAILURE, 1_i64);
            return;
        };
        // Recorded for LRU: stored now, or already stored and readable.
        let pool = &self.pool;
        let used = (start..num_chunks)
            .zip(offered.iter().copied())
            .filter(|(_, k)| new.contains(k) || pool.lookup(*k) == Lookup::Hit);
        state.accessed.extend(used);
        state.next_stored_chunk = num_chunks;
        if !new.is_empty() {
            let blocks = new.len() as u32 * self.geo.blocks_per_chunk;
            self.add_job(req, Direction::Store, new, blocks);
        }
    }

    /// The request's chunks become the most recently used; its state is dropped
    /// (`on_request_finished`).
    fn finish(&mut self, req: u32) {
        if let Some(state) = self.reqs.remove(&req) {
            let keys: Vec<OffloadKey> = state.accessed.into_values().collect();
            self.pool.on_request_finished(&keys);
        }
    }
}
