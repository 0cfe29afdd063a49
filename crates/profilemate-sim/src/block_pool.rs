//! Provides the KV block pool: reference counts, the LRU free queue and the hash → block map
//! of the prefix cache.
//!
//! Mirrors `BlockPool` (vllm/v1/core/block_pool.py) and `FreeKVCacheBlockQueue`
//! (vllm/v1/core/kv_cache_utils.py), vLLM 0.32: block 0 is the null block and never free;
//! freed blocks without a hash go to the front of the queue (reused first), freed cached
//! blocks to the back (evicted last, LRU); allocation pops the front and evicts its hash.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasherDefault;

use crate::block_hash::BlockHash;
use crate::idmap::IdHasher;

/// Index of a KV block.
pub(crate) type BlockId = u32;

/// The doubly linked free queue over block ids; `SENTINEL` links both ends.
#[derive(Debug)]
struct FreeQueue {
    prev: Vec<u32>,
    next: Vec<u32>,
    len: u32,
}

impl FreeQueue {
    /// A queue holding blocks `0..n` in order.
    fn new(n: u32) -> Self {
        let sentinel = n;
        let prev = (0..=n)
            .map(|i| if i == 0 { sentinel } else { i - 1 })
            .collect();
        let next = (0..=n).map(|i| if i + 1 > n { 0 } else { i + 1 }).collect();
        let mut queue = FreeQueue { prev, next, len: n };
        if n == 0 {
            queue.next[0] = 0;
        }
        queue
    }

    fn sentinel(&self) -> u32 {
        self.len_total()
    }

    fn len_total(&self) -> u32 {
        self.prev.len() as u32 - 1
    }

