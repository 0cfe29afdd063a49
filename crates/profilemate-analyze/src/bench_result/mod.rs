//! `analyze bench`: a `bench serve` result (ours or vLLM's `--save-result` JSON) beside the
//! server's view of the same window, from the two `/metrics` scrapes around the run.

mod read;
mod split;

pub use read::{BenchResult, ClientLatency, read_bench_result};
pub use split::TtftSplit;

use serde::Serialize;

use crate::Gpu;
use crate::findings::Finding;
use crate::scrape::{MetricsSummary, ScrapeInput, WindowSource, analyze_window};

/// Where the server scrapes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrapesFrom {
    /// The result's own `server_scrapes` key (profilemate's `bench serve`).
    Result,
    /// `--before` / `--after` files.
    Files,
}

/// Client completions against the server's finished requests over the window.
#[derive(Debug, Clone, Serialize)]
pub struct RequestMatch {
    /// The client's `completed`.
    pub client_completed: u64,
    /// The client's `failed`.
    pub client_failed: u64,
    /// Δ`vllm:request_success_total`, every finish reason.
    pub server_finished: f64,
    /// Whether the server finished exactly the requests the client sent.
    pub matches: bool,
}

/// The analysis of one bench result.
#[derive(Debug, Clone, Serialize)]
pub struct BenchAnalysis {
    /// The client's side, as recorded in the result.
    pub client: BenchResult,
    /// Where the scrapes came from, if any.
    pub scrapes_from: Option<ScrapesFrom>,
    /// Said when there are no scrapes.
    pub note: Option<String>,
    /// The server's view over the run's window.
    pub server: Option<MetricsSummary>,
    /// Client TTFT split into queueing, prefill, the rest of the server, and client + network.
    pub ttft_split: Option<TtftSplit>,
    /// Client completions against server finishes.
    pub requests: Option<RequestMatch>,
    /// The server view's findings plus the bench-only ones, ranked.
    pub findings: Vec<Finding>,
}

/// Analyses `client` with the scrapes around its run (`None`: client figures only). The
/// window is the result's `server_scrapes.elapsed_s` when it has one, else its `duration`.
pub fn analyze_bench(
    client: BenchResult,
    scrapes: Option<(ScrapeInput, ScrapeInput, ScrapesFrom)>,
    gpu: Option<(&Gpu, &'static str)>,
) -> BenchAnalysis {
    let Some((before, after, from)) = scrapes else {
        return BenchAnalysis {
            client,
            scrapes_from: None,
            note: Some(
                "no server scrapes: the result has no server_scrapes key; pass --before and \
                 --after /metrics files taken around the run"
                    .to_owned(),
            ),
            server: None,
            ttft_split: None,
            requests: None,
            findings: Vec::new(),
        };
    };
    let window = match (from, client.scrapes_elapsed_s) {
        (ScrapesFrom::Result, Some(e)) => (e, WindowSource::Measured),
        _ => (client.duration_s, WindowSource::BenchDuration),
    };
    let server = analyze_window(&before, &after, Some(window), gpu);
    let requests = RequestMatch {
        client_completed: client.completed,
        client_failed: client.failed,
        server_finished: server.total.requests_finished,
        matches: server.total.requests_finished == client.completed as f64,
    };
    let ttft_split = TtftSplit::new(&client, &server.total);
    let mut findings = server.findings.clone();
    findings.extend(split::mismatch_finding(&requests));
    findings.extend(ttft_split.as_ref().and_then(TtftSplit::finding));
    findings.sort_by(|a, b| b.score.total_cmp(&a.score));
    BenchAnalysis {
        client,
        scrapes_from: Some(from),
        note: None,
        server: Some(server),
        ttft_split,
        requests: Some(requests),
        findings,
    }
}
