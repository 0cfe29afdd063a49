//! Provides `completions_create` and `chat_completions_create`: parse (off the async threads
//! when the body is big), check the model, run vLLM's length checks in its order
//! ([`lengths`](super::lengths)), admit the request to the engine, then stream its tokens or
//! answer once it finished (vllm/entrypoints/openai/completion/serving.py and
//! chat_completion/serving.py, vLLM 0.32).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use profilemate_sim::Request;
use serde_json::{Value, json};

use super::body::JsonBody;
use super::lengths::{Asked, output_tokens};
use super::sse;
use crate::error::SimError;
use crate::protocol::{
    ChatRequest, CommonParams, CompletionRequest, PromptIds, chat_token_ids, check_n,
};
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

/// A parsed generation request, before its checks.
#[derive(Debug)]
struct Generation {
    kind: Kind,
    common: CommonParams,
    /// The prompt's ids, or why it has none (a batch of prompts).
    prompt: Result<PromptIds, SimError>,
    /// Requested output tokens, the endpoint's default applied.
    max_tokens: Option<u32>,
    /// The field that requested them.
    param: &'static str,
}

/// `POST /v1/completions`.
pub(crate) async fn completions_create(
    State(state): State<AppState>,
    body: JsonBody,
) -> Result<Response, SimError> {
    let generation = body
        .decode(|req: CompletionRequest| {
            Ok(Generation {
                kind: Kind::Completion,
                common: req.common(),
                max_tokens: Some(req.max_tokens.unwrap_or(COMPLETION_MAX_TOKENS)),
                param: "max_tokens",
                prompt: req.prompt.into_token_ids(),
            })
        })
        .await?;
    generate(state, generation).await
}

/// `POST /v1/chat/completions`; `max_tokens` defaults to the room left in the context.
pub(crate) async fn chat_completions_create(
    State(state): State<AppState>,
    body: JsonBody,
) -> Result<Response, SimError> {
    let generation = body
        .decode(|req: ChatRequest| {
            let (max_tokens, param) = match (req.max_completion_tokens, req.max_tokens) {
                (Some(n), _) => (Some(n), "max_completion_tokens"),
                (None, n) => (n, "max_tokens"),
            };
            Ok(Generation {
                kind: Kind::Chat,
                common: req.common(),
                max_tokens,
                param,
                prompt: Ok(PromptIds {
                    ids: chat_token_ids(&req.messages),
                    from_text: true,
                }),
            })
        })
        .await?;
    generate(state, generation).await
}

/// Checks the request as vLLM does, in its order, admits it and answers.
async fn generate(state: AppState, g: Generation) -> Result<Response, SimError> {
    state.check_model(g.common.model.as_deref())?;
    check_n(g.common.n)?;
    let prompt = g.prompt?;
    let max_model_len = state.info.max_model_len;
    let asked = Asked {
        prompt: prompt.ids.len(),
        from_text: prompt.from_text,
        max_tokens: g.max_tokens,
        param: g.param,
    };
    let max_tokens = output_tokens(asked, max_model_len)?;
    // The prompt now fits the context, so its length fits a u32.
    let prompt_tokens = u32::try_from(prompt.ids.len()).unwrap_or(u32::MAX);
    // The engine's own checks (an empty prompt).
    Request::synthetic(Duration::ZERO, prompt_tokens, max_tokens).validate(max_model_len)?;
    let guard = state.submit(prompt.ids, max_tokens)?;
    let meta = sse::Meta {
        kind: g.kind,
        prompt_tokens,
        max_tokens,
        include_usage: g.common.include_usage(),
    };
    if g.common.stream() {
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
