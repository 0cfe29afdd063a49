//! Each correction beside the vLLM-exact figure it replaces, with hand-derived values.

use super::*;
use crate::comm::Collectives;
use crate::dtype::{Dtype, KvCacheDtype};
use crate::hardware::presets::H100_SXM;
use crate::hf_config::HfConfig;
use crate::model::PerfModel;
use crate::parallel::ParallelConfig;
use crate::presets;
use crate::roofline::{Efficiency, Roofline};

fn deployment(tp: u64, dp: u64, ep: bool) -> Deployment {
    let mut d = Deployment::new(Dtype::Bfloat16);
    d.parallel = ParallelConfig::new(tp, 1, dp, ep).unwrap();
    d
}

/// `(exact, corrected)` per-GPU totals of `component`.
fn side_by_side(
    name: &str,
    d: &Deployment,
    k: u64,
    ctx: &ExecutionContext,
    component: &str,
) -> (StepTotals, StepTotals) {
    let config = presets::config(name).unwrap();
    let spec = ModelSpec::from_config(&config);
    let exact = PerfModel::vllm_exact_lenient(&spec, d);
    let corrected = CorrectedModel::new(
        &spec,
        d,
        &WeightWidths::from_config(&config, &spec, d.dtype),
        k,
    )
    .unwrap();
    (
        pick(&exact, ctx, component),
        pick(&corrected, ctx, component),
    )
}

fn pick(model: &impl CostModel, ctx: &ExecutionContext, component: &str) -> StepTotals {
    let mut out = StepTotals::default();
    model.visit_components(ctx, &mut |name, t| {
        if name == component {
            out = t;
        }
    });
    out
}

fn exact_term(
    name: &str,
    d: &Deployment,
    ctx: &ExecutionContext,
    metric: Metric,
    key: &str,
) -> u128 {
    let spec = presets::spec(name).unwrap();
    PerfModel::vllm_exact_lenient(&spec, d)
        .breakdown(metric, ctx, true)
        .get(key)
        .unwrap_or(0)
}

#[test]
fn causal_halving_of_prefill_attention() {
    let d = deployment(1, 1, false);
    let ctx = ExecutionContext::from_single_request(4096, 4096, true);
    let (exact, corrected) = side_by_side("llama-3.1-8b", &d, 0, &ctx, "attn");
    // vLLM: attn_qk = attn_av = 2 × 32 heads × 4096² × 128 × 32 layers.
    let vllm_scores = 2 * 2 * 32 * 4096 * 4096 * 128 * 32u128;
    // Causal: 4096 × 4097 / 2 pairs instead of 4096².
    let causal_scores = 2 * 2 * 32 * (4096 * 4097 / 2) * 128 * 32u128;
    assert_eq!(exact.flops - corrected.flops, vllm_scores - causal_scores);
    // 8.80 TFLOP billed by vLLM, 4.40 TFLOP less (49.99 %).
    assert_eq!(vllm_scores - causal_scores, 4_396_972_769_280);
}

#[test]
fn kv_context_read_at_the_cache_dtype() {
    let mut d = deployment(1, 1, false);
    d.kv_cache_dtype = "fp8".parse::<KvCacheDtype>().unwrap();
    let ctx = ExecutionContext::from_single_request(512, 4096, true);
    let vllm = exact_term(
        "llama-3.1-8b",
        &d,
        &ctx,
        Metric::ReadBytes,
        "attn.attn_input",
    );
    // vLLM: (512 × 32 + 2 × 4096 × 8) × 128 × 2 B × 32 layers, K/V at the activation dtype.
    assert_eq!(vllm, 671_088_640);
    let (exact, corrected) = side_by_side("llama-3.1-8b", &d, 0, &ctx, "attn");
    // Corrected: Q 512 × 32 × 128 × 2 B × 32 + K/V 2 × 8 × 128 × 1 B × 4096 × 32.
    assert_eq!(
        exact.read_bytes - corrected.read_bytes,
        671_088_640 - (134_217_728 + 268_435_456)
    );
}

