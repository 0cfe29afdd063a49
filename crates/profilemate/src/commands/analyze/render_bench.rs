//! Renders a bench result's analysis as text: the client's figures, the server's view of the
//! same window, the request match, the TTFT split, findings.

use std::fmt::Write;

use profilemate_analyze::bench_result::{BenchAnalysis, ScrapesFrom};

use super::render::findings;
use super::render_metrics::{engine, window_source};

/// The text report of a bench result.
pub(super) fn bench_text(name: &str, a: &BenchAnalysis) -> String {
    let mut out = String::new();
    let c = &a.client;
    let _ = write!(
        out,
        "{name}: {} completed, {} failed in {:.2} s",
        c.completed, c.failed, c.duration_s
    );
    if let Some(t) = c.request_throughput {
        let _ = write!(out, " ({t:.2} requests/s");
        if let Some(g) = c.request_goodput {
            let _ = write!(out, ", goodput {g:.2} requests/s");
        }
        out.push(')');
    }
    out.push_str("\n\n");
    let _ = writeln!(
        out,
        "Client (as recorded)\n  {:<9}{:>11}{:>11}{:>11}",
        "ms", "mean", "p50", "p99"
    );
    let ms = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.2}"));
    for l in &c.latency {
        let _ = writeln!(
            out,
            "  {:<9}{:>11}{:>11}{:>11}",
            l.name,
            ms(l.mean_ms),
            ms(l.p50_ms),
            ms(l.p99_ms)
        );
    }
    out.push('\n');
    if let Some(note) = &a.note {
        let _ = writeln!(out, "{note}\n");
    }
    if let Some(s) = &a.server {
        let from = match a.scrapes_from {
            Some(ScrapesFrom::Result) => "the result's server_scrapes",
            _ => "--before/--after",
        };
        let _ = write!(out, "Server over the same window (scrapes from {from}");
        if let (Some(w), Some(src)) = (s.window_s, s.window_source) {
            let _ = write!(out, "; {w:.2} s, {}", window_source(src));
        }
        out.push_str(")\n");
        engine(&mut out, "Server", &s.total);
    }
    if let Some(r) = &a.requests {
        let _ = writeln!(
            out,
            "Requests: client completed {} ({} failed), server finished {:.0}: {}\n",
            r.client_completed,
            r.client_failed,
            r.server_finished,
            if r.matches { "match" } else { "MISMATCH" }
        );
    }
    if let Some(t) = &a.ttft_split {
        let _ = writeln!(
            out,
            "Client mean TTFT split (means over the run; client + network is a mean of differences)"
        );
        for (label, v) in [
            ("client mean TTFT", t.client_mean_ms),
            ("= server queueing", t.queue_ms),
            ("+ server prefill", t.prefill_ms),
            ("+ rest of server TTFT", t.server_other_ms),
            ("+ client and network", t.client_and_network_ms),
        ] {
            let _ = writeln!(out, "  {label:<24}{v:>10.2} ms");
        }
        out.push('\n');
    }
    findings(&mut out, &a.findings);
    out
}
