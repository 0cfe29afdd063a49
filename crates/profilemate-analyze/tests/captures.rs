//! The real vLLM 0.32 captures: the report's counts equal a direct count of the log.

use crate::util::{NaiveCount, capture, naive_count, read};

fn report_counts(run: &str) -> (NaiveCount, profilemate_analyze::LogSummary) {
    let bytes = capture(run);
    let summary = read(&bytes).summarize(None);
    let t = &summary.total;
    let counts = NaiveCount {
        iterations: t.iterations.count,
        context_tokens: t.iterations.context_tokens,
        generation_tokens: t.iterations.generation_tokens,
        stats_lines: t.stats_lines.count,
        mfu_lines: t.mfu.lines,
        preemptions: summary.preemptions,
    };
    (counts, summary)
}

#[test]
fn run2_sched_counts_equal_a_direct_count() {
    let (counts, summary) = report_counts("run2-sched");
    let direct = naive_count(&String::from_utf8(capture("run2-sched")).unwrap());
    assert_eq!(counts, direct);
    assert_eq!(
        counts.iterations, 125,
        "the capture's README: 125 Iteration lines"
    );
    assert_eq!((counts.stats_lines, counts.mfu_lines), (2, 2));
    // 24 prompts of 300 tokens, 40 output tokens each (the first comes from the prefill step).
    assert_eq!(counts.context_tokens, 24 * 300);
    let c = &summary.config;
    assert_eq!(
        (c.max_num_seqs, c.max_num_batched_tokens),
        (Some(8), Some(512))
    );
    assert_eq!(
        (c.num_gpu_blocks, c.kv_cache_tokens),
        (Some(128), Some(16_384))
    );
    assert_eq!(c.enable_prefix_caching, Some(false));
    let it = &summary.total.iterations;
    assert_eq!(
        it.tokens_per_step.max, 512.0,
        "chunked prefill fills the budget"
    );
    assert_eq!(it.requests_per_step.max, 8.0);
    assert_eq!(
        it.prefill_only.count + it.decode_only.count + it.mixed.count,
        125
    );
    assert_eq!(summary.total.stats_lines.waiting.max, 8.0);
    assert!(summary.findings.iter().any(|f| f.id == "queue"));
}

#[test]
fn run1_counts_equal_a_direct_count_and_cudagraph_steps_match() {
    let (counts, summary) = report_counts("run1");
    let direct = naive_count(&String::from_utf8(capture("run1")).unwrap());
    assert_eq!(counts, direct);
    assert_eq!(
        (counts.iterations, counts.stats_lines, counts.mfu_lines),
        (759, 4, 4)
    );
    let cg = &summary.total.cudagraph;
    assert_eq!(cg.tables, 4);
    assert_eq!(cg.mode.as_deref(), Some("NONE"));
    // Every step of the run is in one CUDA-graph table, eager and unpadded on CPU.
    assert_eq!((cg.steps, cg.steps_none), (759, 759));
    assert_eq!(cg.padding_efficiency, Some(1.0));
    assert_eq!(summary.engines.len(), 1);
    assert_eq!(
        summary.total.stats_lines.prefix_cache_hit_rate_pct,
        Some(0.0)
    );
    assert_eq!(summary.config.model.as_deref(), Some("./tiny-llama"));
    assert_eq!(summary.config.device.as_deref(), Some("cpu"));
}

#[test]
fn percentiles_and_splits_come_from_the_lines() {
    let text = String::from_utf8(capture("run2-sched")).unwrap();
    let mut elapsed: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split_once("iteration elapsed time: "))
        .map(|(_, t)| t.split(' ').next().unwrap().parse().unwrap())
        .collect();
    elapsed.sort_by(f64::total_cmp);
    let summary = read(text.as_bytes()).summarize(None);
    let d = &summary.total.iterations.elapsed_ms;
    let mean = elapsed.iter().sum::<f64>() / elapsed.len() as f64;
    assert!((d.mean - mean).abs() < 1e-3, "{} vs {mean}", d.mean);
    assert!((d.max - elapsed[elapsed.len() - 1]).abs() < 1e-3);
    // numpy's linear p50 of 125 values is the 63rd.
    assert!((d.p50 - elapsed[62]).abs() < 1e-3);
}

#[test]
fn json_has_the_documented_keys() {
    let summary = read(&capture("run1")).summarize(Some((
        &profilemate_model::hardware::preset("h100").unwrap(),
        "--gpu",
    )));
    let json = serde_json::to_value(&summary).unwrap();
    for path in [
        "/iterations/count",
        "/iterations/context_tokens",
        "/iterations/generation_tokens",
        "/iterations/elapsed_ms/mean",
        "/iterations/elapsed_ms/p50",
        "/iterations/elapsed_ms/p99",
        "/stats_lines/count",
        "/mfu/tflops_per_gpu/mean",
        "/mfu/gbps_per_gpu/mean",
        "/mfu/mbu_pct",
        "/preemptions",
        "/findings",
    ] {
        assert!(json.pointer(path).is_some(), "{path} missing");
    }
    assert_eq!(json.pointer("/iterations/count").unwrap(), 759);
    assert_eq!(json.pointer("/gpu/name").unwrap(), "h100-sxm");
}
