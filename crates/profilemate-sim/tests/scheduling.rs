//! Exact batch compositions: chunked prefill splits, decode-first ordering, `max_num_seqs`,
//! preemption when blocks run out, prefix-cache hits, and when tokens are emitted.
//!
//! Every step takes 10 ms (a constant timer), so step k runs from 10k to 10(k+1) ms. The
//! engine is synchronous here (vLLM's CPU backend, or `--no-async-scheduling`); async
//! scheduling has its own tests in `async_scheduling.rs`.

mod common;

use common::{counts, ms, preemption_config, preemption_counts, run};
use profilemate_sim::{
    ConstantStepTimer, CudaGraphConfig, EngineConfig, FinishReason, PrefixCacheStats, Request,
    Simulation, StepRecord,
};

fn small_config(budget: u32, seqs: u32) -> EngineConfig {
    EngineConfig {
        max_num_seqs: seqs,
        max_num_batched_tokens: budget,
        block_size: 16,
        num_gpu_blocks: 1000,
        enable_prefix_caching: false,
        max_model_len: 1024,
        cudagraph: CudaGraphConfig::eager(),
        async_scheduling: false,
        ..Default::default()
    }
}

#[test]
fn chunked_prefill_splits_prompts_at_the_token_budget() {
    let requests = vec![
        Request::synthetic(ms(0), 250, 3),
        Request::synthetic(ms(0), 60, 2),
    ];
    let (steps, records) = run(small_config(100, 4), &requests);
    assert_eq!(
        counts(&steps),
        vec![
            (1, 100, 0, 0),
            (1, 100, 0, 0),
            (2, 100, 0, 0),
            (1, 10, 1, 1),
            (0, 0, 2, 2)
        ]
    );
    // A request's first token comes at the end of its last prefill chunk.
    assert_eq!(records[0].token_times, vec![ms(30), ms(40), ms(50)]);
    assert_eq!(records[1].token_times, vec![ms(40), ms(50)]);
    assert_eq!(records[1].first_scheduled, Some(ms(20)));
}

#[test]
fn decodes_take_the_budget_before_prefills() {
    // B arrives while step 0 runs; from step 1 on, A's decode is scheduled first and B's
    // prefill gets what is left of the 64-token budget.
    let requests = vec![
        Request::synthetic(ms(0), 10, 5),
        Request::synthetic(ms(5), 100, 1),
    ];
    let (steps, records) = run(small_config(64, 8), &requests);
    assert_eq!(
        counts(&steps),
        vec![
            (1, 10, 0, 0),
            (1, 63, 1, 1),
            (1, 37, 1, 1),
            (0, 0, 1, 1),
            (0, 0, 1, 1)
        ]
    );
    assert_eq!(records[1].ttft(), Some(ms(25)));
    assert_eq!(records[1].queue_time(), Some(ms(5)));
}

#[test]
fn max_num_seqs_holds_back_admissions_until_a_request_finishes() {
    let requests: Vec<Request> = (0..3).map(|_| Request::synthetic(ms(0), 8, 2)).collect();
    let (steps, records) = run(small_config(64, 2), &requests);
    // C is admitted only after A and B leave the running queue at the end of step 1.
    assert_eq!(
        counts(&steps),
        vec![(2, 16, 0, 0), (0, 0, 2, 2), (1, 8, 0, 0), (0, 0, 1, 1)]
    );
    assert_eq!(records[2].first_scheduled, Some(ms(20)));
}

#[test]
fn long_prefill_threshold_caps_chunks_only_when_others_wait() {
    let mut config = small_config(256, 4);
    config.long_prefill_token_threshold = 64;
    let alone = run(config.clone(), &[Request::synthetic(ms(0), 200, 1)]).0;
    assert_eq!(counts(&alone), vec![(1, 200, 0, 0)]);
    let two = vec![
        Request::synthetic(ms(0), 200, 1),
        Request::synthetic(ms(0), 100, 1),
    ];
    let steps = run(config, &two).0;
    // B finishes in step 1; alone, A's last 72 tokens are no longer capped.
    assert_eq!(
        counts(&steps),
        vec![(2, 128, 0, 0), (2, 100, 0, 0), (1, 72, 0, 0)]
    );
}

