//! Anchor values computed by executing vLLM 0.32's own `perf.py` on the scenarios of its unit
//! tests (`tests/v1/metrics/test_perf_metrics.py`), recorded in
//! `shared/reference/model-anchors.md` §3.3. Configs are written inline with the inputs listed
//! there; every total is an exact integer from vLLM.

use profilemate_model::{
    Deployment, Dtype, ExecutionContext, HfConfig, KvCacheDtype, Metric, ModelSpec, ParallelConfig,
    PerfModel, StepInput, StepRequest,
};
use serde_json::{Value, json};

fn spec(config: Value) -> ModelSpec {
    ModelSpec::from_config(&HfConfig::from_map(config.as_object().unwrap().clone()).unwrap())
}

fn deployment(tp: u64, pp: u64, dp: u64, ep: bool) -> Deployment {
    Deployment {
        parallel: ParallelConfig::new(tp, pp, dp, ep).unwrap(),
        ..Deployment::new(Dtype::Bfloat16)
    }
}

fn totals(spec: &ModelSpec, d: &Deployment, ctx: &ExecutionContext, per_gpu: bool) -> [u128; 3] {
    let m = PerfModel::vllm_exact(spec, d).unwrap();
    let t = m.totals(ctx, per_gpu);
    [t.flops, t.read_bytes, t.write_bytes]
}

fn batch(rows: &[(u64, u64, bool)]) -> ExecutionContext {
    let mut ctx = ExecutionContext::new();
    for &(n, c, p) in rows {
        ctx.add(n, c, p);
    }
    ctx
}

fn dsv3(layers: u64, with_q_lora: bool) -> Value {
    let mut cfg = json!({
        "model_type": "deepseek_v3", "hidden_size": 7168, "num_attention_heads": 128,
        "num_key_value_heads": 128, "num_hidden_layers": layers, "kv_lora_rank": 512,
        "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
        "vocab_size": 129280, "intermediate_size": 18432, "moe_intermediate_size": 2048,
        "n_routed_experts": 256, "num_experts_per_tok": 8, "n_shared_experts": 1,
        "first_k_dense_replace": 3, "moe_layer_freq": 1
    });
    if with_q_lora {
        cfg["q_lora_rank"] = json!(1536);
    }
    cfg
}

fn llama3_8b() -> ModelSpec {
    profilemate_model::presets::spec("llama-3.1-8b").unwrap()
}

#[test]
fn mla_decode_one_layer_global() {
    let s = spec(dsv3(1, true));
    let ctx = batch(&[(1, 1024, false)]);
    let m = PerfModel::vllm_exact(&s, &deployment(1, 1, 1, false)).unwrap();
    assert_eq!(
        m.breakdown(Metric::WriteBytes, &ctx, false)
            .get("mla_attn.kv_cache"),
        Some(1152)
    );
    assert_eq!(
        totals(&s, &deployment(1, 1, 1, false), &ctx, false),
        [3_104_178_176, 3_021_725_696, 517_888]
    );
}

#[test]
fn mla_prefill_one_layer_global() {
    let s = spec(dsv3(1, true));
    let ctx = batch(&[(2048, 2048, true)]);
    let d = deployment(1, 1, 1, false);
    let flops = PerfModel::vllm_exact(&s, &d)
        .unwrap()
        .breakdown(Metric::Flops, &ctx, false);
    assert_eq!(flops.get("mla_attn.q_a_proj"), Some(45_097_156_608));
    assert_eq!(flops.get("mla_attn.kv_a_proj"), Some(16_911_433_728));
    assert_eq!(flops.get("mla_attn.q_proj"), None);
    assert_eq!(
        totals(&s, &d, &ctx, false),
        [2_735_331_606_528, 3_678_812_160, 531_362_304]
    );
}

