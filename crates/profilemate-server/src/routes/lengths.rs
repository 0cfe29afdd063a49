//! Provides [`output_tokens`]: the length checks of vLLM 0.32's OpenAI serving layer, in its
//! order, and the `max_tokens` a request then runs with.
//!
//! vLLM checks, before the engine sees the request:
//! 1. `TokenizeParams.__post_init__` (vllm/renderers/params.py): a requested output longer
//!    than `max_model_len` (`build_tok_params` in openai/completion/protocol.py and
//!    chat_completion/protocol.py name the field: `max_tokens`, `max_completion_tokens`);
//! 2. `TokenizeParams._token_len_check` (same file): a prompt longer than `max_model_len`,
//!    "even without any output tokens" (a text prompt is tokenized only to one token past the
//!    limit, so its count reads "at least N+1");
//! 3. `get_max_tokens` (vllm/entrypoints/serve/utils/api_utils.py): the output capped at the
//!    room the prompt leaves (chat's default is all of it);
//! 4. `SamplingParams._verify_args` (vllm/sampling_params.py): `max_tokens` at least 1.
//!
//! Each is a `VLLMValidationError`, answered 400 `BadRequestError` with its parameter as
//! `param` and `str(exc)` as the message, which appends `(parameter=…, value=…)`
//! (vllm/exceptions.py, serve/exception_handling/error_response.py).

use std::fmt::Display;

use crate::error::SimError;

/// What a generation request asks for, before the checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    /// Prompt tokens.
    pub(crate) prompt: usize,
    /// The prompt was text (tokenized here), not token ids.
    pub(crate) from_text: bool,
    /// Requested output tokens, with the endpoint's default applied (`None`: chat's "all the
    /// room left").
    pub(crate) max_tokens: Option<u32>,
    /// The field that requested them.
    pub(crate) param: &'static str,
}

/// Runs vLLM's checks in vLLM's order and returns the `max_tokens` to run with.
pub(crate) fn output_tokens(asked: Asked, max_model_len: u32) -> Result<u32, SimError> {
    let limit = u64::from(max_model_len);
    if let Some(n) = asked.max_tokens.filter(|&n| u64::from(n) > limit) {
        return Err(validation(
            format!(
                "{}={n} cannot be greater than max_model_len={max_model_len}. \
                 Please request fewer output tokens.",
                asked.param
            ),
            asked.param,
            n,
        ));
    }
    let prompt = asked.prompt as u64;
    if prompt > limit {
        // vLLM tokenizes text only up to max_model_len + 1 tokens (`get_encode_kwargs`).
        let count = if asked.from_text {
            prompt.min(limit + 1)
        } else {
            prompt
        };
        let qualifier = if count == limit + 1 { "at least " } else { "" };
        return Err(validation(
            format!(
                "This model's maximum context length is {max_model_len} tokens. However, your \
                 prompt contains {qualifier}{count} input tokens, which exceeds this limit even \
                 without any output tokens. Please reduce the length of the input prompt."
            ),
            "input_tokens",
            count,
        ));
    }
    let room = max_model_len - prompt as u32;
    let max_tokens = asked.max_tokens.map_or(room, |n| n.min(room));
    if max_tokens < 1 {
        return Err(validation(
            format!("max_tokens must be at least 1, got {max_tokens}."),
            "max_tokens",
            max_tokens,
        ));
    }
    Ok(max_tokens)
}

/// A `VLLMValidationError` as vLLM's server renders it.
fn validation(message: String, param: &'static str, value: impl Display) -> SimError {
    SimError::InvalidRequest {
        message: format!("{message} (parameter={param}, value={value})"),
        param: Some(param),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(prompt: usize, max_tokens: Option<u32>) -> Asked {
        Asked {
            prompt,
            from_text: false,
            max_tokens,
            param: "max_tokens",
        }
    }

    fn message(err: SimError) -> String {
        err.to_string()
    }

    #[test]
    fn output_beyond_the_context_is_refused_before_the_prompt_is_measured() {
        let err = output_tokens(asked(5000, Some(2049)), 2048).unwrap_err();
        assert_eq!(
            message(err),
            "max_tokens=2049 cannot be greater than max_model_len=2048. Please request fewer \
             output tokens. (parameter=max_tokens, value=2049)"
        );
    }

    #[test]
    fn prompt_beyond_the_context_gets_vllms_input_tokens_error() {
        let err = output_tokens(asked(3000, None), 2048).unwrap_err();
        assert_eq!(
            message(err),
            "This model's maximum context length is 2048 tokens. However, your prompt contains \
             3000 input tokens, which exceeds this limit even without any output tokens. Please \
             reduce the length of the input prompt. (parameter=input_tokens, value=3000)"
        );
        let text = Asked {
            from_text: true,
            ..asked(3000, Some(16))
        };
        let err = message(output_tokens(text, 2048).unwrap_err());
        assert!(err.contains("contains at least 2049 input tokens"), "{err}");
        assert!(
            err.ends_with("(parameter=input_tokens, value=2049)"),
            "{err}"
        );
    }

    #[test]
    fn output_is_capped_at_the_room_left_and_must_be_at_least_one() {
        assert_eq!(output_tokens(asked(3, Some(2048)), 2048).unwrap(), 2045);
        assert_eq!(output_tokens(asked(3, None), 2048).unwrap(), 2045);
        assert_eq!(output_tokens(asked(3, Some(7)), 2048).unwrap(), 7);
        let full = message(output_tokens(asked(2048, None), 2048).unwrap_err());
        assert_eq!(
            full,
            "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)"
        );
        assert!(output_tokens(asked(3, Some(0)), 2048).is_err());
    }
}
