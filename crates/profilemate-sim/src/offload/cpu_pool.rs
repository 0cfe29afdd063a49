//! Provides the CPU tier: a pool of offloaded chunks with reference counts and LRU eviction.
//!
//! Mirrors `CPUOffloadingManager` (vllm/v1/kv_offload/cpu/manager.py) with its default
//! `LRUCachePolicy` (vllm/v1/kv_offload/cpu/policies/lru.py), vLLM 0.32, without the
//! `store_threshold` admission filter (off by default). A chunk being stored has
//! `ref_cnt == -1` (not readable yet); a chunk is evictable only at `ref_cnt == 0`; recency is
//! a rank assigned on insertion and when a request that used the chunk finishes.

use std::collections::{BTreeSet, HashMap};

use profilemate_metrics::offload::OffloadStats;

use super::metrics;

/// Names one chunk: the hash of its last block, which chains the whole prefix.
pub(crate) type OffloadKey = u64;

/// What a lookup found (`LookupResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Not on the CPU.
    Miss,
    /// Stored and readable.
    Hit,
    /// Being stored: present but not readable yet.
    HitPending,
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    ref_cnt: i32,
    rank: u64,
}

/// The CPU chunk pool.
#[derive(Debug)]
pub(crate) struct CpuPool {
    num_chunks: u64,
    chunks: HashMap<OffloadKey, Chunk>,
    evictable: BTreeSet<(u64, OffloadKey)>,
    next_rank: u64,
    num_write_pending: u64,
    allocation_sizes: Vec<u64>,
}

impl CpuPool {
    /// An empty pool of `num_chunks` chunks.
    pub(crate) fn new(num_chunks: u64) -> Self {
        CpuPool {
            num_chunks,
            chunks: HashMap::new(),
            evictable: BTreeSet::new(),
            next_rank: 0,
            num_write_pending: 0,
            allocation_sizes: Vec::new(),
        }
    }

    /// Whether `key` is stored (`lookup`).
    pub(crate) fn lookup(&self, key: OffloadKey) -> Lookup {
        match self.chunks.get(&key) {
            None => Lookup::Miss,
            Some(c) if c.ref_cnt < 0 => Lookup::HitPending,
            Some(_) => Lookup::Hit,
        }
    }

    /// Whether `key` is stored, readable or not.
    pub(crate) fn contains(&self, key: OffloadKey) -> bool {
        self.chunks.contains_key(&key)
    }

    /// Pins readable chunks as a load's source (`prepare_load`).
    pub(crate) fn prepare_load(&mut self, keys: &[OffloadKey]) {
        for key in keys {
            let Some(c) = self.chunks.get_mut(key).filter(|c| c.ref_cnt >= 0) else {
                continue;
            };
            if c.ref_cnt == 0 {
                self.evictable.remove(&(c.rank, *key));
            }
            c.ref_cnt += 1;
        }
    }

    /// Unpins a finished load's chunks (`complete_load`).
    pub(crate) fn complete_load(&mut self, keys: &[OffloadKey]) {
        for key in keys {
            let Some(c) = self.chunks.get_mut(key).filter(|c| c.ref_cnt > 0) else {
                continue;
            };
            c.ref_cnt -= 1;
            if c.ref_cnt == 0 {
                self.evictable.insert((c.rank, *key));
            }
        }
    }

    /// Allocates chunks for the keys not stored yet, evicting least recently used idle
    /// chunks (never one of `keys`); `None` when too few can be evicted (`prepare_store`).
    pub(crate) fn prepare_store(&mut self, keys: &[OffloadKey]) -> Option<Vec<OffloadKey>> {
        let new: Vec<OffloadKey> = keys
            .iter()
            .copied()
            .filter(|k| !self.contains(*k))
            .collect();
        if new.is_empty() {
            return Some(new);
        }
        self.allocation_sizes.push(new.len() as u64);
        let free = self.num_chunks.saturating_sub(self.chunks.len() as u64);
        let to_evict = (new.len() as u64).saturating_sub(free);
        self.evict(to_evict, keys)?;
        for &key in &new {
            let rank = self.new_rank();
            self.chunks.insert(key, Chunk { ref_cnt: -1, rank });
        }
        self.num_write_pending += new.len() as u64;
        Some(new)
    }

    /// Evicts `n` idle chunks, lowest rank first, skipping `protected` (`LRUCachePolicy.evict`).
    fn evict(&mut self, n: u64, protected: &[OffloadKey]) -> Option<()> {
        if n > self.evictable.len() as u64 {
            return None;
        }
        let victims: Vec<(u64, OffloadKey)> = self
            .evictable
            .iter()
            .filter(|(_, k)| !protected.contains(k))
            .take(n as usize)
            .copied()
            .collect();
        if (victims.len() as u64) < n {
            return None;
        }
        for v in victims {
            self.evictable.remove(&v);
            self.chunks.remove(&v.1);
        }
        Some(())
    }

