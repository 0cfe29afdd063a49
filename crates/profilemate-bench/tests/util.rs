//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// `testdata/vllm-0.32-cpu/<rel>` (real vLLM captures copied into the repository).
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vllm-0.32-cpu")
        .join(rel)
}

/// Asserts `got` equals `want` to 1e-9 relative (absolute near zero), naming `what`.
#[track_caller]
pub(crate) fn assert_close(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1e-12);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, vLLM {want} (diff {})",
        got - want
    );
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use profilemate_bench::config::{Backend, BenchConfig, EndpointConfig, WorkloadConfig};
use profilemate_bench::workload::{DatasetSpec, RangeRatio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fault server answers one completion request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// 200 with `n` one-token chunks, a usage chunk and `[DONE]`.
    Tokens(usize),
    /// A bare status line.
    Status(u16),
    /// Two token chunks, then the connection closes mid-body.
    Cut,
    /// A `data:` payload that is not JSON.
    Malformed,
    /// One token chunk, then silence.
    Stall,
    /// 200 with only `[DONE]`.
    NoTokens,
    /// The request is read and never answered (not even a status line).
    Hang,
    /// A status line with this JSON error body, as vLLM's server sends one.
    StatusBody(u16, &'static str),
    /// 200, then one `data:` line of this many bytes that never ends (no newline), then the
    /// stream closes.
    EndlessLine(usize),
}

/// How the fault server answers its non-completion paths, by stage: the `/metrics` scrape
/// before the run (`scrapes[0]`) and after it (`scrapes[1]`), and `/v1/models`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stages {
    /// The answer to the n-th `/metrics` scrape (beyond the list: [`ScrapeReply::Counters`]).
    pub(crate) scrapes: [ScrapeReply; 2],
    /// Whether `/v1/models` hangs instead of answering.
    pub(crate) models_hang: bool,
}

/// How the fault server answers one `/metrics` scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum ScrapeReply {
    /// Prefix-cache counters that follow the completions served so far.
    #[default]
    Counters,
    /// The request is read and never answered.
    Hang,
    /// This exposition text.
    Text(&'static str),
}

/// Request heads (lower-cased) and bodies the server received.
pub(crate) type Seen = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A loopback HTTP/1.1 server whose completion replies follow `plan(request_index)`.
pub(crate) async fn fault_server(plan: impl Fn(usize) -> Reply + Send + Sync + 'static) -> String {
    recording_server(plan).await.0
}

