//! Async scheduling (vLLM 0.32's GPU default): step N+1 is scheduled while step N runs, with
//! output placeholders standing in for tokens not yet sampled.
//!
//! Every step takes 10 ms; with two steps in flight the GPU still runs them back to back.

use std::time::Duration;

mod common;

use common::{counts, ms, preemption_counts, run, run_in_slices, sim_with};
use profilemate_sim::{
    CudaGraphConfig, EngineConfig, EngineRequestRecord, Request, SpecDecodeConfig, StepRecord,
};

fn async_config() -> EngineConfig {
    EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 64,
        block_size: 16,
        num_gpu_blocks: 100,
        max_model_len: 256,
        enable_prefix_caching: false,
        cudagraph: CudaGraphConfig::eager(),
        async_scheduling: true,
        ..Default::default()
    }
}

#[test]
fn a_lone_request_decodes_back_to_back_without_a_wasted_step() {
    let (steps, records) = run(async_config(), &[Request::synthetic(ms(0), 10, 3)]);
    // The decode of step 1 is scheduled at 0 ms, before step 0's token exists; no fourth
    // step is scheduled once the last token is in flight.
    assert_eq!(
        counts(&steps),
        vec![(1, 10, 0, 0), (0, 0, 1, 1), (0, 0, 1, 1)]
    );
    assert_eq!(records[0].token_times, vec![ms(10), ms(20), ms(30)]);
}

#[test]
fn arrivals_during_a_step_wait_one_step_longer_than_without_async() {
    let requests = vec![
        Request::synthetic(ms(0), 10, 3),
        Request::synthetic(ms(5), 10, 2),
    ];
    let (steps, records) = run(async_config(), &requests);
    // Step 1 was scheduled at 0 ms, before B arrived; B is first scheduled at 10 ms and
    // runs in step 2 (20–30 ms).
    assert_eq!(
        counts(&steps),
        vec![(1, 10, 0, 0), (0, 0, 1, 1), (1, 10, 1, 1), (0, 0, 1, 1)]
    );
    assert_eq!(records[1].first_scheduled, Some(ms(10)));
    assert_eq!(records[1].token_times, vec![ms(30), ms(40)]);
    let sync = EngineConfig {
        async_scheduling: false,
        ..async_config()
    };
    let (_, sync_records) = run(sync, &requests);
    assert_eq!(sync_records[1].token_times, vec![ms(20), ms(30)]);
}

/// Async scheduling with two drafts per step, always accepted.
fn always_accepting_drafts() -> EngineConfig {
    let spec = SpecDecodeConfig {
        num_speculative_tokens: 2,
        acceptance_probability: 1.0,
        num_lookahead_tokens: 0,
    };
    EngineConfig {
        spec_decode: Some(spec),
        ..async_config()
    }
}

#[test]
fn drafts_in_flight_can_cost_one_wasted_step() {
    let config = always_accepting_drafts();
    let (steps, records) = run(config, &[Request::synthetic(ms(0), 8, 6)]);
    let scheduled: Vec<u32> = steps.iter().map(|s| s.num_scheduled_tokens).collect();
    assert_eq!(scheduled, vec![8, 3, 3, 3]);
    // The scheduler cannot know that both drafts of step 2 will be accepted, so step 3 runs
    // and its output is dropped: the request already finished at 30 ms.
    let generated: Vec<u32> = steps.iter().map(|s| s.num_generated_tokens).collect();
    assert_eq!(generated, vec![1, 3, 2, 0]);
    assert_eq!(records[0].finished, Some(ms(30)));
}

