//! Hand-checked rooflines on three model/GPU pairs.

use super::*;
use crate::components::Deployment;
use crate::dtype::Dtype;
use crate::hardware::presets::{A100_80GB, H100_SXM, MI300X};
use crate::parallel::ParallelConfig;
use crate::presets;

fn model(name: &str) -> PerfModel {
    let spec = presets::spec(name).unwrap();
    PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap()
}

fn close(actual: f64, expected: f64) {
    // Durations round to the nanosecond.
    let tolerance = 2e-9 + 1e-9 * expected.abs();
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} vs {expected}"
    );
}

fn find<'a>(step: &'a StepRoofline, name: &str) -> &'a ComponentRoofline {
    step.components.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn llama_8b_decode_on_h100_is_memory_bound_on_weight_reads() {
    let roofline = Roofline::new(H100_SXM, Efficiency::ideal());
    let step = roofline.analyze(
        &model("llama-3.1-8b"),
        &ExecutionContext::from_single_request(1, 1024, false),
    );
    let ffn = find(&step, "ffn");
    // FFN weights 32 × 3 × 4096 × 14336 × 2 B = 11,274,289,152 B, plus 6,029,312 B of
    // activations; FLOPs 6 × 4096 × 14336 × 32 = 11,274,289,152.
    assert_eq!((ffn.flops, ffn.bytes), (11_274_289_152, 11_280_318_464));
    close(ffn.memory_time.as_secs_f64(), 11_280_318_464.0 / 3.35e12); // 3.367 ms
    assert_eq!(ffn.bound(), Bound::Memory);
    assert_eq!(step.bound(), Bound::Memory);
    close(roofline.ridge_point(), 989.4 / 3.35); // 295.3 FLOP/B
    // Ideal efficiency, no overhead: every component memory-bound, so MBU is 100 %.
    assert!((step.mbu() - 1.0).abs() < 1e-6, "MBU {}", step.mbu());
    assert!(step.mfu() < 0.01, "decode MFU {}", step.mfu());
}

#[test]
fn llama_8b_prefill_on_a100_is_compute_bound() {
    let roofline = Roofline::new(A100_80GB, Efficiency::ideal());
    let step = roofline.analyze(
        &model("llama-3.1-8b"),
        &ExecutionContext::from_single_request(2048, 2048, true),
    );
    let ffn = find(&step, "ffn");
    // 6 × 4096 × 14336 × 2048 × 32 FLOPs at 312 TFLOP/s = 74.005 ms.
    assert_eq!(ffn.flops, 23_089_744_183_296);
    close(ffn.time().as_secs_f64(), 23_089_744_183_296.0 / 312e12);
    assert_eq!(
        (ffn.bound(), step.bound()),
        (Bound::Compute, Bound::Compute)
    );
    assert!(
        ffn.arithmetic_intensity() > 153.0,
        "above the A100 ridge 312/2.039"
    );
}

#[test]
fn mixtral_decode_on_mi300x_with_default_efficiencies() {
    let roofline = Roofline::new(MI300X, Efficiency::default());
    let mut ctx = ExecutionContext::new();
    for _ in 0..32 {
        ctx.add(1, 2048, false);
    }
    let step = roofline.analyze(&model("mixtral-8x7b"), &ctx);
    let unembed = find(&step, "unembed");
    // 2 × 32 × 4096 × 32000 FLOPs; 262,144 + 262,144,000 read + 2,048,000 written bytes.
    assert_eq!((unembed.flops, unembed.bytes), (8_388_608_000, 264_454_144));
    // Memory: 264,454,144 / (5.3e12 × 0.85) = 58.70 µs; compute: /(1307.4e12 × 0.75) = 8.56 µs.
    close(
        unembed.memory_time.as_secs_f64(),
        264_454_144.0 / (5.3e12 * 0.85),
    );
    close(
        unembed.compute_time.as_secs_f64(),
        8_388_608_000.0 / (1307.4e12 * 0.75),
    );
    assert_eq!(unembed.bound(), Bound::Memory);
    let expected = step.component_time() + Duration::from_micros(500);
    assert_eq!(step.time(), expected);
    close(
        step.mfu(),
        step.flops() as f64 / (expected.as_secs_f64() * 1307.4e12),
    );
    assert_eq!(
        roofline.step_time(&model("mixtral-8x7b"), &ctx),
        step.time()
    );
}

#[test]
fn tp_collectives_add_link_time() {
    let spec = presets::spec("llama-3.1-70b").unwrap();
    let mut deployment = Deployment::new(Dtype::Bfloat16);
    deployment.parallel = ParallelConfig::new(8, 1, 1, false).unwrap();
    let model = PerfModel::vllm_exact(&spec, &deployment).unwrap();
    let roofline = Roofline::new(H100_SXM, Efficiency::ideal())
        .with_collectives(Collectives::from_spec(&spec, &deployment));
    let mut ctx = ExecutionContext::new();
    for _ in 0..64 {
        ctx.add(1, 1000, false);
    }
    let step = roofline.analyze(&model, &ctx);
    // 280 MiB over 450 GB/s one way = 652.5 µs.
    close(step.comm_time.as_secs_f64(), 280.0 * 1048576.0 / 450e9);
    assert_eq!(step.time(), step.component_time() + step.comm_time);
    assert_eq!(
        roofline.step_time(&model, &ExecutionContext::new()),
        Duration::ZERO
    );
}

#[test]
fn bad_efficiencies_are_rejected() {
    let e = Efficiency {
        memory: 1.5,
        ..Efficiency::default()
    };
    assert!(
        e.validate()
            .unwrap_err()
            .to_string()
            .contains("memory-efficiency")
    );
    assert!(Efficiency::default().validate().is_ok());
}

/// Components whose totals are beyond any real model, as a config with `hidden_size` 1e18
/// produced before the limits refused it.
struct Absurd;

impl CostModel for Absurd {
    fn visit_components(
        &self,
        _: &ExecutionContext,
        sink: &mut dyn FnMut(&'static str, crate::model::StepTotals),
    ) {
        for name in ["attention", "ffn", "lm_head"] {
            sink(
                name,
                crate::model::StepTotals {
                    flops: u128::MAX,
                    read_bytes: u128::MAX,
                    write_bytes: u128::MAX,
                },
            );
        }
    }
}

// See: issue 13 (the engine thread of sim serve panicked with "overflow when adding
// durations" in the step time, hanging its request).
#[test]
fn step_time_saturates_instead_of_overflowing_on_absurd_totals() {
    let roofline = Roofline::new(H100_SXM, Efficiency::ideal());
    let ctx = ExecutionContext::from_single_request(1, 1024, false);
    assert_eq!(roofline.step_time(&Absurd, &ctx), Duration::MAX);
}
