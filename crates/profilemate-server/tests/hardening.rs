//! Hardening over real HTTP (issue 13): a dying engine, slow clients, error bodies, the key.

use std::time::Duration;

use profilemate_server::{CustomStepTimer, EngineStepTimer, TokenTiming, spawn};
use profilemate_sim::StepBatch;
use serde_json::{Value, json};

use crate::util::{eventually, fast_config};

/// A config whose engine panics on its first step, as an overflow in a step's time would.
fn dying_engine() -> profilemate_server::ServerConfig {
    let mut config = fast_config();
    // `resume_unwind` unwinds as a panic does without running the panic hook: no backtrace
    // to symbolize, which on a loaded machine would slow the timing tests running beside.
    let timer = CustomStepTimer::new(|_: &StepBatch<'_>| -> Duration {
        std::panic::resume_unwind(Box::new("injected step failure"))
    });
    config.timing = TokenTiming::Engine(EngineStepTimer::Custom(timer));
    config
}

// See: issue 13 (an engine panic hung its request, 503'd later ones, and /health said 200).
#[tokio::test]
async fn a_panicking_engine_step_fails_requests_with_500_and_health_with_503() {
    let server = spawn(dying_engine()).await.unwrap();
    let client = reqwest::Client::new();
    let base = server.base_url();
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "healthy before any step");

    let url = format!("{base}/v1/completions");
    let body = json!({"prompt": "a b c", "max_tokens": 4});
    let send = client.post(&url).json(&body).send();
    let response = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("the in-flight request is answered, not left hanging")
        .unwrap();
    assert_eq!(response.status(), 500);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["code"], 500, "{v}");
    assert_eq!(v["error"]["type"], "InternalServerError");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("EngineCore")
    );

    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 503, "/health reports the dead engine");
    assert!(server.state().engine_status().dead);

    // Later requests fail at once, streaming or not.
    let later = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(later.status(), 500);
    let stream = json!({"prompt": "a b c", "max_tokens": 4, "stream": true});
    let later = client.post(&url).json(&stream).send().await.unwrap();
    assert_eq!(later.status(), 500);
    server.shutdown().await.unwrap();
}

// See: issue 13: a stream whose engine dies ends with an error chunk and [DONE].
#[tokio::test]
async fn a_stream_whose_engine_dies_ends_with_an_error_chunk() {
    let server = spawn(dying_engine()).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", server.base_url());
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4,
                      "stream": true});
    let read = crate::util::stream_text(&client, &url, &body);
    let (status, text) = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the stream ends");
    assert_eq!(status, 200);
    let events = crate::util::sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let error: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], 500, "{text}");
    let dead = eventually(Duration::from_secs(2), || {
        server.state().engine_status().dead
    })
    .await;
    assert!(dead);
    server.shutdown().await.unwrap();
}

// See: issue 13 (a wrong method answered 405 with an empty body).
#[tokio::test]
async fn wrong_methods_and_unknown_paths_answer_json_as_fastapi_does() {
    let server = spawn(fast_config()).await.unwrap();
    let client = reqwest::Client::new();
    let base = server.base_url();
    let cases = [
        (
            reqwest::Method::GET,
            "/v1/completions",
            405,
            "Method Not Allowed",
        ),
        (
            reqwest::Method::DELETE,
            "/health",
            405,
            "Method Not Allowed",
        ),
        (
            reqwest::Method::POST,
            "/v1/models",
            405,
            "Method Not Allowed",
        ),
        (reqwest::Method::GET, "/v1/no/such/route", 404, "Not Found"),
    ];
    for (method, path, status, detail) in cases {
        let response = client
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        if status == 405 {
            assert!(response.headers().contains_key("allow"), "{method} {path}");
        }
        let v: Value = response.json().await.unwrap();
        assert_eq!(v, json!({"detail": detail}), "{method} {path}");
    }
    server.shutdown().await.unwrap();
}

// See: issue 13 (the API key was compared with `==`).
#[tokio::test]
async fn only_the_exact_api_key_passes() {
    let mut config = fast_config();
    config.api_key = Some("s3cret-key".into());
    let server = spawn(config).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/models", server.base_url());
    let cases = [
        ("Bearer s3cret-key", 200),
        ("Bearer s3cret-kez", 401),
        ("Bearer s3cret", 401),
        ("Bearer s3cret-key2", 401),
        ("s3cret-key", 401),
    ];
    for (header, status) in cases {
        let response = client
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{header}");
    }
    server.shutdown().await.unwrap();
}

