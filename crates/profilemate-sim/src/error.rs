//! Defines the crate's hand-typed errors: bad engine settings and rejected requests.

use std::time::Duration;

/// An [`EngineConfig`](crate::EngineConfig) that vLLM would refuse to start with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineConfigError {
    /// A setting beyond what the simulator represents (token counts are `u32`; sums of a
    /// handful of them must not overflow, and the block arrays must fit in memory).
    #[error("{flag} = {value} is beyond the simulator's limit of {max}")]
    TooLarge {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// `--max-num-seqs` is zero.
    #[error("--max-num-seqs must be at least 1")]
    ZeroMaxNumSeqs,
    /// `--max-num-batched-tokens` is zero.
    #[error("--max-num-batched-tokens must be at least 1")]
    ZeroMaxNumBatchedTokens,
    /// `--block-size` is zero.
    #[error("--block-size must be at least 1")]
    ZeroBlockSize,
    /// `--max-model-len` is zero.
    #[error("--max-model-len must be at least 1")]
    ZeroMaxModelLen,
    /// Fewer than two KV blocks: vLLM reserves one as the null block.
    #[error("the KV cache needs at least 2 blocks (one is vLLM's null block), got {0}")]
    TooFewBlocks(u32),
    /// The token budget cannot hold one token per sequence.
    #[error(
        "--max-num-batched-tokens ({batched}) must be >= --max-num-seqs ({seqs}); \
         raise the token budget or lower the sequence limit"
    )]
    BudgetBelowMaxNumSeqs {
        /// `--max-num-batched-tokens`.
        batched: u32,
        /// `--max-num-seqs`.
        seqs: u32,
    },
    /// Without chunked prefill a whole prompt must fit in one step.
    #[error(
        "--max-num-batched-tokens ({batched}) is smaller than --max-model-len ({max_model_len}) \
         while chunked prefill is disabled; enable chunked prefill or raise the budget"
    )]
    BudgetBelowMaxModelLen {
        /// `--max-num-batched-tokens`.
        batched: u32,
        /// `--max-model-len`.
        max_model_len: u32,
    },
    /// `--long-prefill-token-threshold` above `--max-model-len`.
    #[error(
        "long_prefill_token_threshold ({threshold}) cannot be greater than \
         the max_model_len ({max_model_len})"
    )]
    LongPrefillThresholdTooLarge {
        /// The threshold.
        threshold: u32,
        /// `--max-model-len`.
        max_model_len: u32,
    },
    /// With KV offloading and speculative decoding, a prompt loaded from the CPU tier must
    /// fit beside one decode step's draft blocks, which the load keeps free
    /// (`_spec_decode_step_blocks` in vLLM's scheduler). vLLM 0.32 starts with such a cache
    /// and then never schedules a long prompt that hits the CPU tier; we refuse it up front.
    #[error(
        "with KV offloading and speculative decoding, a prompt of --max-model-len \
         ({max_model_len}) tokens loaded from the CPU needs {needed} blocks ({draft} kept free \
         for drafts) but the KV cache has {usable}; lower --max-model-len or add blocks"
    )]
    KvCacheTooSmallForDraftsBesideLoads {
        /// `--max-model-len`.
        max_model_len: u32,
        /// Blocks the longest load and the draft reservation need together.
        needed: u32,
        /// Of which the draft reservation.
        draft: u32,
        /// Usable blocks (all but the null block).
        usable: u32,
    },
    /// The KV cache cannot hold one sequence of `--max-model-len` tokens.
    #[error(
        "to serve one request of --max-model-len ({max_model_len}) tokens the KV cache needs \
         {needed} blocks of {block_size} tokens but has {usable}; lower --max-model-len or add blocks"
    )]
    KvCacheTooSmall {
        /// `--max-model-len`.
        max_model_len: u32,
        /// `--block-size`.
        block_size: u32,
        /// Blocks one full-length sequence needs.
        needed: u32,
        /// Usable blocks (all but the null block).
        usable: u32,
    },
    /// The admission watermark is outside `[0, 1)`.
    #[error("the KV watermark must be in [0.0, 1.0), got {0}")]
    WatermarkOutOfRange(f64),
    /// Speculative decoding with zero draft tokens.
    #[error("speculative decoding needs at least 1 draft token (num_speculative_tokens)")]
    ZeroDraftTokens,
    /// A draft acceptance probability outside `[0, 1]`.
    #[error("the draft acceptance probability must be in [0.0, 1.0], got {0}")]
    AcceptanceOutOfRange(f64),
    /// KV offloading without `cpu_bytes_to_use`.
    #[error("cpu_bytes_to_use must be specified in kv_connector_extra_config")]
    OffloadNoCpuBytes,
    /// KV offloading with zero-byte KV blocks.
    #[error("KV offloading needs the bytes of one KV block (kv_bytes_per_block), got 0")]
    OffloadZeroBlockBytes,
    /// An offload `block_size` that is not a multiple of `--block-size`.
    #[error(
        "'block_size'={block_size} in kv_connector_extra_config must be a multiple of the GPU \
         KV cache block size ({gpu_block_size} tokens)"
    )]
    OffloadBlockSize {
        /// The offload `block_size`.
        block_size: u32,
        /// `--block-size`.
        gpu_block_size: u32,
    },
    /// A host-link bandwidth below 1 MB/s, or not a number.
    #[error("the host-link bandwidth must be at least 1e6 bytes per second, got {0}")]
    OffloadBandwidth(f64),
    /// A per-transfer latency above one second.
    #[error("the KV transfer latency must be at most 1 s, got {0:?}")]
    OffloadLatency(Duration),
    /// `cpu_bytes_to_use` smaller than one (page-aligned) chunk.
    #[error(
        "cpu_bytes_to_use ({cpu_bytes}) holds no offload chunk of {chunk_bytes} bytes; \
         raise cpu_bytes_to_use"
    )]
    OffloadNoChunks {
        /// `cpu_bytes_to_use`.
        cpu_bytes: u64,
        /// Bytes of one chunk, page-aligned.
        chunk_bytes: u64,
    },
    /// CUDA-graph settings vLLM rejects (no usable capture size, or sizes and maximum that
    /// disagree), with the model crate's message.
    #[error("invalid CUDA-graph settings: {0}")]
    CudaGraph(String),
}

