//! Regression tests for issue 12: the config fields vLLM 0.32 reads for Gemma 4 attention and for
//! a ModelOpt checkpoint's KV-cache dtype. Expected values are vLLM's own
//! (`testdata/goldens/perf/generated.jsonl.gz`, made by `tools/goldens/generate.py`).
// See: issue 12 ("The analytic model on every architecture vLLM serves").

use std::path::PathBuf;

use profilemate_model::{
    Deployment, Dtype, ExecutionContext, HfConfig, KvCacheDtype, Metric, ModelSpec, PerfModel,
};
use serde_json::{Value, json};

fn configs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/goldens/perf/configs")
}

fn gemma4_text(extra: Value) -> ModelSpec {
    let mut text = json!({
        "model_type": "gemma4_text", "hidden_size": 2816, "num_attention_heads": 16,
        "num_hidden_layers": 6, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 262144,
        "sliding_window": 1024, "intermediate_size": 2112
    });
    text.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let root = json!({"model_type": "gemma4", "text_config": text});
    ModelSpec::from_config(&HfConfig::from_map(root.as_object().unwrap().clone()).unwrap())
}

/// vLLM bills every attention layer of a Gemma 4 model with the largest per-layer head size:
/// `global_head_dim` (transformers' per-layer override of the full-attention layers) collapsed
/// with `max` in `ModelArchitectureConfig.from_layers`.
#[test]
fn gemma4_global_head_dim_is_the_head_size_vllm_bills() {
    let s = gemma4_text(json!({"global_head_dim": 512}));
    assert_eq!(s.head_dim, Ok(512));
    let s = gemma4_text(json!({"global_head_dim": 384}));
    assert_eq!(s.head_dim, Ok(384));
    assert_eq!(
        gemma4_text(json!({})).head_dim,
        Ok(512),
        "global_head_dim defaults to 512 in Gemma4TextConfig"
    );
    assert_eq!(
        s.num_swa_layers(6),
        5,
        "layer_types defaults to 5 sliding : 1 full"
    );
}

/// `attention_k_eq_v` gates `num_global_key_value_heads` on the full-attention layers; the
/// whole-model KV-head count is the max over layers.
#[test]
fn gemma4_attention_k_eq_v_gates_num_global_key_value_heads() {
    let s = gemma4_text(json!({"attention_k_eq_v": true, "num_global_key_value_heads": 2}));
    assert_eq!(s.num_key_value_heads, Ok(8), "max(8 sliding, 2 global)");
    let s = gemma4_text(json!({"attention_k_eq_v": true, "num_global_key_value_heads": 16}));
    assert_eq!(s.num_key_value_heads, Ok(16));
    let s = gemma4_text(json!({"attention_k_eq_v": false, "num_global_key_value_heads": 16}));
    assert_eq!(
        s.num_key_value_heads,
        Ok(8),
        "without attention_k_eq_v the global count is ignored"
    );
}

/// gemma-4-26B-A4B, one 2048-token prefill on one GPU: vLLM 0.32's FLOPs (the `attn_av` term was
/// half of this before the fix).
#[test]
fn gemma4_26b_prefill_flops_match_vllm() {
    let spec = ModelSpec::load(&configs().join("gemma-4-26B-A4B-it")).unwrap();
    let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
    let mut ctx = ExecutionContext::new();
    ctx.add(2048, 2048, true);
    let flops = model.breakdown(Metric::Flops, &ctx, true);
    assert_eq!(flops.get("attn.qkv_proj"), Some(5_669_356_830_720));
    assert_eq!(flops.get("attn.attn_qk"), Some(1_202_590_842_880));
    assert_eq!(flops.get("attn.attn_av"), Some(1_202_590_842_880));
    assert_eq!(flops.get("attn.out_proj"), Some(2_834_678_415_360));
}

/// A ModelOpt checkpoint's `kv_cache_quant_algo` (here in `hf_quant_config.json` beside
/// `config.json`) makes `--kv-cache-dtype auto` an FP8 cache: 1 byte per element in
/// `attn.attn_input` and `attn.kv_cache`.
#[test]
fn modelopt_kv_cache_quant_algo_makes_auto_an_fp8_cache() {
    let spec = ModelSpec::load(&configs().join("Llama-3.1-70B-Instruct-FP8")).unwrap();
    assert_eq!(
        spec.checkpoint_kv_cache_dtype,
        Some("fp8_e4m3".parse::<KvCacheDtype>().unwrap())
    );
    let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
    let mut ctx = ExecutionContext::new();
    ctx.add(1, 8192, false);
    let read = model.breakdown(Metric::ReadBytes, &ctx, true);
    let write = model.breakdown(Metric::WriteBytes, &ctx, true);
    assert_eq!(read.get("attn.attn_input"), Some(1_343_488_000));
    assert_eq!(write.get("attn.kv_cache"), Some(163_840));
}

