//! Provides the console report: vLLM's "Serving Benchmark Result" table, byte for byte, and a
//! separate, clearly titled table of what profilemate adds.
//!
//! Mirrors the print statements of `benchmark()` in vllm/benchmarks/serve.py, vLLM 0.32:
//! `"{:<40} {:<10}"` for integers, `"{:<40} {:<10.2f}"` for floats, titles centred in 50 columns.

use std::fmt::Write;

use crate::metrics::percentile_label;
use crate::report::{Report, TaskMetrics};

/// Python's `"{s:{c}^{n}}".format(s=title, n=50, c=fill)`: extra padding goes right.
pub fn centered(title: &str, fill: char) -> String {
    let pad = 50usize.saturating_sub(title.chars().count());
    let left = pad / 2;
    format!(
        "{}{title}{}",
        fill.to_string().repeat(left),
        fill.to_string().repeat(pad - left)
    )
}

fn int_line(out: &mut String, label: &str, v: impl std::fmt::Display) {
    let _ = writeln!(out, "{label:<40} {:<10}", v.to_string());
}

fn float_line(out: &mut String, label: &str, v: f64) {
    let _ = writeln!(out, "{label:<40} {:<10}", format!("{v:.2}"));
}

/// vLLM's result table, from the banner to the closing `=` line.
pub fn render_vllm_table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", centered(" Serving Benchmark Result ", '='));
    match &r.metrics {
        TaskMetrics::Generation(m) => generation_head(&mut out, r, m),
        TaskMetrics::Pooling(m) => pooling_head(&mut out, r, m),
    }
    probe(&mut out, r);
    for block in r.metric_blocks() {
        let _ = writeln!(out, "{}", centered(block.header(), '-'));
        let s = &block.summary;
        float_line(&mut out, &format!("Mean {} (ms):", block.name()), s.mean_ms);
        float_line(
            &mut out,
            &format!("Median {} (ms):", block.name()),
            s.median_ms,
        );
        for (p, v) in &s.percentiles_ms {
            float_line(
                &mut out,
                &format!("P{} {} (ms):", percentile_label(*p), block.name()),
                *v,
            );
        }
    }
    spec_decode(&mut out, r);
    let _ = writeln!(out, "{}", "=".repeat(50));
    out
}

fn common_head(out: &mut String, r: &Report, completed: u64, failed: u64) {
    int_line(out, "Successful requests:", completed);
    int_line(out, "Failed requests:", failed);
    if r.interrupted {
        // Beyond vLLM, only on an interrupted run: the requests that are neither.
        int_line(
            out,
            "Interrupted requests (in flight):",
            r.interrupted_requests,
        );
        int_line(out, "Not sent requests:", r.not_sent);
    }
    if let Some(c) = r.settings.max_concurrency {
        int_line(out, "Maximum request concurrency:", c);
    }
    if r.settings.request_rate.is_finite() {
        float_line(
            out,
            "Request rate configured (RPS):",
            r.settings.request_rate,
        );
    }
    float_line(out, "Benchmark duration (s):", r.duration);
}

fn generation_head(out: &mut String, r: &Report, m: &crate::metrics::BenchmarkMetrics) {
    let tok = r.settings.has_tokenizer;
    common_head(out, r, m.completed, m.failed);
    int_line(out, "Total input tokens:", m.total_input);
    if tok {
        int_line(out, "Total generated tokens:", m.total_output);
    }
    float_line(out, "Request throughput (req/s):", m.request_throughput);
    if r.settings.goodput.is_set() {
        float_line(out, "Request goodput (req/s):", m.request_goodput);
    }
    if tok {
        float_line(out, "Output token throughput (tok/s):", m.output_throughput);
        float_line(
            out,
            "Peak output token throughput (tok/s):",
            m.max_output_tokens_per_s,
        );
    }
    float_line(
        out,
        "Peak concurrent requests:",
        m.max_concurrent_requests as f64,
    );
    if m.rtfx > 0.0 {
        float_line(out, "RTFx (Inverse Real-Time Factor):", m.rtfx);
    }
    if tok {
        float_line(
            out,
            "Total token throughput (tok/s):",
            m.total_token_throughput,
        );
    }
}

