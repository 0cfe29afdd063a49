//! `--data-parallel-size`: several engines behind vLLM's load balancer in one virtual run.

use std::time::Duration;

use profilemate_bench::Report;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::event::EventSink;
use profilemate_bench::schedule::Arrivals;
use profilemate_bench::workload::{DatasetSpec, MultiTurnSpec, RangeRatio};
use profilemate_plan::virtual_run::{
    FrontEnd, Through, VirtualRun, run_data_parallel_with_events, run_virtual, run_virtual_through,
};
use profilemate_sim::{AffineStepTimer, ConstantStepTimer, EngineConfig, StepTimer};

use proptest::prelude::*;

use crate::util::config;

fn dp_run<T: StepTimer + Clone>(
    workload: &WorkloadConfig,
    engine: EngineConfig,
    timer: T,
    dp: usize,
) -> VirtualRun {
    let through = Through {
        engine,
        timer,
        front_end: FrontEnd::default(),
        detail: Default::default(),
    };
    dp_run_through(workload, through, dp)
}

fn dp_run_through<T: StepTimer + Clone>(
    workload: &WorkloadConfig,
    through: Through<T>,
    dp: usize,
) -> VirtualRun {
    run_data_parallel_with_events(
        workload,
        through,
        dp,
        "tiny",
        &EventSink::discard(),
        &CancelToken::never(),
        &mut (),
    )
    .unwrap()
}

/// Completed requests per second of the report.
fn throughput(r: &Report) -> f64 {
    r.records.iter().filter(|r| r.success).count() as f64 / r.duration
}

/// An engine with 4 sequence slots and 10 ms steps: 4 requests per wave, saturated by any
/// burst larger than that.
fn four_slots() -> (EngineConfig, ConstantStepTimer) {
    let engine = EngineConfig {
        max_num_seqs: 4,
        ..Default::default()
    };
    (engine, ConstantStepTimer(Duration::from_millis(10)))
}

#[test]
fn two_engines_double_the_throughput_of_a_saturated_one() {
    let (engine, timer) = four_slots();
    let workload = config(200);
    let one = dp_run(&workload, engine.clone(), timer, 1).report;
    let two = dp_run(&workload, engine, timer, 2).report;
    assert_eq!(one.records.len(), 200);
    assert_eq!(two.records.len(), 200);
    assert!(two.records.iter().all(|r| r.success));
    let ratio = throughput(&two) / throughput(&one);
    assert!(
        (1.85..=2.05).contains(&ratio),
        "DP2 / DP1 throughput {ratio}"
    );
    // Both engines' counters are summed: 200 × 8 prompt and 200 × 4 output tokens.
    let server = two.server.unwrap();
    assert_eq!(
        (server.prompt_tokens, server.generation_tokens),
        (1600.0, 800.0)
    );
}

#[test]
fn four_engines_share_a_burst_round_robin() {
    // 8 requests at once on 4 idle engines: the router's in-flight count spreads them two per
    // engine, so every request runs in the first wave and finishes as on a lone engine with
    // two requests.
    let (engine, timer) = four_slots();
    let four = dp_run(&config(8), engine.clone(), timer, 4).report;
    let lone = run_virtual(&config(2), engine, timer, "tiny")
        .unwrap()
        .report;
    let latency = |r: &Report| r.records.iter().map(|r| r.latency).fold(0.0, f64::max);
    assert_eq!(latency(&four), latency(&lone));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn one_engine_gives_exactly_the_single_engine_records(
        n in 1usize..40,
        rate in 5.0f64..400.0,
        concurrency in proptest::option::of(1usize..6),
        async_scheduling in any::<bool>(),
        delay_ms in proptest::option::of(0u64..40),
        serial_us in 0u64..3000,
    ) {
        let workload = WorkloadConfig {
            arrivals: Arrivals::Rate { request_rate: rate, burstiness: 1.0, ramp_up: None },
            max_concurrency: concurrency,
            ..config(n)
        };
        let engine = EngineConfig { async_scheduling, max_num_seqs: 3, ..Default::default() };
        let timer = AffineStepTimer {
            fixed: Duration::from_millis(3),
            per_token: Duration::from_micros(40),
            per_context_token: Duration::from_micros(1),
        };
        // With or without a fitted front end between the client and the engine.
        let front_end = delay_ms.map_or_else(FrontEnd::default, |d| FrontEnd {
            delay: Duration::from_millis(d),
            per_prompt_token: Duration::from_micros(5),
            serial: Duration::from_micros(serial_us),
        });
        let through = Through { engine, timer, front_end, detail: Default::default() };
        let single = run_virtual_through(
            &workload,
            through.clone(),
            "tiny",
            &EventSink::discard(),
            &CancelToken::never(),
            &mut (),
        )
        .unwrap();
        let cluster = dp_run_through(&workload, through, 1);
        prop_assert_eq!(&single.report.records, &cluster.report.records);
        prop_assert_eq!(single.report.duration, cluster.report.duration);
        prop_assert_eq!(single.num_steps, cluster.num_steps);
        prop_assert_eq!(single.report.server, cluster.report.server);
    }
}

