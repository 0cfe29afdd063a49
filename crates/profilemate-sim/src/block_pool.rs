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

/// What the pool keeps per block, together: its free-queue links, reference count and cached
/// hash. Popping a block off the queue and evicting it touches its entry and its successor's,
/// two cache lines instead of one per array.
#[derive(Debug, Clone, Copy)]
struct BlockMeta {
    prev: u32,
    next: u32,
    ref_cnt: u32,
    hash: Option<BlockHash>,
}

/// Every block's [`BlockMeta`], and the doubly linked free queue through them; the entry
/// after the last block is the sentinel that links both ends.
#[derive(Debug)]
struct BlockTable {
    meta: Vec<BlockMeta>,
    len: u32,
}

impl BlockTable {
    /// `n` blocks, all free, queued in order.
    fn new(n: u32) -> Self {
        let sentinel = n;
        let meta = (0..=n)
            .map(|i| BlockMeta {
                prev: if i == 0 { sentinel } else { i - 1 },
                next: if i + 1 > n { 0 } else { i + 1 },
                ref_cnt: 0,
                hash: None,
            })
            .collect();
        BlockTable { meta, len: n }
    }

    fn sentinel(&self) -> u32 {
        self.len_total()
    }

    fn len_total(&self) -> u32 {
        self.meta.len() as u32 - 1
    }

    fn remove(&mut self, id: BlockId) {
        let BlockMeta { prev, next, .. } = self.meta[id as usize];
        self.meta[prev as usize].next = next;
        self.meta[next as usize].prev = prev;
        self.len -= 1;
    }

    fn pop_front(&mut self) -> Option<BlockId> {
        let first = self.meta[self.sentinel() as usize].next;
        (first != self.sentinel()).then(|| {
            self.remove(first);
            first
        })
    }

    fn insert_after(&mut self, anchor: u32, id: BlockId) {
        let next = self.meta[anchor as usize].next;
        let m = &mut self.meta[id as usize];
        m.prev = anchor;
        m.next = next;
        self.meta[anchor as usize].next = id;
        self.meta[next as usize].prev = id;
        self.len += 1;
    }

    fn push_back(&mut self, id: BlockId) {
        let last = self.meta[self.sentinel() as usize].prev;
        self.insert_after(last, id);
    }
}

/// The pool of KV blocks shared by all requests.
#[derive(Debug)]
pub(crate) struct BlockPool {
    /// The first block cached under each hash (vLLM's `dict[block_id, block]` per hash
    /// answers with its first); keyed by chained block hashes, already well mixed, so no
    /// SipHash. Entries of 16 bytes keep the map small enough to stay mostly in cache.
    cached: HashMap<BlockHash, BlockId, BuildHasherDefault<IdHasher>>,
    /// The later blocks cached under a hash, in caching order: rare (two requests computing
    /// the same block at once), so kept apart from the hot map.
    later: HashMap<BlockHash, Vec<BlockId>, BuildHasherDefault<IdHasher>>,
    blocks: BlockTable,
    enable_caching: bool,
}

impl BlockPool {
    /// A pool of `num_blocks` blocks, block 0 taken as the null block.
    pub(crate) fn new(num_blocks: u32, enable_caching: bool) -> Self {
        let mut blocks = BlockTable::new(num_blocks);
        let null = blocks.pop_front();
        debug_assert_eq!(null, Some(0));
        BlockPool {
            // Sized for every block at once: a run that fills the cache never rehashes it.
            cached: HashMap::with_capacity_and_hasher(num_blocks as usize, Default::default()),
            later: HashMap::default(),
            blocks,
            enable_caching,
        }
    }

    /// Blocks in the free queue (cached-but-unreferenced ones included).
    pub(crate) fn num_free(&self) -> u32 {
        self.blocks.len
    }

    /// `get_usage()`: the share of non-null blocks not in the free queue.
    pub(crate) fn usage(&self) -> f64 {
        let total = f64::from(self.blocks.len_total() - 1);
        if total == 0.0 {
            0.0
        } else {
            1.0 - f64::from(self.blocks.len) / total
        }
    }

    /// The cached block holding `hash`, if any (`get_cached_block`).
    pub(crate) fn cached_block(&self, hash: BlockHash) -> Option<BlockId> {
        self.cached.get(&hash).copied()
    }

    /// Whether `id` sits in the free queue (an eviction candidate).
    pub(crate) fn is_free(&self, id: BlockId) -> bool {
        self.blocks.meta[id as usize].ref_cnt == 0
    }

    /// Pops `n` blocks off the free queue, evicting their hashes (`get_new_blocks`).
    pub(crate) fn get_new_blocks(&mut self, n: u32, out: &mut Vec<BlockId>) {
        for _ in 0..n {
            let Some(id) = self.blocks.pop_front() else {
                return;
            };
            self.evict(id);
            self.blocks.meta[id as usize].ref_cnt = 1;
            out.push(id);
        }
    }

    fn evict(&mut self, id: BlockId) {
        let Some(hash) = self.blocks.meta[id as usize].hash.take() else {
            return;
        };
        let Entry::Occupied(mut first) = self.cached.entry(hash) else {
            return;
        };
        // Nearly always the block is its hash's only holder (and `later` is empty).
        let Entry::Occupied(mut later) = self.later.entry(hash) else {
            if *first.get() == id {
                first.remove();
            }
            return;
        };
        if *first.get() == id {
            *first.get_mut() = later.get_mut().remove(0);
        } else {
            later.get_mut().retain(|&b| b != id);
        }
        if later.get().is_empty() {
            later.remove();
        }
    }