fn pooling_head(out: &mut String, r: &Report, m: &crate::metrics::EmbedBenchmarkMetrics) {
    common_head(out, r, m.completed, m.failed);
    int_line(out, "Total input tokens:", m.total_input);
    float_line(out, "Request throughput (req/s):", m.request_throughput);
    float_line(
        out,
        "Input throughput (inputs/s):",
        m.input_sequence_throughput,
    );
    if r.settings.has_tokenizer {
        float_line(
            out,
            "Total token throughput (tok/s):",
            m.total_token_throughput,
        );
    }
}

/// vLLM's "Probe Requests" block (`--probe-request-rate`).
fn probe(out: &mut String, r: &Report) {
    let Some(p) = &r.probe else { return };
    let _ = writeln!(out, "{}", centered("Probe Requests", '-'));
    int_line(out, "Probe requests completed:", p.completed);
    int_line(out, "Probe requests failed:", p.failed);
    float_line(out, "Median probe E2EL (ms):", p.median_e2el_ms);
    float_line(out, "P99 probe E2EL (ms):", p.p99_e2el_ms);
    float_line(out, "Max probe E2EL (ms):", p.max_e2el_ms);
}

fn spec_decode(out: &mut String, r: &Report) {
    let Some(s) = &r.spec_decode else { return };
    let _ = writeln!(out, "{}", centered("Speculative Decoding", '-'));
    float_line(out, "Acceptance rate (%):", s.acceptance_rate);
    float_line(out, "Acceptance length:", s.acceptance_length);
    int_line(out, "Drafts:", s.num_drafts);
    int_line(out, "Draft tokens:", s.draft_tokens);
    int_line(out, "Accepted tokens:", s.accepted_tokens);
    if !s.per_position_acceptance_rates.is_empty() {
        let _ = writeln!(out, "Per-position acceptance (%):");
        for (i, rate) in s.per_position_acceptance_rates.iter().enumerate() {
            float_line(out, &format!("  Position {i}:"), rate * 100.0);
        }
    }
}

/// profilemate's additions, in their own table after vLLM's.
pub fn render_extras_table(r: &Report) -> String {
    let mut out = String::new();
    let x = &r.extras;
    let _ = writeln!(out, "{}", centered(" profilemate: beyond vLLM ", '='));
    let _ = writeln!(
        out,
        "{}",
        centered("Per-token ITL (chunk gap / tokens)", '-')
    );
    float_line(&mut out, "Mean tokens per chunk:", x.mean_tokens_per_chunk);
    summary_lines(&mut out, "per-token ITL", &x.per_token_itl);
    let _ = writeln!(out, "{}", centered("Time to First Content Token", '-'));
    summary_lines(&mut out, "TTFC", &x.ttfc);
    let _ = writeln!(
        out,
        "{}",
        centered("Client Lag (dispatch vs schedule)", '-')
    );
    float_line(&mut out, "Mean client lag (ms):", x.client_lag.mean_ms);
    float_line(&mut out, "Max client lag (ms):", x.max_client_lag_ms);
    if x.client_fell_behind() {
        let _ = writeln!(
            out,
            "WARNING: the client fell behind its schedule; latencies may be understated"
        );
    }
    connections(&mut out, r);
    sessions(&mut out, r);
    errors(&mut out, r);
    if let Some(v) = &r.server {
        server(&mut out, v);
    }
    let _ = writeln!(out, "{}", "=".repeat(50));
    out
}

fn summary_lines(out: &mut String, name: &str, s: &crate::metrics::Summary) {
    float_line(out, &format!("Mean {name} (ms):"), s.mean_ms);
    float_line(out, &format!("Median {name} (ms):"), s.median_ms);
    for (p, v) in &s.percentiles_ms {
        float_line(out, &format!("P{} {name} (ms):", percentile_label(*p)), *v);
    }
}

