//! The per-step hot path allocates nothing once its context is warm (breakdowns not requested).

use profilemate_model::{
    Deployment, Dtype, ExecutionContext, ParallelConfig, PerfModel, StepInput, StepRequest, presets,
};

#[test]
fn step_totals_do_not_allocate() {
    for (name, tp) in [
        ("llama-3.1-8b", 1),
        ("deepseek-v3", 8),
        ("gpt-oss-20b", 2),
        ("mistral-7b", 1),
    ] {
        let deployment = Deployment {
            parallel: ParallelConfig::new(tp, 1, 1, false).unwrap(),
            ..Deployment::new(Dtype::Bfloat16)
        };
        let model = PerfModel::vllm_exact_lenient(&presets::spec(name).unwrap(), &deployment);
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
        let warm = model.step_perf_stats(&step, &mut ctx, false);
        let info = allocation_counter::measure(|| {
            let stats = model.step_perf_stats(&step, &mut ctx, false);
            assert_eq!(stats, warm);
        });
        assert_eq!(info.count_total, 0, "{name}: {info:?}");
        assert!(warm.num_flops_per_gpu > 0, "{name}");
        // The counter does see allocations: the debug path builds breakdown maps.
        let debug = allocation_counter::measure(|| {
            let _ = model.step_perf_stats(&step, &mut ctx, true);
        });
        assert!(
            debug.count_total > 0,
            "{name}: breakdowns must allocate, {debug:?}"
        );
    }
}
