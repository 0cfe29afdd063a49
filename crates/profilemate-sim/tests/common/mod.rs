//! Helpers shared by the integration tests: a 10 ms constant step, whole and sliced runs,
//! and the `Iteration(N)` count tuples that expected batch compositions are written in.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use profilemate_sim::{
    ConstantStepTimer, CudaGraphConfig, EngineConfig, EngineRequestRecord, EngineSink,
    IterationCounts, Request, Simulation, StepRecord, StepTimer,
};

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A simulation with 10 ms steps and `requests` added.
pub(crate) fn sim_with(
    config: EngineConfig,
    requests: &[Request],
) -> Simulation<ConstantStepTimer> {
    let mut sim = Simulation::new(config, ConstantStepTimer(ms(10))).unwrap();
    for r in requests {
        sim.add_request(r.clone()).unwrap();
    }
    sim
}

/// Runs `requests` to the end with 10 ms steps; checks that every KV block came back.
pub(crate) fn run(
    config: EngineConfig,
    requests: &[Request],
) -> (Vec<StepRecord>, Vec<EngineRequestRecord>) {
    let mut sim = sim_with(config, requests);
    let mut steps = Vec::new();
    sim.run(&mut steps);
    assert_eq!(
        sim.num_block_holders(),
        0,
        "all KV blocks are freed at the end"
    );
    assert_eq!(sim.num_free_blocks(), sim.config().num_gpu_blocks - 1);
    (steps, sim.into_records())
}

/// Drives `sim` the way a real-time server does: to each next event plus `slice`.
pub(crate) fn run_in_slices<T: StepTimer>(
    sim: &mut Simulation<T>,
    slice: Duration,
    sink: &mut impl EngineSink,
) {
    while let Some(next) = sim.next_event() {
        sim.run_until(next.max(sim.now()) + slice, sink);
    }
}

/// `(ctx requests, ctx tokens, gen requests, gen tokens)` of each step.
pub(crate) fn counts(steps: &[StepRecord]) -> Vec<(u32, u32, u32, u32)> {
    let tuple = |c: IterationCounts| {
        (
            c.num_ctx_requests,
            c.num_ctx_tokens,
            c.num_generation_requests,
            c.num_generation_tokens,
        )
    };
    steps.iter().map(|s| tuple(s.counts)).collect()
}

/// The preemption scenario's engine: 6 usable blocks of 4 tokens, no prefix caching,
/// synchronous scheduling.
pub(crate) fn preemption_config() -> EngineConfig {
    EngineConfig {
        max_num_seqs: 4,
        max_num_batched_tokens: 64,
        block_size: 4,
        num_gpu_blocks: 7,
        enable_prefix_caching: false,
        max_model_len: 16,
        cudagraph: CudaGraphConfig::eager(),
        async_scheduling: false,
        ..Default::default()
    }
}

/// The composition of the preemption scenario (two requests of 8 + 8 tokens in 6 blocks of
/// 4): step 5 preempts B, which comes back in step 8 with 13 tokens to recompute, logged by
/// vLLM as *generation* tokens since B already has output. The same with and without async
/// scheduling.
pub(crate) fn preemption_counts() -> Vec<(u32, u32, u32, u32)> {
    let (gen1, gen2) = ((0, 0, 1, 1), (0, 0, 2, 2));
    let mut expected = vec![(2, 16, 0, 0), gen2, gen2, gen2, gen2, gen1, gen1, gen1];
    expected.extend([(0, 0, 1, 13), gen1, gen1]);
    expected
}