/// Reads until the server closes `socket`; `true` if it closed within `limit`.
async fn closed_within(socket: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0_u8; 4096];
    let read_to_end = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_to_end).await.is_ok()
}

// See: issue 13 (sockets sending half a request, or nothing, were held forever).
#[tokio::test]
async fn slow_clients_are_closed_after_the_head_and_body_timeouts() {
    use tokio::io::AsyncWriteExt;
    let mut config = fast_config();
    config.limits.head_timeout = Duration::from_millis(300);
    config.limits.body_timeout = Duration::from_millis(300);
    let server = spawn(config).await.unwrap();
    let addr = server.addr();
    let partials: [&[u8]; 4] = [
        b"",
        b"POST /v1/compl",
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Ty",
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\"",
    ];
    for partial in partials {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(partial).await.unwrap();
        let started = std::time::Instant::now();
        let closed = closed_within(&mut socket, Duration::from_secs(3)).await;
        let text = String::from_utf8_lossy(partial);
        assert!(closed, "{text:?} still open after 3 s");
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{text:?} closed too early"
        );
    }
    // A whole request on a kept-alive connection is answered; the idle connection then closes.
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut socket, Duration::from_secs(3)).await);
    // The server still serves.
    let health = reqwest::get(format!("{}/health", server.base_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.shutdown().await.unwrap();
}

/// Reads one HTTP/1.1 response with a `Content-Length` from `socket`; its status line.
async fn read_response(socket: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a whole response");
        text.extend_from_slice(&buf[..n]);
        let s = String::from_utf8_lossy(&text);
        if let Some(end) = s.find("\r\n\r\n") {
            let length: usize = s
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if text.len() >= end + 4 + length {
                return s.lines().next().unwrap().to_owned();
            }
        }
    }
}

// See: issue 13 (idle keep-alive connections were closed only at the head timeout): an idle
// kept-alive connection closes after `--timeout-keep-alive`, separately from the head timeout;
// a request within it is served on the same connection, and a response longer than it is not
// cut.
#[tokio::test]
async fn an_idle_kept_alive_connection_closes_after_the_keep_alive_timeout() {
    use tokio::io::AsyncWriteExt;
    let mut config = crate::util::fixed_config(0, 10);
    config.limits.head_timeout = Duration::from_secs(20);
    config.limits.keep_alive_timeout = Duration::from_millis(400);
    let server = spawn(config).await.unwrap();
    let addr = server.addr();
    let health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

    // Two requests 100 ms apart share the connection; then it closes ~400 ms after the last.
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(health).await.unwrap();
    assert_eq!(read_response(&mut socket).await, "HTTP/1.1 200 OK");
    tokio::time::sleep(Duration::from_millis(100)).await;
    socket.write_all(health).await.unwrap();
    assert_eq!(read_response(&mut socket).await, "HTTP/1.1 200 OK");
    let idle_from = std::time::Instant::now();
    assert!(
        closed_within(&mut socket, Duration::from_secs(10)).await,
        "closed long before the 20 s head timeout"
    );
    assert!(
        idle_from.elapsed() >= Duration::from_millis(350),
        "closed after {:?}, before the keep-alive timeout",
        idle_from.elapsed()
    );

    // A new connection that has sent nothing is the head timeout's, not the keep-alive's.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(!closed_within(&mut silent, Duration::from_millis(1200)).await);

    // A stream of 100 tokens 10 ms apart (1 s, longer than the keep-alive) arrives whole.
    let client = reqwest::Client::new();
    let url = format!("{}/v1/completions", server.base_url());
    let body = json!({"prompt": "a b", "max_tokens": 100, "stream": true});
    let (status, text) = crate::util::stream_text(&client, &url, &body).await;
    assert_eq!(status, 200);
    let events = crate::util::sse_data(&text);
    assert_eq!(crate::util::stream_tokens(&events).0, 100, "{text}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    server.shutdown().await.unwrap();
}
