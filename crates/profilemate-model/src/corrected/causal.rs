//! Provides the causal attention pair counts: how many (query, key) pairs a request's new
//! tokens really score, with and without a sliding window.
//!
//! New tokens sit at positions `c − n + 1 ..= c` (`n` scheduled, `c` context after the step);
//! the token at position `p` attends to `p` keys, or `min(p, W)` with a window. vLLM bills every
//! new token against the whole context (`n × c`), twice the causal count for a fresh prompt
//! (model-anchors.md §5 #8).

use crate::context::ContextRequest;

/// Σ over the request's new tokens of the keys each attends to.
pub fn attention_pairs(r: &ContextRequest, window: Option<u64>) -> u128 {
    let last = u128::from(r.context_len);
    let first = last + 1 - u128::from(r.num_tokens.min(r.context_len)).max(1);
    match window.map(u128::from) {
        None => sum_range(first, last),
        Some(w) if last <= w => sum_range(first, last),
        Some(w) if first > w => (last - first + 1) * w,
        Some(w) => sum_range(first, w) + (last - w) * w,
    }
}

/// `first + … + last`.
fn sum_range(first: u128, last: u128) -> u128 {
    if last < first {
        return 0;
    }
    (first + last) * (last - first + 1) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(num_tokens: u64, context_len: u64) -> ContextRequest {
        ContextRequest {
            num_tokens,
            context_len,
            is_prefill: num_tokens > 1,
        }
    }

    #[test]
    fn fresh_prompt_is_half_the_square_plus_the_diagonal() {
        // 4096 tokens: 4096 × 4097 / 2 = 8,390,656 pairs; vLLM bills 4096² = 16,777,216.
        assert_eq!(attention_pairs(&req(4096, 4096), None), 8_390_656);
        // Decode: one token sees the whole context, as vLLM has it.
        assert_eq!(attention_pairs(&req(1, 1000), None), 1000);
        // A chunk of 100 after 900 cached: 901 + … + 1000 = 95,050.
        assert_eq!(attention_pairs(&req(100, 1000), None), 95_050);
    }

    #[test]
    fn window_caps_each_position() {
        // W = 4: positions 1..=6 see 1, 2, 3, 4, 4, 4 keys.
        assert_eq!(attention_pairs(&req(6, 6), Some(4)), 18);
        assert_eq!(attention_pairs(&req(2, 6), Some(4)), 8);
        assert_eq!(attention_pairs(&req(3, 3), Some(4)), 6);
    }
}