/// [`fault_server`] that also records every request it receives.
pub(crate) async fn recording_server(
    plan: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (String, Seen) {
    staged_server(plan, Stages::default()).await
}

/// [`recording_server`] whose `/metrics` and `/v1/models` answer by `stages`.
pub(crate) async fn staged_server(
    plan: impl Fn(usize) -> Reply + Send + Sync + 'static,
    stages: Stages,
) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let plan = Arc::new(plan);
    let counter = Arc::new(AtomicUsize::new(0));
    let scrapes = Arc::new(AtomicUsize::new(0));
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (plan, counter, log) = (plan.clone(), counter.clone(), log.clone());
            let scrapes = scrapes.clone();
            tokio::spawn(async move {
                let s = Served {
                    counter: &counter,
                    scrapes: &scrapes,
                    log: &log,
                    stages,
                };
                handle(sock, &*plan, s).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// What one connection of the fault server shares with the others.
struct Served<'a> {
    counter: &'a AtomicUsize,
    scrapes: &'a AtomicUsize,
    log: &'a Seen,
    stages: Stages,
}

async fn handle(mut sock: TcpStream, plan: &(dyn Fn(usize) -> Reply + Send + Sync), s: Served<'_>) {
    let Served {
        counter,
        scrapes,
        log,
        stages,
    } = s;
    let Some((path, head, body)) = read_request(&mut sock).await else {
        return;
    };
    log.lock().unwrap().push((head, body));
    let reply = match path.as_str() {
        "/v1/models" if stages.models_hang => return hang(&mut sock).await,
        "/metrics" => {
            let nth = scrapes.fetch_add(1, Ordering::SeqCst);
            match stages.scrapes.get(nth).copied().unwrap_or_default() {
                ScrapeReply::Hang => return hang(&mut sock).await,
                ScrapeReply::Text(t) => return json_reply(&mut sock, t).await,
                ScrapeReply::Counters => {}
            }
            let n = counter.load(Ordering::SeqCst);
            let body = format!(
                "vllm:prefix_cache_queries_total{{engine=\"0\"}} {}\nvllm:prefix_cache_hits_total{{engine=\"0\"}} {}\nvllm:num_preemptions_total 0\n",
                n * 100,
                n * 25
            );
            return json_reply(&mut sock, &body).await;
        }
        "/v1/models" => {
            return json_reply(
                &mut sock,
                r#"{"data":[{"id":"served","root":"org/fault-model"}]}"#,
            )
            .await;
        }
        "/v1/embeddings" => {
            counter.fetch_add(1, Ordering::SeqCst);
            return json_reply(
                &mut sock,
                r#"{"data":[{"embedding":[0.1]}],"usage":{"prompt_tokens":8}}"#,
            )
            .await;
        }
        "/v1/chat/completions" => {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = chat(&mut sock).await;
            return;
        }
        _ => plan(counter.fetch_add(1, Ordering::SeqCst)),
    };
    let _ = respond(&mut sock, reply).await;
}

/// Holds the connection open, answering nothing, until the client goes away.
async fn hang(sock: &mut TcpStream) {
    let mut buf = [0u8; 64];
    while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn read_request(sock: &mut TcpStream) -> Option<(String, String, String)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    while buf.len() < head_end + len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    let path = head.split_whitespace().nth(1)?.to_string();
    Some((path, head, body))
}

async fn json_reply(sock: &mut TcpStream, body: &str) {
    let msg = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(msg.as_bytes()).await;
}

fn chunk(data: &str) -> String {
    let event = format!("data: {data}\n\n");
    format!("{:x}\r\n{event}\r\n", event.len())
}

/// A reasoning chat stream: role chunk, two reasoning chunks, then content (two tokens per chunk).
async fn chat(sock: &mut TcpStream) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    sock.write_all(head.as_bytes()).await?;
    let deltas = [
        r#"{"role":"assistant","content":""}"#,
        r#"{"reasoning_content":" hmm"}"#,
        r#"{"reasoning":" so"}"#,
        r#"{"content":" a b"}"#,
        r#"{"content":" c d"}"#,
    ];
    for d in deltas {
        sock.write_all(chunk(&format!(r#"{{"choices":[{{"index":0,"delta":{d}}}]}}"#)).as_bytes())
            .await?;
        sock.flush().await?;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let usage = r#"{"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":6}}"#;
    sock.write_all(format!("{}{}0\r\n\r\n", chunk(usage), chunk("[DONE]")).as_bytes())
        .await
}

const TOKEN: &str = r#"{"choices":[{"index":0,"text":" tok"}]}"#;

async fn respond(sock: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    match reply {
        Reply::Hang => {
            hang(sock).await;
            return Ok(());
        }
        Reply::StatusBody(code, body) => {
            return sock
                .write_all(
                    format!(
                        "HTTP/1.1 {code} Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
        Reply::Status(code) => {
            let reason = if code == 429 {
                "Too Many Requests"
            } else {
                "Internal Server Error"
            };
            return sock
                .write_all(
                    format!(
                        "HTTP/1.1 {code} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
        }
        _ => sock.write_all(head.as_bytes()).await?,
    }
    match reply {
        Reply::Tokens(n) => {
            for _ in 0..n {
                sock.write_all(chunk(TOKEN).as_bytes()).await?;
                sock.flush().await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let usage = format!(
                r#"{{"choices":[],"usage":{{"prompt_tokens":8,"completion_tokens":{n}}}}}"#
            );
            sock.write_all(format!("{}{}0\r\n\r\n", chunk(&usage), chunk("[DONE]")).as_bytes())
                .await
        }
        Reply::Cut => {
            sock.write_all(format!("{}{}", chunk(TOKEN), chunk(TOKEN)).as_bytes())
                .await?;
            sock.flush().await?;
            sock.shutdown().await
        }
        Reply::Malformed => {
            sock.write_all(
                format!("{}{}0\r\n\r\n", chunk(TOKEN), chunk("{\"choices\": [oops")).as_bytes(),
            )
            .await
        }
        Reply::Stall => {
            sock.write_all(chunk(TOKEN).as_bytes()).await?;
            sock.flush().await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        Reply::NoTokens => {
            sock.write_all(format!("{}0\r\n\r\n", chunk("[DONE]")).as_bytes())
                .await
        }
        Reply::EndlessLine(len) => {
            sock.write_all(format!("{}\r\ndata: ", len + 6).as_bytes())
                .await?;
            let block = vec![b'x'; 1 << 16];
            let mut left = len;
            while left > 0 {
                let n = left.min(block.len());
                sock.write_all(&block[..n]).await?;
                left -= n;
            }
            sock.write_all(b"\r\n0\r\n\r\n").await
        }
        Reply::Status(_) | Reply::StatusBody(..) | Reply::Hang => Ok(()),
    }
}

/// A small random-dataset config against `base_url`.
pub(crate) fn config(base_url: &str, num_prompts: usize) -> BenchConfig {
    BenchConfig {
        endpoint: EndpointConfig {
            base_url: base_url.to_string(),
            request_id_prefix: "bench-test-".into(),
            request_timeout: Some(Duration::from_millis(500)),
            ..EndpointConfig::default()
        },
        workload: WorkloadConfig {
            backend: Backend::Vllm,
            dataset: DatasetSpec::Random {
                input_len: 8,
                output_len: 4,
                range_ratio: RangeRatio::default(),
                prefix_len: 0,
                batch_size: 1,
            },
            num_prompts,
            ..WorkloadConfig::default()
        },
    }
}

/// A keep-alive loopback server: each connection answers requests one after another (four
/// one-token SSE events, `content-length` framed) until the client closes it or, with
/// `idle_close`, until it has been idle that long; then it closes without a word, as servers
/// with an idle timeout do. Returns the base URL and how many connections carried a completion.
pub(crate) async fn keep_alive_server(idle_close: Option<Duration>) -> (String, Arc<AtomicUsize>) {
    let s = counting_keep_alive_server(idle_close).await;
    (s.base, s.carried)
}

/// What [`counting_keep_alive_server`] counts.
pub(crate) struct KeepAlive {
    /// The base URL.
    pub(crate) base: String,
    /// Connections that carried a completion.
    pub(crate) carried: Arc<AtomicUsize>,
    /// Connections accepted, less those whose first request was not a completion (the
    /// `/metrics` scrapes' own client).
    pub(crate) accepted: Arc<AtomicUsize>,
    /// Connections accepted when the first completion request arrived (`usize::MAX` before).
    pub(crate) accepted_at_first_request: Arc<AtomicUsize>,
}

/// [`keep_alive_server`], also counting accepted connections and how many were open when the
/// first completion arrived.
pub(crate) async fn counting_keep_alive_server(idle_close: Option<Duration>) -> KeepAlive {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = KeepAlive {
        base: format!("http://{addr}"),
        carried: Arc::new(AtomicUsize::new(0)),
        accepted: Arc::new(AtomicUsize::new(0)),
        accepted_at_first_request: Arc::new(AtomicUsize::new(usize::MAX)),
    };
    let (count, accepted, first) = (
        s.carried.clone(),
        s.accepted.clone(),
        s.accepted_at_first_request.clone(),
    );
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let seen = Counters {
                carried: count.clone(),
                accepted: accepted.clone(),
                first: first.clone(),
            };
            tokio::spawn(keep_alive(sock, idle_close, seen));
        }
    });
    s
}

/// The counters one keep-alive connection updates.
struct Counters {
    carried: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    first: Arc<AtomicUsize>,
}

async fn keep_alive(mut sock: TcpStream, idle_close: Option<Duration>, seen: Counters) {
    let events: String = std::iter::repeat_n(TOKEN, 4)
        .chain([
            r#"{"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":4}}"#,
            "[DONE]",
        ])
        .map(|data| format!("data: {data}\n\n"))
        .collect();
    let mut counted = false;
    let mut first_request = true;
    loop {
        let request = match idle_close {
            Some(idle) => match tokio::time::timeout(idle, read_request(&mut sock)).await {
                Ok(r) => r,
                Err(_) => return, // idle too long: drop the socket
            },
            None => read_request(&mut sock).await,
        };
        let Some((path, _, _)) = request else { return };
        if first_request && path != "/v1/completions" {
            seen.accepted.fetch_sub(1, Ordering::SeqCst);
        }
        first_request = false;
        if path == "/v1/completions" && !counted {
            counted = true;
            seen.carried.fetch_add(1, Ordering::SeqCst);
            let open = seen.accepted.load(Ordering::SeqCst);
            let _ =
                seen.first
                    .compare_exchange(usize::MAX, open, Ordering::SeqCst, Ordering::SeqCst);
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{events}",
            events.len()
        );
        if sock.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
