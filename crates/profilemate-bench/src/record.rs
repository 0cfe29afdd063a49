//! Defines the per-request record every consumer (metrics, JSON, console, progress) reads.
//!
//! Mirrors `RequestFuncOutput` in vllm/benchmarks/lib/endpoint_request_func.py, vLLM 0.32, plus
//! the fields profilemate adds beyond vLLM (token counts per chunk, time to first content token,
//! client lag, a typed error kind).
//!
//! Times are [`Seconds`] (`f64`) here, not `Duration`: this is the boundary where measured
//! `Instant`s become vLLM's float seconds, and the parity tests feed vLLM's own float values
//! through the same math. A `Duration`'s nanosecond grid cannot hold them to 1e-9.

use std::fmt;

/// Seconds as a float, the unit of every time in a [`ClientRequestRecord`].
pub type Seconds = f64;

/// What one request did, as measured by the client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientRequestRecord {
    /// HTTP 200 and at least one token-bearing chunk (vLLM's rule).
    pub success: bool,
    /// Prompt tokens: the dataset's count, replaced by `usage.prompt_tokens` when sent.
    pub prompt_len: u64,
    /// `usage.completion_tokens` from the stream; 0 when the server sent none.
    pub output_tokens: u64,
    /// Time to the first token-bearing chunk (reasoning deltas count, as in vLLM).
    pub ttft: Seconds,
    /// Gaps between consecutive token-bearing chunks: one entry per chunk, not per token.
    pub itl: Vec<Seconds>,
    /// Time to the last token-bearing chunk.
    pub latency: Seconds,
    /// When the HTTP request was sent, on the run's monotonic clock.
    pub start_time: Seconds,
    /// Time spent waiting for the `--max-concurrency` semaphore.
    pub client_queue_time: Seconds,
    /// The concatenated `text` / `delta.content`.
    pub generated_text: String,
    /// vLLM-style error text; empty on success.
    pub error: String,
    /// Number of inputs in a pooling request (1 for generation).
    pub num_input_sequences: u64,
    // ---- beyond vLLM ----
    /// The error class, for the error taxonomy; `None` on success.
    pub error_kind: Option<ErrorKind>,
    /// Tokens carried by each token-bearing chunk (`itl.len() + 1` entries on success).
    pub chunk_tokens: Vec<u32>,
    /// Time to the first chunk with non-empty *content* (not reasoning).
    pub ttfc: Option<Seconds>,
    /// How late the client dispatched this request against its schedule.
    pub client_lag: Seconds,
    /// `multi_turn`: the request's session and turn; `None` for every other dataset.
    pub session: Option<crate::workload::SessionTurn>,
}

impl ClientRequestRecord {
    /// A failed record carrying `kind` and its message.
    pub fn failed(kind: ErrorKind, error: String) -> Self {
        Self {
            error,
            error_kind: Some(kind),
            num_input_sequences: 1,
            ..Self::default()
        }
    }

    /// Per-token ITL: each chunk gap split evenly over the tokens that chunk carried.
    ///
    /// Beyond vLLM, which records one gap per chunk however many tokens it holds.
    pub fn per_token_itl(&self, out: &mut Vec<Seconds>) {
        for (i, gap) in self.itl.iter().enumerate() {
            let tokens = self.chunk_tokens.get(i + 1).copied().unwrap_or(1).max(1);
            let share = gap / f64::from(tokens);
            out.extend(std::iter::repeat_n(share, tokens as usize));
        }
    }
}

/// Why a request failed: the error taxonomy reported beside vLLM's `errors` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The server answered with a non-200 status.
    HttpStatus(u16),
    /// The connection could not be made.
    Connect,
    /// `--request-timeout` passed before the stream ended.
    Timeout,
    /// The body ended with a transport error (connection cut mid-stream).
    StreamInterrupted,
    /// An SSE `data:` payload was not valid JSON.
    MalformedStream,
    /// The stream ended without a single token-bearing chunk.
    NoTokens,
    /// The run was interrupted (Ctrl-C) while the request was in flight.
    Cancelled,
    /// The run was interrupted (Ctrl-C) before the request had a connection to go out on
    /// (still connecting): it never reached the server, and a run counts it as not sent.
    NotSent,
    /// Any other client error (request building, body read).
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HttpStatus(code) => write!(f, "http_{code}"),
            Self::Connect => f.write_str("connect"),
            Self::Timeout => f.write_str("timeout"),
            Self::StreamInterrupted => f.write_str("stream_interrupted"),
            Self::MalformedStream => f.write_str("malformed_sse"),
            Self::NoTokens => f.write_str("no_token_chunk"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::NotSent => f.write_str("not_sent"),
            Self::Other => f.write_str("other"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_token_itl_splits_each_gap_over_its_tokens() {
        let rec = ClientRequestRecord {
            itl: vec![0.4, 0.1],
            chunk_tokens: vec![1, 4, 1],
            ..Default::default()
        };
        let mut out = Vec::new();
        rec.per_token_itl(&mut out);
        assert_eq!(out, vec![0.1, 0.1, 0.1, 0.1, 0.1]);
    }

    #[test]
    fn error_kinds_have_stable_keys() {
        assert_eq!(ErrorKind::HttpStatus(429).to_string(), "http_429");
        assert_eq!(ErrorKind::MalformedStream.to_string(), "malformed_sse");
    }
}
