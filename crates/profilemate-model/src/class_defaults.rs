//! Applies the transformers config-class behaviour that changes what vLLM reads.
//!
//! vLLM 0.32 reads attributes of a transformers config object, so class defaults and
//! `__post_init__` rules of transformers 5.x apply before any perf formula sees a value. Only
//! the rules that change the perf model are reproduced here (sliding windows and layer types,
//! KV-head and MLA defaults). Core dimensions (`hidden_size`, `num_attention_heads`,
//! `num_hidden_layers`, `vocab_size`, `intermediate_size`) are deliberately *not* defaulted:
//! every real checkpoint writes them, and inventing a 7B model's sizes for a truncated config
//! would hide the error.

use serde_json::{Value, json};

use crate::hf_config::ConfigMap;

/// Applies the class rules of `map`'s model type (or `inherited_type` for sub-configs that
/// don't name one), recursing into a `text_config` sub-config.
pub(crate) fn apply_class_defaults(map: &mut ConfigMap, inherited_type: Option<&str>) {
    let model_type = map
        .get("model_type")
        .and_then(Value::as_str)
        .or(inherited_type)
        .map(str::to_owned);
    if let Some(Value::Object(sub)) = map.get_mut("text_config") {
        let sub_type = model_type.as_deref().map(text_model_type);
        apply_class_defaults(sub, sub_type);
    }
    if let Some(model_type) = model_type.as_deref() {
        apply_rules(map, model_type);
    }
}

fn text_model_type(parent: &str) -> &str {
    match parent {
        "llama4" => "llama4_text",
        "gemma3" => "gemma3_text",
        "gemma4" => "gemma4_text",
        other => other,
    }
}

fn apply_rules(map: &mut ConfigMap, model_type: &str) {
    if KV_HEADS_FROM_HEADS.contains(&model_type) {
        default_kv_heads(map);
    }
    match model_type {
        "qwen2" | "qwen3" => qwen_dense_window(map),
        "qwen2_moe" => qwen2_moe_window(map),
        "qwen3_moe" => gate_window(map, Value::Null),
        "mistral" => set_default(map, "sliding_window", json!(4096)),
        "gemma2" => {
            set_default(map, "sliding_window", json!(4096));
            default_layer_types(map, |i| (i + 1) % 2 != 0);
        }
        "gpt_oss" => {
            set_default(map, "sliding_window", json!(128));
            default_layer_types(map, |i| (i + 1) % 2 != 0);
        }
        "gemma3_text" => gemma3_text(map),
        "deepseek_v2" | "deepseek_v3" => deepseek_mla_defaults(map, model_type),
        "gemma4_text" => gemma4_text(map),
        "ernie4_5_moe" => ernie4_5_moe_aliases(map),
        _ => {}
    }
}

/// Classes whose `__post_init__` turns a missing or null `num_key_value_heads` into
/// `num_attention_heads`.
const KV_HEADS_FROM_HEADS: &[&str] = &[
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen3",
    "qwen2_moe",
    "qwen3_moe",
    "phi3",
    "gpt_oss",
    "llama4_text",
    "gemma2",
    "gemma3_text",
    "deepseek_v2",
    "deepseek_v3",
];

fn default_kv_heads(map: &mut ConfigMap) {
    let missing = map.get("num_key_value_heads").is_none_or(Value::is_null);
    if let (true, Some(heads)) = (missing, map.get("num_attention_heads").cloned()) {
        map.insert("num_key_value_heads".into(), heads);
    }
}

fn set_default(map: &mut ConfigMap, key: &str, value: Value) {
    map.entry(key).or_insert(value);
}

/// `sliding_window = sliding_window if use_sliding_window else <off>` (class default 4096).
fn gate_window(map: &mut ConfigMap, off: Value) {
    set_default(map, "sliding_window", json!(4096));
    let enabled = map
        .get("use_sliding_window")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !enabled {
        map.insert("sliding_window".into(), off);
    }
}

