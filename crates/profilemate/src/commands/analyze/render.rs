//! Renders a log summary as text: the deployment, each engine's figures, then the findings.

use std::fmt::Write;

use profilemate_analyze::summary::{EngineSummary, LimitUse, StepShare};
use profilemate_analyze::{Finding, LogSummary};

/// The text report of one file.
pub(super) fn text(name: &str, s: &LogSummary) -> String {
    let mut out = String::new();
    header(&mut out, name, s);
    if !(s.lines.vllm > 0 || s.lines.recognised > 0) {
        let _ = writeln!(
            out,
            "  nothing recognised: none of its {} lines is a vLLM log line\n",
            s.lines.total
        );
        return out;
    }
    if s.engines.len() > 1 {
        engine(&mut out, "All engines", &s.total, s);
    }
    for e in &s.engines {
        engine(&mut out, &format!("Engine {}", e.engine), e, s);
    }
    findings(&mut out, &s.findings);
    out
}

fn header(out: &mut String, name: &str, s: &LogSummary) {
    let c = &s.config;
    let _ = write!(out, "{name}:");
    if let Some(v) = &c.vllm_version {
        let _ = write!(out, " vLLM {v},");
    }
    let _ = write!(out, " model {}", c.model.as_deref().unwrap_or("?"));
    let dtype = c.dtype.as_deref().unwrap_or("?");
    let device = c.device.as_deref().unwrap_or("?");
    let _ = write!(out, " ({dtype}, device {device}");
    if let Some(q) = &c.quantization {
        let _ = write!(out, ", {q}");
    }
    let _ = writeln!(
        out,
        ", TP {} PP {} DP {})",
        opt(c.tensor_parallel_size),
        opt(c.pipeline_parallel_size),
        opt(c.data_parallel_size)
    );
    let _ = write!(
        out,
        "  limits: max_num_seqs {}, max_num_batched_tokens {}",
        opt(c.max_num_seqs),
        opt(c.max_num_batched_tokens)
    );
    if let Some(tokens) = c.kv_cache_tokens {
        let _ = write!(out, ", KV cache {tokens} tokens");
    }
    if let Some(blocks) = c.num_gpu_blocks {
        let _ = write!(out, " ({blocks} blocks)");
    }
    let _ = writeln!(out);
    let l = &s.lines;
    let _ = writeln!(
        out,
        "  lines: {} read, {} in vLLM's format, {} used, {} unknown{}",
        l.total,
        l.vllm,
        l.recognised,
        l.unknown,
        if l.overlong > 0 {
            format!(", {} cut at 1 MiB", l.overlong)
        } else {
            String::new()
        }
    );
    match &s.gpu {
        Some(g) => {
            let _ = writeln!(
                out,
                "  GPU: {} (from {}): {:.1} TF/s, {:.0} GB/s peak",
                g.name, g.source, g.peak_tflops, g.peak_gbps
            );
        }
        None => out.push_str("  GPU: not named in the log; pass --gpu for MFU % and MBU %\n"),
    }
    out.push('\n');
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| v.to_string())
}

fn engine(out: &mut String, title: &str, e: &EngineSummary, s: &LogSummary) {
    let _ = writeln!(out, "{title}");
    iterations(out, e);
    stats(out, e, s);
    mfu(out, e);
    cudagraph(out, e);
    if e.spec_decode.lines > 0 {
        let sd = &e.spec_decode;
        let _ = writeln!(
            out,
            "  spec decode     {} lines: {} of {} drafted tokens accepted ({:.0}%), mean acceptance length {:.2}",
            sd.lines,
            sd.accepted,
            sd.drafted,
            sd.acceptance_rate.unwrap_or(0.0) * 100.0,
            sd.mean_acceptance_length.unwrap_or(0.0)
        );
    }
    if e.kv_transfer.lines > 0 {
        let keys: Vec<String> = e
            .kv_transfer
            .sums
            .iter()
            .take(4)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "  KV transfer     {} lines; sums: {}",
            e.kv_transfer.lines,
            keys.join(", ")
        );
    }
    out.push('\n');
}

fn iterations(out: &mut String, e: &EngineSummary) {
    let it = &e.iterations;
    if it.count == 0 {
        out.push_str(
            "  iterations      none (start vLLM with --enable-logging-iteration-details)\n",
        );
        return;
    }
    let _ = writeln!(
        out,
        "  iterations      {} steps ({} dummy): {} context tokens in {} context requests, {} generated tokens",
        it.count, it.dummy, it.context_tokens, it.context_requests, it.generation_tokens
    );
    let d = &it.elapsed_ms;
    let _ = writeln!(
        out,
        "  step time ms    mean {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}{}",
        d.mean,
        d.p50,
        d.p90,
        d.p99,
        d.max,
        it.busy_share
            .map(|b| format!("  (busy {:.0}% of wall time)", b * 100.0))
            .unwrap_or_default()
    );
    let kind = |k: &StepShare| format!("{} steps, {:.1}% of time", k.count, k.time_share * 100.0);
    let _ = writeln!(
        out,
        "  prefill/decode  prefill-only {} | decode-only {} | mixed {}",
        kind(&it.prefill_only),
        kind(&it.decode_only),
        kind(&it.mixed)
    );
    let limit = |l: Option<LimitUse>, name: &str| match l {
        Some(l) => format!(
            " = {:.0}% of {name} {}, {:.0}% of steps at it",
            l.mean_utilization * 100.0,
            l.limit,
            l.steps_at_limit_share * 100.0
        ),
        None => format!(" ({name} not in the log)"),
    };
    let _ = writeln!(
        out,
        "  batch           tokens/step mean {:.1}, max {:.0}{}",
        it.tokens_per_step.mean,
        it.tokens_per_step.max,
        limit(it.token_budget, "max_num_batched_tokens")
    );
    let _ = writeln!(
        out,
        "                  requests/step mean {:.1}, max {:.0}{}",
        it.requests_per_step.mean,
        it.requests_per_step.max,
        limit(it.seq_limit, "max_num_seqs")
    );
    let _ = writeln!(
        out,
        "  KV usage        mean {:.1}%, peak {:.1}% (after each step)",
        it.kv_usage_pct.mean, it.kv_usage_pct.max
    );
}

