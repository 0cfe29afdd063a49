//! `sim run`'s library half: a workload sent to the simulated engine in virtual time must give
//! the engine's own timings as bench records, and the report vLLM's JSON keys.

use std::time::Duration;

use profilemate_bench::ClientRequestRecord;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::config::{PercentileMetric, WorkloadConfig};
use profilemate_bench::event::EventSink;
use profilemate_bench::metrics::Goodput;
use profilemate_bench::output::ResultJson;
use profilemate_bench::report::TaskMetrics;
use profilemate_bench::run::build_workload;
use profilemate_bench::schedule::Arrivals;
use profilemate_bench::workload::{ClientPrompt, DatasetSpec, RangeRatio};
use profilemate_bench::{ErrorKind, Report};
use profilemate_plan::virtual_run::{
    ClientDetail, FrontEnd, Through, VirtualRun, run_virtual, run_virtual_through,
};
use profilemate_sim::{
    AffineStepTimer, ConstantStepTimer, EngineConfig, Request, Simulation, StepTimer,
};

use proptest::prelude::*;

use crate::util::{config, fixture, random};

/// A synchronous engine whose every step takes 10 ms.
fn ten_ms_engine() -> (EngineConfig, ConstantStepTimer) {
    let engine = EngineConfig {
        async_scheduling: false,
        ..Default::default()
    };
    (engine, ConstantStepTimer(Duration::from_millis(10)))
}

/// `n` random-dataset requests (8 prompt and 4 output tokens) at `rate` req/s, Poisson.
fn poisson(n: usize, rate: f64) -> WorkloadConfig {
    WorkloadConfig {
        arrivals: Arrivals::Rate {
            request_rate: rate,
            burstiness: 1.0,
            ramp_up: None,
        },
        ..config(n)
    }
}

/// 3 ms per step, 40 µs per token and 1 µs per token of context.
fn affine_timer() -> AffineStepTimer {
    AffineStepTimer {
        fixed: Duration::from_millis(3),
        per_token: Duration::from_micros(40),
        per_context_token: Duration::from_micros(1),
    }
}

fn run(config: &WorkloadConfig, engine: EngineConfig, timer: impl StepTimer) -> Report {
    let VirtualRun { report, .. } = run_virtual(config, engine, timer, "tiny").unwrap();
    report
}

#[test]
fn constant_steps_give_exact_ttft_itl_and_latency() {
    // Two 8-token prompts at t = 0 prefill together in step 0 (0–10 ms), then decode one
    // token per 10 ms step: tokens at 10, 20, 30, 40 ms.
    let (engine, timer) = ten_ms_engine();
    let report = run(&config(2), engine, timer);
    assert_eq!(report.records.len(), 2);
    for r in &report.records {
        assert!(r.success, "{r:?}");
        assert_eq!((r.prompt_len, r.output_tokens), (8, 4));
        assert_eq!((r.ttft, r.latency), (0.01, 0.04));
        assert_eq!(r.itl, vec![0.01; 3]);
        assert_eq!(r.chunk_tokens, vec![1; 4]);
        assert_eq!((r.start_time, r.client_queue_time), (0.0, 0.0));
    }
    assert_eq!(report.duration, 0.04);
    assert_eq!(report.not_sent, 0);
    // The engine's counters: 2 × 8 prompt tokens, 2 × 4 output tokens, no full block to cache.
    let server = report.server.unwrap();
    assert_eq!(
        (server.prompt_tokens, server.generation_tokens),
        (16.0, 8.0)
    );
    assert_eq!(server.preemptions, 0.0);
    assert_eq!(server.prefix_cache_hit_rate, Some(0.0));
}

#[test]
fn max_concurrency_sends_each_request_when_a_slot_frees() {
    // One slot: request i starts when request i-1 finishes, at 40 ms × i.
    let (engine, timer) = ten_ms_engine();
    let mut c = config(3);
    c.max_concurrency = Some(1);
    let report = run(&c, engine, timer);
    let starts: Vec<f64> = report.records.iter().map(|r| r.start_time).collect();
    assert_eq!(starts, vec![0.0, 0.04, 0.08]);
    let queued: Vec<f64> = report.records.iter().map(|r| r.client_queue_time).collect();
    assert_eq!(queued, starts, "all were due at t = 0");
    assert!(
        report
            .records
            .iter()
            .all(|r| r.ttft == 0.01 && r.latency == 0.04)
    );
    assert_eq!(report.duration, 0.12);
}

#[test]
fn one_slot_with_async_scheduling_runs_each_request_alone_right_after_the_last() {
    // Alone on an idle engine every request is timed the same, and the client sends the next
    // one the moment the previous one finishes.
    let engine = EngineConfig {
        cpu_overhead_per_step: Duration::from_micros(300),
        ..Default::default()
    };
    let timer = affine_timer();
    let mut c = config(5);
    c.max_concurrency = Some(1);
    let report = run(&c, engine, timer);
    let first = &report.records[0];
    for pair in report.records.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        assert_eq!(next.start_time, prev.start_time + prev.latency);
        assert_eq!((next.ttft, &next.itl), (first.ttft, &first.itl));
    }
}

