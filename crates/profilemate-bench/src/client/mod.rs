//! Provides [`Client`], the OpenAI-compatible HTTP client that sends one request and measures it.
//!
//! Timing follows vLLM's request functions (vllm/benchmarks/lib/endpoint_request_func.py, vLLM
//! 0.32) with one deliberate improvement: each SSE event is stamped with the arrival time of the
//! body chunk that completed it, taken before any parsing, rather than after JSON decoding.

mod connection;
mod lora;
pub mod payload;
pub mod sse;
pub mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::cancel::CancelToken;
use crate::config::{Backend, BenchConfig};
use crate::error::BenchError;
use crate::record::{ClientRequestRecord, ErrorKind, Seconds};
use crate::tokenizer::Tokenizer;
use crate::workload::SampleRequest;
use connection::{Connections, Failure, Target};
use lora::LoraBodies;
use sse::SseParser;
use stream::StreamState;

/// vLLM's error text for a stream without token chunks (sic, no space after the period).
pub const NO_TOKEN_ERROR: &str =
    "Never received a valid chunk to calculate TTFT.This response will be marked as failed!";

/// The most bytes of a server's error body kept in a failed request's error text.
pub const MAX_ERROR_BODY: usize = 1024;

/// Most connects [`Client::open_connections`] has in flight at once.
pub const OPEN_AT_ONCE: usize = 64;

/// A configured client for one run; cheap to share behind an `Arc`.
///
/// The timed requests go over the client's own HTTP/1.1 connections, at most one per request
/// in flight ([`connection`]); the untimed GETs (`/metrics`) over a plain reqwest client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    /// The API URL's connections, or why the URL cannot be used (each request then fails).
    connections: Result<Connections, String>,
    backend: Backend,
    headers: HeaderMap,
    body: payload::BodyTemplate,
    /// `--lora-modules`: the timed requests' bodies, by dispatch position.
    lora: Option<LoraBodies>,
    tokenizer: Option<Arc<dyn Tokenizer>>,
    timeout: Option<Duration>,
    /// `--control-timeout-sec`: the deadline of each untimed request.
    control_timeout: Duration,
    origin: Instant,
}

