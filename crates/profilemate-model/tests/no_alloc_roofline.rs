//! The hardware-side hot paths allocate nothing once warm: roofline step time (vLLM-exact and
//! corrected models), CUDA-graph dispatch and stats observation.

use profilemate_model::comm::Collectives;
use profilemate_model::corrected::{CorrectedModel, WeightWidths};
use profilemate_model::cudagraph::{
    CaptureSizeSettings, CudaGraphDispatcher, CudaGraphMode, CudaGraphStats,
};
use profilemate_model::hardware::presets::H100_SXM;
use profilemate_model::roofline::{Efficiency, Roofline};
use profilemate_model::{Deployment, Dtype, ExecutionContext, ParallelConfig, PerfModel, presets};

fn batch() -> ExecutionContext {
    let mut ctx = ExecutionContext::new();
    ctx.add(2048, 2048, true);
    for _ in 0..255 {
        ctx.add(1, 4000, false);
    }
    ctx
}

#[test]
fn roofline_step_time_does_not_allocate() {
    for (name, tp) in [("llama-3.1-8b", 1), ("deepseek-v3", 8), ("gpt-oss-20b", 2)] {
        let config = presets::config(name).unwrap();
        let spec = profilemate_model::ModelSpec::from_config(&config);
        let d = Deployment {
            parallel: ParallelConfig::new(tp, 1, 1, false).unwrap(),
            ..Deployment::new(Dtype::Bfloat16)
        };
        let exact = PerfModel::vllm_exact_lenient(&spec, &d);
        let corrected = CorrectedModel::new(
            &spec,
            &d,
            &WeightWidths::from_config(&config, &spec, d.dtype),
            0,
        )
        .unwrap();
        let roofline = Roofline::new(H100_SXM, Efficiency::default())
            .with_collectives(Collectives::from_spec(&spec, &d));
        let ctx = batch();
        let info = allocation_counter::measure(|| {
            assert!(!roofline.step_time(&exact, &ctx).is_zero());
            assert!(!roofline.step_time(&corrected, &ctx).is_zero());
        });
        assert_eq!(info.count_total, 0, "{name}: {info:?}");
    }
}

#[test]
fn cudagraph_dispatch_and_stats_do_not_allocate() {
    let settings = CaptureSizeSettings::new(CudaGraphMode::FullAndPiecewise, 256, 8192);
    let dispatcher = CudaGraphDispatcher::new(&settings).unwrap();
    let mut stats = CudaGraphStats::new();
    stats.observe(dispatcher.dispatch(5, true));
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            stats.observe(dispatcher.dispatch(5, true));
        }
        assert_eq!(dispatcher.dispatch(257, false).padded_tokens, 272);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(stats.num_steps(), 101);
}
