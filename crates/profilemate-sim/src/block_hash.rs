//! Computes the chained hashes of a request's full KV blocks, the keys of the prefix cache.
//!
//! Mirrors `hash_block_tokens` / `get_request_block_hasher` in vllm/v1/core/kv_cache_utils.py
//! (vLLM 0.32): a block's hash covers its parent block's hash and its own tokens, so equal
//! hashes mean equal prefixes. Only full blocks are hashed. vLLM uses SHA-256 (or xxhash);
//! a 64-bit mix is enough here because nothing adversarial feeds the simulator.

use crate::request::EnginePrompt;

/// A full block's chained hash.
pub(crate) type BlockHash = u64;

/// Seed of the first block's parent hash (vLLM's `NONE_HASH`).
const NONE_HASH: u64 = 0x9e37_79b9_7f4a_7c15;
/// Tags that keep the token spaces of the different token kinds apart.
const TAG_ID: u64 = 1;
const TAG_PREFIX: u64 = 2;
const TAG_UNIQUE: u64 = 3;

/// SplitMix64's finaliser: a fast, well-mixed 64-bit permutation.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Chains `value` onto `acc`. Mixing `acc` first keeps small inputs from cancelling out:
/// with a plain `acc ^ value`, (tag 2, id 2) and (tag 3, uid 1) hashed alike.
fn combine(acc: u64, value: u64) -> u64 {
    mix(mix(acc) ^ value.wrapping_add(0x9e37_79b9_7f4a_7c15))
}

/// Chains a block's key, already a full mix of its content, onto its parent's hash: one mix
/// on the chain instead of [`combine`]'s two, since each block of a prompt waits for the one
/// before. The odd multiplier keeps a parent and a key of equal value from cancelling out.
fn chain(parent: u64, key: u64) -> u64 {
    mix(parent.wrapping_mul(0xd6e8_feb8_6659_fd93) ^ key)
}

/// Tokens per row of [`token_digest`]: each row's products are independent of each other.
const DIGEST_LANES: usize = 16;
/// The odd 32-bit weight of each position in a row.
const DIGEST_WEIGHTS: [u64; DIGEST_LANES] = digest_weights();
/// The odd multiplier that carries the rows before into the next one.
const DIGEST_CARRY: u64 = 0x9e37_79b9_7f4a_7c15;

const fn digest_weights() -> [u64; DIGEST_LANES] {
    let mut weights = [0u64; DIGEST_LANES];
    let mut k = 0;
    while k < DIGEST_LANES {
        weights[k] = (mix(k as u64 + 1) & 0xffff_ffff) | 1;
        k += 1;
    }
    weights
}

/// A block's explicit tokens folded into one word, then the full mix, so the parent chain
/// costs one [`combine`] per block. Each row of 16 tokens sums `id × w_k` with a distinct odd
/// 32-bit weight per position: 32 × 32-bit products that never wrap and do not wait for each
/// other (the processor runs them side by side), instead of one multiply chained per token.
/// Within a row two blocks differing in one token, or in the order of two, never collide
/// (the difference `δ·w` or `δ·(w_i − w_j)` is a nonzero integer below 2^64); rows are chained
/// by an odd multiplier and the length is mixed in. Enough for the simulator's equal-prefix
/// lookups (no adversarial input).
fn token_digest(ids: &[u32]) -> u64 {
    fold_rows(ids.len(), |row, len| {
        ids[row * DIGEST_LANES..row * DIGEST_LANES + len]
            .iter()
            .zip(&DIGEST_WEIGHTS)
            .fold(0u64, |s, (&id, &w)| s.wrapping_add(u64::from(id) * w))
    })
}

/// [`token_digest`] of `len` ids counting up from `first` and wrapping at `vocab`, without
/// generating them: a row's `Σ (first + k)·w_k` is `first·Σw + Σk·w`, less `vocab` times the
/// weights after the wrap, from sums over the weights computed once. The same value, exactly
/// (every step is arithmetic mod 2^64); `None` for a vocabulary under one row, which can wrap
/// twice in a row.
fn counting_digest(first: u32, len: usize, vocab: u32) -> Option<u64> {
    if (vocab as usize) < DIGEST_LANES {
        return None;
    }
    let (first, vocab) = (u64::from(first), u64::from(vocab));
    Some(fold_rows(len, |row, n| {
        let id = (first + (row * DIGEST_LANES) as u64) % vocab;
        let mut sum = id
            .wrapping_mul(WEIGHT_SUMS[n])
            .wrapping_add(POSITION_SUMS[n]);
        let before_wrap = vocab - id;
        if before_wrap < n as u64 {
            let after = WEIGHT_SUMS[n].wrapping_sub(WEIGHT_SUMS[before_wrap as usize]);
            sum = sum.wrapping_sub(vocab.wrapping_mul(after));
        }
        sum
    }))
}

