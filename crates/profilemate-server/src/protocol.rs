//! Defines the request bodies the server accepts, a subset of vLLM's OpenAI protocol
//! (`CompletionRequest`, `ChatCompletionRequest`, `EmbeddingRequest`, `TokenizeRequest` in
//! vllm/entrypoints/openai/*/protocol.py, vLLM 0.32). Unknown fields are ignored, as vLLM
//! ignores (and warns about) extra fields; sampling parameters do not change the output.
//!
//! Bodies decode straight into their final types: no `#[serde(untagged)]` or
//! `#[serde(flatten)]`, which buffer every value into serde's generic `Content` tree first (a
//! 14 MB token-id prompt cost ~500 MB that way, issue 13). A token-id prompt costs 4 bytes per
//! id.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use profilemate_sim::text_token_ids;

use crate::error::SimError;

/// A prompt as the OpenAI API spells it: text, token ids, or a one-element list of either.
/// The first element of a list decides which list it is.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        self.clone().into_token_ids().map(|p| p.ids)
    }

    /// The prompt's token ids, taking the ids without a copy; batches of several prompts
    /// are refused.
    pub fn into_token_ids(self) -> Result<PromptIds, SimError> {
        let text = |t: &str| PromptIds {
            ids: text_token_ids([t]),
            from_text: true,
        };
        let ids = |ids| PromptIds {
            ids,
            from_text: false,
        };
        match self {
            PromptInput::Text(t) => Ok(text(&t)),
            PromptInput::Ids(v) => Ok(ids(v)),
            PromptInput::Texts(texts) => single(texts).map(|t| text(&t)),
            PromptInput::IdLists(lists) => single(lists).map(ids),
        }
    }
}

/// A prompt's token ids, and whether they came from text (vLLM's tokenizer then stops at
/// one token past the context, which its length error shows as "at least").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptIds {
    /// The ids.
    pub ids: Vec<u32>,
    /// Tokenized from text rather than given as ids.
    pub from_text: bool,
}

impl<'de> Deserialize<'de> for PromptInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PromptVisitor)
    }
}

/// Reads a prompt in one pass: a string, or a list whose first element says what it holds.
struct PromptVisitor;

const PROMPT_EXPECTED: &str =
    "a string, a list of token ids, a list of strings or a list of token-id lists";

impl<'de> Visitor<'de> for PromptVisitor {
    type Value = PromptInput;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PROMPT_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PromptInput::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(PromptInput::Text(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        match seq.next_element::<PromptItem>()? {
            None => Ok(PromptInput::Ids(Vec::new())),
            Some(PromptItem::Id(first)) => rest(seq, first).map(PromptInput::Ids),
            Some(PromptItem::Text(first)) => rest(seq, first).map(PromptInput::Texts),
            Some(PromptItem::Ids(first)) => rest(seq, first).map(PromptInput::IdLists),
        }
    }
}

/// The first element of a prompt list, which decides the list's kind.
enum PromptItem {
    Id(u32),
    Text(String),
    Ids(Vec<u32>),
}

impl<'de> Deserialize<'de> for PromptItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = PromptItem;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token id, a string or a list of token ids")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(PromptItem::Id)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &"a u32 token id"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PromptItem::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(PromptItem::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<u32>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(PromptItem::Ids)
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// `first` and the rest of the list, all of `first`'s type.
fn rest<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    mut seq: A,
    first: T,
) -> Result<Vec<T>, A::Error> {
    let mut items = vec![first];
    while let Some(item) = seq.next_element()? {
        items.push(item);
    }
    Ok(items)
}

fn single<T>(mut items: Vec<T>) -> Result<T, SimError> {
    match items.len() {
        1 => Ok(items.remove(0)),
        n => Err(SimError::InvalidRequest {
            message: format!(
                "the simulator serves one prompt per request, got {n}; send them separately"
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

/// The fields completions and chat requests share (each request spells them out rather than
/// `#[serde(flatten)]` them, which would buffer the whole body; see the module doc).
#[derive(Debug, Clone, Default)]
pub struct CommonParams {
    /// The model; must be the served name when given.
    pub model: Option<String>,
    /// Stream server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Choices per request (only 1).
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
    /// The prompt.
    pub prompt: PromptInput,
    /// Output tokens (vLLM's default for completions is 16).
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

impl CompletionRequest {
    /// Model, streaming and `n`.
    pub fn common(&self) -> CommonParams {
        CommonParams {
            model: self.model.clone(),
            stream: self.stream,
            stream_options: self.stream_options,
            n: self.n,
        }
    }
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
#[derive(Debug, Clone)]
pub enum ChatContent {
    /// Plain text.
    Text(String),
    /// Typed parts (`{"type": "text", "text": …}`).
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for ChatContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = ChatContent;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of content parts")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ChatContent::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(ChatContent::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(ChatContent::Parts)
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
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
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Output tokens (deprecated spelling).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Output tokens; wins over `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
}

impl ChatRequest {
    /// Model, streaming and `n`.
    pub fn common(&self) -> CommonParams {
        CommonParams {
            model: self.model.clone(),
            stream: self.stream,
            stream_options: self.stream_options,
            n: self.n,
        }
    }
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
        assert_eq!(parse("[]").unwrap(), Vec::<u32>::new());
    }

    // See: issue 13 (prompts went through serde's untagged buffering; the one-pass reader
    // must refuse what the untagged enum refused).
    #[test]
    fn mixed_or_out_of_range_prompt_lists_are_refused() {
        let parse = |s: &str| serde_json::from_str::<PromptInput>(s);
        assert!(parse(r#"[1, "a"]"#).is_err());
        assert!(parse(r#"["a", 1]"#).is_err());
        assert!(parse("[[1], 2]").is_err());
        assert!(parse("[4294967296]").is_err(), "beyond u32");
        assert!(parse("[-1]").is_err());
        assert!(parse("[1.5]").is_err());
        assert!(parse("{}").is_err());
        let body = r#"{"prompt": [1, 2, 3], "stream": true, "extra": {"x": [1]}}"#;
        let req: CompletionRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.prompt, PromptInput::Ids(vec![1, 2, 3]));
        assert!(req.common().stream());
    }

    #[test]
    fn chat_counts_words_of_text_parts() {
        let body = r#"{"messages": [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi there you"}]}]}"#;
        let req: ChatRequest = serde_json::from_str(body).unwrap();
        assert_eq!(chat_token_ids(&req.messages).len(), 5);
    }
}
