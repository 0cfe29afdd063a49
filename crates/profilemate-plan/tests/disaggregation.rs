//! Prefill/decode disaggregation: a prefill pool and a decode pool with a KV link between
//! them, against the colocated data-parallel deployment of the same GPUs.

use std::time::Duration;

use profilemate_bench::Report;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::event::EventSink;
use profilemate_bench::schedule::Arrivals;
use profilemate_bench::workload::{DatasetSpec, MultiTurnSpec, RangeRatio};
use profilemate_plan::PlanError;
use profilemate_plan::virtual_run::{
    Disaggregation, FrontEnd, PoolEngine, Through, VirtualRun, run_data_parallel_with_events,
    run_disaggregated_with_events,
};
use profilemate_sim::{AffineStepTimer, EngineConfig, KvLink};

use crate::util::config;

/// 2 ms per step, 50 µs per scheduled token, 50 ns per context token: a prefill chunk makes
/// a step long, as on a GPU.
fn timer() -> AffineStepTimer {
    AffineStepTimer {
        fixed: Duration::from_millis(2),
        per_token: Duration::from_micros(50),
        per_context_token: Duration::from_nanos(50),
    }
}

fn engine() -> EngineConfig {
    EngineConfig {
        max_num_seqs: 64,
        max_num_batched_tokens: 2048,
        num_gpu_blocks: 4096,
        max_model_len: 8192,
        enable_prefix_caching: false,
        ..Default::default()
    }
}

/// 100 kB per token at `gbps` Gbit/s, 1 ms per pull.
fn link(gbps: u64) -> KvLink {
    KvLink {
        bytes_per_token: 100_000,
        bytes_per_second: gbps * 1_000_000_000 / 8,
        latency: Duration::from_millis(1),
    }
}

/// `n` random requests of `input` prompt and `output` output tokens at `rate` per second
/// (all at once when `None`).
fn workload(n: usize, input: u64, output: u64, rate: Option<f64>) -> WorkloadConfig {
    let mut w = config(n);
    w.dataset = DatasetSpec::Random {
        input_len: input,
        output_len: output,
        range_ratio: RangeRatio::default(),
        prefix_len: 0,
        batch_size: 1,
    };
    if let Some(rate) = rate {
        w.arrivals = Arrivals::Rate {
            request_rate: rate,
            burstiness: 1.0,
            ramp_up: None,
        };
    }
    w
}

fn pd_run(w: &WorkloadConfig, prefill: usize, decode: usize, link: KvLink) -> Report {
    try_pd_run(w, prefill, decode, link).unwrap().report
}

fn try_pd_run(
    w: &WorkloadConfig,
    prefill: usize,
    decode: usize,
    link: KvLink,
) -> Result<VirtualRun, PlanError> {
    let pool = || PoolEngine {
        config: engine(),
        timer: timer(),
    };
    let pd = Disaggregation {
        prefill_instances: prefill,
        decode_instances: decode,
        link,
    };
    run_disaggregated_with_events(
        w,
        pool(),
        pool(),
        &pd,
        "tiny",
        &EventSink::discard(),
        &CancelToken::never(),
        &mut (),
    )
}