impl Client {
    /// Builds the client for `config`, sending `model` in each body.
    pub fn new(
        config: &BenchConfig,
        model: &str,
        tokenizer: Option<Arc<dyn Tokenizer>>,
    ) -> Result<Self, BenchError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| BenchError::Client(e.to_string()))?;
        Ok(Self {
            http,
            base_url: config.endpoint.base_url.clone(),
            connections: Target::parse(&config.api_url()).map(Connections::new),
            backend: config.workload.backend,
            headers: headers(config)?,
            body: payload::BodyTemplate::new(config, model),
            lora: LoraBodies::new(config),
            tokenizer,
            timeout: config.endpoint.request_timeout,
            control_timeout: config.endpoint.control_timeout,
            origin: Instant::now(),
        })
    }

    /// Seconds since the client was built: the run's monotonic clock.
    pub fn secs(&self, t: Instant) -> Seconds {
        t.saturating_duration_since(self.origin).as_secs_f64()
    }

    /// Sends one request and measures it; every outcome, including an abort through `cancel`
    /// ([`ErrorKind::Cancelled`] once the request is on a connection, [`ErrorKind::NotSent`]
    /// while it is still connecting), is a record.
    pub async fn send(&self, req: &SampleRequest, cancel: &CancelToken) -> ClientRequestRecord {
        self.send_body(&self.body, req, cancel).await
    }

    /// Sends the request dispatched `pos`-th in the timed run: as [`Client::send`], under its
    /// LoRA module's name when `--lora-modules` is set.
    pub async fn send_nth(
        &self,
        pos: usize,
        req: &SampleRequest,
        cancel: &CancelToken,
    ) -> ClientRequestRecord {
        let body = self.lora.as_ref().map_or(&self.body, |l| l.body(pos));
        self.send_body(body, req, cancel).await
    }

    async fn send_body(
        &self,
        body: &payload::BodyTemplate,
        req: &SampleRequest,
        cancel: &CancelToken,
    ) -> ClientRequestRecord {
        let sent = Instant::now();
        let mut state = StreamState::new(sent);
        let outcome = tokio::select! {
            r = self.exchange(body, req, &mut state) => r,
            () = deadline(self.timeout) => Err((ErrorKind::Timeout, format!("request timed out after {:?}", self.timeout.unwrap_or_default()))),
            () = cancel.aborted() => Err(match state.on_wire {
                true => (ErrorKind::Cancelled, "run interrupted".into()),
                false => (ErrorKind::NotSent, "run interrupted before the request had a connection".into()),
            }),
        };
        self.record(req, state, outcome)
    }

    async fn exchange(
        &self,
        body: &payload::BodyTemplate,
        req: &SampleRequest,
        state: &mut StreamState,
    ) -> Result<(), Failure> {
        let connections = self
            .connections
            .as_ref()
            .map_err(|e| (ErrorKind::Other, e.clone()))?;
        let mut http_req = connections
            .target()
            .post(&self.headers, Bytes::from(body.render(req)));
        if !req.request_id.is_empty() {
            let id = HeaderValue::from_str(&req.request_id).map_err(|_| {
                (
                    ErrorKind::Other,
                    format!("invalid request id {:?}", req.request_id),
                )
            })?;
            http_req.headers_mut().insert("x-request-id", id);
        }
        let taken = connections.take().await?;
        state.on_wire = true;
        let (resp, conn) = connections.send_on(taken, http_req).await?;
        if resp.status() != StatusCode::OK {
            let status = resp.status();
            let text = self.error_text(status, resp.into_body()).await;
            return Err((ErrorKind::HttpStatus(status.as_u16()), text));
        }
        let mut body = resp.into_body();
        if self.backend.is_pooling() {
            pooled(&mut body, state).await?;
        } else {
            self.stream(&mut body, state).await?;
        }
        connections.give_back(conn);
        Ok(())
    }

    /// A failed status's error text: the reason phrase, as vLLM's request functions record
    /// (`output.error = response.reason` in vllm/benchmarks/lib/endpoint_request_func.py),
    /// then the first [`MAX_ERROR_BODY`] bytes of the server's error body on one line, which
    /// vLLM drops though it says why (e.g. vLLM's own "maximum context length" message). The
    /// body has `--control-timeout-sec` to arrive; what came by then is kept.
    async fn error_text(&self, status: StatusCode, body: Incoming) -> String {
        let reason = status.canonical_reason().unwrap_or_default();
        let mut prefix = Vec::new();
        let read = body_prefix(body, &mut prefix);
        let _ = tokio::time::timeout(self.control_timeout, read).await;
        let cut = prefix.len() > MAX_ERROR_BODY;
        prefix.truncate(MAX_ERROR_BODY);
        let text = String::from_utf8_lossy(&prefix);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match (text.is_empty(), cut) {
            (true, _) => reason.to_string(),
            (false, false) => format!("{reason}: {text}"),
            (false, true) => format!("{reason}: {text}…"),
        }
    }

    /// Reads an SSE body to its end, each event stamped with its bytes' arrival.
    async fn stream(&self, body: &mut Incoming, state: &mut StreamState) -> Result<(), Failure> {
        let tok = self.tokenizer.as_deref();
        let mut parser = SseParser::new();
        let mut failure = None;
        while let Some(frame) = body.frame().await {
            let now = Instant::now();
            let frame = frame.map_err(|e| (ErrorKind::StreamInterrupted, e.to_string()))?;
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            parser
                .feed(&chunk, &mut |data| {
                    apply(state, data, now, tok, &mut failure)
                })
                .map_err(|e| (ErrorKind::MalformedStream, e.to_string()))?;
            if let Some(err) = failure.take() {
                return Err((ErrorKind::MalformedStream, err));
            }
        }
        let now = Instant::now();
        parser.finish(&mut |data| apply(state, data, now, tok, &mut failure));
        failure.map_or(Ok(()), |err| Err((ErrorKind::MalformedStream, err)))
    }

    fn record(
        &self,
        req: &SampleRequest,
        s: StreamState,
        outcome: Result<(), Failure>,
    ) -> ClientRequestRecord {
        let outcome = outcome.and_then(|()| {
            s.ttft()
                .map(|_| ())
                .ok_or((ErrorKind::NoTokens, NO_TOKEN_ERROR.to_string()))
        });
        let (success, error, error_kind) = match outcome {
            Ok(()) => (true, String::new(), None),
            Err((kind, msg)) => (false, msg, Some(kind)),
        };
        let (ttft, latency, start_time) = (s.ttft().unwrap_or(0.0), s.latency(), self.secs(s.sent));
        ClientRequestRecord {
            success,
            prompt_len: s.prompt_tokens.unwrap_or(req.prompt_len),
            output_tokens: s.output_tokens,
            ttft,
            itl: s.itl,
            latency,
            start_time,
            client_queue_time: 0.0,
            generated_text: s.text,
            error,
            num_input_sequences: payload::num_input_sequences(&req.prompt),
            error_kind,
            chunk_tokens: s.chunk_tokens,
            ttfc: s.ttfc,
            client_lag: 0.0,
            session: None,
        }
    }

    /// Opens connections until `n` wait idle, up to [`OPEN_AT_ONCE`] connects at a time, so the
    /// timed requests find them open. Returns how many it opened, or the first connect failure.
    pub async fn open_connections(self: &Arc<Self>, n: usize) -> Result<usize, String> {
        let connections = self.connections.as_ref().map_err(Clone::clone)?;
        let missing = n.saturating_sub(connections.idle_len());
        let mut tasks = tokio::task::JoinSet::new();
        let (mut started, mut opened) = (0, 0);
        while opened < missing {
            while started < missing && tasks.len() < OPEN_AT_ONCE {
                let client = self.clone();
                tasks.spawn(async move {
                    match &client.connections {
                        Ok(c) => c.open_idle().await.map_err(|(_, e)| e),
                        Err(e) => Err(e.clone()),
                    }
                });
                started += 1;
            }
            match tasks.join_next().await {
                Some(Ok(Ok(()))) => opened += 1,
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => return Err(e.to_string()),
                None => break,
            }
        }
        Ok(opened)
    }

    /// Seconds each connect of the run's timed-request connections took, in order (empty when
    /// the URL is unusable).
    pub fn connect_times(&self) -> Vec<f64> {
        self.connections
            .as_ref()
            .map(Connections::connect_times)
            .unwrap_or_default()
    }

    /// POSTs to `base_url + path` with no body, as `async_request_profile()` in
    /// vllm/benchmarks/lib/endpoint_request_func.py does: `Ok` on 200, else the reason; no
    /// answer within `--control-timeout-sec` is a failure too (vLLM waits without end).
    pub async fn post_empty(&self, path: &str) -> Result<(), String> {
        within(self.control_timeout, async {
            let resp = self
                .http
                .post(format!("{}{path}", self.base_url))
                .headers(self.headers.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            match resp.status() {
                StatusCode::OK => Ok(()),
                s => Err(format!(
                    "{} {}",
                    s.as_u16(),
                    s.canonical_reason().unwrap_or_default()
                )),
            }
        })
        .await
    }

    /// GETs `base_url + path` and reads its body, within `--control-timeout-sec`; the error says
    /// why not (unreachable, non-200, no answer in time).
    pub async fn get_text(&self, path: &str) -> Result<String, String> {
        within(self.control_timeout, async {
            let resp = self
                .http
                .get(format!("{}{path}", self.base_url))
                .headers(self.headers.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if resp.status() != StatusCode::OK {
                return Err(format!(
                    "HTTP {} {}",
                    resp.status().as_u16(),
                    resp.status().canonical_reason().unwrap_or_default()
                ));
            }
            resp.text().await.map_err(|e| e.to_string())
        })
        .await
    }
}

/// Runs `fut` for at most `limit`: its own result, or an error saying nothing came in time.
pub(crate) async fn within<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(format!(
            "no answer within {} s (--control-timeout-sec)",
            limit.as_secs_f64()
        ))
    })
}