#[test]
fn mla_kv_cache_is_far_smaller_than_mha() {
    let ctx = batch(&[(100, 100, true)]);
    let d = deployment(1, 1, 1, false);
    // q_lora_rank not given: the HF class default (1536) applies.
    let mla = PerfModel::vllm_exact(&spec(dsv3(1, false)), &d).unwrap();
    assert_eq!(
        mla.breakdown(Metric::WriteBytes, &ctx, false)
            .get("mla_attn.kv_cache"),
        Some(115_200)
    );
    let qwen = spec(json!({
        "model_type": "qwen3", "hidden_size": 7168, "num_attention_heads": 128,
        "num_key_value_heads": 128, "head_dim": 128, "num_hidden_layers": 1,
        "vocab_size": 151936, "intermediate_size": 22016
    }));
    let mha = PerfModel::vllm_exact(&qwen, &d).unwrap();
    assert_eq!(
        mha.breakdown(Metric::WriteBytes, &ctx, false)
            .get("attn.kv_cache"),
        Some(6_553_600)
    );
    assert_eq!(
        totals(&qwen, &d, &ctx, false),
        [191_472_336_896, 4_093_741_056, 32_764_672]
    );
}

#[test]
fn llama_prefill_2048_has_no_causal_halving() {
    let ctx = batch(&[(2048, 2048, true)]);
    let d = deployment(1, 1, 1, false);
    let flops =
        PerfModel::vllm_exact(&llama3_8b(), &d)
            .unwrap()
            .breakdown(Metric::Flops, &ctx, true);
    assert_eq!(flops.get("attn.attn_qk"), Some(1_099_511_627_776));
    assert_eq!(
        totals(&llama3_8b(), &d, &ctx, true),
        [30_787_376_250_880, 23_062_388_736, 7_784_884_736]
    );
}

#[test]
fn llama_64_decodes_across_dtypes_and_layouts() {
    let ctx = batch(&[(1, 2048, false); 64]);
    let s = llama3_8b();
    let base = deployment(1, 1, 1, false);
    assert_eq!(
        totals(&s, &base, &ctx, true),
        [1_029_315_756_032, 32_432_979_968, 259_686_400]
    );
    let fp8_kv = Deployment {
        kv_cache_dtype: "fp8".parse::<KvCacheDtype>().unwrap(),
        ..base.clone()
    };
    assert_eq!(
        totals(&s, &fp8_kv, &ctx, true),
        [1_029_315_756_032, 23_843_045_376, 255_492_096]
    );
    let mut fp8_weights = s.clone();
    fp8_weights.quantization = Some("fp8".into());
    assert_eq!(
        totals(&fp8_weights, &base, &ctx, true),
        [1_029_315_756_032, 25_453_658_112, 259_686_400]
    );
    assert_eq!(
        totals(&s, &deployment(4, 1, 2, false), &ctx, true),
        [167_134_625_792, 6_702_497_792, 68_067_328]
    );
}

#[test]
fn unknown_quantization_keeps_only_the_unembedding() {
    let ctx = batch(&[(1, 2048, false); 64]);
    let mut s = llama3_8b();
    s.quantization = Some("bitsandbytes".into());
    let m = PerfModel::vllm_exact(&s, &deployment(1, 1, 1, false)).unwrap();
    assert_eq!(m.component_types().collect::<Vec<_>>(), ["unembed"]);
    let reasons: Vec<_> = m.skipped().iter().map(|s| s.reason.clone()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("attention metrics: bitsandbytes")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("FFN metrics: bitsandbytes")),
        "{reasons:?}"
    );
    assert_eq!(
        totals(&s, &deployment(1, 1, 1, false), &ctx, true),
        [67_243_081_728, 1_051_197_440, 16_416_768]
    );
}

#[test]
fn chunked_prefill_mixed_with_decodes() {
    let mut rows = vec![(512, 4096, true)];
    rows.extend([(1, 1024, false); 32]);
    let ctx = batch(&rows);
    assert_eq!(
        totals(&llama3_8b(), &deployment(1, 1, 1, false), &ctx, true),
        [8_744_865_890_304, 21_909_217_280, 2_076_256_768]
    );
}

#[test]
fn spec_decode_verify_steps_count_as_prefill() {
    let cached = [StepRequest {
        num_computed_tokens: 1020,
        num_scheduled_tokens: 4,
    }; 16];
    let step = StepInput {
        new_requests: &[],
        cached_requests: &cached,
    };
    let model = PerfModel::vllm_exact(&llama3_8b(), &deployment(1, 1, 1, false)).unwrap();
    let mut ctx = ExecutionContext::new();
    let stats = model.step_perf_stats(&step, &mut ctx, false);
    assert_eq!(ctx.num_prefill_requests, 16);
    assert_eq!(
        [
            stats.num_flops_per_gpu,
            stats.num_read_bytes_per_gpu,
            stats.num_write_bytes_per_gpu
        ],
        [944_523_706_368, 17_400_201_216, 247_373_824]
    );
}