#[test]
fn mla_decode_in_the_absorbed_form() {
    let d = deployment(1, 1, false);
    let ctx = ExecutionContext::from_single_request(1, 4096, false);
    let qk = exact_term(
        "deepseek-v2-lite",
        &d,
        &ctx,
        Metric::Flops,
        "mla_attn.attn_qk",
    );
    let av = exact_term(
        "deepseek-v2-lite",
        &d,
        &ctx,
        Metric::Flops,
        "mla_attn.attn_av",
    );
    // vLLM: 2 × 16 heads × 4096 × (128 + 64) × 27 and 2 × 16 × 4096 × 128 × 27.
    assert_eq!((qk, av), (679_477_248, 452_984_832));
    let (exact, corrected) = side_by_side("deepseek-v2-lite", &d, 0, &ctx, "mla_attn");
    // Absorbed: QK over 512 + 64 = 576 (3×), AV over 512 (4×).
    let absorbed = 2 * 16 * 4096 * (576 + 512) * 27u128;
    assert_eq!(corrected.flops - exact.flops, absorbed - (qk + av));
}

#[test]
fn expert_parallelism_without_flooring_small_batches() {
    // DeepSeek-V3 on DP4 × TP8 with EP: one decode token → vLLM's (1 × 8) // 32 = 0.
    let d = deployment(8, 4, true);
    let ctx = ExecutionContext::from_single_request(1, 100, false);
    assert_eq!(
        exact_term("deepseek-v3", &d, &ctx, Metric::Flops, "ffn.routed_ffn"),
        0
    );
    let (exact, corrected) = side_by_side("deepseek-v3", &d, 0, &ctx, "ffn");
    // Corrected: 4 DP ranks × 1 token × 8 experts / 32 GPUs = 1 assignment per GPU:
    // 6 × 7168 × 2048 × 58 MoE layers of routed FLOPs; dense and shared now over TP8.
    let routed = 6 * 7168 * 2048 * 58u128;
    let dense_and_shared_exact = 6 * 7168 * (18432 * 3 + 2048 * 58) as u128;
    assert_eq!(exact.flops, dense_and_shared_exact);
    assert_eq!(corrected.flops, routed + dense_and_shared_exact / 8);
}

#[test]
fn dense_ffn_sharded_over_tp_only() {
    // Llama-3.1-8B on DP2 × TP4: vLLM divides the MLP by dp·tp = 8; it runs over TP4.
    let d = deployment(4, 2, false);
    let ctx = ExecutionContext::from_single_request(1, 100, false);
    let (exact, corrected) = side_by_side("llama-3.1-8b", &d, 0, &ctx, "ffn");
    assert_eq!(exact.flops, 6 * 4096 * (14336 / 8) * 32);
    assert_eq!(corrected.flops, 2 * exact.flops);
}

#[test]
fn quantization_outside_the_table_keeps_every_component() {
    let d = deployment(1, 1, false);
    let config = presets::config("gpt-oss-20b").unwrap();
    let spec = ModelSpec::from_config(&config);
    assert_eq!(spec.quantization.as_deref(), Some("gpt_oss_mxfp4"));
    let exact = PerfModel::vllm_exact_lenient(&spec, &d);
    assert_eq!(exact.component_types().collect::<Vec<_>>(), ["unembed"]);
    let widths = WeightWidths::from_config(&config, &spec, d.dtype);
    // Attention is in modules_to_not_convert (BF16); experts MXFP4 = 0.5 B + 1 B / 32.
    assert_eq!((widths.attention, widths.experts), (2.0, 0.53125));
    let corrected = CorrectedModel::new(&spec, &d, &widths, 0).unwrap();
    assert_eq!(corrected.components().len(), 3);
}

