//! Provides the per-request view of the KV cache: prefix-cache lookups, slot allocation for
//! scheduled tokens, and freeing.
//!
//! Mirrors `KVCacheManager.get_computed_blocks` / `allocate_slots` / `free`
//! (vllm/v1/core/kv_cache_manager.py) with one full-attention group
//! (`FullAttentionManager` in vllm/v1/core/single_type_kv_cache_manager.py), vLLM 0.32.

use crate::block_hash::BlockHash;
use crate::block_pool::{BlockId, BlockPool};
use crate::idmap::IdMap;

/// Blocks one request holds and how many of them are registered in the prefix cache.
#[derive(Debug, Default)]
struct ReqBlocks {
    blocks: Vec<BlockId>,
    num_cached: usize,
}

/// One `allocate_slots` call.
#[derive(Debug)]
pub(crate) struct Alloc<'a> {
    /// Request index.
    pub(crate) req: u32,
    /// The request's `num_computed_tokens` before this call.
    pub(crate) num_computed_tokens: u32,
    /// Tokens to compute this step.
    pub(crate) num_new_tokens: u32,
    /// Prefix-cache hit blocks adopted by this call (waiting requests only).
    pub(crate) new_computed: &'a [BlockId],
    /// Tokens after the hit that a KV connector loads (an async load's admission).
    pub(crate) num_external_computed_tokens: u32,
    /// Leave the new blocks out of the prefix cache until the load lands.
    pub(crate) delay_cache_blocks: bool,
    /// Free blocks kept for other requests' in-flight prefills (async-load admissions).
    pub(crate) reserved_blocks: u32,
    /// The request's `num_tokens` (prompt plus outputs so far).
    pub(crate) num_tokens: u32,
    /// Extra slots for speculative drafts.
    pub(crate) num_lookahead_tokens: u32,
    /// Waiting-queue admission: the full-prompt check applies.
    pub(crate) admission: bool,
    /// Keep the watermark free (admission while other requests run).
    pub(crate) apply_watermark: bool,
    /// The request's full-block hashes (empty without prefix caching).
    pub(crate) hashes: &'a [BlockHash],
}

/// The KV cache manager.
#[derive(Debug)]
pub(crate) struct KvCacheManager {
    pool: BlockPool,
    reqs: IdMap<ReqBlocks>,
    block_size: u32,
    max_model_len: u32,
    enable_caching: bool,
    watermark_blocks: u32,
    reserve_full_isl: bool,
}

impl KvCacheManager {
    pub(crate) fn new(config: &crate::EngineConfig) -> Self {
        KvCacheManager {
            pool: BlockPool::new(config.num_gpu_blocks, config.enable_prefix_caching),
            reqs: IdMap::default(),
            block_size: config.block_size,
            max_model_len: config.max_model_len,
            enable_caching: config.enable_prefix_caching,
            watermark_blocks: config.watermark_blocks(),
            reserve_full_isl: config.reserve_full_isl,
        }
    }

    /// KV-cache usage in `[0, 1]`, as vLLM reports it.
    pub(crate) fn usage(&self) -> f64 {
        self.pool.usage()
    }

    /// [`BlockPool::reset_prefix_cache`].
    pub(crate) fn reset_prefix_cache(&mut self) -> bool {
        self.pool.reset_prefix_cache()
    }

    /// Blocks in the free queue.
    pub(crate) fn num_free_blocks(&self) -> u32 {
        self.pool.num_free()
    }

    /// Requests that hold blocks.
    pub(crate) fn num_holding(&self) -> usize {
        self.reqs.len()
    }

    /// The longest run of cached full blocks, capped at `num_tokens - 1` so the last token is
    /// always recomputed (`get_computed_blocks`). Returns the blocks and the hit tokens.
    pub(crate) fn computed_blocks(
        &self,
        hashes: &[BlockHash],
        num_tokens: u32,
    ) -> (Vec<BlockId>, u32) {
        if !self.enable_caching {
            return (Vec::new(), 0);
        }
        let max_blocks = (num_tokens.saturating_sub(1) / self.block_size) as usize;
        let hit: Vec<BlockId> = hashes
            .iter()
            .take(max_blocks)
            .map_while(|&h| self.pool.cached_block(h))
            .collect();
        let tokens = hit.len() as u32 * self.block_size;
        (hit, tokens)
    }

    /// Blocks to take from the free queue for `num_tokens` slots, hit blocks included.
    fn blocks_needed(&self, alloc: &Alloc<'_>, held: usize, num_tokens: u32) -> u32 {
        let required = num_tokens.div_ceil(self.block_size) as usize;
        let have = held + alloc.new_computed.len();
        let evictable = alloc
            .new_computed
            .iter()
            .filter(|&&b| self.pool.is_free(b))
            .count();
        (required.saturating_sub(have) + evictable) as u32
    }