/// `sessions` `multi_turn` sessions of `turns` turns (32 new tokens and 16 output tokens per
/// turn, `think` between turns).
fn chat(sessions: usize, turns: usize, think: Duration, seed: u64) -> WorkloadConfig {
    WorkloadConfig {
        dataset: DatasetSpec::MultiTurn(MultiTurnSpec {
            turns,
            input_len: 32,
            output_len: 16,
            range_ratio: RangeRatio::default(),
            think_time: think,
            system_prompt_len: 0,
        }),
        seed,
        ..config(sessions)
    }
}

#[test]
fn sessions_run_closed_loop_across_two_engines() {
    let engine = EngineConfig {
        max_model_len: 4096,
        ..Default::default()
    };
    let timer = ConstantStepTimer(Duration::from_millis(10));
    let think = Duration::from_millis(50);
    let report = dp_run(&chat(6, 4, think, 3), engine, timer, 2).report;
    assert_eq!(report.records.len(), 24);
    assert!(report.records.iter().all(|r| r.success));
    let stats = report.sessions.as_ref().unwrap();
    assert_eq!((stats.started, stats.completed), (6, 6));
    // Within a session each turn leaves after the previous reply (plus an exponential think
    // time), and its prompt is the conversation so far: 32 new tokens + 16 of reply per
    // earlier turn.
    for s in 0..6 {
        let mut turns: Vec<_> = report
            .records
            .iter()
            .filter(|r| r.session.is_some_and(|t| t.session == s))
            .collect();
        turns.sort_by_key(|r| r.session.unwrap().turn);
        assert_eq!(turns.len(), 4);
        for (k, pair) in turns.windows(2).enumerate() {
            let reply_end = pair[0].start_time + pair[0].latency;
            assert!(
                pair[1].start_time >= reply_end - 1e-9,
                "session {s} turn {} left at {} before its reply ended at {reply_end}",
                k + 1,
                pair[1].start_time
            );
            assert_eq!(pair[1].prompt_len, pair[0].prompt_len + 16 + 32);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn one_engine_runs_sessions_exactly_as_the_single_engine_driver(
        sessions in 1usize..8,
        turns in 1usize..5,
        think_ms in 0u64..200,
        seed in 0u64..1000,
        concurrency in proptest::option::of(1usize..4),
    ) {
        let workload = WorkloadConfig {
            max_concurrency: concurrency,
            ..chat(sessions, turns, Duration::from_millis(think_ms), seed)
        };
        let engine = EngineConfig { max_num_seqs: 3, max_model_len: 4096, ..Default::default() };
        let timer = AffineStepTimer {
            fixed: Duration::from_millis(3),
            per_token: Duration::from_micros(40),
            per_context_token: Duration::from_micros(1),
        };
        let single = run_virtual(&workload, engine.clone(), timer, "tiny").unwrap();
        let cluster = dp_run(&workload, engine, timer, 1);
        prop_assert_eq!(&single.report.records, &cluster.report.records);
        prop_assert_eq!(&single.report.sessions, &cluster.report.sessions);
        prop_assert_eq!(single.report.not_sent, cluster.report.not_sent);
        prop_assert_eq!(single.num_steps, cluster.num_steps);
        prop_assert_eq!(single.report.server, cluster.report.server);
    }
}
