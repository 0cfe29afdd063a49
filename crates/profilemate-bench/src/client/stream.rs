//! Provides [`StreamState`]: what one streamed response has delivered so far, updated per SSE
//! event with the chunk's arrival time.
//!
//! Mirrors the streaming loops of `async_request_openai_completions()` and
//! `async_request_openai_chat_completions()` in vllm/benchmarks/lib/endpoint_request_func.py,
//! vLLM 0.32: an event with a non-empty `choices` is a token chunk (reasoning-only and empty
//! deltas included) that stamps TTFT or appends an ITL gap; a `usage`-only event sets the output
//! and prompt token counts; `[DONE]` is ignored. Beyond vLLM it records tokens per chunk and the
//! time to the first *content* token.

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::tokenizer::Tokenizer;

/// The state of one response stream.
#[derive(Debug)]
pub struct StreamState {
    /// When the request was sent.
    pub sent: Instant,
    /// Arrival of the first token chunk.
    pub first: Option<Instant>,
    /// Arrival of the latest token chunk.
    pub last: Instant,
    /// Gaps between token chunks, in seconds.
    pub itl: Vec<f64>,
    /// Tokens per token chunk.
    pub chunk_tokens: Vec<u32>,
    /// Concatenated content.
    pub text: String,
    /// `usage.completion_tokens`.
    pub output_tokens: u64,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: Option<u64>,
    /// Seconds to the first non-empty content.
    pub ttfc: Option<f64>,
    /// Whether the request was handed to an open connection (it is on the wire).
    pub on_wire: bool,
    /// Last cumulative `completion_tokens` seen on a token chunk (continuous usage stats).
    usage_so_far: Option<u64>,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: FirstChoice<'a>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    completion_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct Choice<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
}

#[derive(Deserialize, Default)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
}

/// The first element of `choices`, without allocating a `Vec`; `None` for null or `[]`.
#[derive(Default)]
struct FirstChoice<'a>(Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of choices or null")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Choice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl StreamState {
    /// A fresh state for a request sent at `sent`.
    pub fn new(sent: Instant) -> Self {
        Self {
            sent,
            first: None,
            last: sent,
            itl: Vec::new(),
            chunk_tokens: Vec::new(),
            text: String::new(),
            output_tokens: 0,
            prompt_tokens: None,
            ttfc: None,
            on_wire: false,
            usage_so_far: None,
        }
    }

    /// Applies one SSE data payload that arrived at `now`; a payload that is not JSON is an error
    /// (vLLM's `json.loads` raises and fails the request).
    pub fn on_data(
        &mut self,
        data: &[u8],
        now: Instant,
        tok: Option<&dyn Tokenizer>,
    ) -> Result<(), String> {
        if data == b"[DONE]" {
            return Ok(());
        }
        let chunk: Chunk<'_> = serde_json::from_slice(data).map_err(|e| {
            format!(
                "malformed SSE data ({e}): {}",
                String::from_utf8_lossy(&data[..data.len().min(200)])
            )
        })?;
        match (chunk.choices.0, chunk.usage) {
            (Some(choice), usage) => self.token_chunk(&choice, usage, now, tok),
            (None, Some(usage)) => {
                self.output_tokens = usage.completion_tokens.unwrap_or(0);
                self.prompt_tokens = usage.prompt_tokens.or(self.prompt_tokens);
            }
            (None, None) => {}
        }
        Ok(())
    }

    fn token_chunk(
        &mut self,
        choice: &Choice<'_>,
        usage: Option<Usage>,
        now: Instant,
        tok: Option<&dyn Tokenizer>,
    ) {
        match self.first {
            None => self.first = Some(now),
            Some(_) => self.itl.push((now - self.last).as_secs_f64()),
        }
        self.last = now;
        let delta = choice.delta.as_ref();
        let content = choice
            .text
            .as_deref()
            .or_else(|| delta.and_then(|d| d.content.as_deref()))
            .unwrap_or("");
        let reasoning = delta
            .and_then(|d| d.reasoning_content.as_deref().or(d.reasoning.as_deref()))
            .unwrap_or("");
        if !content.is_empty() && self.ttfc.is_none() {
            self.ttfc = Some((now - self.sent).as_secs_f64());
        }
        self.text.push_str(content);
        let tokens = match usage.and_then(|u| u.completion_tokens) {
            Some(total) => {
                let n = total.saturating_sub(self.usage_so_far.unwrap_or(0));
                self.usage_so_far = Some(total);
                n
            }
            None => tok.map_or(1, |t| (t.count(content) + t.count(reasoning)) as u64),
        };
        self.chunk_tokens
            .push(tokens.clamp(1, u64::from(u32::MAX)) as u32);
    }

    /// Seconds from send to the first token chunk.
    pub fn ttft(&self) -> Option<f64> {
        self.first.map(|f| (f - self.sent).as_secs_f64())
    }

    /// Seconds from send to the last token chunk.
    pub fn latency(&self) -> f64 {
        (self.last - self.sent).as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tokenizer::WordTokenizer;

    #[test]
    fn chat_reasoning_stamps_ttft_content_stamps_ttfc() {
        let t0 = Instant::now();
        let tok = WordTokenizer::default();
        let mut s = StreamState::new(t0);
        let at = |ms| t0 + Duration::from_millis(ms);
        s.on_data(
            br#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            at(10),
            Some(&tok),
        )
        .unwrap();
        s.on_data(
            br#"{"choices":[{"delta":{"reasoning_content":" think hard"}}]}"#,
            at(30),
            Some(&tok),
        )
        .unwrap();
        s.on_data(
            br#"{"choices":[{"delta":{"content":" a b c"}}],"usage":null}"#,
            at(60),
            Some(&tok),
        )
        .unwrap();
        s.on_data(
            br#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":6}}"#,
            at(90),
            Some(&tok),
        )
        .unwrap();
        s.on_data(b"[DONE]", at(95), Some(&tok)).unwrap();
        assert!((s.ttft().unwrap() - 0.010).abs() < 1e-9);
        assert!((s.ttfc.unwrap() - 0.060).abs() < 1e-9);
        assert!(
            (s.latency() - 0.060).abs() < 1e-9,
            "usage chunk must not move the end"
        );
        assert_eq!(s.itl.len(), 2);
        assert_eq!(s.chunk_tokens, vec![1, 2, 3]);
        assert_eq!(
            (s.output_tokens, s.prompt_tokens, s.text.as_str()),
            (6, Some(7), " a b c")
        );
    }

    #[test]
    fn completions_text_and_continuous_usage_give_tokens_per_chunk() {
        let t0 = Instant::now();
        let mut s = StreamState::new(t0);
        s.on_data(br#"{"choices":[{"text":" x","index":0},{"text":"ignored"}],"usage":{"completion_tokens":1}}"#, t0, None).unwrap();
        s.on_data(
            br#"{"choices":[{"text":" y z w"}],"usage":{"completion_tokens":4}}"#,
            t0,
            None,
        )
        .unwrap();
        assert_eq!(s.chunk_tokens, vec![1, 3]);
        assert_eq!(s.text, " x y z w");
    }

    #[test]
    fn malformed_json_is_an_error() {
        let mut s = StreamState::new(Instant::now());
        assert!(s.on_data(b"{not json", Instant::now(), None).is_err());
        assert!(
            s.on_data(br#"{"choices": 5}"#, Instant::now(), None)
                .is_err()
        );
    }
}