fn stats(out: &mut String, e: &EngineSummary, s: &LogSummary) {
    let st = &e.stats_lines;
    if st.count == 0 {
        out.push_str("  stats lines     none\n");
    } else {
        let _ = writeln!(
            out,
            "  throughput      {} stats lines ({} idle): prompt mean {:.1} tok/s (peak {:.1}), generation mean {:.1} tok/s (peak {:.1})",
            st.count,
            st.idle,
            st.prompt_throughput.mean,
            st.prompt_throughput.max,
            st.generation_throughput.mean,
            st.generation_throughput.max
        );
        let _ = writeln!(
            out,
            "  queue           Waiting > 0 in {:.0}% of lines (mean {:.1}, peak {:.0}); Running mean {:.1}, peak {:.0}; {} KV usage peak {:.1}%{}",
            st.waiting_share * 100.0,
            st.waiting.mean,
            st.waiting.max,
            st.running.mean,
            st.running.max,
            st.device,
            st.kv_usage_pct.max,
            st.prefix_cache_hit_rate_pct
                .map(|r| format!(", prefix cache hit rate {r:.1}%"))
                .unwrap_or_default()
        );
        series(out, e);
    }
    let _ = writeln!(out, "  preemptions     {}", s.preemptions);
}

/// Up to 12 rows of the throughput series.
fn series(out: &mut String, e: &EngineSummary) {
    let points = &e.stats_lines.series;
    if points.len() < 2 {
        return;
    }
    let step = points.len().div_ceil(12);
    out.push_str("  over time       t(s)  prompt tok/s  gen tok/s  running  waiting  KV %\n");
    for p in points.iter().step_by(step) {
        let _ = writeln!(
            out,
            "                  {:>4}  {:>12.1}  {:>9.1}  {:>7.1}  {:>7.1}  {:>4.1}",
            p.t_s,
            p.prompt_throughput,
            p.generation_throughput,
            p.running,
            p.waiting,
            p.kv_usage_pct
        );
    }
}

fn mfu(out: &mut String, e: &EngineSummary) {
    let m = &e.mfu;
    if m.lines == 0 {
        out.push_str("  MFU             no MFU lines (start vLLM with --enable-mfu-metrics)\n");
        return;
    }
    let _ = write!(
        out,
        "  MFU             {} lines: {:.1} TF/s and {:.1} GB/s per GPU (peaks {:.1}, {:.1})",
        m.lines,
        m.tflops_per_gpu.mean,
        m.gbps_per_gpu.mean,
        m.tflops_per_gpu.max,
        m.gbps_per_gpu.max
    );
    if let (Some(mfu), Some(mbu)) = (m.mfu_pct, m.mbu_pct) {
        let _ = write!(out, "; MFU {mfu:.2}%, MBU {mbu:.2}%");
    }
    if let Some(i) = m.arithmetic_intensity {
        let _ = write!(out, "; {i:.0} FLOP/byte");
    }
    if let (Some(bound), Some(ridge)) = (m.bound, m.ridge_point) {
        let _ = write!(out, " against a ridge of {ridge:.0}: {bound}-bound");
    }
    out.push('\n');
    if m.details > 0 {
        let _ = writeln!(
            out,
            "                  {} detail records: {} prefill and {} decode requests",
            m.details, m.details_prefill_reqs, m.details_decode_reqs
        );
    }
}

fn cudagraph(out: &mut String, e: &EngineSummary) {
    let cg = &e.cudagraph;
    if cg.tables == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "  CUDA graphs     {} tables, mode {}, {} capture sizes (max {}); {} steps: FULL {}, PIECEWISE {}, NONE {}; padding efficiency {}",
        cg.tables,
        cg.mode.as_deref().unwrap_or("?"),
        cg.capture_sizes.unwrap_or(0),
        cg.max_capture_size,
        cg.steps,
        cg.steps_full,
        cg.steps_piecewise,
        cg.steps_none,
        cg.padding_efficiency
            .map_or_else(|| "-".to_owned(), |p| format!("{:.1}%", p * 100.0))
    );
}

pub(super) fn findings(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        out.push_str("Findings: nothing stands out.\n\n");
        return;
    }
    out.push_str("Findings\n");
    for (i, f) in findings.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}: {}", i + 1, f.title, f.evidence);
        let _ = writeln!(out, "     -> {}", f.suggestion);
    }
    out.push('\n');
}
