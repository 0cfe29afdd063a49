//! `sim run` speed: one hour of Poisson traffic at 10 req/s (random dataset, 1024 prompt and
//! 128 output tokens) through the virtual client and the simulated engine on Llama-3.1-8B on
//! an H100 (roofline step timer with CUDA-graph padding), report included.
//!
//! Run with `cargo bench -p profilemate-plan --bench virtual_run`.

use std::time::Duration;

use divan::Bencher;
use divan::counter::ItemsCount;
use profilemate_bench::WorkloadConfig;
use profilemate_bench::schedule::Arrivals;
use profilemate_model::kv::KvSizingConfig;
use profilemate_model::roofline::Efficiency;
use profilemate_model::{Deployment, Dtype, PerfModel, hardware, presets};
use profilemate_plan::virtual_run::run_virtual;
use profilemate_sim::{EngineConfig, RooflineStepTimer, kv_blocks, roofline_timer};

fn main() {
    divan::main();
}

/// `seconds` of Poisson arrivals at 10 req/s.
fn workload(seconds: usize) -> WorkloadConfig {
    WorkloadConfig {
        num_prompts: 10 * seconds,
        arrivals: Arrivals::Rate {
            request_rate: 10.0,
            burstiness: 1.0,
            ramp_up: None,
        },
        ..WorkloadConfig::default()
    }
}

/// vLLM's H100 API-server limits, the KV cache sized from 0.9 of the GPU, 0.5 ms of CPU per
/// step, and the roofline timer.
fn engine() -> (EngineConfig, RooflineStepTimer<PerfModel>) {
    let spec = presets::spec("llama-3.1-8b").expect("preset");
    let d = Deployment::new(Dtype::Bfloat16);
    let gpu = hardware::preset("h100-sxm").expect("preset");
    let sizing = KvSizingConfig {
        gpu_memory_bytes: gpu.memory_bytes,
        gpu_memory_utilization: 0.9,
        max_model_len: 8192,
        max_num_seqs: 1024,
        max_num_batched_tokens: 8192,
        weight_bytes: None,
        activation_reserve_bytes: None,
    };
    let kv = kv_blocks(&spec, &d, &sizing, 16).expect("fits");
    let config = EngineConfig {
        max_num_seqs: 1024,
        max_num_batched_tokens: 8192,
        num_gpu_blocks: kv.num_blocks,
        max_model_len: 8192,
        cpu_overhead_per_step: Duration::from_micros(500),
        ..EngineConfig::default()
    };
    let efficiency = Efficiency {
        step_overhead: Duration::ZERO,
        ..Efficiency::default()
    };
    (
        config,
        roofline_timer(&spec, &d, gpu, efficiency).expect("model"),
    )
}

/// One simulated hour (36,000 requests); the counter is simulated requests per second.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn one_hour_at_10_rps(bencher: Bencher) {
    bench_seconds(bencher, 3600);
}

/// One simulated minute, for quick comparisons.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn one_minute_at_10_rps(bencher: Bencher) {
    bench_seconds(bencher, 60);
}

fn bench_seconds(bencher: Bencher, seconds: usize) {
    let config = workload(seconds);
    bencher
        .counter(ItemsCount::new(config.num_prompts))
        .bench(|| {
            let (engine, timer) = engine();
            run_virtual(&config, engine, timer, "llama-3.1-8b").expect("runs")
        });
}
