//! Defines the request bodies the server accepts, a subset of vLLM's OpenAI protocol
//! (`CompletionRequest`, `ChatCompletionRequest`, `EmbeddingRequest`, `TokenizeRequest` in
//! vllm/entrypoints/openai/*/protocol.py, vLLM 0.32). Unknown fields are ignored, as vLLM
//! ignores (and warns about) extra fields; sampling parameters do not change the output.

use serde::Deserialize;

use profilemate_sim::text_token_ids;

use crate::error::SimError;

/// A prompt as the OpenAI API spells it: text, token ids, or a one-element list of either.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PromptInput {
    /// One text prompt.
    Text(String),
    /// Token ids.
    Ids(Vec<u32>),
    /// A list of texts (one supported).
    Texts(Vec<String>),
    /// A list of token-id lists (one supported).
    IdLists(Vec<Vec<u32>>),
}

impl PromptInput {
    /// The prompt's token ids; batches of several prompts are refused.
    pub fn token_ids(&self) -> Result<Vec<u32>, SimError> {
        match self {
            PromptInput::Text(text) => Ok(text_token_ids([text.as_str()])),
            PromptInput::Ids(ids) => Ok(ids.clone()),
            PromptInput::Texts(texts) => single(texts).map(|t| text_token_ids([t.as_str()])),
            PromptInput::IdLists(lists) => single(lists).cloned(),
        }
    }
}

fn single<T>(items: &[T]) -> Result<&T, SimError> {
    match items {
        [one] => Ok(one),
        _ => Err(SimError::InvalidRequest {
            message: format!(
                "the simulator serves one prompt per request, got {}; send them separately",
                items.len()
            ),
            param: Some("prompt"),
        }),
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a final chunk with `usage` before `[DONE]`.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// The fields completions and chat requests share.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CommonParams {
    /// The model; must be the served name when given.
    #[serde(default)]
    pub model: Option<String>,
    /// Stream server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Accepted; the simulator never stops early anyway.
    #[serde(default)]
    pub ignore_eos: Option<bool>,
    /// Choices per request (only 1).
    #[serde(default)]
    pub n: Option<u32>,
}

impl CommonParams {
    /// Whether to stream.
    pub fn stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether a streamed answer ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// Model, streaming and `n`.
    #[serde(flatten)]
    pub common: CommonParams,
    /// The prompt.
    pub prompt: PromptInput,
    /// Output tokens (vLLM's default for completions is 16).
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

/// One chat message.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, …
    pub role: String,
    /// Text, or a list of parts whose `text` parts count.
    #[serde(default)]
    pub content: Option<ChatContent>,
}

/// A message's content.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ChatContent {
    /// Plain text.
    Text(String),
    /// Typed parts (`{"type": "text", "text": …}`).
    Parts(Vec<ContentPart>),
}

/// One content part.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// Model, streaming and `n`.
    #[serde(flatten)]
    pub common: CommonParams,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Output tokens (deprecated spelling).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Output tokens; wins over `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
}

/// Token ids of a conversation: the words of every text content, in order. No chat template
/// is applied, so counts are the words the client sent.
pub fn chat_token_ids(messages: &[ChatMessage]) -> Vec<u32> {
    text_token_ids(messages.iter().flat_map(|m| -> Vec<&str> {
        match &m.content {
            Some(ChatContent::Text(t)) => vec![t.as_str()],
            Some(ChatContent::Parts(parts)) => {
                parts.iter().filter_map(|p| p.text.as_deref()).collect()
            }
            None => Vec::new(),
        }
    }))
}

/// `POST /v1/embeddings`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingRequest {
    /// The model; must be the served name when given.
    #[serde(default)]
    pub model: Option<String>,
    /// What to embed.
    pub input: PromptInput,
}

/// `POST /tokenize`: a prompt or a conversation.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenizeRequest {
    /// The model; must be the served name when given.
    #[serde(default)]
    pub model: Option<String>,
    /// A completion prompt.
    #[serde(default)]
    pub prompt: Option<String>,
    /// A conversation.
    #[serde(default)]
    pub messages: Option<Vec<ChatMessage>>,
}

/// Rejects `n` other than 1.
pub(crate) fn check_n(n: Option<u32>) -> Result<(), SimError> {
    match n {
        None | Some(1) => Ok(()),
        Some(n) => Err(SimError::InvalidRequest {
            message: format!("n = {n} is not supported by the simulator; use n = 1"),
            param: Some("n"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_parse_in_every_openai_spelling() {
        let parse = |s: &str| serde_json::from_str::<PromptInput>(s).unwrap().token_ids();
        assert_eq!(parse(r#""a b c""#).unwrap().len(), 3);
        assert_eq!(parse("[1, 2]").unwrap(), vec![1, 2]);
        assert_eq!(parse(r#"["a b"]"#).unwrap().len(), 2);
        assert_eq!(parse("[[5]]").unwrap(), vec![5]);
        assert!(parse(r#"["a", "b"]"#).is_err());
    }

    #[test]
    fn chat_counts_words_of_text_parts() {
        let body = r#"{"messages": [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi there you"}]}]}"#;
        let req: ChatRequest = serde_json::from_str(body).unwrap();
        assert_eq!(chat_token_ids(&req.messages).len(), 5);
    }
}
