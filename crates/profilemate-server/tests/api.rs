//! The API through `router(state).oneshot`: shapes of answers and errors.

use axum::http::StatusCode;
use serde_json::json;

use crate::util::{MODEL, call, fast_config, sse_data, started, stream_tokens};

#[tokio::test]
async fn completion_returns_exactly_max_tokens_words_and_usage() {
    let (state, _engine) = started(fast_config());
    let body = json!({"model": MODEL, "prompt": "one two three four", "max_tokens": 7});
    let (status, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 7);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 7, "total_tokens": 11, "prompt_tokens_details": null})
    );
}

#[tokio::test]
async fn token_id_prompts_and_default_max_tokens() {
    let (state, _engine) = started(fast_config());
    let body = json!({"prompt": [1, 2, 3, 4, 5]});
    let (status, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["usage"]["prompt_tokens"], 5);
    // vLLM's default max_tokens for completions is 16.
    assert_eq!(v["usage"]["completion_tokens"], 16);
}

#[tokio::test]
async fn chat_prefers_max_completion_tokens() {
    let (state, _engine) = started(fast_config());
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi there"}],
        "max_tokens": 50, "max_completion_tokens": 3});
    let (status, v) = call(&state, "POST", "/v1/chat/completions", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["prompt_tokens"], 2);
}

