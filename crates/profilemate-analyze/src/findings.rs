//! Provides [`findings`]: a short ranked list of what limits the deployment, in plain words,
//! each with the evidence read from the log and a change to try.
//!
//! The rules and their thresholds are heuristics of ours (not vLLM's); each finding carries a
//! score in 0-1 and the list is sorted by it.

use serde::Serialize;

use crate::summary::{EngineSummary, LogSummary};

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// A stable identifier (`decode-bound`, `queue`, …).
    pub id: &'static str,
    /// Rank score, 0-1 (higher first).
    pub score: f64,
    /// What it is, in a few words.
    pub title: String,
    /// The figures behind it.
    pub evidence: String,
    /// What to change.
    pub suggestion: String,
}

/// At most this many findings are reported.
const MAX_FINDINGS: usize = 8;

/// The findings for a summary, most important first.
pub fn findings(summary: &LogSummary) -> Vec<Finding> {
    let s = &summary.total;
    let mut out = Vec::new();
    let rules: [fn(&LogSummary, &EngineSummary) -> Option<Finding>; 11] = [
        nothing_to_analyse,
        decode_bound,
        prefill_heavy,
        iteration_spikes,
        queue_pressure,
        kv_pressure,
        token_budget,
        cudagraph,
        low_utilization,
        spec_decode,
        idle,
    ];
    for rule in rules {
        out.extend(rule(summary, s));
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(MAX_FINDINGS);
    out
}

fn finding(id: &'static str, score: f64, title: &str, evidence: String, fix: &str) -> Finding {
    Finding {
        id,
        score: score.clamp(0.0, 1.0),
        title: title.to_owned(),
        evidence,
        suggestion: fix.to_owned(),
    }
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn nothing_to_analyse(_: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    if s.iterations.count > 0 {
        return None;
    }
    let evidence = if s.stats_lines.count > 0 {
        format!(
            "{} stats lines but no Iteration(N) lines: no per-step figures",
            s.stats_lines.count
        )
    } else {
        "no Iteration(N) or periodic stats lines in the log".to_owned()
    };
    Some(finding(
        "no-iteration-details",
        if s.stats_lines.count > 0 { 0.15 } else { 1.0 },
        "per-step details missing",
        evidence,
        "start vLLM with --enable-logging-iteration-details (and --enable-mfu-metrics, \
         --cudagraph-metrics) so the log says where the time goes",
    ))
}

fn decode_bound(summary: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let it = &s.iterations;
    let share = it.decode_only.time_share;
    if it.count < 10 || share < 0.5 {
        return None;
    }
    let mean_reqs = it.requests_per_step.mean;
    let mut evidence = format!(
        "{} of iteration time in decode-only steps ({} steps, {:.1} requests per step",
        pct(share),
        it.decode_only.count,
        mean_reqs
    );
    if let Some(limit) = it.seq_limit {
        evidence += &format!(" against max_num_seqs {}", limit.limit);
    }
    evidence.push(')');
    if let Some(mbu) = s.mfu.mbu_pct {
        evidence += &format!(" at MBU {mbu:.0}%");
    }
    let fix = match it.seq_limit {
        Some(limit) if limit.steps_at_limit_share >= 0.5 => {
            "decode batches are full: raise max_num_seqs, or use an fp8 KV cache \
             (--kv-cache-dtype fp8) to fit more sequences"
        }
        _ if s.stats_lines.waiting_share < 0.05 => {
            "decode batches are small and nothing waits: the offered load limits batching; \
             send more concurrent requests (a decode step costs about the same for more sequences)"
        }
        _ => "raise max_num_seqs or use an fp8 KV cache (--kv-cache-dtype fp8)",
    };
    let _ = summary;
    Some(finding(
        "decode-bound",
        share,
        "decode-bound",
        evidence,
        fix,
    ))
}

fn prefill_heavy(summary: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let it = &s.iterations;
    let share = it.prefill_only.time_share + it.mixed.time_share;
    if it.count < 10 || share < 0.5 {
        return None;
    }
    let evidence = format!(
        "{} of iteration time in steps that compute prompt tokens ({} context vs {} generated tokens)",
        pct(share),
        it.context_tokens,
        it.generation_tokens
    );
    let fix = if summary.config.enable_prefix_caching == Some(false) {
        "prefix caching is off: enable it if prompts share prefixes; lower \
         max_num_batched_tokens if decodes stall behind long prompts"
    } else {
        "shorten or share prompt prefixes (prefix caching); lower max_num_batched_tokens if \
         decodes stall behind long prompts; consider prefill/decode disaggregation"
    };
    Some(finding(
        "prefill-heavy",
        share * 0.9,
        "prefill-heavy",
        evidence,
        fix,
    ))
}

fn iteration_spikes(_: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let d = &s.iterations.elapsed_ms;
    if s.iterations.count < 20 || d.p50 <= 0.0 || d.p99 < 5.0 * d.p50 {
        return None;
    }
    Some(finding(
        "iteration-spikes",
        0.6,
        "iteration-time spikes",
        format!(
            "p99 step {:.1} ms against p50 {:.1} ms ({:.0}×); the slow steps are the ones with \
             prompt tokens ({} prefill or mixed steps)",
            d.p99,
            d.p50,
            d.p99 / d.p50,
            s.iterations.prefill_only.count + s.iterations.mixed.count
        ),
        "every decoding request waits for those steps: lower max_num_batched_tokens (smaller \
         prefill chunks) to even out inter-token latency",
    ))
}

fn queue_pressure(summary: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let st = &s.stats_lines;
    if st.count == 0 || st.waiting_share < 0.2 || st.waiting.max == 0.0 {
        return None;
    }
    let evidence = format!(
        "Waiting > 0 in {} of stats intervals (mean {:.1}, peak {:.0}) with Running peaking at {:.0}",
        pct(st.waiting_share),
        st.waiting.mean,
        st.waiting.max,
        st.running.max
    );
    let seq_full = summary
        .config
        .max_num_seqs
        .is_some_and(|n| st.running.max >= n as f64);
    let fix = if seq_full {
        "the max_num_seqs limit is reached: raise max_num_seqs if the KV cache allows, or add replicas"
    } else if st.kv_usage_pct.max >= 90.0 {
        "the KV cache is full: fp8 KV cache, higher --gpu-memory-utilization, or more GPUs"
    } else {
        "the server cannot keep up with the arrival rate: add capacity (replicas) or lower the rate"
    };
    Some(finding(
        "queue",
        0.5 + 0.45 * st.waiting_share,
        "requests queue",
        evidence,
        fix,
    ))
}

fn kv_pressure(summary: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let peak = s
        .stats_lines
        .kv_usage_pct
        .max
        .max(s.iterations.kv_usage_pct.max);
    let preemptions = summary.preemptions;
    if preemptions == 0 && peak < 90.0 {
        return None;
    }
    let mut evidence = format!("KV cache usage peaked at {peak:.1}%");
    if preemptions > 0 {
        evidence += &format!(", {preemptions} preemptions");
        if s.iterations.count > 0 {
            evidence += &format!(
                " ({:.1} per 1000 steps)",
                preemptions as f64 * 1000.0 / s.iterations.count as f64
            );
        }
    }
    Some(finding(
        "kv-pressure",
        if preemptions > 0 { 0.95 } else { 0.55 },
        if preemptions > 0 {
            "preemptions: the KV cache runs out"
        } else {
            "KV cache nearly full"
        },
        evidence,
        "use --kv-cache-dtype fp8, raise --gpu-memory-utilization, lower max_num_seqs or \
         max_model_len, or add tensor parallelism for more KV memory",
    ))
}

fn token_budget(_: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let budget = s.iterations.token_budget?;
    if budget.steps_at_limit_share < 0.3 {
        return None;
    }
    Some(finding(
        "token-budget",
        0.5 + 0.3 * budget.steps_at_limit_share,
        "token budget saturated",
        format!(
            "{} of steps schedule ≥ 95% of max_num_batched_tokens {} (mean use {})",
            pct(budget.steps_at_limit_share),
            budget.limit,
            pct(budget.mean_utilization)
        ),
        "raise max_num_batched_tokens for more prefill per step (better TTFT under load, at \
         some cost in inter-token latency)",
    ))
}

fn cudagraph(_: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let cg = &s.cudagraph;
    if cg.tables == 0 || cg.steps == 0 {
        return None;
    }
    let eager = cg.steps_none as f64 / cg.steps as f64;
    if cg.mode.as_deref() == Some("NONE") {
        return Some(finding(
            "cudagraph-off",
            0.2,
            "CUDA graphs off",
            format!(
                "mode NONE: all {} steps in the tables ran eagerly",
                cg.steps
            ),
            "expected on the CPU backend; on a GPU drop --enforce-eager and keep the default \
             FULL_AND_PIECEWISE mode",
        ));
    }
    if let Some(eff) = cg.padding_efficiency.filter(|e| *e < 0.9) {
        return Some(finding(
            "cudagraph-padding",
            0.4 + (1.0 - eff),
            "CUDA-graph padding waste",
            format!(
                "padding efficiency {} over {} steps: {} of computed tokens are padding",
                pct(eff),
                cg.steps,
                pct(1.0 - eff)
            ),
            "add capture sizes near the common batch sizes (cudagraph_capture_sizes)",
        ));
    }
    (eager >= 0.2).then(|| {
        finding(
            "cudagraph-eager",
            0.5,
            "steps run without CUDA graphs",
            format!(
                "{} of steps ran eager (mode NONE), above the largest capture size {}",
                pct(eager),
                cg.max_capture_size
            ),
            "raise max_cudagraph_capture_size to cover the large batches",
        )
    })
}

fn low_utilization(_: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let (mfu, mbu) = (s.mfu.mfu_pct?, s.mfu.mbu_pct?);
    if mfu >= 5.0 || mbu >= 20.0 {
        return None;
    }
    Some(finding(
        "low-utilization",
        0.45,
        "hardware underused",
        format!(
            "MFU {mfu:.1}%, MBU {mbu:.1}% ({:.1} TF/s, {:.0} GB/s per GPU){}",
            s.mfu.tflops_per_gpu.mean,
            s.mfu.gbps_per_gpu.mean,
            s.mfu
                .bound
                .map(|b| format!(", {b}-bound"))
                .unwrap_or_default()
        ),
        "batch more: more concurrent requests or a higher max_num_seqs; fewer GPUs per replica \
         if the model fits",
    ))
}

fn spec_decode(_: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let rate = s.spec_decode.acceptance_rate.filter(|r| *r < 0.5)?;
    Some(finding(
        "spec-decode",
        0.5,
        "speculative drafts mostly rejected",
        format!(
            "{} of {} drafted tokens accepted (mean acceptance length {:.2})",
            pct(rate),
            s.spec_decode.drafted,
            s.spec_decode.mean_acceptance_length.unwrap_or(0.0)
        ),
        "lower num_speculative_tokens or use a draft model closer to the target",
    ))
}

fn idle(_: &LogSummary, s: &EngineSummary) -> Option<Finding> {
    let st = &s.stats_lines;
    let share = st.idle as f64 / st.count.max(1) as f64;
    if st.count < 3 || share < 0.5 {
        return None;
    }
    Some(finding(
        "idle",
        0.3,
        "mostly idle",
        format!(
            "{} of {} stats intervals had no throughput",
            st.idle, st.count
        ),
        "the offered load is light: measure under the load you care about",
    ))
}