#[test]
fn unlimited_concurrency_reproduces_the_engine_run_exactly() {
    // Poisson arrivals, async scheduling, an affine timer: every client figure must equal the
    // engine's own token times for the same requests added up front.
    let c = poisson(60, 40.0);
    let engine = EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 64,
        cpu_overhead_per_step: Duration::from_micros(300),
        ..Default::default()
    };
    let (got, want) = client_and_engine(&c, engine);
    assert_eq!(got.len(), 60);
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "request {i}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the arrivals and engine limits, driving the engine from the virtual client
    /// (send by send) gives exactly the run of the same requests added up front.
    #[test]
    fn the_virtual_client_never_changes_the_engine_run(
        seed in 0u64..10_000,
        rate in prop::sample::select(vec![2.0, 40.0, 400.0, f64::INFINITY]),
        async_scheduling: bool,
        max_num_seqs in 1u32..12,
        num_gpu_blocks in 5u32..40,
    ) {
        // 14-token prompts growing by 20 tokens into a small cache: queueing and preemption.
        let dataset = DatasetSpec::Random {
            input_len: 14,
            output_len: 20,
            range_ratio: RangeRatio::default(),
            prefix_len: 0,
            batch_size: 1,
        };
        let c = WorkloadConfig { seed, dataset, ..poisson(25, rate) };
        let engine = EngineConfig {
            max_num_seqs,
            max_num_batched_tokens: 32,
            num_gpu_blocks,
            max_model_len: 64,
            async_scheduling,
            ..Default::default()
        };
        let (got, want) = client_and_engine(&c, engine);
        prop_assert_eq!(got, want);
    }
}

/// TTFT, ITLs, latency and start of each request: as the virtual client measured them, and
/// from the engine's own token times with the requests added up front.
type Timings = Vec<(f64, Vec<f64>, f64, f64)>;

fn client_and_engine(c: &WorkloadConfig, engine: EngineConfig) -> (Timings, Timings) {
    let timing = |r: &ClientRequestRecord| (r.ttft, r.itl.clone(), r.latency, r.start_time);
    let report = run(c, engine.clone(), affine_timer());
    let got = report.records.iter().map(timing).collect();
    let want = engine_records(c, engine, affine_timer())
        .iter()
        .map(timing)
        .collect();
    (got, want)
}

/// The records `c`'s workload gets from the engine run on its own, token times kept.
fn engine_records(
    c: &WorkloadConfig,
    engine: EngineConfig,
    timer: AffineStepTimer,
) -> Vec<ClientRequestRecord> {
    let workload = build_workload(c, "bench-", None).unwrap();
    let mut sim = Simulation::new(engine, timer).unwrap();
    for s in workload.schedule().unwrap() {
        let ClientPrompt::TokenIds(ids) = &workload.requests[s.index].prompt else {
            panic!("completions backends send token ids");
        };
        let max_tokens = workload.requests[s.index].expected_output_len as u32;
        sim.add_request(Request::from_tokens(s.send_at, ids.clone(), max_tokens))
            .unwrap();
    }
    sim.run(&mut ());
    let secs = |d: Duration| d.as_secs_f64();
    sim.records()
        .iter()
        .map(|r| {
            let mut chunks = r.token_times.clone();
            chunks.dedup();
            ClientRequestRecord {
                ttft: secs(chunks[0] - r.arrival),
                itl: chunks.windows(2).map(|w| secs(w[1] - w[0])).collect(),
                latency: secs(chunks[chunks.len() - 1] - r.arrival),
                start_time: secs(r.arrival),
                ..Default::default()
            }
        })
        .collect()
}

#[test]
fn prompts_too_long_for_the_engine_fail_with_vllms_400() {
    let (mut engine, timer) = ten_ms_engine();
    engine.max_model_len = 6;
    let report = run(&config(2), engine, timer);
    assert!(report.all_failed());
    let r = &report.records[0];
    assert_eq!(r.error_kind, Some(ErrorKind::HttpStatus(400)));
    assert!(
        r.error.starts_with(
            "The decoder prompt (length 8) is longer than the maximum model length of 6."
        ),
        "{}",
        r.error
    );
}

#[test]
fn duration_stops_sending_at_the_window() {
    let (engine, timer) = ten_ms_engine();
    let mut c = poisson(20, 10.0);
    c.duration = Some(Duration::from_millis(500));
    let schedule = build_workload(&c, "bench-", None)
        .unwrap()
        .schedule()
        .unwrap();
    let due = schedule
        .iter()
        .filter(|s| s.send_at < Duration::from_millis(500))
        .count();
    let report = run(&c, engine, timer);
    assert_eq!((report.records.len(), report.not_sent), (due, 20 - due));
    assert!(due > 0 && due < 20);
}

