//! Defines the engine's per-request state: token counters, status and block hashes.
//!
//! Mirrors the fields of `Request` (vllm/v1/request.py, vLLM 0.32) that scheduling reads.

use crate::block_hash::{BlockHash, TokenSource};
use crate::request::{EnginePrompt, KvTransfer};

/// Where a request is in its life (`RequestStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// In the waiting queue, never scheduled.
    Waiting,
    /// In the running queue.
    Running,
    /// Back in the waiting queue after preemption, KV freed, to be recomputed.
    Preempted,
    /// In the waiting queue, holding blocks while its prefix loads from the CPU tier or, with
    /// prefill/decode disaggregation, its prompt's KV is pulled from a prefill instance.
    WaitingForRemoteKvs,
}

/// The scheduler's view of one request.
#[derive(Debug)]
pub(crate) struct ReqState {
    pub(crate) prompt: EnginePrompt,
    pub(crate) num_prompt_tokens: u32,
    pub(crate) max_tokens: u32,
    pub(crate) num_output_tokens: u32,
    pub(crate) num_computed_tokens: u32,
    /// Draft tokens proposed for the next step (`spec_token_ids`).
    pub(crate) num_spec_tokens: u32,
    /// Tokens sampled by steps in flight, counted ahead (async scheduling only).
    pub(crate) num_output_placeholders: u32,
    /// Tokens scheduled in steps whose output has not been processed yet.
    pub(crate) num_in_flight_tokens: u32,
    /// Of those, tokens scheduled before the last preemption (their output is stale).
    pub(crate) num_stale_tokens: u32,
    pub(crate) status: Status,
    pub(crate) num_preemptions: u32,
    /// Full-block hashes, kept only with prefix caching.
    pub(crate) block_hashes: Vec<BlockHash>,
    /// `(local + external, external)` cached tokens of a KV load admitted before any
    /// preemption, until the request is scheduled.
    pub(crate) loaded_prefill: Option<(u32, u32)>,
    /// Its part in prefill/decode disaggregation; a remote prefill turns into
    /// [`KvTransfer::None`] once its pull starts (a later preemption recomputes locally).
    pub(crate) kv_transfer: KvTransfer,
}

impl ReqState {
    pub(crate) fn new(prompt: EnginePrompt, max_tokens: u32) -> Self {
        ReqState {
            num_prompt_tokens: prompt.len(),
            prompt,
            max_tokens,
            num_output_tokens: 0,
            num_computed_tokens: 0,
            num_spec_tokens: 0,
            num_output_placeholders: 0,
            num_in_flight_tokens: 0,
            num_stale_tokens: 0,
            status: Status::Waiting,
            num_preemptions: 0,
            block_hashes: Vec::new(),
            loaded_prefill: None,
            kv_transfer: KvTransfer::None,
        }
    }

    /// Prompt plus output tokens (`num_tokens`).
    pub(crate) fn num_tokens(&self) -> u32 {
        self.num_prompt_tokens + self.num_output_tokens
    }

    /// `num_tokens_with_spec`: tokens plus pending drafts.
    pub(crate) fn num_tokens_with_spec(&self) -> u32 {
        self.num_tokens() + self.num_spec_tokens
    }

    /// Whether a step in flight already produces the last token, so scheduling another
    /// would be wasted (the async-scheduling check at the top of `schedule()`'s running loop).
    pub(crate) fn last_token_in_flight(&self) -> bool {
        let placeholders = self.num_output_placeholders;
        placeholders > 0
            && self.num_computed_tokens + 2
                >= placeholders + self.num_prompt_tokens + self.max_tokens
    }

    /// Whether a waiting request holds KV blocks: its KV is loading or has landed
    /// (`Scheduler._holds_kv_blocks`).
    pub(crate) fn holds_kv_blocks(&self) -> bool {
        self.num_computed_tokens > 0 || self.status == Status::WaitingForRemoteKvs
    }

    /// Rolls back rejected draft tokens (`update_from_output`'s rejection handling).
    pub(crate) fn reject_drafts(&mut self, rejected: u32) {
        self.num_computed_tokens = self.num_computed_tokens.saturating_sub(rejected);
        self.num_output_placeholders = self.num_output_placeholders.saturating_sub(rejected);
    }

    /// Brings the block hashes up to date with `num_tokens` (`update_block_hashes`).
    pub(crate) fn update_hashes(&mut self, uid: u32, block_size: u32) {
        let source = TokenSource {
            prompt: &self.prompt,
            uid: u64::from(uid),
        };
        let num_tokens = self.num_prompt_tokens + self.num_output_tokens;
        source.extend_hashes(&mut self.block_hashes, num_tokens, block_size);
    }
}
