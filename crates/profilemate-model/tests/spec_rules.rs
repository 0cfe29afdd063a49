//! One test per config-derivation rule of vLLM 0.32 (model-anchors.md §2.2).

use profilemate_model::field::FieldIssue;
use profilemate_model::{Deployment, Dtype, HfConfig, ModelSpec, PerfModel};
use serde_json::{Value, json};

fn spec(config: Value) -> ModelSpec {
    ModelSpec::from_config(&HfConfig::from_map(config.as_object().unwrap().clone()).unwrap())
}

#[test]
fn kv_heads_key_order_and_default() {
    let s = spec(json!({"num_attention_heads": 32, "n_head_kv": 4, "num_key_value_heads": 8}));
    assert_eq!(s.num_key_value_heads, Ok(4), "n_head_kv comes first");
    let s = spec(json!({"num_attention_heads": 32, "multi_query_group_num": 2}));
    assert_eq!(s.num_key_value_heads, Ok(2));
    let s = spec(json!({"num_attention_heads": 32}));
    assert_eq!(
        s.num_key_value_heads,
        Ok(32),
        "MHA when no KV key is present"
    );
}

#[test]
fn falcon_multi_query_override() {
    let s = spec(json!({"model_type": "falcon", "num_attention_heads": 71, "multi_query": true}));
    assert_eq!(s.num_key_value_heads, Ok(1));
    let s = spec(
        json!({"model_type": "falcon", "num_attention_heads": 128, "multi_query": true,
                         "new_decoder_architecture": true, "num_kv_heads": 8}),
    );
    assert_eq!(
        s.num_key_value_heads,
        Ok(8),
        "the new decoder architecture ignores multi_query"
    );
}

#[test]
fn dbrx_reads_attn_config() {
    let s = spec(
        json!({"model_type": "dbrx", "num_attention_heads": 48, "attn_config": {"kv_n_heads": 8}}),
    );
    assert_eq!(s.num_key_value_heads, Ok(8));
}

#[test]
fn head_dim_fallbacks() {
    assert_eq!(
        spec(json!({"num_attention_heads": 32, "hidden_size": 4096, "head_dim": 256})).head_dim,
        Ok(256)
    );
    assert_eq!(
        spec(json!({"num_attention_heads": 32, "hidden_size": 4096, "head_dim": null})).head_dim,
        Ok(128)
    );
    assert_eq!(
        spec(json!({"num_attention_heads": 32, "hidden_size": 4096, "head_dim": 0})).head_dim,
        Ok(128)
    );
    assert_eq!(
        spec(json!({"num_attention_heads": 32, "hidden_size": 4096, "hidden_size_per_head": 96}))
            .head_dim,
        Ok(96)
    );
    assert_eq!(
        spec(json!({"num_attention_heads": 0, "hidden_size": 4096})).head_dim,
        Ok(0)
    );
}

