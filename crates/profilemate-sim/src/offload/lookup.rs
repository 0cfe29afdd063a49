//! Provides the connector's admission hooks: how many tokens beyond the GPU prefix hit the
//! CPU tier holds, and the load job for them.
//!
//! Mirrors `OffloadingConnectorScheduler.get_num_new_matched_tokens`,
//! `_lookup_complete_chunks` / `_maximal_prefix_lookup` and `update_state_after_alloc` in
//! vllm/distributed/kv_transfer/kv_connector/v1/offloading/scheduler.py, vLLM 0.32, for one
//! full-attention group. Lookups take no virtual time: each observes 0 s of sync delay.

use super::connector::OffloadConnector;
use super::cpu_pool::{Lookup, OffloadKey};
use super::metrics;
use super::transfer::Direction;

impl OffloadConnector {
    /// Tokens beyond `num_computed` (the GPU hit) loadable from the CPU, 0 for none; `None`
    /// when the request must wait (its own transfers in flight, a hit still being stored or
    /// loaded by another request): the scheduler skips it this step.
    pub(crate) fn get_num_new_matched_tokens(
        &mut self,
        req: u32,
        num_tokens: u32,
        num_computed: u32,
    ) -> Option<u32> {
        let state = self.reqs.get_mut(&req)?;
        state.num_blocks = 0;
        if state.num_jobs > 0 {
            return None;
        }
        let hit = self.lookup(req, num_tokens, num_computed);
        metrics::observe(&mut self.stats, metrics::LOOKUP_SYNC_DELAY, 0.0);
        match hit {
            None => self.defer_lookup(req),
            Some(_) => self.observe_async_delay(req),
        }
        hit
    }

    /// Notes when the request's lookup was first deferred.
    fn defer_lookup(&mut self, req: u32) {
        let now = self.now;
        if let Some(state) = self.reqs.get_mut(&req) {
            state.deferred_since.get_or_insert(now);
        }
    }

    /// The maximal run of stored chunks after the GPU hit, in tokens (`_lookup`).
    fn lookup(&self, req: u32, num_tokens: u32, num_computed: u32) -> Option<u32> {
        let tpc = self.geo.tokens_per_chunk();
        let keys = &self.reqs.get(&req)?.keys;
        let max_hit = num_tokens.min(keys.len() as u32 * tpc);
        if max_hit.saturating_sub(num_computed) < tpc {
            return Some(0);
        }
        let start = num_computed / tpc;
        let end = max_hit.div_ceil(tpc).min(keys.len() as u32);
        let hits = self.maximal_prefix(&keys[start as usize..end as usize])?;
        let hit_end = max_hit.min(tpc * (start + hits));
        let n = hit_end.saturating_sub(num_computed);
        if n < tpc {
            return Some(0);
        }
        let hit_keys = &keys[start as usize..hit_end.div_ceil(tpc) as usize];
        let loading = self.being_loaded.as_ref();
        if loading.is_some_and(|l| hit_keys.iter().any(|k| l.contains_key(k))) {
            return None;
        }
        Some(n)
    }

    /// Consecutive stored chunks from the start; `None` if one is still being stored
    /// (`_maximal_prefix_lookup` with `HIT_PENDING`).
    fn maximal_prefix(&self, keys: &[OffloadKey]) -> Option<u32> {
        let mut hits = 0;
        let mut pending = false;
        for &key in keys {
            match self.pool.lookup(key) {
                Lookup::Hit => hits += 1,
                Lookup::HitPending => {
                    pending = true;
                    hits += 1;
                }
                Lookup::Miss => break,
            }
        }
        (!pending).then_some(hits)
    }

    /// Creates the load job of an admitted request: the chunks covering its fresh GPU blocks
    /// up to `local + external` tokens, pinned on the CPU (`update_state_after_alloc`).
    pub(crate) fn update_state_after_alloc(&mut self, req: u32, local: u32, external: u32) {
        if external == 0 {
            return;
        }
        let (bs, bpc) = (self.geo.gpu_block_size, self.geo.blocks_per_chunk);
        let cached = local + external;
        let first_fresh = local.div_ceil(bs);
        let num_blocks = cached.div_ceil(bs) - first_fresh;
        let num_chunks = cached.div_ceil(self.geo.tokens_per_chunk());
        let Some(state) = self.reqs.get_mut(&req) else {
            return;
        };
        let range = (first_fresh / bpc) as usize..(num_chunks as usize).min(state.keys.len());
        let keys: Vec<OffloadKey> = state.keys.get(range.clone()).unwrap_or_default().to_vec();
        state
            .accessed
            .extend(range.map(|i| i as u32).zip(keys.iter().copied()));
        state.next_stored_chunk = num_chunks;
        self.pool.prepare_load(&keys);
        if let Some(loading) = self.being_loaded.as_mut() {
            keys.iter()
                .for_each(|&k| *loading.entry(k).or_default() += 1);
        }
        self.add_job(req, Direction::Load, keys, num_blocks);
    }
}
