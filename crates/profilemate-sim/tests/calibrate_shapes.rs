//! The log-side reconstruction of each iteration's requests (`calibrate::shapes`), which sees
//! only the four counts of vLLM's `Iteration(N)` lines, against the exact shapes the simulated
//! scheduler computes on the same workload: the `run2-sched` capture (24 prompts of 300 tokens
//! at once into a 512-token budget, so most prompts are chunked), whose iteration sequence the
//! simulator reproduces exactly (tests/vllm_run2_sched.rs).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use profilemate_sim::calibrate::shapes::ShapeTracker;
use profilemate_sim::{
    CudaGraphConfig, EngineConfig, IterationLine, Request, Simulation, StepBatch, StepRecord,
};

const SERVER_LOG: &str = include_str!("../../../testdata/vllm-0.32-cpu/run2-sched/server.log");
const REQUESTS: &str = include_str!("../../../testdata/vllm-0.32-cpu/run2-sched/requests.tsv");

/// `(computed, scheduled)` pairs, sorted.
type Shape = Vec<(u64, u64)>;

/// The simulator's exact context and generation requests of each step.
fn simulated() -> Vec<(Shape, Shape)> {
    let config = EngineConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 512,
        block_size: 128,
        num_gpu_blocks: 128,
        enable_prefix_caching: false,
        max_model_len: 2048,
        cudagraph: CudaGraphConfig::eager(),
        async_scheduling: false,
        ..Default::default()
    };
    let seen: Rc<RefCell<Vec<(Shape, Shape)>>> = Rc::default();
    let record = seen.clone();
    let timer = move |b: &StepBatch<'_>| {
        let (mut prefill, mut decode): (Shape, Shape) = (Vec::new(), Vec::new());
        for e in b.entries {
            let pair = (
                u64::from(e.num_computed_tokens),
                u64::from(e.num_scheduled_tokens),
            );
            if e.is_context {
                prefill.push(pair);
            } else {
                decode.push(pair);
            }
        }
        prefill.sort_unstable();
        decode.sort_unstable();
        record.borrow_mut().push((prefill, decode));
        Duration::from_millis(3) + Duration::from_micros(800) * b.num_scheduled_tokens
    };
    let mut sim = Simulation::new(config, timer).unwrap();
    for line in REQUESTS.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<u64> = line
            .split('\t')
            .map(|x| x.trim().parse().unwrap())
            .collect();
        let request = Request::synthetic(Duration::from_micros(f[0]), f[1] as u32, f[2] as u32);
        sim.add_request(request).unwrap();
    }
    let mut steps: Vec<StepRecord> = Vec::new();
    sim.run(&mut steps);
    seen.take()
}

fn sorted(v: &[profilemate_model::StepRequest]) -> Shape {
    let mut s: Shape = v
        .iter()
        .map(|r| (r.num_computed_tokens, r.num_scheduled_tokens))
        .collect();
    s.sort_unstable();
    s
}

#[test]
fn the_log_side_shapes_equal_the_simulators_on_every_iteration() {
    let lines: Vec<IterationLine> = SERVER_LOG
        .lines()
        .filter_map(IterationLine::find_in)
        .collect();
    let counts: Vec<_> = lines.iter().map(|l| l.counts).collect();
    let mut tracker = ShapeTracker::new(512, &counts);
    assert_eq!(tracker.typical_prompt(), 300.0);
    let exact = simulated();
    assert_eq!(exact.len(), 125);
    let mut chunked = 0;
    for (i, (c, (prefill, decode))) in counts.iter().zip(&exact).enumerate() {
        let shape = tracker.next(c);
        assert_eq!(&sorted(&shape.prefill), prefill, "Iteration({i}) prefill");
        assert_eq!(&sorted(&shape.decode), decode, "Iteration({i}) decode");
        chunked += prefill.iter().filter(|p| p.0 > 0).count();
    }
    // The capture exercises the continuation: prompts resumed with a computed chunk.
    assert!(chunked >= 5, "{chunked} continued chunks (8 when written)");
}