/// `Σ_{k<n} w_k` for each row length `n`.
const WEIGHT_SUMS: [u64; DIGEST_LANES + 1] = weight_sums(false);
/// `Σ_{k<n} k·w_k` for each row length `n`.
const POSITION_SUMS: [u64; DIGEST_LANES + 1] = weight_sums(true);

const fn weight_sums(by_position: bool) -> [u64; DIGEST_LANES + 1] {
    let mut sums = [0u64; DIGEST_LANES + 1];
    let mut k = 0;
    while k < DIGEST_LANES {
        let term = if by_position {
            DIGEST_WEIGHTS[k].wrapping_mul(k as u64)
        } else {
            DIGEST_WEIGHTS[k]
        };
        sums[k + 1] = sums[k].wrapping_add(term);
        k += 1;
    }
    sums
}

/// The digest of `len` ids whose rows of [`DIGEST_LANES`] sum as `row_sum(row, row_len)`
/// says: rows chained by an odd multiplier, the length mixed in.
fn fold_rows(len: usize, row_sum: impl Fn(usize, usize) -> u64) -> u64 {
    let folded = (0..len.div_ceil(DIGEST_LANES)).fold(TAG_ID, |acc, row| {
        let n = (len - row * DIGEST_LANES).min(DIGEST_LANES);
        acc.wrapping_mul(DIGEST_CARRY).wrapping_add(row_sum(row, n))
    });
    mix(folded ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The identity of each token of one request: prompt tokens, then its (unique) outputs.
#[derive(Debug)]
pub(crate) struct TokenSource<'a> {
    pub(crate) prompt: &'a EnginePrompt,
    /// A per-request salt that makes unique tokens differ between requests.
    pub(crate) uid: u64,
}

impl TokenSource<'_> {
    /// Tokens from the start whose content other requests can share: the explicit prompt,
    /// or a synthetic prompt's shared prefix. Every later token is unique to the request.
    fn shareable_len(&self) -> u32 {
        match self.prompt {
            EnginePrompt::Tokens(_) | EnginePrompt::Counting(_) => self.prompt.len(),
            EnginePrompt::Synthetic {
                shared_prefix: Some(p),
                ..
            } => p.len,
            EnginePrompt::Synthetic { .. } => 0,
        }
    }

    /// The key of block `[start, end)`, chained onto `parent`. A block holding any unique
    /// token is unique, so one key for the whole block is enough; a synthetic prefix block
    /// is named by its prefix id and position; explicit tokens are hashed one by one.
    fn block_key(&self, parent: u64, start: u32, end: u32, scratch: &mut Vec<u32>) -> u64 {
        if end > self.shareable_len() {
            return chain(
                parent,
                combine(combine(TAG_UNIQUE, self.uid), u64::from(start)),
            );
        }
        match self.prompt {
            EnginePrompt::Tokens(ids) => {
                chain(parent, token_digest(&ids[start as usize..end as usize]))
            }
            EnginePrompt::Counting(ids) => {
                let len = (end - start) as usize;
                let counted = ids
                    .counting_from(start, end)
                    .and_then(|(first, vocab)| counting_digest(first, len, vocab));
                let digest = counted.unwrap_or_else(|| {
                    scratch.clear();
                    ids.write_range(start, end, scratch);
                    token_digest(scratch)
                });
                chain(parent, digest)
            }
            EnginePrompt::Synthetic { shared_prefix, .. } => {
                let id = shared_prefix.map_or(0, |p| p.id);
                chain(parent, combine(combine(TAG_PREFIX, id), u64::from(start)))
            }
        }
    }

    /// Hashes every full block of the first `num_tokens` tokens not yet in `hashes`.
    pub(crate) fn extend_hashes(
        &self,
        hashes: &mut Vec<BlockHash>,
        num_tokens: u32,
        block_size: u32,
    ) {
        let num_full = num_tokens / block_size;
        hashes.reserve((num_full as usize).saturating_sub(hashes.len()));
        let mut scratch = Vec::new();
        while (hashes.len() as u32) < num_full {
            let start = hashes.len() as u32 * block_size;
            let parent = hashes.last().copied().unwrap_or(NONE_HASH);
            hashes.push(self.block_key(parent, start, start + block_size, &mut scratch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(prompt: &EnginePrompt, uid: u64, num_tokens: u32) -> Vec<BlockHash> {
        let mut out = Vec::new();
        TokenSource { prompt, uid }.extend_hashes(&mut out, num_tokens, 4);
        out
    }

    #[test]
    fn shared_prefix_blocks_match_and_the_rest_differ() {
        let a = EnginePrompt::Synthetic {
            len: 12,
            shared_prefix: Some(crate::SharedPrefix { id: 9, len: 8 }),
        };
        let (ha, hb) = (hashes(&a, 1, 12), hashes(&a, 2, 12));
        assert_eq!(ha.len(), 3);
        assert_eq!(ha[..2], hb[..2]);
        assert_ne!(ha[2], hb[2]);
    }

    /// The per-block digest tells apart blocks that differ in one token or in order, and
    /// chains: the same block after different parents differs.
    #[test]
    fn token_digests_tell_blocks_apart() {
        let base = [5u32, 6, 7, 8];
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(token_digest(&base)));
        assert!(seen.insert(token_digest(&[6, 5, 7, 8])));
        for i in 0..4 {
            for delta in 1..64u32 {
                let mut block = base;
                block[i] += delta;
                assert!(seen.insert(token_digest(&block)), "{block:?}");
            }
        }
        let a = EnginePrompt::Tokens(vec![1, 2, 3, 4, 5, 6, 7, 8]);
        let b = EnginePrompt::Tokens(vec![9, 2, 3, 4, 5, 6, 7, 8]);
        let (ha, hb) = (hashes(&a, 1, 8), hashes(&b, 2, 8));
        assert_ne!(
            ha[1], hb[1],
            "equal second blocks after different first blocks"
        );
    }

    /// Across rows of 16 too: a long block's digest changes with any one token and with
    /// any swap of two different tokens, the row boundary included.
    #[test]
    fn long_block_digests_tell_changes_and_swaps_apart() {
        let base: Vec<u32> = (0..40).map(|i| 1000 + 7 * i).collect();
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(token_digest(&base)));
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i] = 0;
            assert!(seen.insert(token_digest(&changed)), "token {i} zeroed");
            for j in i + 1..base.len() {
                let mut swapped = base.clone();
                swapped.swap(i, j);
                assert!(
                    seen.insert(token_digest(&swapped)),
                    "tokens {i} and {j} swapped"
                );
            }
        }
        assert_ne!(token_digest(&base[..39]), token_digest(&base[1..]));
    }

    /// Counting ids hash exactly as the same ids given one by one, so their prompts share
    /// prefix-cache blocks with each other and with explicit prompts.
    #[test]
    fn counting_ids_hash_as_their_explicit_ids() {
        use profilemate_model::counting_ids::CountingIds;
        let recipe = CountingIds::new(vec![3, 1, 4].into(), 95, 30, 100).unwrap();
        let explicit = EnginePrompt::Tokens(recipe.to_vec());
        let counting = EnginePrompt::Counting(recipe);
        assert_eq!(hashes(&counting, 1, 33), hashes(&explicit, 2, 33));
        assert_eq!(hashes(&counting, 1, 33).len(), 8);
    }

    proptest::proptest! {
        /// The closed form gives every block's digest exactly, wraps included.
        #[test]
        fn counting_digests_equal_the_digests_of_the_ids(
            back in 0u32..80,
            len in 1usize..70,
            vocab in proptest::prop_oneof![1u32..64, 64u32..200_000],
        ) {
            // Starting up to 80 ids before the end of the vocabulary: most blocks wrap.
            let first = vocab.saturating_sub(1 + back);
            let ids: Vec<u32> = (0..len as u64)
                .map(|k| ((u64::from(first) + k) % u64::from(vocab)) as u32)
                .collect();
            match counting_digest(first, len, vocab) {
                Some(d) => proptest::prop_assert_eq!(d, token_digest(&ids)),
                None => proptest::prop_assert!((vocab as usize) < DIGEST_LANES),
            }
        }
    }

    #[test]
    fn explicit_tokens_hash_by_content_and_only_full_blocks() {
        let a = EnginePrompt::Tokens(vec![5, 6, 7, 8, 9, 10]);
        let b = EnginePrompt::Tokens(vec![5, 6, 7, 8, 1]);
        assert_eq!(hashes(&a, 1, 6).len(), 1);
        assert_eq!(hashes(&a, 1, 6), hashes(&b, 2, 5));
    }

    #[test]
    fn a_prefix_block_differs_from_a_unique_one() {
        let shared = EnginePrompt::Synthetic {
            len: 1,
            shared_prefix: Some(crate::SharedPrefix { id: 2, len: 1 }),
        };
        let unique = EnginePrompt::Synthetic {
            len: 1,
            shared_prefix: None,
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        TokenSource {
            prompt: &shared,
            uid: 0,
        }
        .extend_hashes(&mut a, 1, 1);
        TokenSource {
            prompt: &unique,
            uid: 1,
        }
        .extend_hashes(&mut b, 1, 1);
        assert_ne!(a, b);
    }

    #[test]
    fn hashes_are_chained() {
        let a = EnginePrompt::Tokens(vec![1, 1, 1, 1, 2, 2, 2, 2]);
        let b = EnginePrompt::Tokens(vec![3, 3, 3, 3, 2, 2, 2, 2]);
        assert_ne!(hashes(&a, 1, 8)[1], hashes(&b, 1, 8)[1]);
    }
}