#[test]
fn bit_widths_come_from_quantization_config() {
    let awq = r#"{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
        "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 100,
        "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}"#;
    let bnb = awq.replace(
        r#""quant_method": "awq", "bits": 4, "group_size": 128"#,
        r#""quant_method": "bitsandbytes", "load_in_4bit": true"#,
    );
    let width = |text: &str| {
        let config = HfConfig::from_json_str(text).unwrap();
        let spec = ModelSpec::from_config(&config);
        (
            spec.quantization.clone(),
            WeightWidths::from_config(&config, &spec, Dtype::Bfloat16),
        )
    };
    // vLLM: 0.5 B for "awq"; corrected: 4 bits + (2 B scale + 0.5 B zero) / 128.
    let (method, w) = width(awq);
    assert_eq!(
        crate::quant::vllm_weight_byte_size(method.as_deref().unwrap()).map(|n| n.to_f64()),
        None,
        "auto_awq is outside the table"
    );
    assert_eq!(w.attention, 0.5 + 2.5 / 128.0);
    // bitsandbytes NF4: 0.5 B + 4 B absmax / 64; vLLM drops attention and FFN.
    let (method, w) = width(&bnb);
    assert_eq!(
        (method.as_deref(), w.experts),
        (Some("bitsandbytes"), 0.5625)
    );
}

#[test]
fn expected_distinct_experts_under_random_routing() {
    // Mixtral (8 experts, top-2), 4 decode tokens: vLLM reads min(4 × 2, 8) = 8 experts per
    // layer; random routing touches 8 × (1 − 0.75⁴) = 5.46875 in expectation.
    assert_eq!(expected_touched_share(4.0, 2.0, 8.0) * 8.0, 5.46875);
    let d = deployment(1, 1, false);
    let mut ctx = ExecutionContext::new();
    for _ in 0..4 {
        ctx.add(1, 1000, false);
    }
    let (exact, corrected) = side_by_side("mixtral-8x7b", &d, 0, &ctx, "ffn");
    let saved = 2.53125 * 3.0 * 4096.0 * 14336.0 * 2.0 * 32.0;
    assert_eq!((exact.read_bytes - corrected.read_bytes) as f64, saved);
}

#[test]
fn tp_all_reduce_time_is_added_by_the_roofline() {
    let spec = presets::spec("llama-3.1-70b").unwrap();
    let d = deployment(8, 1, false);
    let ctx = ExecutionContext::from_single_request(1, 1000, false);
    let exact = PerfModel::vllm_exact(&spec, &d).unwrap();
    let plain = Roofline::new(H100_SXM, Efficiency::ideal());
    let with_comm = plain
        .clone()
        .with_collectives(Collectives::from_spec(&spec, &d));
    // One token: 8192 × 2 B per all-reduce, × 2·7/8, × 160 → 4,587,520 B over 450 GB/s.
    let extra = with_comm.step_time(&exact, &ctx) - plain.step_time(&exact, &ctx);
    assert_eq!(extra.as_nanos(), 10_194); // 4,587,520 / 450e9 s
}

#[test]
fn speculative_verify_steps_bill_every_logit_row() {
    // k = 3: a verify step schedules 4 tokens on top of 1000, which vLLM bills as a prefill
    // with one logit row; all 4 positions are sampled.
    let d = deployment(1, 1, false);
    let ctx = ExecutionContext::from_single_request(4, 1004, true);
    let (exact, corrected) = side_by_side("llama-3.1-8b", &d, 3, &ctx, "unembed");
    assert_eq!(exact.flops, 2 * 4096 * 128_256);
    assert_eq!(corrected.flops, 4 * exact.flops);
}

/// The model directories of the issue-12 families (`testdata/goldens/perf/configs/`).
fn golden_config(dir: &str) -> (HfConfig, ModelSpec) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/goldens/perf/configs")
        .join(dir);
    let config = HfConfig::load(&path).unwrap();
    let spec = ModelSpec::from_config(&config);
    (config, spec)
}

#[test]
fn per_layer_head_sizes_bill_each_layer_kind_with_its_own() {
    // gemma-4-26B-A4B: 25 sliding layers (head 256, 8 KV heads) and 5 full layers (head 512,
    // 2 KV heads with attention_k_eq_v). vLLM bills all 30 with head 512 and 8 KV heads.
    let (config, spec) = golden_config("gemma-4-26B-A4B-it");
    assert_eq!(
        spec.attention_by_layer_kind,
        Some(crate::spec::LayerKindAttention {
            full: (512, 2),
            sliding: (256, 8)
        })
    );
    let d = deployment(1, 1, false);
    let ctx = ExecutionContext::from_single_request(1, 100, false);
    let exact = pick(&PerfModel::vllm_exact(&spec, &d).unwrap(), &ctx, "attn");
    let widths = WeightWidths::from_config(&config, &spec, d.dtype);
    let corrected = pick(
        &CorrectedModel::new(&spec, &d, &widths, 0).unwrap(),
        &ctx,
        "attn",
    );
    // qkv 2·2816·32·512·30 + out 2·2816·16·512·30 + QK and AV 2·16·512·100·30 each.
    assert_eq!(exact.flops, 4_250_664_960);
    // qkv 2·2816·(32·256·25 + 20·512·5) + out 2·2816·16·(256·25 + 512·5)
    // + QK and AV 2·16·100·(256·25 + 512·5) each.
    assert_eq!(corrected.flops, 2_306_539_520);
}