    /// Allocates the slots for `alloc`, or returns `false` when the free blocks do not suffice
    /// (`allocate_slots` returning `None`).
    pub(crate) fn allocate_slots(&mut self, alloc: &Alloc<'_>) -> bool {
        let (held, num_cached) = self
            .reqs
            .get(&alloc.req)
            .map_or((0, 0), |r| (r.blocks.len(), r.num_cached));
        let hit_tokens = alloc.new_computed.len() as u32 * self.block_size;
        let computed =
            (alloc.num_computed_tokens + hit_tokens + alloc.num_external_computed_tokens)
                .min(self.max_model_len);
        let watermark = if alloc.apply_watermark {
            self.watermark_blocks
        } else {
            0
        };
        let free = self.pool.num_free().saturating_sub(alloc.reserved_blocks);
        if alloc.admission && self.reserve_full_isl {
            let full = alloc.num_tokens.min(self.max_model_len);
            if self.blocks_needed(alloc, held, full) + watermark > free {
                return false;
            }
        }
        let slots =
            (computed + alloc.num_new_tokens + alloc.num_lookahead_tokens).min(self.max_model_len);
        if self.blocks_needed(alloc, held, slots) + watermark > free {
            return false;
        }
        let upto = (computed + alloc.num_new_tokens).min(alloc.num_tokens);
        let fits =
            alloc.new_computed.is_empty() && held >= slots.div_ceil(self.block_size) as usize;
        if !fits {
            self.commit(alloc, slots, upto);
        } else if (upto / self.block_size) as usize > num_cached && !alloc.delay_cache_blocks {
            self.cache_blocks(alloc.req, upto, alloc.hashes);
        }
        true
    }

    /// Adopts hit blocks, pulls new blocks and caches the newly full ones.
    fn commit(&mut self, alloc: &Alloc<'_>, slots: u32, upto: u32) {
        self.pool.touch(alloc.new_computed);
        let entry = self.reqs.get_or_insert_default(alloc.req);
        if entry.blocks.is_empty() {
            entry.num_cached = alloc.new_computed.len();
        }
        entry.blocks.extend_from_slice(alloc.new_computed);
        let required = slots.div_ceil(self.block_size) as usize;
        let missing = required.saturating_sub(entry.blocks.len()) as u32;
        // One allocation for a prompt's blocks, not a doubling per few of them.
        entry.blocks.reserve(missing as usize);
        self.pool.get_new_blocks(missing, &mut entry.blocks);
        if !alloc.delay_cache_blocks {
            self.cache_blocks(alloc.req, upto, alloc.hashes);
        }
    }

    /// GPU blocks `req` holds.
    pub(crate) fn num_blocks(&self, req: u32) -> u32 {
        self.reqs.get(&req).map_or(0, |r| r.blocks.len() as u32)
    }

    /// Registers the request's full blocks among its first `num_tokens` tokens in the prefix
    /// cache (`cache_blocks`).
    pub(crate) fn cache_blocks(&mut self, req: u32, num_tokens: u32, hashes: &[BlockHash]) {
        let Some(entry) = self.reqs.get_mut(&req).filter(|_| self.enable_caching) else {
            return;
        };
        let num_full = (num_tokens / self.block_size) as usize;
        let num_full = num_full.min(hashes.len()).min(entry.blocks.len());
        if num_full <= entry.num_cached {
            return;
        }
        let range = entry.num_cached..num_full;
        for (&block, &hash) in entry.blocks[range.clone()].iter().zip(&hashes[range]) {
            self.pool.cache(block, hash);
        }
        entry.num_cached = num_full;
    }

    /// Frees a request's blocks, tail first so the tail is evicted first (`free`).
    pub(crate) fn free(&mut self, req: u32) {
        if let Some(entry) = self.reqs.remove(&req) {
            self.pool.free_blocks(entry.blocks.into_iter().rev());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;

    fn manager(blocks: u32, caching: bool) -> KvCacheManager {
        let config = EngineConfig {
            num_gpu_blocks: blocks,
            block_size: 4,
            max_model_len: 16,
            enable_prefix_caching: caching,
            ..Default::default()
        };
        KvCacheManager::new(&config)
    }

    fn alloc<'a>(
        req: u32,
        computed: u32,
        new: u32,
        num_tokens: u32,
        hashes: &'a [u64],
    ) -> Alloc<'a> {
        Alloc {
            req,
            num_computed_tokens: computed,
            num_new_tokens: new,
            new_computed: &[],
            num_external_computed_tokens: 0,
            delay_cache_blocks: false,
            reserved_blocks: 0,
            num_tokens,
            num_lookahead_tokens: 0,
            admission: computed == 0,
            apply_watermark: false,
            hashes,
        }
    }

    #[test]
    fn allocation_rounds_up_to_blocks_and_frees_everything() {
        let mut kv = manager(9, false);
        assert!(kv.allocate_slots(&alloc(0, 0, 5, 5, &[])));
        assert_eq!(kv.num_free_blocks(), 6);
        assert!(kv.allocate_slots(&alloc(0, 5, 3, 8, &[])));
        assert_eq!(kv.num_free_blocks(), 6);
        assert!(kv.allocate_slots(&alloc(0, 8, 1, 9, &[])));
        assert_eq!(kv.num_free_blocks(), 5);
        kv.free(0);
        assert_eq!(kv.num_free_blocks(), 8);
        assert_eq!(kv.num_holding(), 0);
    }

    #[test]
    fn admission_needs_room_for_the_whole_prompt() {
        let mut kv = manager(4, false);
        assert!(!kv.allocate_slots(&alloc(0, 0, 4, 13, &[])));
        assert!(kv.allocate_slots(&alloc(0, 0, 4, 12, &[])));
        assert_eq!(kv.num_free_blocks(), 2);
    }

    #[test]
    fn cached_blocks_are_found_after_the_owner_finishes() {
        let mut kv = manager(9, true);
        let hashes = [11, 12, 13];
        assert!(kv.allocate_slots(&alloc(0, 0, 12, 12, &hashes)));
        kv.free(0);
        let (hit, tokens) = kv.computed_blocks(&hashes, 12);
        assert_eq!((hit.len(), tokens), (2, 8));
        let (hit, tokens) = kv.computed_blocks(&hashes, 13);
        assert_eq!((hit.len(), tokens), (3, 12));
    }
}
