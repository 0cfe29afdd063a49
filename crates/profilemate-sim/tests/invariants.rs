//! Properties that hold for any settings and workload: every token is delivered once and in
//! order, the step limits are respected, and every KV block comes back.

use std::time::Duration;

use profilemate_sim::{
    AffineStepTimer, CudaGraphConfig, EngineConfig, KvOffloadConfig, Request, Simulation,
    SpecDecodeConfig, StepRecord,
};
use proptest::prelude::*;

mod common;

use common::run_in_slices;

/// KV offloading, half of the time: a CPU tier of 1 to 11 chunks of 1 or 2 blocks (4 KiB
/// each), 40 µs per block and up to 3 ms per transfer.
fn offloads() -> impl Strategy<Value = Option<(u64, u32, u64)>> {
    prop_oneof![Just(None), (1u64..12, 1u32..3, 0u64..3000).prop_map(Some)]
}

fn offload_config(
    block_size: u32,
    (chunks, blocks_per_chunk, latency_us): (u64, u32, u64),
) -> KvOffloadConfig {
    KvOffloadConfig {
        block_size: Some(block_size * blocks_per_chunk),
        host_link_bandwidth: 1e8,
        transfer_latency: Duration::from_micros(latency_us),
        ..KvOffloadConfig::new(chunks * 4096 * u64::from(blocks_per_chunk), 4096)
    }
}

/// Engine settings small enough to force chunking, queueing and preemption.
fn configs() -> impl Strategy<Value = EngineConfig> {
    let limits = (1u32..6, 0u32..3, 4u32..40, any::<bool>(), any::<bool>());
    let drafts = prop_oneof![Just(None), (1u32..4, 0.0f64..=1.0).prop_map(Some)];
    (limits, drafts, any::<u64>(), 0u32..40, offloads()).prop_map(
        |(
            (seqs_log, block_log, blocks, caching, asynchronous),
            drafts,
            seed,
            threshold,
            offload,
        )| {
            let max_num_seqs = 1 << seqs_log;
            EngineConfig {
                max_num_seqs,
                max_num_batched_tokens: max_num_seqs.max(24) + 8,
                block_size: 4 << block_log,
                num_gpu_blocks: blocks + (160 >> block_log),
                enable_prefix_caching: caching,
                max_model_len: 160,
                long_prefill_token_threshold: threshold,
                async_scheduling: asynchronous,
                cudagraph: CudaGraphConfig::default(),
                spec_decode: drafts.map(|(k, p)| SpecDecodeConfig {
                    num_speculative_tokens: k,
                    acceptance_probability: p,
                    num_lookahead_tokens: k,
                }),
                kv_offload: offload.map(|o| offload_config(4 << block_log, o)),
                seed,
                ..Default::default()
            }
        },
    )
}

/// Up to 24 requests over 200 ms, some sharing one of two prefixes.
fn workloads() -> impl Strategy<Value = Vec<Request>> {
    let request = (0u64..200, 1u32..100, 1u32..60, 0u8..3).prop_map(|(at, prompt, out, prefix)| {
        let r = Request::synthetic(Duration::from_millis(at), prompt, out);
        match prefix {
            0 => r,
            id => r.with_shared_prefix(u64::from(id), prompt.min(16)),
        }
    });
    prop::collection::vec(request, 1..24)
}

fn timer() -> AffineStepTimer {
    AffineStepTimer {
        fixed: Duration::from_millis(2),
        per_token: Duration::from_micros(50),
        per_context_token: Duration::from_nanos(100),
    }
}

