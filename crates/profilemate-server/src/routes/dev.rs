//! Provides vLLM's development routes a benchmark sweep calls between runs:
//! `POST /reset_prefix_cache`, `/reset_mm_cache` and `/reset_encoder_cache`.
//!
//! Mirrors vllm/entrypoints/serve/dev/cache/api_router.py (vLLM 0.32): served only when the
//! server starts with `VLLM_SERVER_DEV_MODE=1` (as `vllm bench sweep` starts it); the prefix
//! reset answers `{"success": bool}` (false while requests still hold blocks), the other two
//! 200 with an empty body (the simulated engine has no multimodal or encoder cache).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};

use crate::engine::Command;
use crate::state::AppState;

/// Whether `VLLM_SERVER_DEV_MODE` turns the development routes on (vLLM reads it as an int).
pub(crate) fn dev_mode_from_env() -> bool {
    std::env::var("VLLM_SERVER_DEV_MODE")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|v| v != 0)
}

/// The development routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/reset_prefix_cache", post(reset_prefix_cache))
        .route("/reset_mm_cache", post(reset_other_cache))
        .route("/reset_encoder_cache", post(reset_other_cache))
}

/// `POST /reset_prefix_cache`.
async fn reset_prefix_cache(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let success =
        state.engine.send(Command::ResetPrefixCache(reply)) && answer.await.unwrap_or(false);
    (StatusCode::OK, Json(json!({"success": success})))
}

/// `POST /reset_mm_cache`, `POST /reset_encoder_cache`: nothing to reset.
async fn reset_other_cache() -> StatusCode {
    StatusCode::OK
}
