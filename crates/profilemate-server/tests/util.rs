//! Helpers: small server configs, a oneshot JSON caller, an SSE reader.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use profilemate_server::EngineStepTimer;
use profilemate_server::{AppState, EngineThread, ServerConfig, TokenTiming, router, start};
use profilemate_sim::{AffineStepTimer, EngineConfig, FixedTokenTiming};
use serde_json::Value;
use tower::ServiceExt;

pub(crate) const MODEL: &str = "tiny-llama";

/// A small engine stepping 1 ms + 10 µs/token in virtual time, as fast as possible.
pub(crate) fn fast_config() -> ServerConfig {
    let mut config = ServerConfig::new(MODEL);
    config.engine = EngineConfig {
        max_num_seqs: 64,
        max_num_batched_tokens: 2048,
        num_gpu_blocks: 4096,
        max_model_len: 2048,
        ..EngineConfig::default()
    };
    config.timing = TokenTiming::Engine(EngineStepTimer::Affine(AffineStepTimer {
        fixed: Duration::from_millis(1),
        per_token: Duration::from_micros(10),
        per_context_token: Duration::ZERO,
    }));
    config.time_scale = 0.0;
    config
}

/// The fixed-timing mode with `ttft` and `itl` in milliseconds.
pub(crate) fn fixed_config(ttft_ms: u64, itl_ms: u64) -> ServerConfig {
    let mut config = fast_config();
    config.timing = TokenTiming::Fixed(FixedTokenTiming {
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::from_millis(itl_ms),
    });
    config
}

pub(crate) fn started(config: ServerConfig) -> (AppState, EngineThread) {
    start(config).expect("valid config")
}

/// Sends `body` to `path` through the router; returns the status and the body as JSON (or
/// the text as a JSON string when it is not JSON).
pub(crate) async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// The `data:` payloads of an event stream, `[DONE]` included.
pub(crate) fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Tokens in a stream: words of every `text`/`delta.content`, and the usage chunk's count.
pub(crate) fn stream_tokens(events: &[String]) -> (usize, Option<u64>) {
    let mut words = 0;
    let mut usage = None;
    for e in events.iter().filter(|e| *e != "[DONE]") {
        let v: Value = serde_json::from_str(e).expect("chunk is JSON");
        if let Some(c) = v["choices"].get(0) {
            let text = c["text"].as_str().or(c["delta"]["content"].as_str());
            words += text.map_or(0, |t| t.split_whitespace().count());
        }
        if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
            usage = Some(n);
        }
    }
    (words, usage)
}

/// Reads a whole streaming response over real HTTP.
pub(crate) async fn stream_text(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> (u16, String) {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let mut text = String::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    (status, text)
}

/// Polls `check` every 10 ms for up to `limit`.
pub(crate) async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// Resident memory of this process in bytes (Linux).
pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
