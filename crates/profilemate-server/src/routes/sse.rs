//! Provides the streaming answer: server-sent events in vLLM's chunk format, written by hand
//! into one reused buffer (no per-token allocation, no JSON serializer on the hot path).
//!
//! Mirrors `completion_stream_generator` and `chat_completion_stream_generator`
//! (vllm/entrypoints/openai/{completion,chat_completion}/serving.py, vLLM 0.32): the chat
//! stream opens with an assistant-role delta, the last token chunk carries
//! `"finish_reason": "length"`, `stream_options.include_usage` adds a chunk with empty
//! `choices` and the usage, and `data: [DONE]` ends the stream. When the engine runs ahead of
//! the client, one chunk carries every token not yet sent.

use std::convert::Infallible;
use std::fmt::Write;
use std::time::Instant;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream;

use super::generate::Kind;
use crate::error::SimError;
use crate::state::RequestGuard;
use crate::ticket::Status;
use crate::vocab;

/// What the answer needs besides the tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) kind: Kind,
    pub(crate) prompt_tokens: u32,
    pub(crate) max_tokens: u32,
    pub(crate) include_usage: bool,
}

/// `cmpl-…`/`chatcmpl-…` with 32 hex digits, unique per request of this server.
pub(crate) fn request_id(kind: Kind, key: u64, created: u64) -> String {
    let prefix = match kind {
        Kind::Completion => "cmpl",
        Kind::Chat => "chatcmpl",
    };
    let a = mix(key ^ created.rotate_left(32));
    format!("{prefix}-{a:016x}{:016x}", mix(a))
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `text/event-stream` response for an admitted request.
pub(crate) fn response(guard: RequestGuard, meta: Meta) -> Response {
    let events = SseStream::new(guard, meta);
    let body = Body::from_stream(stream::unfold(events, |mut s| async move {
        let chunk = s.next().await?;
        Some((Ok::<Bytes, Infallible>(chunk), s))
    }));
    ([(CONTENT_TYPE, "text/event-stream; charset=utf-8")], body).into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Tokens,
    Tail,
    Done,
}

/// One request's event stream; dropping it (client gone) drops the guard, which aborts.
#[derive(Debug)]
struct SseStream {
    guard: RequestGuard,
    meta: Meta,
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":[`
    head: String,
    sent: u32,
    phase: Phase,
    buf: BytesMut,
}

impl SseStream {
    fn new(guard: RequestGuard, meta: Meta) -> Self {
        let info = &guard.state().info;
        let object = match meta.kind {
            Kind::Completion => "text_completion",
            Kind::Chat => "chat.completion.chunk",
        };
        let id = request_id(meta.kind, guard.key, info.created);
        let mut head = String::with_capacity(128);
        let _ = write!(
            head,
            "data: {{\"id\":\"{id}\",\"object\":\"{object}\",\"created\":{},\"model\":{},\"choices\":[",
            info.created, info.model_json
        );
        SseStream {
            guard,
            meta,
            head,
            sent: 0,
            phase: Phase::Tokens,
            buf: BytesMut::with_capacity(1024),
        }
    }

    /// The next chunk, waiting for the engine when nothing is new; `None` at the end.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Tail => return Some(self.tail()),
                Phase::Tokens => {}
            }
            let (status, emitted) = self.guard.ticket.snapshot();
            let emitted = emitted.min(self.meta.max_tokens);
            if emitted > self.sent {
                return Some(self.tokens(emitted));
            }
            match status {
                Status::Live => self.guard.ticket.changed().await,
                Status::Finished => self.phase = Phase::Tail,
                Status::Aborted => self.phase = Phase::Done,
                Status::Failed => return Some(self.failed()),
            }
        }
    }

    /// Tokens `sent..emitted` in one chunk (after the role chunk, for chat's first).
    fn tokens(&mut self, emitted: u32) -> Bytes {
        let last = emitted == self.meta.max_tokens;
        if self.meta.kind == Kind::Chat && self.sent == 0 {
            self.buf.put_slice(self.head.as_bytes());
            self.buf.put_slice(CHAT_ROLE.as_bytes());
        }
        self.buf.put_slice(self.head.as_bytes());
        let (open, close) = match self.meta.kind {
            Kind::Completion => (COMPLETION_OPEN, COMPLETION_CLOSE),
            Kind::Chat => (CHAT_OPEN, CHAT_CLOSE),
        };
        self.buf.put_slice(open.as_bytes());
        vocab::push_output(&mut self.buf, self.guard.key, self.sent, emitted);
        self.buf.put_slice(close.as_bytes());
        self.buf.put_slice(finish_reason(last).as_bytes());
        self.check_schedule(emitted - self.sent, emitted);
        self.sent = emitted;
        if last {
            self.phase = Phase::Tail;
        }
        self.buf.split().freeze()
    }

    /// The usage chunk (when asked for) and `[DONE]`.
    fn tail(&mut self) -> Bytes {
        self.phase = Phase::Done;
        if self.meta.include_usage {
            let (p, c) = (self.meta.prompt_tokens, self.sent);
            self.buf.put_slice(self.head.as_bytes());
            let usage = format!(
                "],\"usage\":{{\"prompt_tokens\":{p},\"total_tokens\":{},\"completion_tokens\":{c}}}}}\n\n",
                p + c
            );
            self.buf.put_slice(usage.as_bytes());
        }
        self.buf.put_slice(b"data: [DONE]\n\n");
        self.buf.split().freeze()
    }

    /// The engine died mid-stream: the status is sent, so the error goes in the next chunk,
    /// then `[DONE]` (`engine_error_handler` in
    /// vllm/entrypoints/serve/exception_handling/handlers/vllm_error.py, vLLM 0.32).
    fn failed(&mut self) -> Bytes {
        self.phase = Phase::Done;
        let error = SimError::EngineDead.body();
        let chunk = format!("data: {error}\n\ndata: [DONE]\n\n");
        Bytes::from(chunk)
    }

    /// In fixed-timing mode, records how late this chunk leaves against its last token's
    /// due time.
    fn check_schedule(&self, tokens: u32, emitted: u32) {
        let state = self.guard.state();
        let Some(fixed) = state.info.fixed else {
            return;
        };
        let offset = fixed
            .ttft
            .saturating_add(fixed.itl.saturating_mul(emitted - 1));
        let Some(due) = self.guard.received.checked_add(offset) else {
            return;
        };
        let late = Instant::now().checked_duration_since(due);
        state.admission.schedule.record(tokens, late);
    }
}

const COMPLETION_OPEN: &str = "{\"index\":0,\"text\":\"";
const COMPLETION_CLOSE: &str = "\",\"logprobs\":null,\"finish_reason\":";
const CHAT_OPEN: &str = "{\"index\":0,\"delta\":{\"content\":\"";
const CHAT_CLOSE: &str = "\"},\"logprobs\":null,\"finish_reason\":";
const CHAT_ROLE: &str = "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";

fn finish_reason(last: bool) -> &'static str {
    if last {
        "\"length\",\"stop_reason\":null}]}\n\n"
    } else {
        "null,\"stop_reason\":null}]}\n\n"
    }
}