fn apply(
    state: &mut StreamState,
    data: &[u8],
    now: Instant,
    tok: Option<&dyn Tokenizer>,
    failure: &mut Option<String>,
) {
    if failure.is_none()
        && let Err(e) = state.on_data(data, now, tok)
    {
        *failure = Some(e);
    }
}

/// Reads `body` into `out` until it ends or `out` holds more than [`MAX_ERROR_BODY`] bytes.
async fn body_prefix(mut body: Incoming, out: &mut Vec<u8>) {
    while out.len() <= MAX_ERROR_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = MAX_ERROR_BODY + 1 - out.len();
                    out.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => return,
        }
    }
}

/// A non-streaming pooling response: TTFT = latency = time to the full body.
async fn pooled(body: &mut Incoming, state: &mut StreamState) -> Result<(), Failure> {
    let body = body
        .collect()
        .await
        .map_err(|e| (ErrorKind::StreamInterrupted, e.to_string()))?
        .to_bytes();
    let now = Instant::now();
    state.first = Some(now);
    state.last = now;
    state.chunk_tokens.push(1);
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| (ErrorKind::MalformedStream, e.to_string()))?;
    state.prompt_tokens = Some(
        v.pointer("/usage/prompt_tokens")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
    );
    Ok(())
}

async fn deadline(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// Default headers (JSON content type, `OPENAI_API_KEY` bearer), then `--header` overrides.
fn headers(config: &BenchConfig) -> Result<HeaderMap, BenchError> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(ACCEPT, HeaderValue::from_static("*/*"));
    let bad = |what: String| {
        BenchError::Config(crate::error::BenchConfigError::KeyValue {
            flag: "--header",
            value: what,
        })
    };
    if let Some(key) = &config.endpoint.api_key {
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| bad("OPENAI_API_KEY".into()))?,
        );
    }
    for (k, v) in &config.endpoint.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad(format!("{k}={v}")))?;
        h.insert(
            name,
            HeaderValue::from_str(v).map_err(|_| bad(format!("{k}={v}")))?,
        );
    }
    Ok(h)
}