#[test]
fn preempted_requests_wait_for_their_stale_output_then_recompute() {
    let config = EngineConfig {
        max_num_batched_tokens: 64,
        block_size: 4,
        num_gpu_blocks: 7,
        max_model_len: 16,
        ..async_config()
    };
    let requests = vec![
        Request::synthetic(ms(0), 8, 8),
        Request::synthetic(ms(0), 8, 8),
    ];
    let (steps, records) = run(config, &requests);
    // Step 5 (scheduled at 40 ms) preempts B while B's step-4 token is still in flight: that
    // stale token is delivered at 50 ms, and B is readmitted (13 tokens to recompute) only
    // once A has finished and freed its blocks, at 80 ms.
    assert_eq!(counts(&steps), preemption_counts());
    assert_eq!(steps[5].num_preempted, 1);
    let b: Vec<Duration> = [10, 20, 30, 40, 50, 90, 100, 110].map(ms).to_vec();
    assert_eq!(records[1].token_times, b);
    assert_eq!(steps.iter().map(|s| s.num_preempted).sum::<u32>(), 1);
    assert_eq!(records[1].num_preemptions, 1);
    assert!(
        records
            .iter()
            .all(|r| r.num_output_tokens == 8 && r.token_times.len() == 8)
    );
    let total: u32 = steps.iter().map(|s| s.num_generated_tokens).sum();
    assert_eq!(total, 16);
}

#[test]
fn everything_on_under_pressure_still_delivers_every_token_in_order() {
    let config = EngineConfig {
        max_num_seqs: 16,
        max_num_batched_tokens: 128,
        block_size: 8,
        num_gpu_blocks: 120,
        max_model_len: 400,
        enable_prefix_caching: true,
        long_prefill_token_threshold: 48,
        spec_decode: Some(SpecDecodeConfig {
            num_speculative_tokens: 3,
            acceptance_probability: 0.6,
            num_lookahead_tokens: 3,
        }),
        seed: 11,
        ..async_config()
    };
    let requests: Vec<Request> = (0..60u32)
        .map(|i| {
            let r = Request::synthetic(
                ms(u64::from(i) * 3),
                40 + (i * 53) % 200,
                10 + (i * 29) % 90,
            );
            if i % 3 == 0 {
                r.with_shared_prefix(u64::from(i % 2), 32)
            } else {
                r
            }
        })
        .collect();
    let (steps, records) = run(config, &requests);
    assert!(
        steps.iter().map(|s| s.num_preempted).sum::<u32>() > 0,
        "the KV cache is tight enough to preempt"
    );
    assert!(steps.iter().map(|s| s.prefix_cache.hits).sum::<u64>() > 0);
    for (r, req) in records.iter().zip(&requests) {
        assert_eq!(r.num_output_tokens, req.max_tokens);
        assert_eq!(r.token_times.len(), req.max_tokens as usize);
        assert!(r.token_times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(r.finished, r.last_token);
    }
}

/// Drives the engine in 1 ms slices, as a real-time server would; returns the steps and the
/// last request's record.
fn sliced_run(
    config: EngineConfig,
    requests: &[Request],
) -> (Vec<StepRecord>, EngineRequestRecord) {
    let mut sim = sim_with(config, requests);
    let mut steps: Vec<StepRecord> = Vec::new();
    run_in_slices(&mut sim, ms(1), &mut steps);
    let last = sim.records().last().cloned().expect("requests were added");
    (steps, last)
}

#[test]
fn an_empty_schedule_holds_the_pipeline_until_the_step_in_flight_ends() {
    // At 20 ms B's last token is already in flight and A has not arrived: the schedule is
    // empty and, as in vLLM's batch queue, takes the free slot. A arrives at 25 ms but is
    // scheduled only when step 2 ends at 30 ms, however finely the engine is driven.
    let requests = [
        Request::synthetic(ms(0), 10, 3),
        Request::synthetic(ms(25), 1, 1),
    ];
    let (steps, last) = sliced_run(async_config(), &requests);
    assert_eq!(
        (last.first_scheduled, last.first_token),
        (Some(ms(30)), Some(ms(40)))
    );
    assert_eq!(counts(&steps)[3], (1, 1, 0, 0));
}

#[test]
fn an_idle_scheduler_still_waits_for_the_step_in_flight() {
    // A finishes at 30 ms while step 3 (its wasted draft step) runs until 40 ms. With no
    // request left, vLLM blocks on that step; B, arriving at 35 ms, is scheduled at 40 ms.
    let config = always_accepting_drafts();
    let requests = [
        Request::synthetic(ms(0), 8, 6),
        Request::synthetic(ms(35), 4, 1),
    ];
    let (_, last) = sliced_run(config, &requests);
    assert_eq!(
        (last.first_scheduled, last.first_token),
        (Some(ms(40)), Some(ms(50)))
    );
}