/// A request the engine refuses, with the reason vLLM's frontend would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The prompt has no tokens (`InputProcessor._validate_prompt_len`).
    #[error("The decoder prompt cannot be empty")]
    EmptyPrompt,
    /// `max_tokens` is zero.
    #[error("max_tokens must be at least 1")]
    ZeroMaxTokens,
    /// The prompt alone is longer than `--max-model-len` (vLLM answers HTTP 400).
    #[error(
        "The decoder prompt (length {prompt}) is longer than the maximum model length of \
         {max_model_len}. Make sure that `max_model_len` is no smaller than the number of text \
         tokens."
    )]
    PromptTooLong {
        /// Prompt tokens.
        prompt: u32,
        /// `--max-model-len`.
        max_model_len: u32,
    },
    /// The prompt fills `--max-model-len` exactly, leaving no room for an output token.
    #[error(
        "The decoder prompt (length {prompt}) plus the number of requested output tokens (at \
         least 1) is longer than the maximum model length of {max_model_len}. Make sure that \
         `max_model_len` is no smaller than the number of text tokens (prompt + requested \
         output tokens)."
    )]
    NoRoomForOutput {
        /// Prompt tokens.
        prompt: u32,
        /// `--max-model-len`.
        max_model_len: u32,
    },
    /// Prompt plus completion exceed `--max-model-len`, for frontends that refuse such
    /// requests. The engine never returns it: like vLLM 0.32's OpenAI server
    /// (`get_max_tokens` in vllm/entrypoints/serve/utils/api_utils.py), it caps the output at
    /// the context instead (see [`Request::validate`](crate::Request::validate)).
    #[error(
        "This model's maximum context length is {max_model_len} tokens. However, you requested \
         {total} tokens ({prompt} in the messages, {max_tokens} in the completion). \
         Please reduce the length of the messages or completion."
    )]
    TooLong {
        /// `--max-model-len`.
        max_model_len: u32,
        /// Prompt plus completion.
        total: u64,
        /// Prompt tokens.
        prompt: u32,
        /// Requested completion tokens.
        max_tokens: u32,
    },
    /// A shared prefix longer than the prompt it belongs to.
    #[error("the shared prefix ({prefix} tokens) is longer than the prompt ({prompt} tokens)")]
    PrefixLongerThanPrompt {
        /// Shared-prefix tokens.
        prefix: u32,
        /// Prompt tokens.
        prompt: u32,
    },
    /// An arrival time the virtual clock cannot represent.
    #[error("the arrival time {0:?} is beyond the simulator's clock range")]
    ArrivalOutOfRange(Duration),
}
