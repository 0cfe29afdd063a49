//! Provides vLLM's profiler routes, `POST /start_profile` and `POST /stop_profile`, and the
//! 404 every unknown path and the 405 every wrong method gets.
//!
//! Mirrors vllm/entrypoints/serve/profile/api_router.py (vLLM 0.32): the routes exist only when
//! the server was started with a profiler (`--profiler-config` naming one) and answer 200 with
//! an empty body; without one they are absent and FastAPI answers `404 {"detail":"Not Found"}`.
//! The simulated engine has nothing to trace, so starting and stopping only count.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// `POST /start_profile`.
pub(crate) async fn start_profile(State(state): State<AppState>) -> StatusCode {
    state.info.profiles.started.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

/// `POST /stop_profile`.
pub(crate) async fn stop_profile(State(state): State<AppState>) -> StatusCode {
    state.info.profiles.stopped.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

/// FastAPI's answer to a method a route does not serve (Starlette's `Route.handle`; axum adds
/// the `Allow` header).
pub(crate) async fn method_not_allowed() -> Response {
    let body = Json(json!({"detail": "Method Not Allowed"}));
    (StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}

/// FastAPI's answer to a path no route serves.
pub(crate) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response()
}