#[test]
fn mla_detection_needs_the_model_type_and_a_kv_lora_rank() {
    let mla = json!({"model_type": "kimi_k2", "num_attention_heads": 64, "kv_lora_rank": 512,
                     "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128});
    let s = spec(mla.clone());
    assert!(s.is_mla);
    assert_eq!(
        s.head_dim,
        Ok(576),
        "MLA head size = kv_lora_rank + qk_rope_head_dim"
    );
    let mut not_listed = mla.clone();
    not_listed["model_type"] = json!("llama");
    assert!(!spec(not_listed).is_mla);
    let mut no_rank = mla;
    no_rank["kv_lora_rank"] = Value::Null;
    assert!(!spec(no_rank).is_mla);
}

#[test]
fn expert_key_names() {
    let s = spec(
        json!({"num_attention_heads": 8, "num_hidden_layers": 4, "moe_num_experts": 16,
                         "moe_topk": 2}),
    );
    assert_eq!(
        (s.ffn.num_experts.clone(), s.ffn.num_experts_per_tok.clone()),
        (Ok(16), Ok(2))
    );
    let s = spec(
        json!({"num_attention_heads": 8, "num_experts": [64, 64], "num_experts_per_tok": [2, 6]}),
    );
    assert_eq!(
        (s.ffn.num_experts.clone(), s.ffn.num_experts_per_tok.clone()),
        (Ok(64), Ok(6))
    );
    let s =
        spec(json!({"num_attention_heads": 8, "num_shared_experts": 2, "intermediate_size": 100}));
    assert_eq!(s.ffn.num_shared_experts, Ok(2));
    assert_eq!(
        s.ffn.moe_intermediate_size,
        Ok(100),
        "falls back to intermediate_size"
    );
}

#[test]
fn moe_layer_counts() {
    let s = spec(
        json!({"num_attention_heads": 8, "num_hidden_layers": 32, "num_local_experts": 64,
                         "interleave_moe_layer_step": 4}),
    );
    assert_eq!(s.ffn.num_moe_layers, Ok(8));
    let s = spec(
        json!({"num_attention_heads": 8, "num_hidden_layers": 30, "n_routed_experts": 64,
                         "moe_layer_freq": 3, "first_k_dense_replace": 6}),
    );
    assert_eq!(s.ffn.num_moe_layers, Ok(8), "layers 6, 9, …, 27");
    let s = spec(json!({"num_attention_heads": 8, "num_hidden_layers": 30}));
    assert_eq!(s.ffn.num_moe_layers, Ok(0));
}

#[test]
fn sliding_window_rules() {
    let uniform = spec(
        json!({"model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
                               "sliding_window": 4096}),
    );
    assert_eq!(
        (uniform.sliding_window, uniform.num_swa_layers(32)),
        (Some(4096), 32)
    );
    let gemma =
        spec(json!({"model_type": "gemma2", "num_attention_heads": 8, "num_hidden_layers": 26}));
    assert_eq!(
        (gemma.sliding_window, gemma.num_swa_layers(26)),
        (Some(4096), 13)
    );
    let zero = spec(json!({"num_attention_heads": 8, "num_hidden_layers": 4, "sliding_window": 0}));
    assert_eq!((zero.sliding_window, zero.num_swa_layers(4)), (None, 0));
    let qwen_off = spec(
        json!({"model_type": "qwen2", "num_attention_heads": 8, "num_hidden_layers": 4,
                                "sliding_window": 131072, "use_sliding_window": false}),
    );
    assert_eq!(qwen_off.num_swa_layers(4), 0);
    let chunked = spec(
        json!({"num_attention_heads": 8, "num_hidden_layers": 3, "sliding_window": 64,
                              "layer_types": ["chunked_attention", "Sliding_Attention", "full_attention"]}),
    );
    assert_eq!(
        chunked.num_swa_layers(3),
        1,
        "only names containing 'sliding' count, case-insensitively"
    );
}

#[test]
fn disable_sliding_window_bills_full_attention() {
    let s = spec(
        json!({"model_type": "mistral", "num_attention_heads": 32, "num_key_value_heads": 8,
                         "num_hidden_layers": 2, "hidden_size": 4096, "vocab_size": 32000,
                         "intermediate_size": 14336, "sliding_window": 1024}),
    );
    let mut ctx = profilemate_model::ExecutionContext::new();
    ctx.add(1, 8192, false);
    let on = PerfModel::vllm_exact(&s, &Deployment::new(Dtype::Bfloat16)).unwrap();
    let off = PerfModel::vllm_exact(
        &s,
        &Deployment {
            disable_sliding_window: true,
            ..Deployment::new(Dtype::Bfloat16)
        },
    )
    .unwrap();
    let key = |m: &PerfModel| {
        m.breakdown(profilemate_model::Metric::Flops, &ctx, true)
            .get("attn.attn_qk")
    };
    assert_eq!(
        key(&off).unwrap(),
        8 * key(&on).unwrap(),
        "8192 context vs a 1024 window"
    );
}

#[test]
fn missing_and_null_fields_skip_components_with_their_name() {
    let s = spec(json!({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10}));
    assert_eq!(s.num_attention_heads, Err(FieldIssue::Missing));
    let err = PerfModel::vllm_exact(&s, &Deployment::new(Dtype::Bfloat16))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Missing required attr num_attention_heads"),
        "{err}"
    );

    let s = spec(
        json!({"num_attention_heads": 4, "hidden_size": 64, "num_hidden_layers": 2,
                         "vocab_size": 10, "intermediate_size": null}),
    );
    let m = PerfModel::vllm_exact(&s, &Deployment::new(Dtype::Bfloat16)).unwrap();
    assert_eq!(m.component_types().collect::<Vec<_>>(), ["attn", "unembed"]);
    let ffn = m.skipped().iter().find(|s| s.component == "ffn").unwrap();
    assert_eq!(ffn.reason, "`intermediate_size` is null");
}

#[test]
fn zero_or_negative_sizes_are_named() {
    let s = spec(
        json!({"num_attention_heads": 4, "hidden_size": -64, "num_hidden_layers": 2,
                         "vocab_size": 10, "intermediate_size": 8}),
    );
    let err = PerfModel::vllm_exact(&s, &Deployment::new(Dtype::Bfloat16))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`hidden_size` must be > 0 (got -64)"), "{err}");
}
