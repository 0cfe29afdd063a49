//! Provides [`EngineConfig`]: the deployment settings a vLLM 0.32 log states at startup.
//!
//! Read from `Initializing a V1 LLM engine (v…) with config: …` (vllm/v1/engine/core.py:134),
//! `non-default args: {…}` (vllm/entrypoints/utils.py), `Chunked prefill is enabled with
//! max_num_batched_tokens=%d.` (vllm/config/scheduler.py:308), `%s KV cache size: %s tokens,
//! Maximum concurrency for …` (vllm/v1/core/kv_cache_utils.py:2328) and `Overriding
//! num_gpu_blocks=%d with num_gpu_blocks_override=%d`. The engine config line names neither
//! `max_num_seqs` nor `max_num_batched_tokens`: they come from the other lines when set.

use serde::Serialize;

use crate::cursor::Cursor;

/// `{device} KV cache size: N tokens`, looked for in every unrecognised message: one
/// searcher built once.
static KV_CACHE_SIZE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b" KV cache size: "));

/// What the log says about the deployment; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EngineConfig {
    /// vLLM version from the engine config line.
    pub vllm_version: Option<String>,
    /// `model=`.
    pub model: Option<String>,
    /// `dtype=` without the `torch.` prefix.
    pub dtype: Option<String>,
    /// `quantization=` (absent when `None`).
    pub quantization: Option<String>,
    /// `kv_cache_dtype=`.
    pub kv_cache_dtype: Option<String>,
    /// `device_config=` (`cuda`, `cpu`, …).
    pub device: Option<String>,
    /// `max_seq_len=` (the max model length).
    pub max_model_len: Option<u64>,
    /// `tensor_parallel_size=`.
    pub tensor_parallel_size: Option<u64>,
    /// `pipeline_parallel_size=`.
    pub pipeline_parallel_size: Option<u64>,
    /// `data_parallel_size=`.
    pub data_parallel_size: Option<u64>,
    /// `enable_prefix_caching=`.
    pub enable_prefix_caching: Option<bool>,
    /// `speculative_config=` is not `None`.
    pub speculative_decoding: Option<bool>,
    /// `'cudagraph_mode': <CUDAGraphMode.X: …>` in the compilation config.
    pub cudagraph_mode: Option<String>,
    /// `max_num_seqs` from the non-default args.
    pub max_num_seqs: Option<u64>,
    /// `max_num_batched_tokens` from the non-default args or the chunked-prefill line.
    pub max_num_batched_tokens: Option<u64>,
    /// KV-cache blocks (`num_gpu_blocks_override` when it overrode the profiled count).
    pub num_gpu_blocks: Option<u64>,
    /// KV-cache capacity in tokens (`KV cache size: N tokens`).
    pub kv_cache_tokens: Option<u64>,
}

impl EngineConfig {
    /// Reads `message` if it is one of the startup lines; whether it was.
    pub(crate) fn observe(&mut self, message: &[u8]) -> bool {
        if let Some(rest) = message.strip_prefix(b"Initializing a V1 LLM engine (v") {
            self.engine_line(rest);
        } else if let Some(rest) = message.strip_prefix(b"non-default args: ") {
            self.non_default_args(rest);
        } else if let Some(rest) =
            message.strip_prefix(b"Chunked prefill is enabled with max_num_batched_tokens=")
        {
            self.max_num_batched_tokens = Cursor::new(rest).uint().or(self.max_num_batched_tokens);
        } else if let Some(rest) = message.strip_prefix(b"Overriding num_gpu_blocks=") {
            let mut c = Cursor::new(rest);
            if c.uint().is_some() && c.eat(b" with num_gpu_blocks_override=") {
                self.num_gpu_blocks = c.uint();
            }
        } else if let Some(at) = KV_CACHE_SIZE.find(message) {
            let digits = &message[at + KV_CACHE_SIZE.needle().len()..];
            let Some(tokens) = grouped_uint(digits) else {
                return false;
            };
            self.kv_cache_tokens = Some(tokens);
        } else {
            return false;
        }
        true
    }

