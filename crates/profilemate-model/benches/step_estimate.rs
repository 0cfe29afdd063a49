//! One step estimate (1 prefill of 2048 tokens + 255 decodes at context 4000) on Llama-3.1-8B,
//! DeepSeek-V3 and the largest issue-12 families (DeepSeek-V3.2, 671B MLA MoE; Llama-4 Maverick,
//! 400B interleaved MoE; Gemma 3 27B, sliding/global layers): totals only (the per-step hot path)
//! and with breakdowns.
//!
//! Run: `cargo bench -p profilemate-model --bench step_estimate`

use divan::{Bencher, black_box};
use profilemate_model::{
    Deployment, Dtype, ExecutionContext, Metric, ParallelConfig, PerfModel, StepInput, StepRequest,
    presets,
};

fn main() {
    divan::main();
}

const MODELS: &[&str] = &[
    "llama-3.1-8b",
    "deepseek-v3",
    "deepseek-v3.2",
    "llama-4-maverick",
    "gemma-3-27b",
];

/// Tensor-parallel size the model is run with (the big MoE models need a node).
fn tp(name: &str) -> u64 {
    match name {
        "deepseek-v3" | "deepseek-v3.2" | "llama-4-maverick" => 8,
        _ => 1,
    }
}

fn model(name: &str) -> PerfModel {
    let deployment = Deployment {
        parallel: ParallelConfig::new(tp(name), 1, 1, false).unwrap(),
        ..Deployment::new(Dtype::Bfloat16)
    };
    PerfModel::vllm_exact(&presets::spec(name).unwrap(), &deployment).unwrap()
}

fn batch() -> ExecutionContext {
    let mut ctx = ExecutionContext::new();
    ctx.add(2048, 2048, true);
    for _ in 0..255 {
        ctx.add(1, 4000, false);
    }
    ctx
}

#[divan::bench(args = MODELS)]
fn totals(bencher: Bencher, name: &str) {
    let (model, ctx) = (model(name), batch());
    bencher.bench(|| black_box(&model).totals(black_box(&ctx), true));
}

#[divan::bench(args = MODELS)]
fn breakdowns(bencher: Bencher, name: &str) {
    let (model, ctx) = (model(name), batch());
    bencher.bench(|| Metric::ALL.map(|m| black_box(&model).breakdown(m, black_box(&ctx), true)));
}

/// The scheduler-facing path: build the context from the step, then totals (context reused).
#[divan::bench(args = MODELS)]
fn step_perf_stats(bencher: Bencher, name: &str) {
    let model = model(name);
    let new = [StepRequest {
        num_computed_tokens: 0,
        num_scheduled_tokens: 2048,
    }];
    let cached = [StepRequest {
        num_computed_tokens: 3999,
        num_scheduled_tokens: 1,
    }; 255];
    let step = StepInput {
        new_requests: &new,
        cached_requests: &cached,
    };
    let mut ctx = ExecutionContext::new();
    bencher.bench_local(|| model.step_perf_stats(black_box(&step), &mut ctx, false));
}
