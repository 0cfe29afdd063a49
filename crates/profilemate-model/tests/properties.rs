//! Property tests: the model's algebra where vLLM's arithmetic guarantees it, and a parser that
//! never panics on arbitrary JSON.

use profilemate_model::{
    Deployment, Dtype, ExecutionContext, HfConfig, Metric, ModelSpec, ParallelConfig, PerfModel,
    presets,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn batch() -> impl Strategy<Value = Vec<(u64, u64, bool)>> {
    prop::collection::vec((1u64..4096, 0u64..65536, any::<bool>()), 1..24).prop_map(|rows| {
        rows.into_iter()
            .map(|(n, extra, p)| (n, n + extra, p))
            .collect()
    })
}

fn context(rows: &[(u64, u64, bool)]) -> ExecutionContext {
    let mut ctx = ExecutionContext::new();
    for &(n, c, p) in rows {
        ctx.add(n, c, p);
    }
    ctx
}

fn deployment(tp: u64, pp: u64) -> Deployment {
    Deployment {
        parallel: ParallelConfig::new(tp, pp, 1, false).unwrap(),
        ..Deployment::new(Dtype::Bfloat16)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn totals_equal_the_sum_of_breakdowns(rows in batch(), preset in prop::sample::select(presets::names()), per_gpu: bool) {
        let spec = presets::spec(preset).unwrap();
        let model = PerfModel::vllm_exact_lenient(&spec, &deployment(2, 2));
        let ctx = context(&rows);
        for metric in Metric::ALL {
            prop_assert_eq!(model.total(metric, &ctx, per_gpu), model.breakdown(metric, &ctx, per_gpu).total());
        }
    }

    /// Attention bills `L / pp` as a float, so per-GPU × pp sums back to the whole model
    /// (to float precision) even when pp does not divide the layer count.
    #[test]
    fn attention_per_gpu_times_pp_is_the_whole_model(rows in batch(), pp in 1u64..8) {
        let spec = presets::spec("llama-3.1-8b").unwrap();
        let model = PerfModel::vllm_exact(&spec, &deployment(1, pp)).unwrap();
        let ctx = context(&rows);
        for metric in Metric::ALL {
            let per_gpu = model.breakdown(metric, &ctx, true);
            let whole = model.breakdown(metric, &ctx, false);
            for (key, value) in whole.iter().filter(|(k, _)| k.starts_with("attn.")) {
                let scaled = per_gpu.get(key).unwrap() as f64 * pp as f64;
                prop_assert!((scaled - value as f64).abs() <= value as f64 * 1e-9 + pp as f64, "{key}: {scaled} vs {value}");
            }
        }
    }

    /// FFN and MLA use `L // pp`: exact when pp divides the layer count.
    #[test]
    fn integer_layer_split_is_exact_when_pp_divides(rows in batch(), pp in prop::sample::select(vec![1u64, 3, 9, 27])) {
        let spec = presets::spec("deepseek-v2-lite").unwrap();
        let model = PerfModel::vllm_exact(&spec, &deployment(1, pp)).unwrap();
        let ctx = context(&rows);
        let per_gpu = model.breakdown(Metric::Flops, &ctx, true);
        let whole = model.breakdown(Metric::Flops, &ctx, false);
        prop_assert_eq!(per_gpu.get("mla_attn.attn_qk").unwrap() * u128::from(pp), whole.get("mla_attn.attn_qk").unwrap());
    }

    #[test]
    fn arbitrary_json_configs_never_panic(config in arbitrary_config(), rows in batch()) {
        if let Ok(cfg) = HfConfig::from_map(config) {
            let spec = ModelSpec::from_config(&cfg);
            let model = PerfModel::vllm_exact_lenient(&spec, &deployment(2, 2));
            let ctx = context(&rows);
            for metric in Metric::ALL {
                let _ = model.breakdown(metric, &ctx, true);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = HfConfig::from_json_str(&text);
    }
}

/// Configs built from the keys the parsers read, with arbitrary JSON values.
fn arbitrary_config() -> impl Strategy<Value = Map<String, Value>> {
    const KEYS: &[&str] = &[
        "model_type",
        "hidden_size",
        "num_attention_heads",
        "num_hidden_layers",
        "num_key_value_heads",
        "head_dim",
        "vocab_size",
        "intermediate_size",
        "sliding_window",
        "layer_types",
        "num_experts",
        "num_experts_per_tok",
        "moe_intermediate_size",
        "n_shared_experts",
        "interleave_moe_layer_step",
        "moe_layer_freq",
        "first_k_dense_replace",
        "kv_lora_rank",
        "q_lora_rank",
        "qk_rope_head_dim",
        "qk_nope_head_dim",
        "v_head_dim",
        "quantization_config",
        "text_config",
        "use_sliding_window",
        "multi_query",
        "attn_config",
        "block_configs",
        "max_window_layers",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..5000).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "gemma2",
            "qwen2",
            "deepseek_v3",
            "falcon",
            "dbrx",
            "sliding_attention",
            "fp8",
            "awq"
        ])
        .prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(
        prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        value,
        0..16,
    )
    .prop_map(|m| m.into_iter().collect())
}