fn dp_run(w: &WorkloadConfig, dp: usize) -> Report {
    let through = Through {
        engine: engine(),
        timer: timer(),
        front_end: FrontEnd::default(),
        detail: Default::default(),
    };
    run_data_parallel_with_events(
        w,
        through,
        dp,
        "tiny",
        &EventSink::discard(),
        &CancelToken::never(),
        &mut (),
    )
    .unwrap()
    .report
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn mean_ttft(r: &Report) -> f64 {
    mean(r.records.iter().map(|r| r.ttft))
}

/// Mean time per output token after the first, per request.
fn mean_tpot(r: &Report) -> f64 {
    mean(
        r.records
            .iter()
            .map(|r| (r.latency - r.ttft) / (r.output_tokens - 1) as f64),
    )
}

fn throughput(r: &Report) -> f64 {
    r.records.iter().filter(|r| r.success).count() as f64 / r.duration
}

#[test]
fn one_request_waits_exactly_its_transfer() {
    // 1000 prompt tokens = 100 MB: 8 ms at 100 Gb/s, 80 ms at 10 Gb/s, + 1 ms latency.
    let w = workload(1, 1000, 4, None);
    let fast = pd_run(&w, 1, 1, link(100));
    let slow = pd_run(&w, 1, 1, link(10));
    assert_eq!(fast.records.len(), 1);
    assert!(fast.records[0].success && slow.records[0].success);
    assert_eq!(fast.records[0].output_tokens, 4);
    let extra = slow.records[0].ttft - fast.records[0].ttft;
    assert!((extra - 0.072).abs() < 1e-6, "10 Gb/s costs {extra} s more");
    // TTFT = prefill step + pull + the decode instance's step recomputing the last prompt
    // token, each step over 1000 context tokens (50 µs): 2 + 50 + 0.05 ms, 8 + 1 ms,
    // 2 + 0.05 + 0.05 ms.
    let prefill_step = 0.002 + 1000.0 * 50e-6 + 50e-6;
    let decode_step = 0.002 + 50e-6 + 50e-6;
    let expected = prefill_step + 0.008 + 0.001 + decode_step;
    assert!(
        (fast.records[0].ttft - expected).abs() < 1e-6,
        "TTFT {} vs {expected}",
        fast.records[0].ttft
    );
}

#[test]
fn disaggregation_lowers_tpot_and_raises_ttft_against_colocated_dp2() {
    // A mixed load on two GPUs: long prompts arriving while others decode. Colocated, every
    // prefill chunk lands in some request's decode steps; disaggregated, decode steps carry
    // decode tokens only, and the prompt pays for the KV pull.
    let w = workload(120, 1500, 64, Some(8.0));
    let dp = dp_run(&w, 2);
    let pd = pd_run(&w, 1, 1, link(100));
    assert!(dp.records.iter().chain(&pd.records).all(|r| r.success));
    assert_eq!((dp.records.len(), pd.records.len()), (120, 120));
    let (dp_tpot, pd_tpot) = (mean_tpot(&dp), mean_tpot(&pd));
    assert!(
        pd_tpot < 0.8 * dp_tpot,
        "TPOT: P/D {pd_tpot} s vs DP2 {dp_tpot} s"
    );
    let (dp_ttft, pd_ttft) = (mean_ttft(&dp), mean_ttft(&pd));
    assert!(
        pd_ttft > dp_ttft,
        "TTFT: P/D {pd_ttft} s vs DP2 {dp_ttft} s"
    );
    // The prefill instance counts each prompt; the decode instance only the token it
    // recomputes, the pulled ones counting as cached (vLLM's computed prompt tokens).
    let server = pd.server.unwrap();
    assert_eq!(server.prompt_tokens, 120.0 * 1500.0 + 120.0);
    assert_eq!(server.generation_tokens, 120.0 * (64.0 + 1.0));
}

#[test]
fn the_busier_phase_wants_the_extra_instance() {
    // Three instances, all requests at once: the split with more of the busy phase's
    // instances serves the burst sooner.
    let prefill_heavy = workload(150, 3000, 4, None);
    let two_p = throughput(&pd_run(&prefill_heavy, 2, 1, link(400)));
    let two_d = throughput(&pd_run(&prefill_heavy, 1, 2, link(400)));
    assert!(
        two_p > 1.5 * two_d,
        "prefill-heavy: 2P1D {two_p} req/s vs 1P2D {two_d} req/s"
    );
    let decode_heavy = workload(150, 32, 1024, None);
    let two_p = throughput(&pd_run(&decode_heavy, 2, 1, link(400)));
    let two_d = throughput(&pd_run(&decode_heavy, 1, 2, link(400)));
    assert!(
        two_d > 1.5 * two_p,
        "decode-heavy: 1P2D {two_d} req/s vs 2P1D {two_p} req/s"
    );
}

#[test]
fn a_closed_loop_workload_is_refused() {
    let mut w = config(4);
    w.dataset = DatasetSpec::MultiTurn(MultiTurnSpec {
        turns: 2,
        input_len: 32,
        output_len: 16,
        range_ratio: RangeRatio::default(),
        think_time: Duration::ZERO,
        system_prompt_len: 0,
    });
    let err = try_pd_run(&w, 1, 1, link(100)).unwrap_err();
    assert!(
        matches!(err, PlanError::ClosedLoopWithDisaggregation),
        "{err}"
    );
}