fn simulate(
    config: &EngineConfig,
    requests: &[Request],
) -> (Vec<StepRecord>, Simulation<AffineStepTimer>) {
    let mut sim = Simulation::new(config.clone(), timer()).unwrap();
    for r in requests {
        sim.add_request(r.clone()).unwrap();
    }
    let mut steps = Vec::new();
    sim.run(&mut steps);
    (steps, sim)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_request_gets_all_its_tokens_in_order(config in configs(), requests in workloads()) {
        let (_, sim) = simulate(&config, &requests);
        for (record, request) in sim.records().iter().zip(&requests) {
            prop_assert_eq!(record.num_output_tokens, request.max_tokens);
            prop_assert_eq!(record.token_times.len(), request.max_tokens as usize);
            prop_assert!(record.token_times.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(record.first_token.unwrap() > request.arrival);
            prop_assert_eq!(record.finished, record.last_token);
        }
        prop_assert_eq!(sim.num_block_holders(), 0);
        prop_assert_eq!(sim.num_free_blocks(), config.num_gpu_blocks - 1);
    }

    #[test]
    fn steps_respect_the_engine_limits(config in configs(), requests in workloads()) {
        let (steps, _) = simulate(&config, &requests);
        for (i, step) in steps.iter().enumerate() {
            let c = step.counts;
            prop_assert_eq!(step.index, i as u64);
            prop_assert!(step.num_scheduled_tokens <= config.max_num_batched_tokens);
            prop_assert_eq!(c.num_ctx_tokens + c.num_generation_tokens, step.num_scheduled_tokens);
            prop_assert!(c.num_ctx_requests + c.num_generation_requests <= config.max_num_seqs);
            prop_assert!(step.num_running <= config.max_num_seqs);
            prop_assert!((0.0..=1.0).contains(&step.kv_cache_usage));
            prop_assert!(step.cudagraph.padded_tokens >= step.num_scheduled_tokens);
            prop_assert!(step.prefix_cache.hits <= step.prefix_cache.queries);
        }
        prop_assert!(steps.windows(2).all(|w| w[0].end() <= w[1].start));
    }

    #[test]
    fn driving_in_time_slices_changes_nothing(
        config in configs(),
        requests in workloads(),
        slice_us in 100u64..30_000,
    ) {
        let (steps, whole) = simulate(&config, &requests);
        let mut sim = Simulation::new(config.clone(), timer()).unwrap();
        for r in &requests {
            sim.add_request(r.clone()).unwrap();
        }
        let mut sliced = Vec::new();
        run_in_slices(&mut sim, Duration::from_micros(slice_us), &mut sliced);
        prop_assert_eq!(sliced, steps);
        prop_assert_eq!(sim.records(), whole.records());
    }

    #[test]
    fn equal_seeds_replay_exactly(config in configs(), requests in workloads()) {
        let (steps_a, sim_a) = simulate(&config, &requests);
        let (steps_b, sim_b) = simulate(&config, &requests);
        prop_assert_eq!(steps_a, steps_b);
        prop_assert_eq!(sim_a.records(), sim_b.records());
    }
}

/// Any field values: the engine either refuses the settings with an error or runs a small
/// workload to the end, but never panics.
fn wild_configs() -> impl Strategy<Value = EngineConfig> {
    let wide = || prop_oneof![12 => 1u32..64, 6 => 0u32..5000, 1 => any::<u32>()];
    let sizes = (wide(), wide(), wide(), wide(), wide(), wide());
    let flags = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u32>(),
        -1.0f64..2.0,
    );
    let bytes = prop_oneof![4 => 0u64..10_000, 1 => any::<u64>()];
    let bandwidth = prop_oneof![4 => -1.0f64..1e12, 1 => Just(1e-300), 1 => Just(f64::INFINITY)];
    let offload = (any::<u64>(), bytes, any::<Option<u32>>(), bandwidth);
    (sizes, flags, offload).prop_map(
        |((seqs, batched, block, blocks, len, threshold), (pc, chunk, asy, k, p), o)| {
            EngineConfig {
                max_num_seqs: seqs,
                max_num_batched_tokens: batched,
                block_size: block,
                num_gpu_blocks: blocks % (1 << 16),
                max_model_len: len,
                long_prefill_token_threshold: if threshold % 3 == 0 { threshold } else { 0 },
                enable_prefix_caching: pc,
                enable_chunked_prefill: chunk,
                async_scheduling: asy,
                spec_decode: (k % 3 > 0).then_some(SpecDecodeConfig {
                    num_speculative_tokens: k % 7,
                    acceptance_probability: p,
                    num_lookahead_tokens: k % 5,
                }),
                kv_offload: (k % 2 == 0).then_some(KvOffloadConfig {
                    block_size: o.2,
                    host_link_bandwidth: o.3,
                    ..KvOffloadConfig::new(o.0 % (1 << 24), o.1)
                }),
                ..Default::default()
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn wild_settings_are_refused_or_run_without_panicking(config in wild_configs(), requests in workloads()) {
        let Ok(mut sim) = Simulation::new(config.clone(), timer()) else { return Ok(()) };
        let max_model_len = config.max_model_len;
        let accepted: Vec<u32> = requests
            .into_iter()
            .filter_map(|r| {
                let max_tokens = r.capped_max_tokens(max_model_len);
                sim.add_request(r).ok().map(|_| max_tokens)
            })
            .collect();
        sim.run(&mut ());
        let delivered: Vec<u32> = sim.records().iter().map(|r| r.num_output_tokens).collect();
        prop_assert_eq!(delivered, accepted);
        prop_assert_eq!(sim.num_block_holders(), 0);
    }
}