/// Qwen2 / Qwen3: gated window, then layers from `max_window_layers` on are sliding.
fn qwen_dense_window(map: &mut ConfigMap) {
    gate_window(map, Value::Null);
    let windowed = !map["sliding_window"].is_null();
    let first_window_layer = max_window_layers(map);
    default_layer_types(map, |i| windowed && i >= first_window_layer);
}

/// Qwen2-MoE: the disabled window is 0 (vLLM then drops it), and even layers below
/// `max_window_layers` are sliding when the window is on.
fn qwen2_moe_window(map: &mut ConfigMap) {
    gate_window(map, json!(0));
    let enabled = map
        .get("use_sliding_window")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let last_window_layer = max_window_layers(map);
    default_layer_types(map, |i| {
        enabled && (i + 1) % 2 != 0 && i < last_window_layer
    });
}

fn max_window_layers(map: &ConfigMap) -> u64 {
    map.get("max_window_layers")
        .and_then(Value::as_u64)
        .unwrap_or(28)
}

/// Fills `layer_types` (when absent or null) with one entry per hidden layer.
fn default_layer_types(map: &mut ConfigMap, is_sliding: impl Fn(u64) -> bool) {
    if !map.get("layer_types").is_none_or(Value::is_null) {
        return;
    }
    // A layer count beyond the limits is left for `ModelSpec::try_from_config` to refuse by
    // name rather than expanded here (36 million layers took gigabytes).
    let Some(layers) = map
        .get("num_hidden_layers")
        .and_then(Value::as_u64)
        .filter(|&n| n <= crate::limits::MAX_COUNT as u64)
    else {
        return;
    };
    let types: Vec<Value> = (0..layers)
        .map(|i| {
            let kind = if is_sliding(i) {
                "sliding_attention"
            } else {
                "full_attention"
            };
            Value::from(kind)
        })
        .collect();
    map.insert("layer_types".into(), Value::Array(types));
}

/// `Gemma3TextConfig.__post_init__` (transformers 5.19): class default window 4096, and without
/// `layer_types` every `sliding_window_pattern`-th layer (default 6) is full attention, the others
/// sliding.
fn gemma3_text(map: &mut ConfigMap) {
    set_default(map, "sliding_window", json!(4096));
    let pattern = map
        .get("sliding_window_pattern")
        .and_then(Value::as_u64)
        .filter(|&p| p > 0)
        .unwrap_or(6);
    default_layer_types(map, |i| (i + 1) % pattern != 0);
}

/// `Ernie4_5_MoeConfig.attribute_map` (transformers 5.19): `num_experts` reads
/// `moe_num_experts` and `num_experts_per_tok` reads `moe_k`, so vLLM's
/// `get_num_experts` / `get_num_experts_per_token` see ERNIE's own names through the aliases.
fn ernie4_5_moe_aliases(map: &mut ConfigMap) {
    for (alias, field) in [
        ("num_experts", "moe_num_experts"),
        ("num_experts_per_tok", "moe_k"),
    ] {
        if let Some(value) = map.get(field).cloned() {
            map.insert(alias.into(), value);
        }
    }
}

/// `Gemma4TextConfig.__post_init__` (transformers 5.19): class defaults, the 5:1 default layer
/// pattern, a last layer forced to `full_attention`, the halved window of fully bidirectional
/// models, then the per-layer overrides of the full-attention layers
/// ([`crate::per_layer::gemma4_per_layer_config`]).
fn gemma4_text(map: &mut ConfigMap) {
    for (key, value) in [
        ("sliding_window", json!(512)),
        ("head_dim", json!(256)),
        ("num_key_value_heads", json!(4)),
        ("attention_k_eq_v", json!(false)),
    ] {
        set_default(map, key, value);
    }
    if map
        .get("use_bidirectional_attention")
        .and_then(Value::as_str)
        == Some("all")
        && let Some(window) = map.get("sliding_window").and_then(Value::as_i64)
    {
        map.insert("sliding_window".into(), json!(window.div_euclid(2) + 1));
    }
    default_layer_types(map, |i| (i + 1) % 6 != 0);
    if let Some(Value::Array(types)) = map.get_mut("layer_types")
        && let Some(last) = types.last_mut()
    {
        *last = Value::from("full_attention");
    }
    crate::per_layer::gemma4_per_layer_config(map);
}

