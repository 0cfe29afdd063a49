//! Provides [`router`]: vLLM's OpenAI-compatible routes on the simulated engine, the API-key
//! guard on `/v1`, and the body limit.
//!
//! Mirrors the routes of vllm/entrypoints/openai/api_server.py (vLLM 0.32) that a benchmark
//! client touches, the profiler routes when a profiler is configured, FastAPI's 404 elsewhere;
//! `/profilemate/engine` is ours (engine status and the fixed-timing check).

mod body;
mod dev;
mod generate;
mod info;
mod lengths;
mod profile;
mod sse;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::timeout::RequestBodyTimeoutLayer;

pub(crate) use body::BodyBudget;

use crate::error::SimError;
use crate::state::AppState;

/// The server's routes on `state`.
pub fn router(state: AppState) -> Router {
    let limit = state.info.limits.max_body_bytes;
    let body_timeout = state.info.limits.body_timeout;
    let v1 = Router::new()
        .route("/v1/completions", post(generate::completions_create))
        .route(
            "/v1/chat/completions",
            post(generate::chat_completions_create),
        )
        .route("/v1/embeddings", post(info::embeddings_create))
        .route("/v1/models", get(info::models_list));
    // The guard only when there is a key: without one it would be a clone and a call per request.
    let v1 = if state.info.api_key.is_some() {
        v1.route_layer(middleware::from_fn_with_state(state.clone(), api_key_check))
    } else {
        v1
    };
    let profiler = state.info.profiler.then(|| {
        Router::new()
            .route("/start_profile", post(profile::start_profile))
            .route("/stop_profile", post(profile::stop_profile))
    });
    let dev = dev::dev_mode_from_env().then(dev::routes);
    Router::new()
        .merge(v1)
        .merge(profiler.unwrap_or_default())
        .merge(dev.unwrap_or_default())
        .route("/health", get(info::health_get))
        .route("/version", get(info::version_get))
        .route("/tokenize", post(info::tokenize_create))
        .route("/metrics", get(info::metrics_get))
        .route("/profilemate/engine", get(info::engine_status_get))
        .fallback(profile::not_found)
        .method_not_allowed_fallback(profile::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .with_state(state)
}

/// `/v1/*` needs `Authorization: Bearer KEY` when `--api-key` is set
/// (`AuthenticationMiddleware` in vllm/entrypoints/serve/middleware/authenticate.py).
async fn api_key_check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key) = &state.info.api_key else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|given| keys_match(given, key)) {
        next.run(request).await
    } else {
        SimError::Unauthorized.into_response()
    }
}

/// Compares a given key with the server's in time independent of where they differ, so the
/// key cannot be guessed byte by byte from response times (vLLM 0.32 compares SHA-256
/// digests with `secrets.compare_digest` in vllm/entrypoints/serve/middleware/authenticate.py;
/// here only the key's length can show).
fn keys_match(given: &str, key: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(given.as_bytes().ct_eq(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::keys_match;

    #[test]
    fn api_keys_match_only_when_equal_in_constant_time() {
        assert!(keys_match("s3cret-key", "s3cret-key"));
        assert!(
            !keys_match("s3cret-kez", "s3cret-key"),
            "same length, last byte differs"
        );
        assert!(
            !keys_match("t3cret-key", "s3cret-key"),
            "same length, first byte differs"
        );
        assert!(!keys_match("s3cret", "s3cret-key"), "a prefix");
        assert!(!keys_match("s3cret-key-and-more", "s3cret-key"), "longer");
        assert!(!keys_match("", "s3cret-key"));
    }
}