/// `kv_cache_scheme` (newer ModelOpt) is read before `kv_cache_quant_algo`; a method other than
/// `modelopt*` never sets the cache dtype; an unknown algorithm leaves `auto`.
#[test]
fn kv_cache_scheme_and_non_modelopt_methods() {
    let load = |q: Value| {
        let root =
            json!({"num_attention_heads": 8, "num_hidden_layers": 1, "quantization_config": q});
        ModelSpec::from_config(&HfConfig::from_map(root.as_object().unwrap().clone()).unwrap())
            .checkpoint_kv_cache_dtype
    };
    let scheme = json!({"quant_method": "modelopt", "quant_algo": "NVFP4",
        "kv_cache_scheme": {"dynamic": false, "num_bits": 8, "type": "float"},
        "kv_cache_quant_algo": "NVFP4"});
    assert_eq!(load(scheme), Some("fp8".parse().unwrap()));
    let nvfp4 = json!({"producer": {"name": "modelopt"},
        "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "nvfp4"}});
    assert_eq!(load(nvfp4), Some("nvfp4".parse().unwrap()));
    let fp8_method = json!({"quant_method": "fp8", "kv_cache_quant_algo": "FP8"});
    assert_eq!(load(fp8_method), None);
    let unknown = json!({"quant_method": "modelopt", "kv_cache_quant_algo": "INT8"});
    assert_eq!(load(unknown), None);
    let null = json!({"producer": {"name": "modelopt"},
        "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": null}});
    assert_eq!(load(null), None);
}

/// One decode at context 8192 on one GPU (`per_gpu`), vLLM 0.32's FLOPs breakdown.
fn decode_8192_flops(model: &str) -> profilemate_model::Breakdown {
    let spec = ModelSpec::load(&configs().join(model)).unwrap();
    let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
    let mut ctx = ExecutionContext::new();
    ctx.add(1, 8192, false);
    model.breakdown(Metric::Flops, &ctx, true)
}

/// Gemma 3 writes no `layer_types`: `Gemma3TextConfig.__post_init__` makes every
/// `sliding_window_pattern`-th layer (6 by default) full attention, so gemma-3-27b has 10 full
/// layers of 62 with the 1,024-token window on the others (before the fix every layer was billed
/// with the window: `attn_qk` 520,093,696).
#[test]
fn gemma3_sliding_window_pattern_sets_the_full_attention_layers() {
    let flops = decode_8192_flops("gemma-3-27b-it");
    assert_eq!(flops.get("attn.attn_qk"), Some(1_107_296_256));
    assert_eq!(flops.get("attn.attn_av"), Some(1_107_296_256));
    let text = json!({"model_type": "gemma3_text", "hidden_size": 64, "num_attention_heads": 4,
        "num_hidden_layers": 12, "head_dim": 16, "sliding_window": 512,
        "sliding_window_pattern": 3});
    let root = json!({"model_type": "gemma3", "text_config": text});
    let spec =
        ModelSpec::from_config(&HfConfig::from_map(root.as_object().unwrap().clone()).unwrap());
    assert_eq!(
        spec.num_swa_layers(12),
        8,
        "pattern 3: layers 3, 6, 9, 12 full"
    );
}

/// ERNIE 4.5 names its experts `moe_num_experts` and `moe_k`; transformers'
/// `Ernie4_5_MoeConfig.attribute_map` aliases them to `num_experts` / `num_experts_per_tok`,
/// which vLLM's `get_num_experts` / `get_num_experts_per_token` read: 6 of 64 experts on every
/// layer (before the fix the FFN component was skipped).
#[test]
fn ernie_moe_k_and_moe_num_experts_are_read_through_the_aliases() {
    let spec = ModelSpec::load(&configs().join("ERNIE-4.5-21B-A3B")).unwrap();
    assert_eq!(spec.ffn.num_experts, Ok(64));
    assert_eq!(spec.ffn.num_experts_per_tok, Ok(6));
    let model = PerfModel::vllm_exact(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
    assert_eq!(
        model.component_types().collect::<Vec<_>>(),
        ["attn", "ffn", "unembed"]
    );
    let mut ctx = ExecutionContext::new();
    ctx.add(1, 1, false);
    let flops = model.breakdown(Metric::Flops, &ctx, true);
    assert_eq!(flops.get("ffn.routed_ffn"), Some(3_963_617_280));
    assert_eq!(flops.get("ffn.dense_ffn"), None, "every layer is MoE");
}

/// vLLM refuses a tensor-parallel size that does not divide `num_attention_heads`
/// (`ModelConfig.verify_with_parallel_config`: "Total number of attention heads (20) must be
/// divisible by tensor parallel size (8)"); so do we, with a typed error naming the field and TP.
/// KV heads are not checked (vLLM replicates them).
#[test]
fn attention_heads_not_divisible_by_tp_are_refused_by_name() {
    let spec = ModelSpec::load(&configs().join("ERNIE-4.5-21B-A3B")).unwrap();
    let mut deployment = Deployment::new(Dtype::Bfloat16);
    deployment.parallel = profilemate_model::ParallelConfig::new(8, 1, 1, false).unwrap();
    let err = PerfModel::vllm_exact(&spec, &deployment).unwrap_err();
    assert!(
        matches!(
            err,
            profilemate_model::ModelError::HeadsNotDivisibleByTp {
                field: "num_attention_heads",
                heads: 20,
                tp: 8
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("(1, 2, 4, 5, 10, 20)"), "{err}");
    // 4 KV heads at TP 5: the attention heads (20) divide, and vLLM accepts it.
    deployment.parallel = profilemate_model::ParallelConfig::new(5, 1, 1, false).unwrap();
    assert!(PerfModel::vllm_exact(&spec, &deployment).is_ok());
}