#[test]
fn the_result_json_has_exactly_vllms_keys() {
    // run1/bench-1's flags: rate 4, ttft,tpot,itl,e2el at 50,90,99, goodput, --save-detailed.
    let (engine, timer) = ten_ms_engine();
    let mut c = poisson(40, 4.0);
    c.percentile_metrics = Some(PercentileMetric::ALL[..4].to_vec());
    c.percentiles = vec![50.0, 90.0, 99.0];
    c.goodput = Goodput::parse(&["ttft:500", "tpot:50"]).unwrap();
    let report = run(&c, engine, timer);
    let json = ResultJson::new(&report, true);
    let mut ours: Vec<&str> = json.vllm.0.iter().map(|(k, _)| k.as_str()).collect();
    let text = std::fs::read_to_string(fixture("run1/bench-1.json")).unwrap();
    let vllm: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut want: Vec<&str> = vllm
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    ours.sort_unstable();
    want.sort_unstable();
    assert_eq!(ours, want);
    // Every step takes 10 ms and no request is ever preempted: every ITL is one step.
    assert_eq!(
        json.vllm.get("median_itl_ms"),
        Some(&serde_json::json!(10.0))
    );
    assert_eq!(json.vllm.get("completed"), Some(&serde_json::json!(40)));
}

/// Six chat (text) prompts of `prefix_len` shared words then 64 random ones, one at a time
/// (each sent when the previous finished).
fn shared_prefix_chat(prefix_len: u64) -> WorkloadConfig {
    WorkloadConfig {
        backend: profilemate_bench::config::Backend::OpenaiChat,
        dataset: random(64, prefix_len),
        max_concurrency: Some(1),
        ..config(6)
    }
}

#[test]
fn text_prompts_are_tokenized_as_the_server_does_so_shared_prefixes_hit_the_cache() {
    let samples = build_workload(&shared_prefix_chat(48), "bench-", None)
        .unwrap()
        .requests;
    assert!(
        samples
            .iter()
            .all(|s| matches!(s.prompt, ClientPrompt::Text(_))),
        "chat prompts are text"
    );
    let (engine, timer) = ten_ms_engine();
    let hit_rate = |prefix_len| {
        let report = run(&shared_prefix_chat(prefix_len), engine.clone(), timer);
        assert!(report.records.iter().all(|r| r.success));
        report.server.unwrap().prefix_cache_hit_rate.unwrap()
    };
    // 48 shared words = 3 full blocks of 16: each request after the first finds them in its
    // 48 + 64 tokens (before, text prompts went in by length only and never hit).
    assert_eq!(hit_rate(48), (5.0 * 48.0) / (6.0 * 112.0));
    assert_eq!(hit_rate(0), 0.0);
}

/// A search's lean client (first and last token times only) measures every figure it keeps
/// exactly as the full client does, on a loaded engine with chunked prefills and varied
/// lengths; the per-chunk figures are the only ones it leaves out.
#[test]
fn first_and_last_token_times_give_the_same_ttft_tpot_e2el_and_throughput() {
    let mut c = poisson(300, 40.0);
    c.dataset = DatasetSpec::Random {
        input_len: 300,
        output_len: 24,
        range_ratio: RangeRatio {
            input: 0.5,
            output: 0.5,
        },
        prefix_len: 0,
        batch_size: 1,
    };
    let engine = EngineConfig {
        max_num_seqs: 16,
        max_num_batched_tokens: 256,
        ..Default::default()
    };
    let run = |detail: ClientDetail| {
        let through = Through {
            engine: engine.clone(),
            timer: affine_timer(),
            front_end: FrontEnd::default(),
            detail,
        };
        let cancel = CancelToken::never();
        let events = EventSink::discard();
        run_virtual_through(&c, through, "tiny", &events, &cancel, &mut ()).unwrap()
    };
    let (full, lean) = (run(ClientDetail::Chunks), run(ClientDetail::FirstAndLast));
    let (TaskMetrics::Generation(f), TaskMetrics::Generation(l)) =
        (&full.report.metrics, &lean.report.metrics)
    else {
        panic!("generation metrics");
    };
    assert_eq!(f.completed, 300);
    assert_eq!(
        (f.ttft.clone(), f.tpot.clone(), f.e2el.clone()),
        (l.ttft.clone(), l.tpot.clone(), l.e2el.clone())
    );
    assert_eq!(
        (
            f.request_throughput,
            f.output_throughput,
            f.total_input,
            f.total_output
        ),
        (
            l.request_throughput,
            l.output_throughput,
            l.total_input,
            l.total_output
        )
    );
    assert_eq!(full.report.duration, lean.report.duration);
    assert!(
        f.itl.mean_ms > 0.0 && l.itl.mean_ms == 0.0,
        "ITL is not measured"
    );
    assert!(ClientDetail::FirstAndLast.unmeasured("p99_itl_ms"));
    assert!(!ClientDetail::FirstAndLast.unmeasured("p99_tpot_ms"));
    assert!(!ClientDetail::Chunks.unmeasured("p99_itl_ms"));
}
