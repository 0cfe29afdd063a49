//! Provides `completions_create` and `chat_completions_create`: parse, check the model and
//! the prompt length (`InputProcessor._validate_prompt_len`; `max_tokens` beyond the context
//! is capped as `get_max_tokens` does), admit the request to the engine, then stream
//! its tokens or answer once it finished (vllm/entrypoints/openai/completion/serving.py and
//! chat_completion/serving.py, vLLM 0.32).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use profilemate_sim::Request;
use serde_json::{Value, json};

use super::{parse_json, sse};
use crate::error::SimError;
use crate::protocol::{ChatRequest, CommonParams, CompletionRequest, chat_token_ids, check_n};
use crate::state::{AppState, RequestGuard};
use crate::ticket::Status;
use crate::vocab;

/// vLLM's default `max_tokens` for completions (`CompletionRequest.max_tokens = 16`).
const COMPLETION_MAX_TOKENS: u32 = 16;

/// Which API a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Completion,
    Chat,
}

/// A checked generation request.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) kind: Kind,
    pub(crate) prompt: Vec<u32>,
    pub(crate) max_tokens: u32,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
}

/// `POST /v1/completions`.
pub(crate) async fn completions_create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    let req: CompletionRequest = parse_json(body)?;
    check_common(&state, &req.common)?;
    let generation = Generation {
        kind: Kind::Completion,
        prompt: req.prompt.token_ids()?,
        max_tokens: req.max_tokens.unwrap_or(COMPLETION_MAX_TOKENS),
        stream: req.common.stream(),
        include_usage: req.common.include_usage(),
    };
    generate(state, generation).await
}

/// `POST /v1/chat/completions`; `max_tokens` defaults to the room left in the context.
pub(crate) async fn chat_completions_create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SimError> {
    let req: ChatRequest = parse_json(body)?;
    check_common(&state, &req.common)?;
    let prompt = chat_token_ids(&req.messages);
    let room = state.info.max_model_len.saturating_sub(prompt.len() as u32);
    let generation = Generation {
        kind: Kind::Chat,
        max_tokens: req.max_completion_tokens.or(req.max_tokens).unwrap_or(room),
        prompt,
        stream: req.common.stream(),
        include_usage: req.common.include_usage(),
    };
    generate(state, generation).await
}

/// The model must be ours and `n` 1.
fn check_common(state: &AppState, common: &CommonParams) -> Result<(), SimError> {
    state.check_model(common.model.as_deref())?;
    check_n(common.n)
}

/// Validates the lengths, admits the request and answers.
async fn generate(state: AppState, g: Generation) -> Result<Response, SimError> {
    let prompt_tokens = u32::try_from(g.prompt.len()).unwrap_or(u32::MAX);
    let request = Request::synthetic(Duration::ZERO, prompt_tokens, g.max_tokens);
    request.validate(state.info.max_model_len)?;
    let max_tokens = request.capped_max_tokens(state.info.max_model_len);
    let guard = state.submit(g.prompt, max_tokens)?;
    let meta = sse::Meta {
        kind: g.kind,
        prompt_tokens,
        max_tokens,
        include_usage: g.include_usage,
    };
    if g.stream {
        return Ok(sse::response(guard, meta));
    }
    whole(guard, meta).await
}

/// The non-streaming answer, once every token is out.
async fn whole(guard: RequestGuard, meta: sse::Meta) -> Result<Response, SimError> {
    let (status, emitted) = guard.finished().await;
    match status {
        Status::Aborted => return Err(SimError::EngineStopped),
        Status::Failed => return Err(SimError::EngineDead),
        Status::Live | Status::Finished => {}
    }
    let mut text = Vec::with_capacity(emitted as usize * 6);
    vocab::push_output(&mut text, guard.key, 0, emitted);
    let text = String::from_utf8_lossy(&text).into_owned();
    let info = &guard.state().info;
    let usage = json!({
        "prompt_tokens": meta.prompt_tokens,
        "total_tokens": meta.prompt_tokens + emitted,
        "completion_tokens": emitted,
        "prompt_tokens_details": null,
    });
    let id = sse::request_id(meta.kind, guard.key, info.created);
    let body = match meta.kind {
        Kind::Completion => completion_body(&id, info.created, &info.model, text, usage),
        Kind::Chat => chat_body(&id, info.created, &info.model, text, usage),
    };
    Ok(Json(body).into_response())
}

/// `CompletionResponse`.
fn completion_body(id: &str, created: u64, model: &str, text: String, usage: Value) -> Value {
    json!({
        "id": id, "object": "text_completion", "created": created, "model": model,
        "choices": [{
            "index": 0, "text": text, "logprobs": null, "finish_reason": "length",
            "stop_reason": null, "prompt_logprobs": null,
        }],
        "usage": usage,
    })
}

/// `ChatCompletionResponse`.
fn chat_body(id: &str, created: u64, model: &str, text: String, usage: Value) -> Value {
    json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "tool_calls": []},
            "logprobs": null, "finish_reason": "length", "stop_reason": null,
        }],
        "usage": usage,
    })
}