#[test]
fn deepseek_v3_decode_under_tp_and_ep() {
    let s = spec(dsv3(61, true));
    let ctx = batch(&[(1, 4096, false)]);
    assert_eq!(
        totals(&s, &deployment(8, 1, 1, false), &ctx, true),
        [13_304_135_680, 11_044_451_840, 10_478_912]
    );
    assert_eq!(
        totals(&s, &deployment(8, 1, 1, true), &ctx, true),
        [19_855_114_240, 17_590_523_904, 5_572_416]
    );
    assert_eq!(
        totals(&s, &deployment(1, 1, 8, true), &ctx, true),
        [57_743_900_672, 37_574_004_736, 11_920_128]
    );
}

#[test]
fn expert_parallel_floor_zeroes_routed_experts_at_small_batch() {
    let s = spec(dsv3(61, true));
    let d = deployment(8, 1, 4, true);
    let m = PerfModel::vllm_exact(&s, &d).unwrap();
    let one = m.breakdown(Metric::Flops, &batch(&[(1, 4096, false)]), true);
    assert_eq!(
        one.get("ffn.routed_ffn"),
        Some(0),
        "1 token × 8 experts // EP 32 = 0"
    );
    let four = m.breakdown(Metric::Flops, &batch(&[(1, 4096, false); 4]), true);
    assert_eq!(four.get("ffn.routed_ffn"), Some(5_108_662_272));
}

fn qwen3_small(layers: u64, layer_types: &[&str], window: u64) -> ModelSpec {
    spec(json!({
        "model_type": "qwen3", "hidden_size": 2048, "num_attention_heads": 16,
        "num_key_value_heads": 16, "head_dim": 128, "num_hidden_layers": layers,
        "vocab_size": 151936, "intermediate_size": 22016, "use_sliding_window": true,
        "sliding_window": window, "layer_types": layer_types
    }))
}

#[test]
fn hybrid_alternating_sliding_layers() {
    let s = qwen3_small(
        4,
        &[
            "sliding_attention",
            "full_attention",
            "sliding_attention",
            "full_attention",
        ],
        1024,
    );
    let ctx = batch(&[(1, 4096, false)]);
    let d = deployment(1, 1, 1, false);
    let flops = PerfModel::vllm_exact(&s, &d)
        .unwrap()
        .breakdown(Metric::Flops, &ctx, true);
    assert_eq!(flops.get("attn.attn_qk"), Some(41_943_040));
    assert_eq!(
        totals(&s, &d, &ctx, true),
        [1_922_564_096, 1_923_162_112, 946_944]
    );
}

#[test]
fn minority_sliding_layer_survives_pipeline_parallelism() {
    let mut types = vec!["sliding_attention"];
    types.extend(["full_attention"; 5]);
    let s = qwen3_small(6, &types, 512);
    let ctx = batch(&[(1, 4096, false)]);
    let d = deployment(1, 2, 1, false);
    let flops = PerfModel::vllm_exact(&s, &d)
        .unwrap()
        .breakdown(Metric::Flops, &ctx, true);
    assert_eq!(flops.get("attn.attn_qk"), Some(42_991_616));
    assert_eq!(
        totals(&s, &d, &ctx, true),
        [1_620_574_208, 1_621_023_744, 786_176]
    );
}

#[test]
fn gemma2_alternation_under_pipeline_parallelism() {
    let s = spec(json!({
        "model_type": "gemma2", "hidden_size": 2048, "num_attention_heads": 16,
        "num_key_value_heads": 16, "head_dim": 256, "num_hidden_layers": 30,
        "vocab_size": 256000, "intermediate_size": 16384, "sliding_window": 1024
    }));
    assert_eq!(s.num_swa_layers(30), 15);
    let ctx = batch(&[(1, 4096, false)]);
    let d = deployment(1, 2, 1, false);
    let flops = PerfModel::vllm_exact(&s, &d)
        .unwrap()
        .breakdown(Metric::Flops, &ctx, true);
    assert_eq!(flops.get("attn.attn_qk"), Some(314_572_800));
    assert_eq!(
        totals(&s, &d, &ctx, true),
        [5_704_253_440, 5_706_100_736, 2_723_840]
    );
}
