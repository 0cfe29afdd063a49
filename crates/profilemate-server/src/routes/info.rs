//! Provides the routes around generation: `/v1/models`, `/v1/embeddings`, `/tokenize`,
//! `/health`, `/version`, `/metrics` and our `/profilemate/engine`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use profilemate_metrics::text::CONTENT_TYPE as PROMETHEUS_TEXT;
use serde_json::{Value, json};

use super::body::JsonBody;
use crate::error::SimError;
use crate::protocol::{EmbeddingRequest, TokenizeRequest, chat_token_ids};
use crate::state::AppState;
use crate::vocab;

/// Length of the embeddings `/v1/embeddings` returns.
const EMBEDDING_DIM: usize = 64;

/// `GET /health`: 200 with an empty body while the engine runs, 503 once it died
/// (`health` in vllm/entrypoints/serve/instrumentator/health.py, vLLM 0.32, answers 503 on
/// `EngineDeadError`).
pub(crate) async fn health_get(State(state): State<AppState>) -> Response {
    if state.engine.status().is_dead() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    ().into_response()
}

/// `GET /version`.
pub(crate) async fn version_get() -> Json<Value> {
    Json(json!({ "version": concat!("profilemate-sim ", env!("CARGO_PKG_VERSION")) }))
}

/// `GET /v1/models`: the served model (`OpenAIServingModels.show_available_models`).
pub(crate) async fn models_list(State(state): State<AppState>) -> Json<Value> {
    let info = &state.info;
    Json(json!({
        "object": "list",
        "data": [{
            "id": info.model, "object": "model", "created": info.created,
            "owned_by": "vllm", "root": info.model, "parent": null,
            "max_model_len": info.max_model_len,
            "permission": [{
                "id": format!("modelperm-{}", info.created), "object": "model_permission",
                "created": info.created, "allow_create_engine": false,
                "allow_sampling": true, "allow_logprobs": true,
                "allow_search_indices": false, "allow_view": true,
                "allow_fine_tuning": false, "organization": "*", "group": null,
                "is_blocking": false,
            }],
        }],
    }))
}

/// `GET /metrics`: the registry in Prometheus text format 0.0.4.
pub(crate) async fn metrics_get(State(state): State<AppState>) -> Response {
    ([(CONTENT_TYPE, PROMETHEUS_TEXT)], state.registry.render()).into_response()
}

/// `GET /profilemate/engine`: engine counters and the fixed-timing schedule check.
pub(crate) async fn engine_status_get(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "engine": state.engine_status(),
        "live_requests": state.live_requests(),
        "schedule": state.schedule_check(),
    }))
}

/// `POST /tokenize`: the toy tokenizer's ids (`TokenizeResponse`).
pub(crate) async fn tokenize_create(
    State(state): State<AppState>,
    body: JsonBody,
) -> Result<Json<Value>, SimError> {
    let (model, tokens) = body
        .decode(|req: TokenizeRequest| {
            let tokens = match (&req.prompt, &req.messages) {
                (Some(prompt), _) => Ok(vocab::tokenize(prompt)),
                (None, Some(messages)) => Ok(chat_token_ids(messages)),
                (None, None) => Err(SimError::InvalidRequest {
                    message: "give `prompt` or `messages`".to_owned(),
                    param: Some("prompt"),
                }),
            };
            Ok((req.model, tokens))
        })
        .await?;
    state.check_model(model.as_deref())?;
    let tokens = tokens?;
    Ok(Json(json!({
        "count": tokens.len(),
        "max_model_len": state.info.max_model_len,
        "tokens": tokens,
        "token_strs": null,
    })))
}

/// `POST /v1/embeddings`: a deterministic unit vector per input, derived from its token ids
/// (the simulator has no weights; lengths and usage are what clients measure).
pub(crate) async fn embeddings_create(
    State(state): State<AppState>,
    body: JsonBody,
) -> Result<Json<Value>, SimError> {
    let (model, ids) = body
        .decode(|req: EmbeddingRequest| Ok((req.model, req.input.into_token_ids())))
        .await?;
    state.check_model(model.as_deref())?;
    let ids = ids?.ids;
    let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    if n > state.info.max_model_len {
        return Err(SimError::InvalidRequest {
            message: format!(
                "This model's maximum context length is {} tokens. However, you requested {n} \
                 tokens in the input for embedding generation. Please reduce the length of the \
                 input.",
                state.info.max_model_len
            ),
            param: Some("input"),
        });
    }
    Ok(Json(json!({
        "id": format!("embd-{:x}", state.info.created), "object": "list",
        "created": state.info.created, "model": state.info.model,
        "data": [{"index": 0, "object": "embedding", "embedding": embedding(&ids)}],
        "usage": {"prompt_tokens": n, "total_tokens": n, "completion_tokens": 0,
                  "prompt_tokens_details": null},
    })))
}

/// A unit vector that depends on every id.
fn embedding(ids: &[u32]) -> Vec<f32> {
    let mut v = vec![0.0_f32; EMBEDDING_DIM];
    for (i, id) in ids.iter().enumerate() {
        let slot = (*id as usize + i) % EMBEDDING_DIM;
        v[slot] += 1.0 + (*id % 7) as f32;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v[0] = 1.0;
    }
    v
}