    /// Forgets every cached hash so no later request hits (`reset_prefix_cache`); refused
    /// (`false`) while any block other than the null block is held.
    pub(crate) fn reset_prefix_cache(&mut self) -> bool {
        if self.blocks.len != self.blocks.len_total() - 1 {
            return false;
        }
        self.cached.clear();
        self.later.clear();
        self.blocks.meta.iter_mut().for_each(|m| m.hash = None);
        true
    }

    /// Takes a reference on prefix-hit blocks, pulling free ones out of the queue (`touch`).
    pub(crate) fn touch(&mut self, ids: &[BlockId]) {
        for &id in ids {
            if self.blocks.meta[id as usize].ref_cnt == 0 {
                self.blocks.remove(id);
            }
            self.blocks.meta[id as usize].ref_cnt += 1;
        }
    }

    /// Registers `id` as holding the full block `hash` (`cache_full_blocks`).
    pub(crate) fn cache(&mut self, id: BlockId, hash: BlockHash) {
        if self.enable_caching && self.blocks.meta[id as usize].hash.is_none() {
            self.blocks.meta[id as usize].hash = Some(hash);
            match self.cached.entry(hash) {
                Entry::Occupied(_) => self.later.entry(hash).or_default().push(id),
                Entry::Vacant(slot) => {
                    slot.insert(id);
                }
            }
        }
    }

    /// Drops one reference from each block, in eviction order (`free_blocks`).
    pub(crate) fn free_blocks(&mut self, ordered: impl Iterator<Item = BlockId>) {
        let mut reuse_first = Vec::new();
        for id in ordered {
            let rc = &mut self.blocks.meta[id as usize].ref_cnt;
            *rc -= 1;
            if *rc > 0 {
                continue;
            }
            if self.blocks.meta[id as usize].hash.is_some() && self.enable_caching {
                self.blocks.push_back(id);
            } else {
                reuse_first.push(id);
            }
        }
        let sentinel = self.blocks.sentinel();
        for id in reuse_first.into_iter().rev() {
            self.blocks.insert_after(sentinel, id);
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

    /// vLLM's pool written plainly: a list as the free queue, a map of hash → blocks in
    /// caching order.
    #[derive(Default)]
    struct Plain {
        free: std::collections::VecDeque<BlockId>,
        ref_cnt: Vec<u32>,
        hash: Vec<Option<BlockHash>>,
        cached: std::collections::HashMap<BlockHash, Vec<BlockId>>,
    }

    impl Plain {
        fn new(n: u32) -> Self {
            Plain {
                free: (1..n).collect(),
                ref_cnt: vec![0; n as usize],
                hash: vec![None; n as usize],
                ..Plain::default()
            }
        }

        fn take(&mut self, n: u32) -> Vec<BlockId> {
            let mut out = Vec::new();
            for _ in 0..n {
                let Some(id) = self.free.pop_front() else {
                    break;
                };
                if let Some(h) = self.hash[id as usize].take() {
                    let holders = self.cached.get_mut(&h).unwrap();
                    holders.retain(|&b| b != id);
                    if holders.is_empty() {
                        self.cached.remove(&h);
                    }
                }
                self.ref_cnt[id as usize] = 1;
                out.push(id);
            }
            out
        }

        fn cache(&mut self, id: BlockId, h: BlockHash) {
            if self.hash[id as usize].is_none() {
                self.hash[id as usize] = Some(h);
                self.cached.entry(h).or_default().push(id);
            }
        }

        fn free_blocks(&mut self, ids: &[BlockId]) {
            let mut front = Vec::new();
            for &id in ids {
                self.ref_cnt[id as usize] -= 1;
                if self.ref_cnt[id as usize] == 0 {
                    if self.hash[id as usize].is_some() {
                        self.free.push_back(id);
                    } else {
                        front.push(id);
                    }
                }
            }
            for id in front.into_iter().rev() {
                self.free.push_front(id);
            }
        }

        fn touch(&mut self, id: BlockId) {
            if self.ref_cnt[id as usize] == 0 {
                self.free.retain(|&b| b != id);
            }
            self.ref_cnt[id as usize] += 1;
        }
    }

    proptest::proptest! {
        /// Any sequence of allocations, caching (a few hashes, so blocks share them), hits and
        /// frees leaves the pool answering as the plain one: same blocks handed out, same
        /// block per hash, same free count.
        #[test]
        fn answers_as_vllms_pool_written_plainly(
            ops in proptest::collection::vec((0u8..4, 0u32..6, 0u64..5), 0..200),
        ) {
            let mut pool = BlockPool::new(12, true);
            let mut plain = Plain::new(12);
            let mut held: Vec<BlockId> = Vec::new();
            for (op, n, h) in ops {
                match op {
                    0 => {
                        let got = take(&mut pool, n);
                        proptest::prop_assert_eq!(&got, &plain.take(n));
                        held.extend(got);
                    }
                    1 if !held.is_empty() => {
                        let id = held[n as usize % held.len()];
                        pool.cache(id, h);
                        plain.cache(id, h);
                    }
                    2 if !held.is_empty() => {
                        let k = (n as usize % held.len()) + 1;
                        let freed: Vec<BlockId> = held.drain(..k).collect();
                        pool.free_blocks(freed.iter().copied());
                        plain.free_blocks(&freed);
                    }
                    3 => {
                        if let Some(id) = pool.cached_block(h) {
                            pool.touch(&[id]);
                            plain.touch(id);
                            held.push(id);
                        }
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(pool.num_free(), plain.free.len() as u32);
                for h in 0..5 {
                    let first = plain.cached.get(&h).map(|v| v[0]);
                    proptest::prop_assert_eq!(pool.cached_block(h), first);
                }
            }
        }
    }
}
