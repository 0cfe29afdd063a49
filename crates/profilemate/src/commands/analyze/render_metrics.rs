//! Renders a scrape window's analysis as text: the window, each engine's figures, findings.

use std::fmt::Write;

use profilemate_analyze::scrape::{LatencyStat, MetricsSummary, WindowFigures};

use super::render::findings;

/// The text report of a window.
pub(crate) fn metrics_text(name: &str, s: &MetricsSummary) -> String {
    let mut out = String::new();
    let _ = write!(out, "{name}:");
    match (s.window_s, s.window_source) {
        (Some(w), Some(src)) => {
            let _ = writeln!(out, " window {w:.2} s ({})", window_source(src));
        }
        _ => out.push('\n'),
    }
    if let Some(note) = &s.note {
        let _ = writeln!(out, "  {note}");
    }
    let [b, a] = s.skipped_lines;
    if a + b > 0 {
        let _ = writeln!(
            out,
            "  skipped malformed lines: {b} in the first scrape, {a} in the second"
        );
    }
    if let Some(g) = &s.gpu {
        let _ = writeln!(
            out,
            "  GPU {} ({}): {:.0} TF/s, {:.0} GB/s peak",
            g.name, g.source, g.peak_tflops, g.peak_gbps
        );
    }
    out.push('\n');
    if s.engines.len() > 1 {
        engine(&mut out, "All engines", &s.total);
    } else {
        engine(&mut out, "Server", &s.total);
    }
    for e in &s.engines {
        engine(&mut out, &format!("Engine {}", e.engine), e);
    }
    findings(&mut out, &s.findings);
    out
}

pub(super) fn window_source(src: profilemate_analyze::scrape::WindowSource) -> &'static str {
    use profilemate_analyze::scrape::WindowSource as W;
    match src {
        W::Flag => "--window",
        W::Measured => "measured between the scrapes",
        W::Timestamps => "from the samples' timestamps",
        W::BenchDuration => "the result's duration",
    }
}

pub(super) fn engine(out: &mut String, title: &str, f: &WindowFigures) {
    let _ = writeln!(out, "{title}");
    let reasons: Vec<String> = f
        .finished_by_reason
        .iter()
        .map(|(r, n)| format!("{r} {n:.0}"))
        .collect();
    let _ = writeln!(
        out,
        "  requests finished {:.0}{}; prompt tokens {:.0}, generated tokens {:.0}",
        f.requests_finished,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        f.prompt_tokens,
        f.generation_tokens
    );
    if let Some(r) = &f.rates {
        let _ = writeln!(
            out,
            "  rates: {:.2} requests/s, {:.1} prompt tokens/s, {:.1} generated tokens/s",
            r.requests_per_s, r.prompt_tokens_per_s, r.generation_tokens_per_s
        );
    }
    latency_table(out, &f.latency);
    if let Some(p) = &f.prefix_cache {
        let _ = writeln!(
            out,
            "  prefix cache: {:.0} of {:.0} prompt tokens hit{}",
            p.hits,
            p.queries,
            p.hit_rate
                .map(|r| format!(" ({:.1}%)", r * 100.0))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "  preemptions {:.0}", f.preemptions);
    if let Some(u) = &f.utilization {
        let _ = write!(
            out,
            "  work per GPU: {:.3e} FLOP, {:.3e} bytes",
            u.flops_per_gpu, u.bytes_per_gpu
        );
        if let Some(i) = u.arithmetic_intensity {
            let _ = write!(out, " ({i:.1} FLOP/byte)");
        }
        if let (Some(t), Some(g)) = (u.tflops_per_gpu, u.gbps_per_gpu) {
            let _ = write!(out, "; {t:.3} TF/s, {g:.1} GB/s");
        }
        if let (Some(mfu), Some(mbu)) = (u.mfu_pct, u.mbu_pct) {
            let _ = write!(out, "; MFU {mfu:.2}%, MBU {mbu:.2}%");
        }
        if let Some(b) = u.bound {
            let _ = write!(out, "; {b}-bound");
        }
        out.push('\n');
    }
    if let Some(sd) = &f.spec_decode {
        let _ = writeln!(
            out,
            "  spec decode: {:.0} of {:.0} draft tokens accepted ({:.1}%), mean acceptance length {}",
            sd.accepted_tokens,
            sd.draft_tokens,
            sd.acceptance_rate * 100.0,
            sd.mean_acceptance_length
                .map_or("-".to_owned(), |l| format!("{l:.2}"))
        );
    }
    for (name, d) in &f.kv_offload {
        let _ = writeln!(out, "  {name}: +{d}");
    }
    let g = &f.at_after;
    let opt = |x: Option<f64>, p: usize| x.map_or("-".to_owned(), |x| format!("{x:.p$}"));
    let _ = writeln!(
        out,
        "  at the second scrape: running {}, waiting {}, KV cache {}%\n",
        opt(g.running, 0),
        opt(g.waiting, 0),
        opt(g.kv_cache_usage_pct, 1)
    );
}

/// The windowed histograms as a table; quantiles are Prometheus' `histogram_quantile`, linear
/// inside vLLM's buckets, so they are only as fine as the buckets (the means are exact).
fn latency_table(out: &mut String, rows: &[LatencyStat]) {
    if rows.iter().all(|l| l.count == 0.0) {
        out.push_str("  latency: nothing observed in the window\n");
        return;
    }
    let _ = writeln!(
        out,
        "  {:<9}{:>7}{:>11}{:>11}{:>11}{:>11}",
        "ms", "count", "mean", "p50", "p90", "p99"
    );
    let ms = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{:.2}", x * 1000.0));
    for l in rows.iter().filter(|l| l.count > 0.0) {
        let _ = writeln!(
            out,
            "  {:<9}{:>7.0}{:>11}{:>11}{:>11}{:>11}",
            l.name,
            l.count,
            ms(l.mean_s),
            ms(l.p50_s),
            ms(l.p90_s),
            ms(l.p99_s)
        );
    }
    out.push_str("  (quantiles interpolate inside vLLM's histogram buckets; means are exact)\n");
}
