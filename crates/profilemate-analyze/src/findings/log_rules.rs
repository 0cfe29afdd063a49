//! The rules only a log can feed: per-step shares, step-time spikes, token budget, CUDA graphs,
//! idle intervals, missing iteration details.

use super::{finding, pct};
use crate::Finding;
use crate::summary::{EngineSummary, LogSummary};

/// The log-only rules, each reading the summary and its all-engines total.
pub(super) const RULES: [fn(&LogSummary, &EngineSummary) -> Option<Finding>; 7] = [
    nothing_to_analyse,
    decode_bound,
    prefill_heavy,
    iteration_spikes,
    token_budget,
    cudagraph,
    idle,
];

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