/// The client's connects, timed apart from the requests.
fn connections(out: &mut String, r: &Report) {
    let Some(c) = &r.connections else { return };
    let title = match c.warm {
        true => "Connections (opened before the run)",
        false => "Connections (cold, as vLLM's client)",
    };
    let _ = writeln!(out, "{}", centered(title, '-'));
    int_line(out, "Opened before the timed run:", c.opened_before_run);
    int_line(out, "Opened during the run (in TTFT):", c.opened_during_run);
    float_line(out, "Mean connect time (ms):", c.mean_connect_ms);
    float_line(out, "P99 connect time (ms):", c.p99_connect_ms);
}

/// `multi_turn`: what became of the sessions.
fn sessions(out: &mut String, r: &Report) {
    let Some(s) = r.sessions else {
        return;
    };
    let _ = writeln!(out, "{}", centered("Multi-turn Sessions", '-'));
    int_line(out, "Sessions planned:", s.planned);
    int_line(out, "Turns per session:", s.turns_per_session);
    int_line(out, "Sessions started:", s.started);
    int_line(out, "Sessions completed (all turns):", s.completed);
    int_line(out, "Sessions ended by a failed turn:", s.ended_by_failure);
    int_line(
        out,
        "Turns skipped after a failure:",
        s.turns_skipped_after_failure,
    );
}

fn errors(out: &mut String, r: &Report) {
    if r.extras.error_counts.is_empty() && r.not_sent == 0 && !r.interrupted {
        return;
    }
    let _ = writeln!(out, "{}", centered("Errors", '-'));
    for (kind, n) in &r.extras.error_counts {
        int_line(out, &format!("{kind}:"), n);
    }
    if r.not_sent > 0 {
        int_line(out, "Not sent (run stopped early):", r.not_sent);
    }
    if r.interrupted {
        let _ = writeln!(
            out,
            "Interrupted: figures cover the requests that finished; {} cut in flight (not counted as failed), {} never sent",
            r.interrupted_requests, r.not_sent
        );
    }
}

/// A figure read from the server's `/metrics`: a scrape may hold `NaN` or `+Inf` (a hostile or
/// broken exporter), shown as `n/a` rather than as a number.
fn scraped_line(out: &mut String, label: &str, v: f64, show: impl Fn(f64) -> String) {
    let text = if v.is_finite() { show(v) } else { "n/a".into() };
    int_line(out, label, text);
}

fn server(out: &mut String, v: &crate::server_metrics::ServerView) {
    let _ = writeln!(out, "{}", centered("Server View (/metrics)", '-'));
    let opt = |out: &mut String, label: &str, x: Option<f64>| {
        if let Some(x) = x {
            scraped_line(out, label, x, |x| format!("{x:.2}"));
        }
    };
    opt(out, "Estimated TF/s per GPU:", v.tflops_per_gpu);
    opt(out, "Estimated GB/s per GPU:", v.gbps_per_gpu);
    opt(out, "MFU (%):", v.mfu_pct);
    opt(out, "MBU (%):", v.mbu_pct);
    if let Some(g) = v.gpu.filter(|_| v.tflops_per_gpu.is_some()) {
        float_line(out, "GPU peak TF/s (dense BF16):", g.tflops);
        float_line(out, "GPU peak GB/s:", g.gbps);
    }
    opt(
        out,
        "Prefix cache hit rate (%):",
        v.prefix_cache_hit_rate.map(|h| h * 100.0),
    );
    scraped_line(out, "Preemptions:", v.preemptions, |x| x.to_string());
    if let Some(reading) = v.reading() {
        let _ = writeln!(out, "Reading: {reading}");
    } else if v.tflops_per_gpu.is_some() && v.gpu.is_none() {
        let _ = writeln!(
            out,
            "Reading: pass --gpu (e.g. --gpu h100-sxm) for MFU, MBU and what bounds the run"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centering_matches_python() {
        assert_eq!(
            centered("Time to First Token", '-'),
            "---------------Time to First Token----------------"
        );
        assert_eq!(
            centered(" Serving Benchmark Result ", '='),
            "============ Serving Benchmark Result ============"
        );
    }
}
