//! Faults over real HTTP: malformed and huge bodies, overload, clients that disconnect.

use std::time::Duration;

use futures_util::StreamExt;
use profilemate_server::spawn;
use serde_json::{Value, json};

use crate::util::{eventually, fast_config, fixed_config};

#[tokio::test]
async fn malformed_bodies_get_400_with_openai_error_json() {
    let server = spawn(fast_config()).await.unwrap();
    let client = reqwest::Client::new();
    let cases: [(&str, &[u8]); 9] = [
        ("/v1/completions", b"{bad"),
        ("/v1/completions", b""),
        ("/v1/completions", b"[]"),
        ("/v1/completions", b"{}"),
        ("/v1/completions", br#"{"prompt": 5}"#),
        ("/v1/completions", br#"{"prompt": "x", "max_tokens": -1}"#),
        ("/v1/completions", br#"{"prompt": "x", "n": 3}"#),
        ("/v1/chat/completions", b"\xff\xfe\x00"),
        ("/v1/chat/completions", br#"{"messages": "hi"}"#),
    ];
    for (path, body) in cases {
        let url = format!("{}{path}", server.base_url());
        let response = client.post(&url).body(body.to_vec()).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path} {body:?}");
        let v: Value = response.json().await.unwrap();
        assert_eq!(v["error"]["code"], 400, "{v}");
        assert_eq!(v["error"]["type"], "BadRequestError");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn empty_prompt_and_zero_max_tokens_are_refused() {
    let server = spawn(fast_config()).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    for body in [
        json!({"prompt": ""}),
        json!({"prompt": "x", "max_tokens": 0}),
    ] {
        let response = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn huge_bodies_are_refused_without_reading_them_into_memory() {
    let mut config = fast_config();
    config.limits.max_body_bytes = 1 << 20;
    let server = spawn(config).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    let huge = format!("{{\"prompt\": \"{}\"}}", "word ".repeat(1 << 20));
    let response = client.post(&url).body(huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["code"], 413);
    // Just under the limit but far over --max-model-len: read, then refused by length.
    let long = json!({"prompt": "w ".repeat(100_000)});
    let response = client.post(&url).json(&long).send().await.unwrap();
    assert_eq!(response.status(), 400);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_aborts_its_request_and_frees_its_kv() {
    let server = spawn(fixed_or_slow_engine()).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    let body = json!({"prompt": "a b c d e f g h", "max_tokens": 2000, "stream": true});
    let response = client.post(&url).json(&body).send().await.unwrap();
    let mut chunks = response.bytes_stream();
    let first = chunks.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    let state = server.state().clone();
    assert!(state.engine_status().kv_block_holders >= 1);
    drop(chunks);
    let freed = eventually(Duration::from_secs(3), || {
        let s = state.engine_status();
        s.kv_block_holders == 0 && s.live_requests == 0 && state.live_requests() == 0
    })
    .await;
    assert!(freed, "{:?}", state.engine_status());
    let text = state.registry().render();
    assert!(text.contains("vllm:request_success_total{engine=\"0\",finished_reason=\"abort\",model_name=\"tiny-llama\"} 1"), "{text}");
    server.shutdown().await.unwrap();
}

/// A real-time engine slow enough that 2000 tokens take seconds.
fn fixed_or_slow_engine() -> profilemate_server::ServerConfig {
    let mut config = fast_config();
    config.time_scale = 1.0;
    config
}

#[tokio::test]
async fn over_the_live_request_limit_is_a_503_and_the_server_recovers() {
    let mut config = fixed_config(2000, 10);
    config.limits.max_live_requests = 2;
    let server = spawn(config).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    let body = json!({"prompt": "x", "max_tokens": 1, "stream": true});
    let a = client.post(&url).json(&body).send().await.unwrap();
    let b = client.post(&url).json(&body).send().await.unwrap();
    let c = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(
        (
            a.status().as_u16(),
            b.status().as_u16(),
            c.status().as_u16()
        ),
        (200, 200, 503)
    );
    drop((a, b));
    let state = server.state().clone();
    assert!(eventually(Duration::from_secs(3), || state.live_requests() == 0).await);
    let again = client
        .post(&url)
        .json(&json!({"prompt": "x", "max_tokens": 1}))
        .send();
    assert_eq!(again.await.unwrap().status(), 200);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let mut config = fixed_config(10, 1000);
    config.limits.shutdown_grace = Duration::from_millis(100);
    let server = spawn(config).await.unwrap();
    let url = format!("{}/v1/completions", server.base_url());
    let body = json!({"prompt": "x", "max_tokens": 100, "stream": true});
    let response = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let reader = tokio::spawn(async move { response.bytes().await.is_ok() });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let done = tokio::time::timeout(Duration::from_secs(3), server.shutdown()).await;
    assert!(matches!(done, Ok(Ok(()))), "{done:?}");
    let _ = tokio::time::timeout(Duration::from_secs(3), reader)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_non_streaming_client_that_gives_up_aborts_its_request_too() {
    let server = spawn(fixed_or_slow_engine()).await.unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let url = format!("{}/v1/completions", server.base_url());
    let body = json!({"prompt": "a b c", "max_tokens": 2000});
    let result = client.post(&url).json(&body).send().await;
    assert!(
        result.is_err(),
        "2000 tokens at 1 ms per step cannot finish in 150 ms"
    );
    let state = server.state().clone();
    let freed = eventually(Duration::from_secs(3), || {
        let s = state.engine_status();
        s.kv_block_holders == 0 && s.live_requests == 0
    })
    .await;
    assert!(freed, "{:?}", state.engine_status());
    server.shutdown().await.unwrap();
}

/// Memory stays bounded under load that never lets the engine go idle: finished requests'
/// records are forgotten while others keep running.
#[tokio::test]
async fn records_stay_bounded_when_the_engine_is_never_idle() {
    // Virtual time at a quarter of wall time: the long request's ~1900 steps of 1 ms take ~8 s.
    let mut config = fast_config();
    config.time_scale = 0.25;
    let server = spawn(config).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    // One long request keeps the engine busy the whole time...
    let long = json!({"model": "tiny-llama", "prompt": "x", "max_tokens": 1900, "stream": true});
    let busy = client.post(&url).json(&long).send().await.unwrap();
    // ...while 5000 short ones come and go, 32 at a time.
    let short = json!({"model": "tiny-llama", "prompt": "a b", "max_tokens": 1});
    let done = futures_util::stream::iter(0..5000)
        .map(|_| client.post(&url).json(&short).send())
        .buffer_unordered(32)
        .filter(|r| std::future::ready(r.as_ref().is_ok_and(|r| r.status() == 200)))
        .count()
        .await;
    assert_eq!(done, 5000);
    let status = server.state().engine_status();
    assert!(
        status.live_requests >= 1,
        "the long request was still running"
    );
    assert!(
        status.records_kept <= 4096 + 64,
        "records kept: {}",
        status.records_kept
    );
    drop(busy);
    server.shutdown().await.unwrap();
}
