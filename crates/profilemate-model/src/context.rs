//! Defines [`ExecutionContext`], the batch of one scheduler step as the model sees it.
//!
//! Mirrors `ExecutionContext` in `vllm/v1/metrics/perf.py` (vLLM 0.32): aggregate sums for
//! the prefill and decode requests, plus the per-request records that the sliding-window
//! helpers need.

use serde::{Deserialize, Serialize};

/// One request's share of a step: `(num_tokens, context_len, is_prefill)` in vLLM's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRequest {
    /// Tokens scheduled for this request in this step.
    pub num_tokens: u64,
    /// Context length after this step: tokens computed before it plus `num_tokens`.
    pub context_len: u64,
    /// Whether vLLM bills the request as prefill (a new request, or a cached one with more
    /// than one scheduled token).
    pub is_prefill: bool,
}

/// Sums over the requests of one step, kept separately for prefill and decode.
///
/// A context is meant to be reused from step to step: [`ExecutionContext::clear`] keeps the
/// capacity of the per-request list, so a warmed-up context never allocates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecutionContext {
    /// Number of prefill requests.
    pub num_prefill_requests: u64,
    /// Σ `num_tokens` over prefill requests.
    pub prefill_num_tokens: u64,
    /// Σ `context_len` over prefill requests.
    pub prefill_context_len: u64,
    /// Σ `num_tokens × context_len` over prefill requests.
    pub prefill_token_context_product: u128,
    /// Number of decode requests.
    pub num_decode_requests: u64,
    /// Σ `num_tokens` over decode requests.
    pub decode_num_tokens: u64,
    /// Σ `context_len` over decode requests.
    pub decode_context_len: u64,
    /// Σ `num_tokens × context_len` over decode requests.
    pub decode_token_context_product: u128,
    /// The requests in the order they were added.
    #[serde(skip)]
    pub requests: Vec<ContextRequest>,
}

impl ExecutionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context holding one request (a convenience for tests and examples).
    pub fn from_single_request(num_tokens: u64, context_len: u64, is_prefill: bool) -> Self {
        let mut ctx = Self::new();
        ctx.add(num_tokens, context_len, is_prefill);
        ctx
    }

    /// Adds one request's statistics to the batch.
    pub fn add(&mut self, num_tokens: u64, context_len: u64, is_prefill: bool) {
        self.requests.push(ContextRequest {
            num_tokens,
            context_len,
            is_prefill,
        });
        let product = u128::from(num_tokens) * u128::from(context_len);
        // Sums saturate: a batch from outside is checked against `limits` after it is built,
        // and a saturated sum is beyond every limit, so it is refused rather than wrapped.
        if is_prefill {
            self.num_prefill_requests += 1;
            self.prefill_num_tokens = self.prefill_num_tokens.saturating_add(num_tokens);
            self.prefill_context_len = self.prefill_context_len.saturating_add(context_len);
            self.prefill_token_context_product =
                self.prefill_token_context_product.saturating_add(product);
        } else {
            self.num_decode_requests += 1;
            self.decode_num_tokens = self.decode_num_tokens.saturating_add(num_tokens);
            self.decode_context_len = self.decode_context_len.saturating_add(context_len);
            self.decode_token_context_product =
                self.decode_token_context_product.saturating_add(product);
        }
    }

    /// Empties the context, keeping the allocated capacity.
    pub fn clear(&mut self) {
        let mut requests = std::mem::take(&mut self.requests);
        requests.clear();
        *self = Self {
            requests,
            ..Self::default()
        };
    }

    /// Whether no request has been added.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Total number of tokens in the step.
    pub fn total_num_tokens(&self) -> u64 {
        self.prefill_num_tokens
            .saturating_add(self.decode_num_tokens)
    }

    /// Σ `num_tokens × min(context_len, window)`; with no window, the plain product sum.
    pub fn total_token_context_product(&self, sliding_window: Option<u64>) -> u128 {
        match sliding_window {
            None => self.prefill_token_context_product + self.decode_token_context_product,
            Some(w) => self
                .requests
                .iter()
                .map(|r| u128::from(r.num_tokens) * u128::from(r.context_len.min(w)))
                .sum(),
        }
    }

    /// Σ `context_len` over prefill requests, each clamped to the window if one is given.
    pub fn prefill_context_len_for_window(&self, sliding_window: Option<u64>) -> u64 {
        self.context_len_for_window(sliding_window, true)
    }

    /// Σ `context_len` over decode requests, each clamped to the window if one is given.
    pub fn decode_context_len_for_window(&self, sliding_window: Option<u64>) -> u64 {
        self.context_len_for_window(sliding_window, false)
    }

    fn context_len_for_window(&self, sliding_window: Option<u64>, prefill: bool) -> u64 {
        match sliding_window {
            None if prefill => self.prefill_context_len,
            None => self.decode_context_len,
            Some(w) => self
                .requests
                .iter()
                .filter(|r| r.is_prefill == prefill)
                .map(|r| r.context_len.min(w))
                .sum(),
        }
    }

    /// Tokens that need logits: one per prefill request, every decode token.
    pub fn num_logits_tokens(&self) -> u64 {
        self.num_prefill_requests + self.decode_num_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_split_by_phase() {
        let mut ctx = ExecutionContext::new();
        ctx.add(2048, 2048, true);
        ctx.add(1, 8192, false);
        ctx.add(1, 100, false);
        assert_eq!(ctx.total_num_tokens(), 2050);
        assert_eq!(ctx.prefill_token_context_product, 2048 * 2048);
        assert_eq!(ctx.decode_token_context_product, 8192 + 100);
        assert_eq!(ctx.num_logits_tokens(), 3);
    }

    #[test]
    fn window_clamps_each_request() {
        let mut ctx = ExecutionContext::new();
        ctx.add(512, 4096, true);
        ctx.add(1, 8192, false);
        ctx.add(1, 100, false);
        assert_eq!(
            ctx.total_token_context_product(Some(1024)),
            512 * 1024 + 1024 + 100
        );
        assert_eq!(ctx.prefill_context_len_for_window(Some(1024)), 1024);
        assert_eq!(ctx.decode_context_len_for_window(Some(1024)), 1124);
        assert_eq!(ctx.decode_context_len_for_window(None), 8292);
    }

    #[test]
    fn clear_keeps_capacity() {
        let mut ctx = ExecutionContext::new();
        for _ in 0..64 {
            ctx.add(1, 10, false);
        }
        let cap = ctx.requests.capacity();
        ctx.clear();
        assert!(ctx.is_empty());
        assert_eq!(ctx.total_num_tokens(), 0);
        assert_eq!(ctx.requests.capacity(), cap);
    }

    /// Found by the `model_arithmetic` fuzz target: sums of outside sizes wrapped (a panic with
    /// overflow checks) before the limits could refuse the batch.
    #[test]
    fn sums_of_huge_requests_saturate_and_the_limits_refuse_them() {
        let mut ctx = ExecutionContext::new();
        ctx.add(u64::MAX, u64::MAX, true);
        ctx.add(u64::MAX, u64::MAX, true);
        ctx.add(u64::MAX, 1, false);
        ctx.add(1, 1, false);
        assert_eq!(ctx.prefill_num_tokens, u64::MAX);
        assert_eq!(ctx.prefill_context_len, u64::MAX);
        assert_eq!(ctx.total_num_tokens(), u64::MAX);
        assert!(crate::limits::check_batch(&ctx).is_err());
    }
}