    fn engine_line(&mut self, rest: &[u8]) {
        let text = String::from_utf8_lossy(rest);
        self.vllm_version = text.split(')').next().map(str::to_owned);
        let field = |key: &str| value_of(&text, key);
        self.model = field("config: model=").or(self.model.take());
        self.dtype = field(", dtype=").map(|d| d.trim_start_matches("torch.").to_owned());
        self.quantization = field(", quantization=").filter(|q| q != "None");
        self.kv_cache_dtype = field(", kv_cache_dtype=");
        self.device = field(", device_config=");
        let number = |key: &str| field(key).and_then(|v| v.parse().ok());
        self.max_model_len = number(", max_seq_len=");
        self.tensor_parallel_size = number(", tensor_parallel_size=");
        self.pipeline_parallel_size = number(", pipeline_parallel_size=");
        self.data_parallel_size = number(", data_parallel_size=");
        self.enable_prefix_caching = field(", enable_prefix_caching=").map(|v| v == "True");
        self.speculative_decoding = field("speculative_config=").map(|v| v != "None");
        self.cudagraph_mode = text
            .split_once("'cudagraph_mode': <CUDAGraphMode.")
            .and_then(|(_, tail)| tail.split(':').next())
            .map(str::to_owned);
    }

    fn non_default_args(&mut self, rest: &[u8]) {
        let arg = |key: &[u8]| {
            let at = memchr::memmem::find(rest, key)?;
            Cursor::new(&rest[at + key.len()..]).uint()
        };
        self.max_num_seqs = arg(b"'max_num_seqs': ").or(self.max_num_seqs);
        self.max_num_batched_tokens =
            arg(b"'max_num_batched_tokens': ").or(self.max_num_batched_tokens);
        self.num_gpu_blocks = arg(b"'num_gpu_blocks_override': ").or(self.num_gpu_blocks);
    }
}

/// The value after `key` up to the next `, `, without quotes.
fn value_of(text: &str, key: &str) -> Option<String> {
    let (_, tail) = text.split_once(key)?;
    let value = tail.split(", ").next()?;
    Some(value.trim_matches('\'').to_owned())
}

/// `16,384` → 16384.
fn grouped_uint(text: &[u8]) -> Option<u64> {
    let len = text
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b',')
        .count();
    let digits: Vec<u8> = text[..len].iter().copied().filter(|b| *b != b',').collect();
    Cursor::new(&digits).uint()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_lines_of_the_run2_capture() {
        let mut config = EngineConfig::default();
        assert!(config.observe(
            b"non-default args: {'model_tag': './tiny-llama', 'max_num_seqs': 8, \
              'max_num_batched_tokens': 512, 'num_gpu_blocks_override': 128}"
        ));
        assert!(config.observe(
            b"Initializing a V1 LLM engine (v0.32.0) with config: model='./tiny-llama', \
              speculative_config=None, tokenizer='./tiny-llama', dtype=torch.bfloat16, max_seq_len=2048, \
              tensor_parallel_size=1, pipeline_parallel_size=1, data_parallel_size=1, \
              quantization=None, kv_cache_dtype=auto, device_config=cpu, enable_prefix_caching=False, \
              compilation_config={'cudagraph_mode': <CUDAGraphMode.NONE: 0>}"
        ));
        assert!(config.observe(
            b"CPU KV cache size: 16,384 tokens, Maximum concurrency for 2,048 tokens per request: 8.00x"
        ));
        assert!(!config.observe(b"Starting vLLM server on http://127.0.0.1:18011"));
        assert_eq!(config.vllm_version.as_deref(), Some("0.32.0"));
        assert_eq!(config.model.as_deref(), Some("./tiny-llama"));
        assert_eq!(config.dtype.as_deref(), Some("bfloat16"));
        assert_eq!(config.quantization, None);
        assert_eq!(config.device.as_deref(), Some("cpu"));
        assert_eq!(
            (config.max_num_seqs, config.max_num_batched_tokens),
            (Some(8), Some(512))
        );
        assert_eq!(
            (config.num_gpu_blocks, config.kv_cache_tokens),
            (Some(128), Some(16_384))
        );
        assert_eq!(config.tensor_parallel_size, Some(1));
        assert_eq!(config.enable_prefix_caching, Some(false));
        assert_eq!(config.speculative_decoding, Some(false));
        assert_eq!(config.cudagraph_mode.as_deref(), Some("NONE"));
        assert_eq!(config.max_model_len, Some(2048));
    }
}