#[test]
fn preemption_recomputes_the_last_running_request() {
    // 6 usable blocks of 4 tokens; two requests of 8 + 8 tokens need 8 blocks at the end.
    let config = preemption_config();
    let requests = vec![
        Request::synthetic(ms(0), 8, 8),
        Request::synthetic(ms(0), 8, 8),
    ];
    let (steps, records) = run(config, &requests);
    assert_eq!(counts(&steps), preemption_counts());
    let preempted: Vec<u32> = steps.iter().map(|s| s.num_preempted).collect();
    assert_eq!(preempted, vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(steps[4].kv_cache_usage, 1.0);
    assert_eq!(
        (records[0].num_preemptions, records[1].num_preemptions),
        (0, 1)
    );
    assert_eq!(records[1].token_times.len(), 8);
    assert_eq!(
        records[1].token_times[4..],
        [ms(50), ms(90), ms(100), ms(110)]
    );
}

fn caching_config() -> EngineConfig {
    EngineConfig {
        block_size: 4,
        enable_prefix_caching: true,
        ..small_config(256, 8)
    }
}

#[test]
fn prefix_cache_hits_blocks_of_a_finished_request() {
    let a = Request::synthetic(ms(0), 20, 2).with_shared_prefix(1, 16);
    let b = Request::synthetic(ms(100), 20, 2).with_shared_prefix(1, 16);
    let (steps, records) = run(caching_config(), &[a, b]);
    assert_eq!(
        counts(&steps),
        vec![(1, 20, 0, 0), (0, 0, 1, 1), (1, 4, 0, 0), (0, 0, 1, 1)]
    );
    assert_eq!(steps[2].start, ms(100));
    let stats = PrefixCacheStats {
        requests: 1,
        queries: 20,
        hits: 16,
        ..Default::default()
    };
    assert_eq!(steps[2].prefix_cache, stats);
    assert_eq!(
        (records[0].num_cached_tokens, records[1].num_cached_tokens),
        (0, 16)
    );
}

#[test]
fn prefix_cache_hits_blocks_scheduled_earlier_in_the_same_step() {
    let a = Request::synthetic(ms(0), 20, 1).with_shared_prefix(1, 16);
    let b = Request::synthetic(ms(0), 20, 1).with_shared_prefix(1, 16);
    let (steps, _) = run(caching_config(), &[a, b]);
    assert_eq!(counts(&steps), vec![(2, 24, 0, 0)]);
    assert_eq!(steps[0].prefix_cache.hits, 16);
}

#[test]
fn a_fully_cached_prompt_still_recomputes_its_last_block() {
    let tokens: Vec<u32> = (0..16).collect();
    let a = Request::from_tokens(ms(0), tokens.clone(), 1);
    let b = Request::from_tokens(ms(50), tokens, 1);
    let (steps, _) = run(caching_config(), &[a, b]);
    // 16 tokens = 4 full blocks, but the hit is capped at 15 tokens: 3 blocks.
    assert_eq!(counts(&steps), vec![(1, 16, 0, 0), (1, 4, 0, 0)]);
}

#[test]
fn unshared_prompts_never_hit() {
    let a = Request::synthetic(ms(0), 20, 1);
    let b = Request::synthetic(ms(50), 20, 1);
    let (steps, _) = run(caching_config(), &[a, b]);
    assert_eq!(
        steps[1].prefix_cache,
        PrefixCacheStats {
            requests: 1,
            queries: 20,
            ..Default::default()
        }
    );
}

#[test]
fn abort_frees_blocks_and_ends_the_request() {
    let mut sim = Simulation::new(small_config(64, 4), ConstantStepTimer(ms(10))).unwrap();
    let a = sim.add_request(Request::synthetic(ms(0), 32, 100)).unwrap();
    let b = sim.add_request(Request::synthetic(ms(500), 32, 1)).unwrap();
    sim.abort(a, ms(35));
    sim.abort(b, ms(100));
    let mut steps: Vec<StepRecord> = Vec::new();
    sim.run(&mut steps);
    let records = sim.records();
    // Step 3 (30–40 ms) runs when the abort arrives: its tokens are dropped.
    assert_eq!(records[0].num_output_tokens, 3);
    assert_eq!(records[0].finish_reason, Some(FinishReason::Aborted));
    assert_eq!(records[0].finished, Some(ms(35)));
    assert_eq!(records[1].num_output_tokens, 0);
    assert_eq!(records[1].finished, Some(ms(500)));
    assert_eq!(steps.len(), 4);
    assert_eq!(sim.num_block_holders(), 0);
}

#[test]
fn run_until_stops_at_the_given_time_and_resumes() {
    let mut sim = Simulation::new(small_config(64, 4), ConstantStepTimer(ms(10))).unwrap();
    sim.add_request(Request::synthetic(ms(0), 8, 10)).unwrap();
    let mut steps: Vec<StepRecord> = Vec::new();
    sim.run_until(ms(25), &mut steps);
    // Step 2 (20–30 ms) has started but not ended: its tokens are not out yet.
    assert_eq!((steps.len(), sim.now()), (2, ms(25)));
    assert_eq!(sim.records()[0].token_times, vec![ms(10), ms(20)]);
    sim.run(&mut steps);
    assert_eq!(steps.len(), 10);
    assert_eq!(sim.records()[0].finished, Some(ms(100)));
}

#[test]
fn idle_engine_waits_for_the_next_arrival() {
    let requests = vec![
        Request::synthetic(ms(0), 8, 1),
        Request::synthetic(ms(1000), 8, 1),
    ];
    let (steps, records) = run(small_config(64, 4), &requests);
    assert_eq!(
        steps.iter().map(|s| s.start).collect::<Vec<_>>(),
        vec![ms(0), ms(1000)]
    );
    assert_eq!(records[1].ttft(), Some(ms(10)));
}

#[test]
fn cpu_overhead_is_added_to_every_step() {
    let mut config = small_config(64, 4);
    config.cpu_overhead_per_step = ms(2);
    let (steps, records) = run(config, &[Request::synthetic(ms(0), 8, 2)]);
    assert_eq!(steps[0].model_time, ms(10));
    assert_eq!(steps[0].duration, ms(12));
    assert_eq!(records[0].token_times, vec![ms(12), ms(24)]);
}

#[test]
fn output_beyond_the_context_is_capped_like_vllm() {
    let mut config = small_config(64, 4);
    config.max_model_len = 24;
    config.num_gpu_blocks = 10;
    let (steps, records) = run(config, &[Request::synthetic(ms(0), 20, 50)]);
    // 20 prompt tokens leave room for 4 output tokens in a 24-token context.
    assert_eq!(
        (records[0].max_tokens, records[0].num_output_tokens),
        (4, 4)
    );
    assert_eq!(steps.len(), 4);
}

#[test]
fn forgetting_finished_records_keeps_running_requests_and_retires_ids() {
    let mut sim = Simulation::new(small_config(64, 4), ConstantStepTimer(ms(10))).unwrap();
    // a: 2 tokens (done at 20 ms); b: 10 tokens (done at 100 ms); c: 1 token (done at 10 ms).
    let ids: Vec<_> = [2, 10, 1]
        .map(|out| sim.add_request(Request::synthetic(ms(0), 8, out)).unwrap())
        .into();
    let mut steps: Vec<StepRecord> = Vec::new();
    sim.run_until(ms(30), &mut steps);
    // a and c are done; b, the oldest but one, still runs and keeps only itself.
    assert_eq!(sim.forget_finished_records(), 2);
    assert_eq!(sim.records().len(), 1);
    assert_eq!(sim.records()[0].id, ids[1]);
    // An abort for a forgotten request is ignored; b keeps updating after the gap.
    sim.abort(ids[0], ms(40));
    sim.run(&mut steps);
    assert_eq!(sim.records()[0].num_output_tokens, 10);
    assert_eq!(sim.records()[0].finished, Some(ms(100)));
    assert_eq!(sim.forget_finished_records(), 1);
    assert!(sim.records().is_empty());
    // New requests continue the id sequence.
    let d = sim.add_request(Request::synthetic(ms(200), 8, 1)).unwrap();
    assert_eq!(d.0, 3);
    sim.run(&mut steps);
    assert_eq!(sim.records()[0].finished, Some(ms(210)));
    assert_eq!(sim.num_block_holders(), 0);
}
