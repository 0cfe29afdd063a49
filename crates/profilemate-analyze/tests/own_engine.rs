//! Our own engine's log lines (`sim serve` writes them with these functions) go through the
//! same parser and come back with the fields they were made from.

use profilemate_model::breakdown::Breakdown;
use profilemate_model::cudagraph::{
    CudaGraphMode, CudaGraphStats, Dispatch, RuntimeMode, log_record,
};
use profilemate_model::logging::{DebugAggregate, mfu_line};
use profilemate_sim::{IterationCounts, IterationLine, StatsLine};

use crate::util::read;

const PREFIX: &str = "(APIServer pid=77) INFO 11-22 17:23:28 [loggers.py:199] ";

fn iteration(index: u64, ctx: u32, generation: u32, ms: f64) -> IterationLine {
    IterationLine {
        engine: 0,
        index,
        counts: IterationCounts {
            num_ctx_requests: u32::from(ctx > 0),
            num_ctx_tokens: ctx,
            num_generation_requests: generation,
            num_generation_tokens: generation,
        },
        elapsed_ms: ms,
        dummy: false,
        device: "GPU".into(),
        kv_cache_usage_pct: 37.5,
    }
}

fn stats(engine: u32, waiting: u32, preemptions: u64) -> StatsLine {
    StatsLine {
        engine,
        prompt_throughput: 1843.2,
        generation_throughput: 612.7,
        running: 24,
        waiting,
        preemptions,
        device: "GPU".into(),
        kv_cache_usage_pct: 71.4,
        prefix_cache_hit_rate_pct: Some(38.9),
        idle: false,
    }
}

#[test]
fn iteration_and_stats_lines_parse_to_their_fields() {
    let lines = [
        iteration(0, 2048, 0, 41.27),
        iteration(1, 0, 30, 12.5),
        iteration(2, 100, 29, 20.25),
    ];
    let mut log = String::new();
    for line in &lines {
        log += &log_record(PREFIX, &line.to_string());
    }
    log += &log_record(PREFIX, &stats(0, 3, 2).to_string());
    // Bare messages (no envelope) are read too.
    log += &format!("{}\n", stats(1, 0, 0));
    let summary = read(log.as_bytes()).summarize(None);
    let e0 = &summary.engines[0];
    assert_eq!(e0.engine, "000");
    let it = &e0.iterations;
    assert_eq!(it.count, 3);
    assert_eq!((it.context_tokens, it.generation_tokens), (2148, 59));
    assert_eq!((it.context_requests, it.generation_requests), (2, 59));
    assert!((it.elapsed_ms_total - (41.27 + 12.5 + 20.25)).abs() < 1e-9);
    assert_eq!(
        (it.prefill_only.count, it.decode_only.count, it.mixed.count),
        (1, 1, 1)
    );
    assert_eq!(it.kv_usage_pct.max, 37.5);
    let st = &e0.stats_lines;
    assert_eq!(st.count, 1);
    assert_eq!(
        (st.prompt_throughput.mean, st.generation_throughput.mean),
        (1843.2, 612.7)
    );
    assert_eq!(
        (st.running.max, st.waiting.max, st.preemptions),
        (24.0, 3.0, 2)
    );
    assert_eq!(
        (st.kv_usage_pct.max, st.prefix_cache_hit_rate_pct),
        (71.4, Some(38.9))
    );
    assert_eq!(st.device, "GPU");
    assert_eq!(summary.engines[1].engine, "001");
    assert_eq!(summary.engines[1].stats_lines.count, 1);
    assert_eq!(summary.total.stats_lines.count, 2, "all engines together");
    assert_eq!(summary.preemptions, 2);
    assert_eq!(summary.lines.unknown, 0);
}

#[test]
fn mfu_cudagraph_and_details_records_parse_to_their_fields() {
    let mfu_prefix = "(APIServer pid=77) INFO 11-22 17:23:38 [perf.py:1725] ";
    let mut log = log_record(
        mfu_prefix,
        &mfu_line(
            "Engine 000: ",
            3_124_000_000_000_000,
            18_750_000_000_000,
            10.0,
        ),
    );
    let mut table = CudaGraphStats::new();
    let stat = |mode, unpadded, padded| Dispatch {
        mode,
        unpadded_tokens: unpadded,
        padded_tokens: padded,
    };
    for _ in 0..120 {
        table.observe(stat(RuntimeMode::Full, 5, 8));
    }
    for _ in 0..7 {
        table.observe(stat(RuntimeMode::Piecewise, 300, 304));
    }
    table.observe(stat(RuntimeMode::None, 2048, 2048));
    log += &log_record(
        "(APIServer pid=77) INFO 11-22 17:23:38 [cuda_graph.py:123] ",
        &table.render(CudaGraphMode::FullAndPiecewise, &[1, 2, 4, 8, 16, 304, 512]),
    );
    let mut details = DebugAggregate {
        prefill_reqs: 41,
        decode_reqs: 2380,
        num_batches: 97,
        ..DebugAggregate::default()
    };
    let mut flops = Breakdown::new();
    flops.add("attn.qkv_proj", 12_300_000_000_000);
    flops.add("ffn.dense_ffn", 40_000_000_000_000);
    details.flops = flops;
    log += &log_record(
        "(APIServer pid=77) DEBUG 11-22 17:23:38 [perf.py:1651] ",
        &format!("Engine 000: MFU details: {}", details.details_json(10.0)),
    );
    let summary = read(log.as_bytes()).summarize(None);
    assert_eq!(
        summary.lines.unknown, 0,
        "every line of every record is used"
    );
    let e = &summary.total;
    assert_eq!(e.mfu.lines, 1);
    assert_eq!(
        (e.mfu.tflops_per_gpu.mean, e.mfu.gbps_per_gpu.mean),
        (312.4, 1875.0)
    );
    let cg = &e.cudagraph;
    assert_eq!(cg.tables, 1);
    assert_eq!(cg.mode.as_deref(), Some("FULL_AND_PIECEWISE"));
    assert_eq!((cg.capture_sizes, cg.max_capture_size), (Some(7), 512));
    assert_eq!(
        (cg.steps_full, cg.steps_piecewise, cg.steps_none),
        (120, 7, 1)
    );
    let unpadded = 5 * 120 + 300 * 7 + 2048;
    let padded = 8 * 120 + 304 * 7 + 2048;
    assert_eq!(cg.padding_efficiency, Some(unpadded as f64 / padded as f64));
    assert_eq!(e.mfu.details, 1);
    assert_eq!(
        (e.mfu.details_prefill_reqs, e.mfu.details_decode_reqs),
        (41, 2380)
    );
    assert_eq!(
        e.mfu.details_tflops_by_component,
        [("attn".to_owned(), 12.3), ("ffn".to_owned(), 40.0)]
    );
}
