//! Provides per-layer config overrides: transformers' `per_layer_config` and vLLM 0.32's
//! whole-model collapse of fields that vary by layer.
//!
//! transformers 5.x config classes may declare that some layers differ (Gemma 4's full-attention
//! layers use `global_head_dim` and, with `attention_k_eq_v`, `num_global_key_value_heads`).
//! vLLM's `ModelArchConfigConvertorBase.convert` then converts each layer separately and
//! `ModelArchitectureConfig.from_layers` (vllm/config/model_arch.py) collapses a numeric field
//! that varies with `max`, "so buffers are sized for the largest layer". The perf model reads
//! those whole-model values (`get_head_size`, `get_total_num_kv_heads`), so a Gemma 4 model is
//! billed with the global head size on every layer.

use serde_json::{Map, Value, json};

use crate::field::{Field, truthy};
use crate::hf_config::ConfigMap;

/// The key transformers stores per-layer overrides under (`layer index → {attribute: value}`).
pub(crate) const PER_LAYER_CONFIG: &str = "per_layer_config";

/// `Gemma4TextConfig.__post_init__`: unless the config already carries `per_layer_config`, every
/// `full_attention` layer gets `head_dim = global_head_dim` (default 512) and, when
/// `attention_k_eq_v` is true and `num_global_key_value_heads` is set, that KV-head count.
pub(crate) fn gemma4_per_layer_config(map: &mut ConfigMap) {
    if map.contains_key(PER_LAYER_CONFIG) {
        return;
    }
    let mut overrides = Map::new();
    overrides.insert(
        "head_dim".into(),
        map.get("global_head_dim").cloned().unwrap_or(json!(512)),
    );
    let k_eq_v = map.get("attention_k_eq_v").is_some_and(truthy);
    if let Some(kv) = map
        .get("num_global_key_value_heads")
        .filter(|v| k_eq_v && !v.is_null())
    {
        overrides.insert("num_key_value_heads".into(), kv.clone());
    }
    let Some(types) = map.get("layer_types").and_then(Value::as_array) else {
        return;
    };
    let layers: Map<String, Value> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| t.as_str() == Some("full_attention"))
        .map(|(i, _)| (i.to_string(), Value::Object(overrides.clone())))
        .collect();
    map.insert(PER_LAYER_CONFIG.into(), Value::Object(layers));
}

/// `field` of the whole model as vLLM collapses it: `field(text)` when no layer overrides it,
/// else the max over layers, each read from `text` with that layer's overrides applied (layers
/// without an override count with the base value only if some layer has none).
pub(crate) fn collapse(text: &ConfigMap, field: impl Fn(&ConfigMap) -> Field) -> Field {
    let base = field(text);
    let Some(per_layer) = text.get(PER_LAYER_CONFIG).and_then(Value::as_object) else {
        return base;
    };
    let layers = text
        .get("num_hidden_layers")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let overridden = per_layer
        .keys()
        .filter(|k| k.parse::<u64>().is_ok_and(|i| i < layers))
        .count() as u64;
    let mut values = Vec::new();
    if overridden < layers || per_layer.is_empty() {
        values.push(base);
    }
    for overrides in per_layer.values().filter_map(Value::as_object) {
        let mut layer = text.clone();
        layer.remove(PER_LAYER_CONFIG);
        layer.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        values.push(field(&layer));
    }
    values
        .into_iter()
        .try_fold(i64::MIN, |max, v| v.map(|v| max.max(v)))
}

/// `field` of the full-attention layers and of the other layers, when per-layer overrides make
/// them differ (`None` otherwise): the first overridden layer's value, and the base value.
/// vLLM bills the collapsed max ([`collapse`]); the corrected model bills each kind with its own.
pub(crate) fn by_kind(
    text: &ConfigMap,
    field: impl Fn(&ConfigMap) -> Field,
) -> Option<(Field, Field)> {
    let overrides = text
        .get(PER_LAYER_CONFIG)
        .and_then(Value::as_object)?
        .values()
        .find_map(Value::as_object)?;
    let mut base = text.clone();
    base.remove(PER_LAYER_CONFIG);
    let mut layer = base.clone();
    layer.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    let (full, other) = (field(&layer), field(&base));
    (full != other).then_some((full, other))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> ConfigMap {
        let mut map: ConfigMap = serde_json::from_str(json).unwrap();
        gemma4_per_layer_config(&mut map);
        map
    }

    fn read(key: &'static str) -> impl Fn(&ConfigMap) -> Field {
        move |m| crate::field::coerce_int(&m[key])
    }

    #[test]
    fn global_head_dim_and_k_eq_v_heads_override_full_layers_and_collapse_with_max() {
        let map = text(
            r#"{"num_hidden_layers":3,"head_dim":256,"global_head_dim":512,
                "num_key_value_heads":8,"num_global_key_value_heads":2,"attention_k_eq_v":true,
                "layer_types":["sliding_attention","sliding_attention","full_attention"]}"#,
        );
        assert_eq!(map[PER_LAYER_CONFIG]["2"]["head_dim"], 512);
        assert_eq!(map[PER_LAYER_CONFIG]["2"]["num_key_value_heads"], 2);
        assert_eq!(collapse(&map, read("head_dim")), Ok(512));
        assert_eq!(collapse(&map, read("num_key_value_heads")), Ok(8));
    }

    #[test]
    fn without_k_eq_v_the_global_kv_heads_are_ignored() {
        let map = text(
            r#"{"num_hidden_layers":2,"head_dim":256,"num_key_value_heads":4,
                "num_global_key_value_heads":1,
                "layer_types":["sliding_attention","full_attention"]}"#,
        );
        assert!(
            map[PER_LAYER_CONFIG]["1"]
                .get("num_key_value_heads")
                .is_none()
        );
        assert_eq!(
            collapse(&map, read("head_dim")),
            Ok(512),
            "global_head_dim defaults to 512"
        );
    }

    #[test]
    fn by_kind_gives_the_full_and_the_other_layers_values() {
        let map = text(
            r#"{"num_hidden_layers":2,"head_dim":256,"global_head_dim":512,
                "layer_types":["sliding_attention","full_attention"]}"#,
        );
        assert_eq!(by_kind(&map, read("head_dim")), Some((Ok(512), Ok(256))));
        let plain: ConfigMap = serde_json::from_str(r#"{"head_dim":128}"#).unwrap();
        assert_eq!(by_kind(&plain, read("head_dim")), None);
    }

    #[test]
    fn all_layers_overridden_drops_the_base_value() {
        let map = text(
            r#"{"num_hidden_layers":1,"head_dim":256,"global_head_dim":128,
                "layer_types":["full_attention"]}"#,
        );
        assert_eq!(collapse(&map, read("head_dim")), Ok(128));
    }
}
