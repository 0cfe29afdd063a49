//! Big request bodies over real HTTP (issue 13): token-id prompts parsed without blowing up,
//! the body budget across requests in flight, and live streams kept on pace meanwhile.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::util::{eventually, fast_config, fixed_config};

/// A completions body whose prompt is `n` token ids of 4 digits (5 bytes each).
fn token_id_body(n: usize) -> Bytes {
    let mut body = String::with_capacity(n * 5 + 64);
    body.push_str(r#"{"model": "tiny-llama", "max_tokens": 1, "prompt": ["#);
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str("1234");
    }
    body.push_str("]}");
    Bytes::from(body)
}

async fn post(client: &reqwest::Client, url: &str, body: Bytes) -> (u16, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

// See: issue 13 (a 14 MB token-id prompt cost ~500 MB of RSS: the body went through serde's
// untagged/flatten buffering). Every id is read: the answer names the exact count.
#[tokio::test]
async fn a_14_mb_token_id_prompt_is_parsed_whole_and_answered_with_its_exact_length() {
    let server = profilemate_server::spawn(fast_config()).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    let body = token_id_body(2_900_000);
    assert!(body.len() > 14_000_000, "{}", body.len());
    let (status, v) = post(&client, &url, body).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "input_tokens", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("your prompt contains 2900000 input tokens"),
        "{message}"
    );
    // The budget is whole again once the body is parsed.
    let limits = profilemate_server::Limits::default();
    assert_eq!(
        server.state().body_budget_available(),
        limits.body_budget_bytes
    );
    // A big prompt that fits is served: 2,000 ids into a 2,048-token context.
    let (status, v) = post(&client, &url, token_id_body(2000)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["usage"]["prompt_tokens"], 2000);
    server.shutdown().await.unwrap();
}

/// Opens a connection that declares a `len`-byte body and sends only its first bytes.
async fn hold_a_body(addr: std::net::SocketAddr, len: usize) -> tokio::net::TcpStream {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n{{\"prompt\": ["
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
}

// See: issue 13 (8 big bodies at once peaked at 1 GB: nothing bounded the bodies in flight).
// Documented: a body the budget cannot take now gets 503 with OpenAI error JSON before a byte
// of it is read; the budget comes back when a body is done (here: its client went away).
#[tokio::test]
async fn a_body_beyond_the_budget_gets_503_and_the_budget_comes_back() {
    let mut config = fast_config();
    config.limits.max_body_bytes = 1 << 20;
    config.limits.body_budget_bytes = 2 << 20;
    let server = profilemate_server::spawn(config).await.unwrap();
    let state = server.state().clone();
    let first = hold_a_body(server.addr(), 1 << 20).await;
    let _second = hold_a_body(server.addr(), 1 << 20).await;
    let spent = eventually(Duration::from_secs(10), || {
        state.body_budget_available() == 0
    })
    .await;
    assert!(spent, "two held 1 MiB bodies reserve the 2 MiB budget");

    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    let (status, v) = post(&client, &url, token_id_body(10)).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["type"], "ServiceUnavailableError", "{v}");
    assert_eq!(v["error"]["code"], 503, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("--body-budget-mib"), "{message}");
    // Requests without a body are not held up.
    let health = client
        .get(format!("{}/health", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    drop(first);
    let back = eventually(Duration::from_secs(10), || {
        state.body_budget_available() == 1 << 20
    })
    .await;
    assert!(back, "a body whose client left gives its share back");
    let (status, v) = post(&client, &url, token_id_body(10)).await;
    assert_eq!(status, 200, "{v}");
    server.shutdown().await.unwrap();
}

/// The longest gap allowed between two chunks of a 10 ms stream while big bodies are parsed.
const GAP_BOUND_MS: u64 = 1500;

// See: issue 13 (6 big bodies at once stalled live streams by 300 ms: they were parsed on the
// threads that write the streams). The client times the gaps between a fixed-timing stream's
// chunks (one token every 10 ms); the bound is generous so load cannot fail it (measured on
// 2 loaded cores: 0.2 s with parsing on the blocking pool, 4.1 s with it on the async threads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_keep_their_schedule_while_big_bodies_are_parsed() {
    let server = profilemate_server::spawn(fixed_config(10, 10))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let base = server.base_url();
    let stream = json!({"prompt": "a b c", "max_tokens": 2000, "stream": true});
    let response = client
        .post(format!("{base}/v1/completions"))
        .json(&stream)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut chunks = response.bytes_stream();
    // The stream is live before the big bodies arrive.
    for _ in 0..5 {
        chunks.next().await.unwrap().unwrap();
    }
    // The longest wait between two chunks, over the stream's life so far.
    let max_gap = std::sync::Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let gap = max_gap.clone();
    let reader = tokio::spawn(async move {
        let mut last = std::time::Instant::now();
        while let Some(Ok(_)) = chunks.next().await {
            let mut max = gap.lock().unwrap();
            *max = (*max).max(last.elapsed());
            last = std::time::Instant::now();
        }
    });
    let body = token_id_body(2_900_000);
    let url = format!("{base}/v1/completions");
    let big: Vec<_> = (0..6)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move { post(&client, &url, body).await })
        })
        .collect();
    for answer in big {
        let (status, v) = answer.await.unwrap();
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["param"], "input_tokens", "{v}");
    }
    assert!(
        !reader.is_finished(),
        "the stream outlived the big bodies, so they were parsed while it ran"
    );
    let max_gap = *max_gap.lock().unwrap();
    assert!(
        max_gap < Duration::from_millis(GAP_BOUND_MS),
        "the stream stalled {max_gap:?} between two 10 ms chunks while bodies were parsed"
    );
    reader.abort();
    server.shutdown().await.unwrap();
}
