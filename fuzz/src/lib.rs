//! What the fuzz targets share: one pass of the analytic model over a config and a batch, the
//! way `estimate`, `kv` and the engine's step timer use it.

use profilemate_model::hardware;
use profilemate_model::kv::KvLayout;
use profilemate_model::roofline::{Efficiency, Roofline};
use profilemate_model::{
    Deployment, Dtype, ExecutionContext, HfConfig, KvCacheDtype, Metric, ModelSpec, PerfModel,
};

/// One request of a fuzzed batch.
#[derive(Debug, arbitrary::Arbitrary)]
pub struct FuzzRequest {
    /// Tokens scheduled.
    pub num_tokens: u64,
    /// Context length after the step.
    pub context_len: u64,
    /// Whether it is a prefill.
    pub is_prefill: bool,
}

/// Builds the model from `config` (JSON text) and prices `batch` on every path the product
/// takes: totals, breakdowns, the roofline on an H100, and the KV layout. Errors are fine;
/// panics are what the fuzzer looks for.
pub fn exercise_config(config: &str, batch: &[FuzzRequest], fp8_kv: bool) {
    let Ok(config) = HfConfig::from_json_str(config) else {
        return;
    };
    let Ok(spec) = ModelSpec::try_from_config(&config) else {
        return;
    };
    let mut deployment = Deployment::new(Dtype::Bfloat16);
    if fp8_kv {
        deployment.kv_cache_dtype = KvCacheDtype::Named("fp8");
    }
    let mut ctx = ExecutionContext::new();
    for r in batch.iter().take(64) {
        ctx.add(r.num_tokens, r.context_len, r.is_prefill);
    }
    // The product checks every batch against the limits before pricing it.
    if profilemate_model::limits::check_batch(&ctx).is_err() {
        return;
    }
    if let Ok(layout) = KvLayout::per_gpu(&spec, &deployment) {
        let _ = layout.bytes_for_sequence(ctx.requests.iter().map(|r| r.context_len).sum());
    }
    let Ok(model) = PerfModel::vllm_exact(&spec, &deployment) else {
        return;
    };
    let _ = model.totals(&ctx, true);
    let _ = model.breakdown(Metric::Flops, &ctx, false);
    let _ = model.breakdown(Metric::ReadBytes, &ctx, true);
    let gpu = hardware::preset("h100-sxm").expect("the h100-sxm preset");
    let roofline = Roofline::new(gpu, Efficiency::default());
    let _ = roofline.analyze(&model, &ctx);
    let _ = roofline.step_time(&model, &ctx);
}