fn deepseek_mla_defaults(map: &mut ConfigMap, model_type: &str) {
    let shared = if model_type == "deepseek_v2" { 2 } else { 1 };
    for (key, value) in [
        ("kv_lora_rank", json!(512)),
        ("q_lora_rank", json!(1536)),
        ("qk_nope_head_dim", json!(128)),
        ("qk_rope_head_dim", json!(64)),
        ("v_head_dim", json!(128)),
        ("n_shared_experts", json!(shared)),
    ] {
        set_default(map, key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> ConfigMap {
        let mut map: ConfigMap = serde_json::from_str(text).unwrap();
        apply_class_defaults(&mut map, None);
        map
    }

    #[test]
    fn qwen2_window_off_unless_enabled() {
        let map = apply(r#"{"model_type":"qwen2","sliding_window":131072,"num_hidden_layers":4}"#);
        assert!(map["sliding_window"].is_null());
        assert_eq!(map["layer_types"][3], "full_attention");
    }

    #[test]
    fn qwen2_window_layers_from_max_window_layers() {
        let map = apply(
            r#"{"model_type":"qwen2","use_sliding_window":true,"sliding_window":4096,
                "max_window_layers":2,"num_hidden_layers":4}"#,
        );
        let types: Vec<&str> = map["layer_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "full_attention",
                "full_attention",
                "sliding_attention",
                "sliding_attention"
            ]
        );
    }

    #[test]
    fn qwen2_moe_disabled_window_is_zero() {
        let map = apply(r#"{"model_type":"qwen2_moe","sliding_window":131072}"#);
        assert_eq!(map["sliding_window"], 0);
    }

    #[test]
    fn mistral_window_defaults_to_4096_but_null_stays_null() {
        assert_eq!(apply(r#"{"model_type":"mistral"}"#)["sliding_window"], 4096);
        assert!(
            apply(r#"{"model_type":"mistral","sliding_window":null}"#)["sliding_window"].is_null()
        );
    }

    #[test]
    fn gemma3_every_sixth_layer_is_full_unless_the_pattern_says_otherwise() {
        let map = apply(r#"{"model_type":"gemma3_text","num_hidden_layers":7}"#);
        assert_eq!(map["sliding_window"], 4096);
        assert_eq!(map["layer_types"][5], "full_attention");
        assert_eq!(map["layer_types"][6], "sliding_attention");
        let map = apply(
            r#"{"model_type":"gemma3_text","num_hidden_layers":4,"sliding_window_pattern":2}"#,
        );
        assert_eq!(map["layer_types"][1], "full_attention");
        assert_eq!(map["layer_types"][2], "sliding_attention");
    }

    #[test]
    fn ernie_expert_names_are_aliases() {
        let map = apply(r#"{"model_type":"ernie4_5_moe","moe_num_experts":64,"moe_k":6}"#);
        assert_eq!(
            (
                map["num_experts"].as_u64(),
                map["num_experts_per_tok"].as_u64()
            ),
            (Some(64), Some(6))
        );
    }

    #[test]
    fn null_kv_heads_become_heads() {
        let map =
            apply(r#"{"model_type":"llama","num_attention_heads":32,"num_key_value_heads":null}"#);
        assert_eq!(map["num_key_value_heads"], 32);
    }

    #[test]
    fn sub_config_type_is_inherited() {
        let map = apply(
            r#"{"model_type":"gemma3","text_config":{"num_attention_heads":8,"num_hidden_layers":2}}"#,
        );
        assert_eq!(map["text_config"]["num_key_value_heads"], 8);
    }
}
