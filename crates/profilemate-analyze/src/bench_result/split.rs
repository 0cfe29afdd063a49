//! The client's mean TTFT split by what the server saw, and the bench-only findings.

use serde::Serialize;

use super::{BenchResult, RequestMatch};
use crate::findings::Finding;
use crate::scrape::WindowFigures;

/// Client mean TTFT = server queueing + server prefill + the rest of the server's TTFT +
/// client and network. Every term is a mean over the run's requests, so the last one (client
/// mean TTFT − server mean TTFT) is a mean of differences, not any one request's overhead.
#[derive(Debug, Clone, Serialize)]
pub struct TtftSplit {
    /// The client's `mean_ttft_ms`.
    pub client_mean_ms: f64,
    /// The server's mean TTFT over the window (`vllm:time_to_first_token_seconds`).
    pub server_mean_ms: f64,
    /// Mean time waiting to be scheduled (`vllm:request_queue_time_seconds`).
    pub queue_ms: f64,
    /// Mean prefill time, scheduled to first token (`vllm:request_prefill_time_seconds`).
    pub prefill_ms: f64,
    /// Server TTFT not in queue or prefill: arrival to queued (tokenization, the API server).
    pub server_other_ms: f64,
    /// Client mean TTFT − server mean TTFT: client overhead plus network, as a mean of
    /// differences.
    pub client_and_network_ms: f64,
}

impl TtftSplit {
    /// The split, when the client recorded TTFT and the server observed TTFT, queue and
    /// prefill times in the window.
    pub fn new(client: &BenchResult, server: &WindowFigures) -> Option<Self> {
        let client_mean_ms = client.latency("ttft")?.mean_ms?;
        let mean_ms = |n: &str| Some(server.latency(n)?.mean_s? * 1000.0);
        let (server_mean_ms, queue_ms, prefill_ms) =
            (mean_ms("ttft")?, mean_ms("queue")?, mean_ms("prefill")?);
        Some(Self {
            client_mean_ms,
            server_mean_ms,
            queue_ms,
            prefill_ms,
            server_other_ms: server_mean_ms - queue_ms - prefill_ms,
            client_and_network_ms: client_mean_ms - server_mean_ms,
        })
    }

    /// A finding when client and network add more than a fifth of the client's TTFT (and
    /// over 5 ms).
    pub fn finding(&self) -> Option<Finding> {
        let share = self.client_and_network_ms / self.client_mean_ms;
        if self.client_and_network_ms < 5.0 || share < 0.2 {
            return None;
        }
        Some(Finding {
            id: "client-overhead",
            score: (0.3 + 0.5 * share).min(1.0),
            title: "TTFT is lost outside the server".to_owned(),
            evidence: format!(
                "client mean TTFT {:.1} ms against the server's {:.1} ms: {:.1} ms ({:.0}%) is \
                 client overhead and network (a mean of differences)",
                self.client_mean_ms,
                self.server_mean_ms,
                self.client_and_network_ms,
                share * 100.0
            ),
            suggestion: "check the client host's load and the network path; run the client \
                         nearer the server, and keep connections warm"
                .to_owned(),
        })
    }
}

/// A finding when the server finished a different number of requests than the client sent.
pub(super) fn mismatch_finding(r: &RequestMatch) -> Option<Finding> {
    if r.matches {
        return None;
    }
    Some(Finding {
        id: "request-count-mismatch",
        score: 0.9,
        title: "the scrapes saw other requests".to_owned(),
        evidence: format!(
            "the server finished {:.0} requests between the scrapes, the client completed {} \
             ({} failed)",
            r.server_finished, r.client_completed, r.client_failed
        ),
        suggestion: "other traffic reached the server during the run, or the scrapes do not \
                     bracket this run: the server-side figures mix in those requests"
            .to_owned(),
    })
}
