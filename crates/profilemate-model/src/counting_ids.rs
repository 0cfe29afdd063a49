//! Provides [`CountingIds`]: a prompt whose token ids count up and wrap, kept as a recipe.
//!
//! vLLM's random dataset draws each prompt as a shared random prefix followed by
//! `(offset + i + arange(len)) % vocab_size` (vllm/benchmarks/datasets.py, vLLM 0.32). A client
//! that never sends the ids (the virtual client) can keep that recipe, a few words, instead of
//! kilobytes per prompt, and the engine generates each block's ids where it hashes them.

use std::sync::Arc;

/// Token ids: `prefix`, then `len` ids counting up from `start` and wrapping at `vocab`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountingIds {
    prefix: Arc<[u32]>,
    start: u32,
    len: u32,
    vocab: u32,
}

impl CountingIds {
    /// `prefix`, then `len` ids from `start` (taken modulo `vocab`) upwards, wrapping at
    /// `vocab`; `None` for an empty vocabulary.
    pub fn new(prefix: Arc<[u32]>, start: u64, len: u32, vocab: u32) -> Option<Self> {
        let start = u32::try_from(start % u64::from(vocab).max(1)).ok()?;
        (vocab > 0).then_some(CountingIds {
            prefix,
            start,
            len,
            vocab,
        })
    }

    /// Ids in all.
    pub fn len(&self) -> u32 {
        u32::try_from(self.prefix.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.len)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id at position `from` and the vocabulary, when `from..to` lies within the
    /// counting part (after the prefix, within the prompt): ids there are `(id + k) % vocab`.
    pub fn counting_from(&self, from: u32, to: u32) -> Option<(u32, u32)> {
        let p = u32::try_from(self.prefix.len()).ok()?;
        if from < p || to > self.len() || from > to {
            return None;
        }
        let id = (u64::from(self.start) + u64::from(from - p)) % u64::from(self.vocab);
        Some((id as u32, self.vocab))
    }

    /// Appends the ids at positions `from..to` (clamped to the prompt) to `out`.
    pub fn write_range(&self, from: u32, to: u32, out: &mut Vec<u32>) {
        let to = to.min(self.len());
        if from >= to {
            return;
        }
        let p = self.prefix.len() as u32;
        if from < p {
            out.extend_from_slice(&self.prefix[from as usize..to.min(p) as usize]);
        }
        let (first, last) = (from.max(p) - p, to.max(p) - p);
        if first >= last {
            return;
        }
        let vocab = u64::from(self.vocab);
        let mut id = ((u64::from(self.start) + u64::from(first)) % vocab) as u32;
        out.reserve((last - first) as usize);
        for _ in first..last {
            out.push(id);
            id += 1;
            if id == self.vocab {
                id = 0;
            }
        }
    }

    /// Every id, in order.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len() as usize);
        self.write_range(0, self.len(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any range equals the same slice of vLLM's formula, across the prefix and the wrap.
        #[test]
        fn ranges_follow_the_modulo_formula(
            prefix in proptest::collection::vec(0u32..50, 0..5),
            start in any::<u64>(),
            len in 0u32..40,
            vocab in 1u32..20,
            from in 0u32..50,
            to in 0u32..50,
        ) {
            let ids = CountingIds::new(prefix.clone().into(), start, len, vocab).unwrap();
            let all: Vec<u32> = prefix
                .iter()
                .copied()
                .chain((0..u64::from(len)).map(|j| ((u128::from(start) + u128::from(j)) % u128::from(vocab)) as u32))
                .collect();
            prop_assert_eq!(ids.len() as usize, all.len());
            prop_assert_eq!(&ids.to_vec(), &all);
            let mut out = vec![7];
            ids.write_range(from, to, &mut out);
            let (a, b) = ((from as usize).min(all.len()), (to as usize).min(all.len()));
            let expected: Vec<u32> = std::iter::once(7).chain(all[a..b.max(a)].iter().copied()).collect();
            prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn an_empty_vocabulary_is_refused() {
        assert_eq!(CountingIds::new(Arc::from([]), 3, 4, 0), None);
    }
}
