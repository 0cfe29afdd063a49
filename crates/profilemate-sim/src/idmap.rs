//! Provides fast lookups by integer keys no client chooses: [`IdHasher`] for hash maps keyed
//! by them, and [`IdMap`], indexed slots for the engine's dense `u32` request indices.
//!
//! The default SipHash guards against adversarial keys, which engine-assigned ids are not;
//! a multiplicative mix is several times faster, and an index faster still.

use std::collections::VecDeque;
use std::hash::Hasher;

/// A hasher for integer keys that no client chooses (engine ids, server-assigned keys): one
/// multiply, high bits folded down.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let z = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z ^ (z >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by the engine's request indices, which it hands out in increasing order and
/// holds only a window of at a time (the requests waiting or running): a deque of slots from
/// the oldest key held, so a lookup is an index instead of a hash probe. The scheduler looks
/// a running request up several times per step, which made hashing a visible share of a run.
#[derive(Debug, Clone)]
pub(crate) struct IdMap<V> {
    /// The key of `slots[0]`.
    base: u32,
    slots: VecDeque<Option<V>>,
    len: usize,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            base: 0,
            slots: VecDeque::new(),
            len: 0,
        }
    }
}

impl<V> IdMap<V> {
    fn slot(&self, key: u32) -> Option<usize> {
        key.checked_sub(self.base).map(|i| i as usize)
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &u32) -> Option<&V> {
        self.slots.get(self.slot(*key)?)?.as_ref()
    }

    /// The value of `key`, mutable.
    pub(crate) fn get_mut(&mut self, key: &u32) -> Option<&mut V> {
        let i = self.slot(*key)?;
        self.slots.get_mut(i)?.as_mut()
    }

    /// The value of `key`, inserting the default first if there is none.
    pub(crate) fn get_or_insert_default(&mut self, key: u32) -> &mut V
    where
        V: Default,
    {
        if self.get(&key).is_none() {
            self.insert(key, V::default());
        }
        self.get_mut(&key).expect("just inserted")
    }

    /// Sets `key`, returning the value it replaced.
    pub(crate) fn insert(&mut self, key: u32, value: V) -> Option<V> {
        if self.slots.is_empty() {
            self.base = key;
        }
        while key < self.base {
            self.slots.push_front(None);
            self.base -= 1;
        }
        let i = (key - self.base) as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        let old = self.slots[i].replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`, returning its value; empty slots at either end are dropped.
    pub(crate) fn remove(&mut self, key: &u32) -> Option<V> {
        let i = self.slot(*key)?;
        let old = self.slots.get_mut(i)?.take()?;
        self.len -= 1;
        while self.slots.front().is_some_and(Option::is_none) {
            self.slots.pop_front();
            self.base += 1;
        }
        while self.slots.back().is_some_and(Option::is_none) {
            self.slots.pop_back();
        }
        Some(old)
    }

    /// Whether `key` has a value.
    pub(crate) fn contains_key(&self, key: &u32) -> bool {
        self.get(key).is_some()
    }

    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl<V> std::ops::Index<&u32> for IdMap<V> {
    type Output = V;
    fn index(&self, key: &u32) -> &V {
        self.get(key).expect("no value for this request")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Any sequence of inserts and removes leaves the map holding what a `HashMap` holds.
        #[test]
        fn behaves_as_a_hash_map(ops in proptest::collection::vec((any::<bool>(), 0u32..64, any::<u16>()), 0..200)) {
            let mut ours = IdMap::default();
            let mut model = HashMap::new();
            for (insert, key, value) in ops {
                if insert {
                    prop_assert_eq!(ours.insert(key, value), model.insert(key, value));
                } else {
                    prop_assert_eq!(ours.remove(&key), model.remove(&key));
                }
                prop_assert_eq!(ours.len(), model.len());
                for k in 0..64 {
                    prop_assert_eq!(ours.get(&k), model.get(&k));
                }
            }
        }
    }
}