#[tokio::test]
async fn chat_stream_opens_with_the_role_and_ends_with_usage_and_done() {
    let (state, _engine) = started(fast_config());
    let body = json!({"messages": [{"role": "user", "content": "hello"}], "max_completion_tokens": 5,
        "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true});
    let (status, v) = call(&state, "POST", "/v1/chat/completions", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let events = sse_data(v.as_str().unwrap());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let first: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(stream_tokens(&events), (5, Some(5)));
    let usage: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 1);
}

#[tokio::test]
async fn completion_stream_without_usage_has_no_usage_chunk() {
    let (state, _engine) = started(fast_config());
    let body = json!({"prompt": "a b", "max_tokens": 4, "stream": true});
    let (_, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
    let events = sse_data(v.as_str().unwrap());
    assert_eq!(stream_tokens(&events), (4, None));
    let last: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn max_tokens_beyond_the_room_left_is_capped_like_vllm() {
    let (state, _engine) = started(fast_config());
    let body = json!({"prompt": "a b c", "max_tokens": 2048});
    let (status, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 2048 - 3);
}

/// Asserts a vLLM `VLLMValidationError` answer: 400, `BadRequestError`, `param`, the message.
fn assert_validation_error(status: StatusCode, v: &serde_json::Value, param: &str, text: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["type"], "BadRequestError", "{v}");
    assert_eq!(v["error"]["code"], 400, "{v}");
    assert_eq!(v["error"]["param"], param, "{v}");
    assert_eq!(v["error"]["message"], text, "{v}");
}

// See: issue 13 (vLLM 0.32's `TokenizeParams.__post_init__` refuses an output longer than the
// context, naming the field the request used).
#[tokio::test]
async fn max_tokens_beyond_max_model_len_is_a_400_naming_the_field() {
    let (state, _engine) = started(fast_config());
    let body = json!({"prompt": "a b c", "max_tokens": 5000});
    let (status, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
    let text = "max_tokens=5000 cannot be greater than max_model_len=2048. Please request \
                fewer output tokens. (parameter=max_tokens, value=5000)";
    assert_validation_error(status, &v, "max_tokens", text);
    let body = json!({"messages": [{"role": "user", "content": "hi"}],
                      "max_completion_tokens": 5000});
    let (status, v) = call(&state, "POST", "/v1/chat/completions", &body.to_string()).await;
    let text = "max_completion_tokens=5000 cannot be greater than max_model_len=2048. Please \
                request fewer output tokens. (parameter=max_completion_tokens, value=5000)";
    assert_validation_error(status, &v, "max_completion_tokens", text);
}

/// vLLM 0.32's `_token_len_check` message for a prompt of `count` tokens over 2048.
fn prompt_too_long(count: &str, value: &str) -> String {
    format!(
        "This model's maximum context length is 2048 tokens. However, your prompt contains \
         {count} input tokens, which exceeds this limit even without any output tokens. Please \
         reduce the length of the input prompt. (parameter=input_tokens, value={value})"
    )
}

// See: issue 13 (a chat prompt longer than max_model_len without max_tokens got "max_tokens
// must be at least 1" instead of vLLM's prompt-length error).
#[tokio::test]
async fn prompt_longer_than_max_model_len_gets_vllms_prompt_length_error_on_both_endpoints() {
    let (state, _engine) = started(fast_config());
    let words = vec!["w"; 3000].join(" ");
    // Token ids are counted exactly.
    let body = json!({"prompt": vec![7_u32; 2100], "max_tokens": 1});
    let (status, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
    assert_validation_error(status, &v, "input_tokens", &prompt_too_long("2100", "2100"));
    // Text is tokenized only to one token past the context: "at least 2049".
    let at_least = prompt_too_long("at least 2049", "2049");
    for body in [
        json!({"prompt": words}),
        json!({"prompt": words, "max_tokens": 5}),
    ] {
        let (status, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
        assert_validation_error(status, &v, "input_tokens", &at_least);
    }
    for body in [
        json!({"messages": [{"role": "user", "content": words}]}),
        json!({"messages": [{"role": "user", "content": words}], "max_tokens": 5}),
    ] {
        let (status, v) = call(&state, "POST", "/v1/chat/completions", &body.to_string()).await;
        assert_validation_error(status, &v, "input_tokens", &at_least);
    }
}

// See: issue 13. A prompt that fills the context leaves `get_max_tokens` 0, which vLLM's
// `SamplingParams` refuses.
#[tokio::test]
async fn a_prompt_that_fills_the_context_gets_vllms_max_tokens_error() {
    let (state, _engine) = started(fast_config());
    let words = vec!["w"; 2048].join(" ");
    let text = "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)";
    let body = json!({"messages": [{"role": "user", "content": words}]});
    let (status, v) = call(&state, "POST", "/v1/chat/completions", &body.to_string()).await;
    assert_validation_error(status, &v, "max_tokens", text);
    let body = json!({"prompt": words});
    let (status, v) = call(&state, "POST", "/v1/completions", &body.to_string()).await;
    assert_validation_error(status, &v, "max_tokens", text);
}

#[tokio::test]
async fn unknown_model_is_a_404() {
    let (state, _engine) = started(fast_config());
    let (status, v) = call(
        &state,
        "POST",
        "/v1/completions",
        r#"{"model": "gpt-9", "prompt": "x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["type"], "NotFoundError");
    assert_eq!(v["error"]["param"], "model");
}

#[tokio::test]
async fn models_health_tokenize_embeddings_metrics() {
    let (state, _engine) = started(fast_config());
    let (status, v) = call(&state, "GET", "/v1/models", "").await;
    assert_eq!(
        (status, v["data"][0]["id"].clone()),
        (StatusCode::OK, json!(MODEL))
    );
    assert_eq!(v["data"][0]["max_model_len"], 2048);
    let (status, _) = call(&state, "GET", "/health", "").await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = call(&state, "POST", "/tokenize", r#"{"prompt": "a b a"}"#).await;
    assert_eq!(v["count"], 3);
    assert_eq!(v["tokens"][0], v["tokens"][2]);
    let (_, v) = call(
        &state,
        "POST",
        "/v1/embeddings",
        r#"{"input": "some words here"}"#,
    )
    .await;
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let norm: f64 = v["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum();
    assert!((norm - 1.0).abs() < 1e-4);
    let (status, v) = call(&state, "GET", "/metrics", "").await;
    assert_eq!(status, StatusCode::OK);
    let text = v.as_str().unwrap();
    for name in [
        "vllm:num_requests_running",
        "vllm:kv_cache_usage_perc",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:estimated_flops_per_gpu_total",
        "vllm:prefix_cache_queries_total",
        "vllm:iteration_tokens_total_bucket",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
}

#[tokio::test]
async fn metrics_count_tokens_and_finished_requests() {
    let (state, _engine) = started(fast_config());
    for _ in 0..3 {
        let (status, _) = call(
            &state,
            "POST",
            "/v1/completions",
            r#"{"prompt": "a b c d", "max_tokens": 10}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, v) = call(&state, "GET", "/metrics", "").await;
    let scrape = profilemate_metrics::parse(v.as_str().unwrap()).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| {
        let matchers: Vec<_> = labels
            .iter()
            .map(|(k, v)| profilemate_metrics::query::Matcher::eq(k, v))
            .collect();
        scrape.value(name, &matchers).unwrap()
    };
    assert_eq!(value("vllm:generation_tokens_total", &[]), 30.0);
    assert_eq!(value("vllm:prompt_tokens_total", &[]), 12.0);
    assert_eq!(
        value(
            "vllm:request_success_total",
            &[("finished_reason", "length")]
        ),
        3.0
    );
    assert_eq!(value("vllm:e2e_request_latency_seconds_count", &[]), 3.0);
    assert_eq!(value("vllm:time_to_first_token_seconds_count", &[]), 3.0);
}

#[tokio::test]
async fn api_key_guards_v1_only() {
    let mut config = fast_config();
    config.api_key = Some("s3cret".into());
    let (state, _engine) = started(config);
    let (status, v) = call(&state, "GET", "/v1/models", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v, json!({"error": "Unauthorized"}));
    let (status, _) = call(&state, "GET", "/health", "").await;
    assert_eq!(status, StatusCode::OK);
    let request = axum::http::Request::builder()
        .uri("/v1/models")
        .header("authorization", "Bearer s3cret")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(profilemate_server::router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn profiler_routes_answer_as_vllm_with_and_without_a_profiler() {
    // Without --profiler-config vLLM does not attach the router: FastAPI's 404.
    let (state, _engine) = started(fast_config());
    for path in ["/start_profile", "/stop_profile", "/no/such/route"] {
        let (status, v) = call(&state, "POST", path, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(v, json!({"detail": "Not Found"}), "{path}");
    }
    let mut config = fast_config();
    config.profiler = Some("torch".into());
    let (state, _engine) = started(config);
    for path in ["/start_profile", "/stop_profile"] {
        let (status, v) = call(&state, "POST", path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(v, json!(""), "{path}: an empty body");
    }
    // A GET of a POST-only route is a 405, in axum as in FastAPI.
    let (status, _) = call(&state, "GET", "/start_profile", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
