//! Virtual-time throughput: one hour of Poisson traffic at 10 req/s on a Llama-3.1-8B-like
//! H100 deployment (issue 5's target: under 2 s).
//!
//! Run with `cargo bench -p profilemate-sim --bench virtual_time`.

use std::time::Duration;

use divan::Bencher;
use divan::counter::ItemsCount;
use profilemate_sim::{AffineStepTimer, EngineConfig, Request, Simulation};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    divan::main();
}

/// vLLM's H100 API-server limits, ~25k blocks of 16 tokens (0.9 of 80 GB minus 16 GB of
/// weights at 128 KiB of KV per token), prefix caching on, 0.5 ms CPU overhead per step.
fn h100_config(async_scheduling: bool) -> EngineConfig {
    EngineConfig {
        async_scheduling,
        max_num_seqs: 1024,
        max_num_batched_tokens: 8192,
        block_size: 16,
        num_gpu_blocks: 25_000,
        max_model_len: 8192,
        cpu_overhead_per_step: Duration::from_micros(500),
        ..Default::default()
    }
}

/// A roofline-shaped stand-in for Llama-3.1-8B in bf16 on an H100: 4.8 ms to stream the
/// weights, 23 µs of compute per token, 40 ns of KV reads per context token.
fn llama_8b_timer() -> AffineStepTimer {
    AffineStepTimer {
        fixed: Duration::from_micros(4800),
        per_token: Duration::from_micros(23),
        per_context_token: Duration::from_nanos(40),
    }
}

/// Poisson arrivals at `rate` req/s for `seconds`; prompts of 300–1300 tokens, outputs of
/// 50–350 tokens, a quarter of requests sharing one of 8 system prompts of 256 tokens.
fn workload(rate: f64, seconds: f64, seed: u64) -> Vec<Request> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = 0.0;
    let mut out = Vec::new();
    loop {
        t += -(1.0 - rng.random::<f64>()).ln() / rate;
        if t >= seconds {
            return out;
        }
        let req = Request::synthetic(
            Duration::from_secs_f64(t),
            rng.random_range(300..1300),
            rng.random_range(50..350),
        );
        let shared = rng.random_bool(0.25);
        out.push(if shared {
            req.with_shared_prefix(rng.random_range(0..8), 256)
        } else {
            req
        });
    }
}

fn simulate(requests: Vec<Request>, async_scheduling: bool) -> usize {
    let mut sim =
        Simulation::new(h100_config(async_scheduling), llama_8b_timer()).expect("valid config");
    for r in requests {
        sim.add_request(r).expect("valid request");
    }
    let mut steps = 0usize;
    let mut count = |_: &profilemate_sim::StepRecord| steps += 1;
    sim.run(&mut CountSink(&mut count));
    steps
}

/// Counts steps without keeping them.
struct CountSink<'a, F: FnMut(&profilemate_sim::StepRecord)>(&'a mut F);

impl<F: FnMut(&profilemate_sim::StepRecord)> profilemate_sim::EngineSink for CountSink<'_, F> {
    fn on_step(&mut self, step: &profilemate_sim::StepRecord) {
        (self.0)(step);
    }
}

/// One simulated hour at 10 req/s, synchronous and async scheduling; the counter reports
/// virtual-time steps per second.
#[divan::bench(args = [false, true], sample_count = 3, sample_size = 1)]
fn one_hour_at_10_rps(bencher: Bencher, async_scheduling: bool) {
    bench_workload(bencher, workload(10.0, 3600.0, 42), async_scheduling);
}

/// One simulated minute at 10 req/s, for quick comparisons.
#[divan::bench(args = [false, true], sample_count = 10, sample_size = 1)]
fn one_minute_at_10_rps(bencher: Bencher, async_scheduling: bool) {
    bench_workload(bencher, workload(10.0, 60.0, 42), async_scheduling);
}

fn bench_workload(bencher: Bencher, requests: Vec<Request>, async_scheduling: bool) {
    let steps = simulate(requests.clone(), async_scheduling);
    bencher
        .counter(ItemsCount::new(steps))
        .with_inputs(|| requests.clone())
        .bench_values(|r| simulate(r, async_scheduling));
}