    fn remove(&mut self, id: BlockId) {
        let (p, n) = (self.prev[id as usize], self.next[id as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
        self.len -= 1;
    }

    fn pop_front(&mut self) -> Option<BlockId> {
        let first = self.next[self.sentinel() as usize];
        (first != self.sentinel()).then(|| {
            self.remove(first);
            first
        })
    }

    fn insert_after(&mut self, anchor: u32, id: BlockId) {
        let n = self.next[anchor as usize];
        self.prev[id as usize] = anchor;
        self.next[id as usize] = n;
        self.next[anchor as usize] = id;
        self.prev[n as usize] = id;
        self.len += 1;
    }

    fn push_back(&mut self, id: BlockId) {
        let last = self.prev[self.sentinel() as usize];
        self.insert_after(last, id);
    }
}

/// The blocks holding one hash, in caching order (vLLM's `dict[block_id, block]` per hash):
/// nearly always one, so one takes no allocation.
#[derive(Debug)]
enum Holders {
    One(BlockId),
    Many(Vec<BlockId>),
}

impl Holders {
    fn first(&self) -> BlockId {
        match self {
            Holders::One(id) => *id,
            Holders::Many(ids) => ids[0],
        }
    }

    fn push(&mut self, id: BlockId) {
        match self {
            Holders::One(first) => *self = Holders::Many(vec![*first, id]),
            Holders::Many(ids) => ids.push(id),
        }
    }

    /// Removes `id`; `true` when none is left.
    fn remove(&mut self, id: BlockId) -> bool {
        match self {
            Holders::One(only) => *only == id,
            Holders::Many(ids) => {
                ids.retain(|&b| b != id);
                match ids.as_slice() {
                    [] => true,
                    [one] => {
                        *self = Holders::One(*one);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

/// The pool of KV blocks shared by all requests.
#[derive(Debug)]
pub(crate) struct BlockPool {
    ref_cnt: Vec<u32>,
    hash: Vec<Option<BlockHash>>,
    /// Keyed by chained block hashes, already well mixed: no need for SipHash.
    cached: HashMap<BlockHash, Holders, BuildHasherDefault<IdHasher>>,
    free: FreeQueue,
    enable_caching: bool,
}

impl BlockPool {
    /// A pool of `num_blocks` blocks, block 0 taken as the null block.
    pub(crate) fn new(num_blocks: u32, enable_caching: bool) -> Self {
        let mut free = FreeQueue::new(num_blocks);
        let null = free.pop_front();
        debug_assert_eq!(null, Some(0));
        let ref_cnt = vec![0; num_blocks as usize];
        let hash = vec![None; num_blocks as usize];
        BlockPool {
            ref_cnt,
            hash,
            cached: HashMap::default(),
            free,
            enable_caching,
        }
    }

    /// Blocks in the free queue (cached-but-unreferenced ones included).
    pub(crate) fn num_free(&self) -> u32 {
        self.free.len
    }

    /// `get_usage()`: the share of non-null blocks not in the free queue.
    pub(crate) fn usage(&self) -> f64 {
        let total = f64::from(self.free.len_total() - 1);
        if total == 0.0 {
            0.0
        } else {
            1.0 - f64::from(self.free.len) / total
        }
    }

    /// The cached block holding `hash`, if any (`get_cached_block`).
    pub(crate) fn cached_block(&self, hash: BlockHash) -> Option<BlockId> {
        self.cached.get(&hash).map(Holders::first)
    }

    /// Whether `id` sits in the free queue (an eviction candidate).
    pub(crate) fn is_free(&self, id: BlockId) -> bool {
        self.ref_cnt[id as usize] == 0
    }

    /// Pops `n` blocks off the free queue, evicting their hashes (`get_new_blocks`).
    pub(crate) fn get_new_blocks(&mut self, n: u32, out: &mut Vec<BlockId>) {
        for _ in 0..n {
            let Some(id) = self.free.pop_front() else {
                return;
            };
            self.evict(id);
            self.ref_cnt[id as usize] = 1;
            out.push(id);
        }
    }

    fn evict(&mut self, id: BlockId) {
        let Some(hash) = self.hash[id as usize].take() else {
            return;
        };
        if let Entry::Occupied(mut holders) = self.cached.entry(hash)
            && holders.get_mut().remove(id)
        {
            holders.remove();
        }
    }

    /// Forgets every cached hash so no later request hits (`reset_prefix_cache`); refused
    /// (`false`) while any block other than the null block is held.
    pub(crate) fn reset_prefix_cache(&mut self) -> bool {
        if self.free.len != self.free.len_total() - 1 {
            return false;
        }
        self.cached.clear();
        self.hash.fill(None);
        true
    }

    /// Takes a reference on prefix-hit blocks, pulling free ones out of the queue (`touch`).
    pub(crate) fn touch(&mut self, ids: &[BlockId]) {
        for &id in ids {
            if self.ref_cnt[id as usize] == 0 {
                self.free.remove(id);
            }
            self.ref_cnt[id as usize] += 1;
        }
    }

    /// Registers `id` as holding the full block `hash` (`cache_full_blocks`).
    pub(crate) fn cache(&mut self, id: BlockId, hash: BlockHash) {
        if self.enable_caching && self.hash[id as usize].is_none() {
            self.hash[id as usize] = Some(hash);
            match self.cached.entry(hash) {
                Entry::Occupied(mut holders) => holders.get_mut().push(id),
                Entry::Vacant(slot) => {
                    slot.insert(Holders::One(id));
                }
            }
        }
    }

    /// Drops one reference from each block, in eviction order (`free_blocks`).
    pub(crate) fn free_blocks(&mut self, ordered: impl Iterator<Item = BlockId>) {
        let mut reuse_first = Vec::new();
        for id in ordered {
            let rc = &mut self.ref_cnt[id as usize];
            *rc -= 1;
            if *rc > 0 {
                continue;
            }
            if self.hash[id as usize].is_some() && self.enable_caching {
                self.free.push_back(id);
            } else {
                reuse_first.push(id);
            }
        }
        let sentinel = self.free.sentinel();
        for id in reuse_first.into_iter().rev() {
            self.free.insert_after(sentinel, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(pool: &mut BlockPool, n: u32) -> Vec<BlockId> {
        let mut out = Vec::new();
        pool.get_new_blocks(n, &mut out);
        out
    }

    #[test]
    fn null_block_is_never_handed_out() {
        let mut pool = BlockPool::new(4, false);
        assert_eq!(pool.num_free(), 3);
        assert_eq!(take(&mut pool, 5), vec![1, 2, 3]);
        assert_eq!(pool.usage(), 1.0);
    }

    #[test]
    fn uncached_frees_are_reused_first_in_given_order() {
        let mut pool = BlockPool::new(6, false);
        let got = take(&mut pool, 3);
        pool.free_blocks(got.into_iter().rev());
        assert_eq!(take(&mut pool, 5), vec![3, 2, 1, 4, 5]);
    }

    #[test]
    fn cached_frees_go_last_and_lose_their_hash_on_reuse() {
        let mut pool = BlockPool::new(4, true);
        let got = take(&mut pool, 1);
        pool.cache(got[0], 42);
        pool.free_blocks(got.into_iter());
        assert_eq!(pool.cached_block(42), Some(1));
        assert_eq!(take(&mut pool, 2), vec![2, 3]);
        assert_eq!(pool.cached_block(42), Some(1));
        assert_eq!(take(&mut pool, 1), vec![1]);
        assert_eq!(pool.cached_block(42), None);
    }

    #[test]
    fn prefix_cache_resets_only_when_no_block_is_held() {
        let mut pool = BlockPool::new(4, true);
        let ids = take(&mut pool, 2);
        pool.cache(ids[0], 7);
        assert!(!pool.reset_prefix_cache(), "blocks are held");
        assert_eq!(pool.cached_block(7), Some(ids[0]));
        pool.free_blocks(ids.iter().copied());
        assert_eq!(pool.cached_block(7), Some(ids[0]));
        assert!(pool.reset_prefix_cache());
        assert_eq!(pool.cached_block(7), None);
        assert_eq!(pool.num_free(), 3);
    }

    #[test]
    fn a_hash_held_by_two_blocks_is_served_by_the_first_until_it_is_evicted() {
        let mut pool = BlockPool::new(4, true);
        let got = take(&mut pool, 3);
        pool.cache(got[0], 7);
        pool.cache(got[1], 7);
        pool.cache(got[2], 9);
        assert_eq!(pool.cached_block(7), Some(got[0]));
        // Freed in this order, all cached: evicted first to last.
        pool.free_blocks(got.iter().copied());
        assert_eq!(take(&mut pool, 1), vec![got[0]]);
        assert_eq!(pool.cached_block(7), Some(got[1]));
        assert_eq!(take(&mut pool, 1), vec![got[1]]);
        assert_eq!(pool.cached_block(7), None);
        assert_eq!(pool.cached_block(9), Some(got[2]));
        // A block re-cached under a hash it lost becomes its one holder again.
        pool.cache(got[0], 7);
        assert_eq!(pool.cached_block(7), Some(got[0]));
    }

    #[test]
    fn touch_pulls_a_free_cached_block_out_of_the_queue() {
        let mut pool = BlockPool::new(4, true);
        let got = take(&mut pool, 1);
        pool.cache(got[0], 7);
        pool.free_blocks(got.into_iter());
        assert_eq!(pool.num_free(), 3);
        pool.touch(&[1]);
        assert_eq!(pool.num_free(), 2);
        assert!(!pool.is_free(1));
    }
}
