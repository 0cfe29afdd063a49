//! Defines the engine's input: a [`Request`] with its arrival time, prompt and length.

use std::time::Duration;

use profilemate_model::counting_ids::CountingIds;

use crate::error::RequestError;

/// A request's prompt, either real token ids or a synthetic one described by its length.
///
/// Synthetic prompts are what benchmarks replay: only lengths matter, except for prefix
/// caching, where requests naming the same [`SharedPrefix`] share their first tokens exactly
/// and every other token is unique to its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePrompt {
    /// Explicit token ids.
    Tokens(Vec<u32>),
    /// Explicit token ids kept as their recipe (the random dataset's counting ids): the
    /// same prompt as [`EnginePrompt::Tokens`] of those ids, generated where they are hashed.
    Counting(CountingIds),
    /// A prompt of `len` tokens, optionally starting with a shared prefix.
    Synthetic {
        /// Prompt length in tokens.
        len: u32,
        /// Tokens shared with every other request that names the same prefix id.
        shared_prefix: Option<SharedPrefix>,
    },
}

/// A run of tokens several synthetic prompts start with (a system prompt, a chat history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedPrefix {
    /// Identifies the prefix: equal ids and lengths mean equal tokens.
    pub id: u64,
    /// Prefix length in tokens.
    pub len: u32,
}

impl EnginePrompt {
    /// Prompt length in tokens.
    pub fn len(&self) -> u32 {
        match self {
            EnginePrompt::Tokens(ids) => u32::try_from(ids.len()).unwrap_or(u32::MAX),
            EnginePrompt::Counting(ids) => ids.len(),
            EnginePrompt::Synthetic { len, .. } => *len,
        }
    }

    /// Whether the prompt has no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One generation request as the engine receives it.
///
/// Generation always runs to `max_tokens` (vLLM's `ignore_eos`), or until the sequence
/// reaches `--max-model-len`, so output lengths are known up front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// When the request reaches the engine, from the simulation's time zero.
    pub arrival: Duration,
    /// The prompt.
    pub prompt: EnginePrompt,
    /// Output tokens to generate.
    pub max_tokens: u32,
    /// Its part in prefill/decode disaggregation, if any (vLLM's `kv_transfer_params`).
    pub kv_transfer: KvTransfer,
}

/// A request's part in prefill/decode disaggregation, as vLLM's NIXL connector reads its
/// `kv_transfer_params` (vllm/distributed/kv_transfer/kv_connector/v1/nixl/, vLLM 0.32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvTransfer {
    /// A plain request.
    #[default]
    None,
    /// Prefilled here for a decode instance (`do_remote_decode`): when it finishes its KV
    /// blocks stay allocated (`delay_free_blocks`) until
    /// [`Simulation::release_held_kv`](crate::Simulation::release_held_kv).
    RemoteDecode,
    /// Prefilled on another instance (`do_remote_prefill`): on admission its blocks are
    /// allocated and the prompt's KV (past any local prefix-cache hit) is pulled over `link`
    /// (`WAITING_FOR_REMOTE_KVS`); then the last prompt token is recomputed and decoding goes
    /// on as usual.
    RemotePrefill(KvLink),
}

/// The link a decode instance pulls KV over: its bandwidth, the KV bytes of one token and a
/// fixed latency per transfer. Pulls share it one at a time, in admission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLink {
    /// KV bytes of one token over the whole model (every layer, every KV head).
    pub bytes_per_token: u64,
    /// Link bandwidth in bytes per second (> 0).
    pub bytes_per_second: u64,
    /// Added to every transfer (handshake, completion notice); does not hold the link.
    pub latency: Duration,
}