    /// Marks stored chunks readable and evictable (`complete_store`).
    pub(crate) fn complete_store(&mut self, keys: &[OffloadKey]) {
        for key in keys {
            let Some(c) = self.chunks.get_mut(key).filter(|c| c.ref_cnt < 0) else {
                continue;
            };
            c.ref_cnt = 0;
            self.num_write_pending -= 1;
            self.evictable.insert((c.rank, *key));
        }
    }

    /// A finished request's chunks, head to tail, become the most recent, the head most of
    /// all (`LRUCachePolicy.on_request_finished` ranks them in reverse order).
    pub(crate) fn on_request_finished(&mut self, keys: &[OffloadKey]) {
        for key in keys.iter().rev() {
            let rank = self.next_rank + 1;
            let Some(c) = self.chunks.get_mut(key) else {
                continue;
            };
            self.next_rank = rank;
            if self.evictable.remove(&(c.rank, *key)) {
                self.evictable.insert((rank, *key));
            }
            c.rank = rank;
        }
    }

    fn new_rank(&mut self) -> u64 {
        self.next_rank += 1;
        self.next_rank
    }

    /// Adds the manager's stats to `stats`: the usage gauges and the allocation sizes since
    /// the last call (`CPUOffloadingManager.get_stats`).
    pub(crate) fn take_stats(&mut self, stats: &mut OffloadStats) {
        let total = self.num_chunks as f64;
        let used = (self.chunks.len() - self.evictable.len()) as f64;
        let usage = used / total;
        let write = self.num_write_pending as f64 / total;
        let sizes = std::mem::take(&mut self.allocation_sizes);
        metrics::set_gauge(stats, metrics::CPU_CACHE_USAGE_PERC, usage);
        for size in sizes {
            metrics::observe(stats, metrics::CPU_ALLOCATION_SIZE, size);
        }
        metrics::set_gauge(stats, metrics::CPU_CACHE_WRITE_USAGE_PERC, write);
        let read = (usage - write).max(0.0);
        metrics::set_gauge(stats, metrics::CPU_CACHE_READ_USAGE_PERC, read);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pool: &mut CpuPool, keys: &[OffloadKey]) {
        let new = pool.prepare_store(keys).unwrap();
        pool.complete_store(&new);
    }

    #[test]
    fn stores_are_pending_until_complete() {
        let mut pool = CpuPool::new(4);
        assert_eq!(pool.prepare_store(&[1, 2]), Some(vec![1, 2]));
        assert_eq!(pool.lookup(1), Lookup::HitPending);
        pool.complete_store(&[1, 2]);
        assert_eq!(pool.lookup(1), Lookup::Hit);
        assert_eq!(pool.lookup(3), Lookup::Miss);
        assert_eq!(pool.prepare_store(&[1, 3]), Some(vec![3]));
    }

    #[test]
    fn eviction_is_lru_and_spares_pinned_and_offered_chunks() {
        let mut pool = CpuPool::new(3);
        stored(&mut pool, &[1, 2, 3]);
        pool.on_request_finished(&[1, 2]);
        // Ranks now: 3 oldest, then 2, then 1 (the head is the most recent).
        pool.prepare_load(&[3]);
        assert_eq!(pool.prepare_store(&[2, 4]), Some(vec![4]));
        assert_eq!(
            pool.lookup(1),
            Lookup::Miss,
            "3 is pinned and 2 offered: 1 goes"
        );
        assert_eq!(pool.lookup(3), Lookup::Hit, "pinned by a load");
        pool.complete_store(&[4]);
        pool.complete_load(&[3]);
        assert_eq!(pool.prepare_store(&[5]), Some(vec![5]));
        assert_eq!(
            pool.lookup(3),
            Lookup::Miss,
            "3 kept its old rank: least recent"
        );
        assert_eq!((pool.lookup(2), pool.lookup(4)), (Lookup::Hit, Lookup::Hit));
    }

    #[test]
    fn store_fails_when_nothing_can_be_evicted() {
        let mut pool = CpuPool::new(2);
        assert!(pool.prepare_store(&[1, 2]).is_some());
        assert_eq!(
            pool.prepare_store(&[3]),
            None,
            "both chunks are being written"
        );
        let mut stats = OffloadStats::new();
        pool.take_stats(&mut stats);
        let r = stats.reduce();
        assert_eq!(r[metrics::CPU_CACHE_USAGE_PERC].as_f64(), 1.0);
        assert_eq!(r[metrics::CPU_CACHE_WRITE_USAGE_PERC].as_f64(), 1.0);
        assert_eq!(r[metrics::CPU_CACHE_READ_USAGE_PERC].as_f64(), 0.0);
        let sizes = format!("{}_count", metrics::CPU_ALLOCATION_SIZE);
        assert_eq!(r[&sizes].as_f64(), 2.0);
    }
}