#[test]
fn llama4_dense_layers_use_intermediate_size_mlp() {
    // Maverick: 24 dense layers of intermediate_size_mlp 16384 (vLLM: intermediate_size 8192).
    let (config, spec) = golden_config("Llama-4-Maverick-17B-128E-Instruct");
    assert_eq!(spec.dense_intermediate_size, Some(16_384));
    let d = deployment(1, 1, false);
    let ctx = ExecutionContext::from_single_request(1, 100, false);
    let exact = pick(&PerfModel::vllm_exact(&spec, &d).unwrap(), &ctx, "ffn");
    let widths = WeightWidths::from_config(&config, &spec, d.dtype);
    let corrected = pick(
        &CorrectedModel::new(&spec, &d, &widths, 0).unwrap(),
        &ctx,
        "ffn",
    );
    // Dense part 2·3·5120·I·24 per token: +2·3·5120·8192·24 with I doubled; the routed part
    // (1 of 128 experts) is the same in both for one token.
    assert_eq!(exact.flops, 2 * 6_039_797_760);
    assert_eq!(corrected.flops - exact.flops, 6_039_797_760);
}

#[test]
fn every_issue_12_family_builds_in_the_corrected_model() {
    for dir in [
        "gemma-2-9b-it",
        "gemma-2-27b-it",
        "gemma-3-4b-it",
        "gemma-3-27b-it",
        "gemma-4-26B-A4B-it",
        "DeepSeek-V3.2",
        "Llama-4-Maverick-17B-128E-Instruct",
        "Ministral-3-8B",
        "ERNIE-4.5-21B-A3B",
        "phi-4",
        "granite-3-2b",
        "OLMo-2-1124-13B",
        "Qwen3-8B-quantized.w8a8",
        "Llama-3.1-8B-Instruct-quantized.w4a16",
        "Qwen2.5-7B-Instruct-GPTQ-Int4",
        "Kimi-K2-Instruct",
        "GLM-4.7-Flash",
        "Qwen3-Next-80B-A3B-Thinking",
        "Qwen3-VL-235B-A22B-Thinking",
    ] {
        let (config, spec) = golden_config(dir);
        let d = deployment(4, 1, false);
        let widths = WeightWidths::from_config(&config, &spec, d.dtype);
        let model = CorrectedModel::new(&spec, &d, &widths, 0).unwrap();
        let names: Vec<&str> = {
            let mut v = Vec::new();
            let ctx = ExecutionContext::from_single_request(1, 1000, false);
            model.visit_components(&ctx, &mut |n, t| {
                assert!(t.flops > 0 && t.read_bytes > 0, "{dir} {n}");
                v.push(n);
            });
            v
        };
        assert_eq!(names.len(), 3, "{dir}: every component kept: {names:?}");
    }
    // The GPTQ checkpoint's width comes from its quantization_config: 4 bits + 2.5 B per 128.
    let (config, spec) = golden_config("Qwen2.5-7B-Instruct-GPTQ-Int4");
    let w = WeightWidths::from_config(&config, &spec, Dtype::Bfloat16);
    assert_eq!(w.attention, 0.5 + 2.5 / 128.0);
    // compressed-tensors W8A8: 8-bit weights (vLLM's table says 0.5 B for every
    // compressed-tensors checkpoint).
    let (config, spec) = golden_config("Qwen3-8B-quantized.w8a8");
    let w = WeightWidths::from_config(&config, &spec, Dtype::Bfloat16);
    assert_eq!(w.dense_ffn, 1.0);
}