impl KvLink {
    /// How long `tokens` tokens' KV occupy the link.
    pub fn busy_time(&self, tokens: u32) -> Duration {
        let bytes = u128::from(tokens) * u128::from(self.bytes_per_token);
        let nanos = bytes * 1_000_000_000 / u128::from(self.bytes_per_second.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The engine's token ids of a prompt given as text pieces: the words of each piece in order,
/// one token per word ([`profilemate_model::words::tokenize`]); no chat template is applied.
pub fn text_token_ids<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<u32> {
    let mut ids = Vec::new();
    for text in texts {
        ids.extend(profilemate_model::words::tokenize(text));
    }
    ids
}

impl Request {
    /// A request with a synthetic prompt of `prompt_len` unique tokens.
    pub fn synthetic(arrival: Duration, prompt_len: u32, max_tokens: u32) -> Self {
        let prompt = EnginePrompt::Synthetic {
            len: prompt_len,
            shared_prefix: None,
        };
        Request {
            arrival,
            prompt,
            max_tokens,
            kv_transfer: KvTransfer::None,
        }
    }

    /// A request with explicit prompt token ids.
    pub fn from_tokens(arrival: Duration, tokens: Vec<u32>, max_tokens: u32) -> Self {
        Request {
            arrival,
            prompt: EnginePrompt::Tokens(tokens),
            max_tokens,
            kv_transfer: KvTransfer::None,
        }
    }

    /// A request with explicit prompt token ids kept as their recipe.
    pub fn from_counting_ids(arrival: Duration, ids: CountingIds, max_tokens: u32) -> Self {
        Request {
            arrival,
            prompt: EnginePrompt::Counting(ids),
            max_tokens,
            kv_transfer: KvTransfer::None,
        }
    }

    /// A request whose prompt is `texts` (a completion's text, or a conversation's text
    /// contents in order) tokenized by [`text_token_ids`]: how the simulated server and the
    /// virtual-time driver both turn text prompts into engine requests.
    pub fn from_text<'a>(
        arrival: Duration,
        texts: impl IntoIterator<Item = &'a str>,
        max_tokens: u32,
    ) -> Self {
        Self::from_tokens(arrival, text_token_ids(texts), max_tokens)
    }

    /// Makes the first `len` tokens of a synthetic prompt the shared prefix `id`; has no
    /// effect on explicit token ids, which share whatever they share.
    pub fn with_shared_prefix(mut self, id: u64, len: u32) -> Self {
        if let EnginePrompt::Synthetic { shared_prefix, .. } = &mut self.prompt {
            *shared_prefix = Some(SharedPrefix { id, len });
        }
        self
    }

    /// The same request with its part in prefill/decode disaggregation set.
    pub fn with_kv_transfer(mut self, kv_transfer: KvTransfer) -> Self {
        self.kv_transfer = kv_transfer;
        self
    }

    /// Checks the request the way vLLM's engine does before queueing it: a non-empty prompt
    /// shorter than `--max-model-len`. A prompt plus `max_tokens` beyond the context is
    /// accepted; [`capped_max_tokens`](Self::capped_max_tokens) is what gets generated.
    ///
    /// Mirrors `InputProcessor._validate_prompt_len` (vllm/v1/engine/input_processor.py,
    /// vLLM 0.32).
    pub fn validate(&self, max_model_len: u32) -> Result<(), RequestError> {
        let prompt = self.prompt.len();
        match () {
            _ if prompt == 0 => return Err(RequestError::EmptyPrompt),
            _ if self.max_tokens == 0 => return Err(RequestError::ZeroMaxTokens),
            _ if prompt > max_model_len => {
                return Err(RequestError::PromptTooLong {
                    prompt,
                    max_model_len,
                });
            }
            _ if prompt == max_model_len => {
                return Err(RequestError::NoRoomForOutput {
                    prompt,
                    max_model_len,
                });
            }
            _ => {}
        }
        match &self.prompt {
            EnginePrompt::Synthetic {
                shared_prefix: Some(p),
                ..
            } if p.len > prompt => Err(RequestError::PrefixLongerThanPrompt {
                prefix: p.len,
                prompt,
            }),
            _ => Ok(()),
        }
    }

    /// `max_tokens` capped to the room the context leaves, as vLLM's OpenAI server does
    /// (`get_max_tokens` in vllm/entrypoints/serve/utils/api_utils.py, vLLM 0.32).
    pub fn capped_max_tokens(&self, max_model_len: u32) -> u32 {
        self.max_tokens
            .min(max_model_len.saturating_sub(self.prompt.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_must_leave_room_for_one_output_token() {
        let long = Request::synthetic(Duration::ZERO, 2049, 1);
        let err = long.validate(2048).unwrap_err();
        assert_eq!(
            err,
            RequestError::PromptTooLong {
                prompt: 2049,
                max_model_len: 2048
            }
        );
        assert!(err.to_string().starts_with(
            "The decoder prompt (length 2049) is longer than the maximum model length of 2048."
        ));
        let full = Request::synthetic(Duration::ZERO, 2048, 1);
        let err = full.validate(2048).unwrap_err();
        assert_eq!(
            err,
            RequestError::NoRoomForOutput {
                prompt: 2048,
                max_model_len: 2048
            }
        );
    }

    #[test]
    fn too_many_output_tokens_are_capped_not_refused() {
        let req = Request::synthetic(Duration::ZERO, 2000, 100);
        assert_eq!(req.validate(2048), Ok(()));
        assert_eq!(req.capped_max_tokens(2048), 48);
        assert_eq!(req.capped_max_tokens(4096), 100);
    }

    #[test]
    fn link_busy_time_is_bytes_over_bandwidth() {
        // 128 KiB per token, 100 tokens, 12.5 GB/s (100 Gb/s): 13_107_200 B / 12.5e9 B/s.
        let link = KvLink {
            bytes_per_token: 131_072,
            bytes_per_second: 12_500_000_000,
            latency: Duration::from_millis(1),
        };
        assert_eq!(link.busy_time(100), Duration::from_nanos(1_048_576));
        assert_eq!(link.busy_time(0), Duration::ZERO);
    }

    #[test]
    fn prefix_must_fit_in_prompt() {
        let req = Request::synthetic(Duration::ZERO, 10, 1).with_shared_prefix(7, 11);
        assert_eq!(
            req.validate(100),
            Err(RequestError::PrefixLongerThanPrompt {
                prefix: 11,
                prompt: 10
            })
        );
    }

    #[test]
    fn empty_prompt_and_zero_tokens_are_rejected() {
        let empty = Request::from_tokens(Duration::ZERO, vec![], 5);
        assert_eq!(empty.validate(100), Err(RequestError::EmptyPrompt));
        let zero = Request::synthetic(Duration::ZERO, 5, 0);
        assert_eq!(zero.validate(100), Err(RequestError::ZeroMaxTokens));
    }
}
