//! Defines [`ModelSpec`]: every architecture field the perf model needs, derived from a config
//! exactly as vLLM 0.32 derives it.
//!
//! Mirrors the getters of `ModelArchConfigConvertorBase` (and the Falcon, DBRX, Nemotron-NAS,
//! Mamba-family and Zamba2 convertors) in `vllm/transformers_utils/model_arch_config_convertor.py`,
//! `ModelConfig.get_sliding_window` and the FFN parsers of `vllm/v1/metrics/perf.py`. Head size and
//! KV heads of configs whose layers differ (Gemma 4) collapse with `max` as
//! `ModelArchitectureConfig.from_layers` does (see [`crate::per_layer`]).

use std::path::Path;

use serde_json::Value;

use crate::dtype::{Dtype, KvCacheDtype};
use crate::error::ModelError;
use crate::field::{Field, FieldIssue, coerce_int, first_present, or_default, required, truthy};
use crate::hf_config::{ConfigMap, HfConfig};
use crate::per_layer;
use crate::quant::{checkpoint_kv_cache_dtype, derive_quantization_method};

/// The model types vLLM 0.32 treats as DeepSeek-style MLA (`is_deepseek_mla`).
const MLA_MODEL_TYPES: &[&str] = &[
    "axk1",
    "deepseek_v2",
    "deepseek_v3",
    "deepseek_v32",
    "deepseek_v4",
    "deepseek_v41",
    "dots3_note",
    "deepseek_mtp",
    "k3_dspark",
    "glm5_next",
    "glm5_next_text",
    "glm_moe_dsa",
    "glm4_moe_lite",
    "glm4_moe_lite_mtp",
    "kimi_k2",
    "kimi_linear",
    "longcat_flash",
    "pangu_ultra_moe",
    "pangu_ultra_moe_mtp",
    "bailing_hybrid",
    "bailing_hybrid_mtp",
    "bailing_hybrid_v3_mtp",
    "hy_v4",
    "hy_v4_mtp",
];

/// Model types whose EAGLE wrapper is still MLA.
const EAGLE_MLA_BASES: &[&str] = &[
    "axk1",
    "deepseek_v2",
    "deepseek_v3",
    "deepseek_v32",
    "deepseek_mtp",
];

/// Multi-head latent attention dimensions (`MLAConfigParser`).
#[derive(Debug, Clone, PartialEq)]
pub struct MlaDims {
    /// `kv_lora_rank`: the compressed KV latent size.
    pub kv_lora_rank: Field,
    /// `qk_nope_head_dim`.
    pub qk_nope_head_dim: Field,
    /// `qk_rope_head_dim`.
    pub qk_rope_head_dim: Field,
    /// `v_head_dim`.
    pub v_head_dim: Field,
    /// `q_lora_rank`; `None` when absent or null (a single `q_proj`).
    pub q_lora_rank: Option<Field>,
}

/// FFN / MoE fields (`BaseFfnConfigParser`, `InterleaveMoeLayerStepParser`, `MoeLayerFreqParser`).
#[derive(Debug, Clone, PartialEq)]
pub struct FfnDims {
    /// Dense FFN intermediate size (`hidden_size × 4` when absent).
    pub intermediate_size: Field,
    /// Routed experts (0 for a dense model).
    pub num_experts: Field,
    /// Experts per token.
    pub num_experts_per_tok: Field,
    /// Expert intermediate size (falls back to `intermediate_size`).
    pub moe_intermediate_size: Field,
    /// Shared experts (`n_shared_experts` / `num_shared_experts`).
    pub num_shared_experts: Field,
    /// Layers with MoE FFNs.
    pub num_moe_layers: Field,
}

/// The architecture of a model, field by field as vLLM's perf model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// `hf_config.model_type`.
    pub model_type: Option<String>,
    /// `vocab_size` (0 when absent).
    pub vocab_size: Field,
    /// `hidden_size` (0 when absent).
    pub hidden_size: Field,
    /// `num_attention_heads` (required).
    pub num_attention_heads: Field,
    /// `num_hidden_layers` (required).
    pub num_hidden_layers: Field,
    /// Total KV heads (`get_total_num_kv_heads`).
    pub num_key_value_heads: Field,
    /// Head size (`get_head_size`).
    pub head_dim: Field,
    /// `(head_dim, num_key_value_heads)` of the full-attention layers and of the others, when
    /// per-layer overrides make them differ (Gemma 4's `global_head_dim` and K=V global layers).
    /// vLLM bills the max on every layer ([`Self::head_dim`], [`Self::num_key_value_heads`]);
    /// the corrected model uses these.
    pub attention_by_layer_kind: Option<LayerKindAttention>,
    /// `intermediate_size_mlp`: the dense layers' MLP width where it differs from the experts'
    /// `intermediate_size` (Llama 4). vLLM ignores it; the corrected model uses it.
    pub dense_intermediate_size: Option<u64>,
    /// The model-wide sliding window (`None` when absent, null or 0).
    pub sliding_window: Option<i64>,
    /// `layer_types`, when the text config holds a list.
    pub layer_types: Option<Vec<String>>,
    /// Whether vLLM runs the model with DeepSeek-style MLA.
    pub is_mla: bool,
    /// MLA dimensions (meaningful when `is_mla`).
    pub mla: MlaDims,
    /// FFN / MoE fields.
    pub ffn: FfnDims,
    /// The quantization method vLLM derives, if any.
    pub quantization: Option<String>,
    /// The KV-cache dtype a ModelOpt checkpoint declares (`kv_cache_quant_algo` /
    /// `kv_cache_scheme`), which vLLM uses for `--kv-cache-dtype auto`.
    pub checkpoint_kv_cache_dtype: Option<KvCacheDtype>,
    /// The dtype the checkpoint declares (`torch_dtype` / `dtype`).
    pub config_dtype: Option<Dtype>,
    /// `max_position_embeddings`, when present.
    pub max_position_embeddings: Option<u64>,
}

/// Attention geometry of the full-attention layers and of the sliding ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerKindAttention {
    /// `(head_dim, num_key_value_heads)` of the full-attention layers.
    pub full: (i64, i64),
    /// `(head_dim, num_key_value_heads)` of the sliding-window layers.
    pub sliding: (i64, i64),
}

impl ModelSpec {
    /// Reads a model directory or `config.json` file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::try_from_config(&HfConfig::load(path)?)
    }

    /// Derives the spec from a loaded config.
    pub fn from_config(config: &HfConfig) -> Self {
        let text = config.text();
        let is_mla = is_deepseek_mla(text);
        let num_hidden_layers = required(text, "num_hidden_layers");
        let num_experts = num_experts(text);
        Self {
            model_type: config.model_type().map(str::to_owned),
            vocab_size: or_default(text, "vocab_size", 0),
            hidden_size: or_default(text, "hidden_size", 0),
            num_attention_heads: required(text, "num_attention_heads"),
            num_key_value_heads: per_layer::collapse(text, |t| total_num_kv_heads(config, t)),
            head_dim: per_layer::collapse(text, |t| head_size(config, t, is_mla)),
            attention_by_layer_kind: attention_by_layer_kind(config, text, is_mla),
            dense_intermediate_size: text.get("intermediate_size_mlp").and_then(Value::as_u64),
            sliding_window: sliding_window(text),
            layer_types: layer_types(text),
            is_mla,
            mla: mla_dims(text),
            ffn: ffn_dims(config, &num_hidden_layers, &num_experts),
            quantization: derive_quantization_method(config),
            checkpoint_kv_cache_dtype: checkpoint_kv_cache_dtype(config),
            config_dtype: config_dtype(config),
            max_position_embeddings: text.get("max_position_embeddings").and_then(Value::as_u64),
            num_hidden_layers,
        }
    }

    /// The number of sliding-window layers among the first `layers` (vLLM's
    /// `SlidingWindowAttentionParser`): counted from `layer_types`, else `(L + 1) // 2` for
    /// gemma2, else every layer.
    pub fn num_swa_layers(&self, layers: u64) -> u64 {
        if self.sliding_window.is_none_or(|w| w <= 0) {
            return 0;
        }
        match &self.layer_types {
            Some(types) => types
                .iter()
                .take(layers as usize)
                .filter(|t| t.to_lowercase().contains("sliding"))
                .count() as u64,
            None if self.model_type.as_deref() == Some("gemma2") => layers.div_ceil(2),
            None => layers,
        }
    }
}

/// [`LayerKindAttention`] when per-layer overrides change the head size or the KV heads.
fn attention_by_layer_kind(
    config: &HfConfig,
    text: &ConfigMap,
    is_mla: bool,
) -> Option<LayerKindAttention> {
    let heads = |t: &ConfigMap| total_num_kv_heads(config, t);
    let dims = |t: &ConfigMap| head_size(config, t, is_mla);
    let (d_full, d_other) =
        per_layer::by_kind(text, dims).unwrap_or_else(|| (dims(text), dims(text)));
    let (kv_full, kv_other) =
        per_layer::by_kind(text, heads).unwrap_or_else(|| (heads(text), heads(text)));
    let kinds = LayerKindAttention {
        full: (d_full.ok()?, kv_full.ok()?),
        sliding: (d_other.ok()?, kv_other.ok()?),
    };
    (kinds.full != kinds.sliding).then_some(kinds)
}

fn is_deepseek_mla(text: &ConfigMap) -> bool {
    let present = |key: &str| text.get(key).is_some_and(|v| !v.is_null());
    let model_type = text.get("model_type").and_then(Value::as_str).unwrap_or("");
    if MLA_MODEL_TYPES.contains(&model_type) {
        return if text.contains_key("compress_ratios") {
            present("head_dim")
        } else {
            present("kv_lora_rank")
        };
    }
    if model_type == "eagle" {
        let base = text
            .get("model")
            .and_then(|m| m.get("model_type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return EAGLE_MLA_BASES.contains(&base) && present("kv_lora_rank");
    }
    false
}

/// `get_total_num_kv_heads` of one layer's text config `text`.
fn total_num_kv_heads(config: &HfConfig, text: &ConfigMap) -> Field {
    match config.model_type().unwrap_or("") {
        "falcon" | "RefinedWeb" | "RefinedWebModel" => falcon_kv_heads(text),
        "dbrx" => dbrx_kv_heads(text),
        "nemotron-nas" => nemotron_nas_kv_heads(text),
        "mamba" | "falcon_mamba" | "medusa" | "timm_wrapper" => Ok(0),
        _ => base_kv_heads(text),
    }
}

fn base_kv_heads(text: &ConfigMap) -> Field {
    const KEYS: [&str; 5] = [
        "n_head_kv",
        "num_kv_heads",
        "num_key_value_heads",
        "multi_query_group_num",
        "num_attention_groups",
    ];
    first_present(text, &KEYS)
        .map_or_else(|| or_default(text, "num_attention_heads", 0), coerce_int)
}

fn falcon_kv_heads(text: &ConfigMap) -> Field {
    let flag = |key: &str| text.get(key).is_some_and(truthy);
    if !flag("new_decoder_architecture") && flag("multi_query") {
        Ok(1)
    } else {
        base_kv_heads(text)
    }
}

fn dbrx_kv_heads(text: &ConfigMap) -> Field {
    match text.get("attn_config").and_then(Value::as_object) {
        Some(attn) => attn
            .get("kv_n_heads")
            .map_or_else(|| required(text, "num_attention_heads"), coerce_int),
        None => Err(FieldIssue::Missing),
    }
}

fn nemotron_nas_kv_heads(text: &ConfigMap) -> Field {
    let heads = required(text, "num_attention_heads")?;
    let blocks = text
        .get("block_configs")
        .and_then(Value::as_array)
        .ok_or(FieldIssue::Missing)?;
    let group = blocks
        .iter()
        .filter_map(|b| b.get("attention"))
        .find(|a| !a.get("no_op").is_some_and(truthy))
        .and_then(|a| a.get("n_heads_in_group"))
        .ok_or(FieldIssue::Missing)
        .and_then(coerce_int)?;
    if group == 0 {
        return Err(FieldIssue::NotAnInteger("n_heads_in_group = 0".to_owned()));
    }
    Ok(heads.div_euclid(group))
}

/// `get_head_size` of one layer's text config `text`.
fn head_size(config: &HfConfig, text: &ConfigMap, is_mla: bool) -> Field {
    if is_mla {
        if text.contains_key("compress_ratios") {
            return required(text, "head_dim");
        }
        return Ok(required(text, "kv_lora_rank")? + required(text, "qk_rope_head_dim")?);
    }
    if config.model_type() == Some("zamba2") {
        return or_default(text, "attention_head_dim", 0);
    }
    if matches!(
        config.model_type(),
        Some("mamba" | "falcon_mamba" | "medusa" | "timm_wrapper")
    ) {
        return Ok(0);
    }
    let explicit = text
        .get("head_dim")
        .filter(|v| !v.is_null())
        .map(coerce_int);
    if let Some(Ok(d)) = explicit
        && d > 0
    {
        return Ok(d);
    }
    if let Some(v) = text.get("hidden_size_per_head").filter(|v| !v.is_null()) {
        return coerce_int(v);
    }
    let heads = or_default(text, "num_attention_heads", 0)?;
    if heads == 0 {
        return Ok(0);
    }
    Ok(or_default(text, "hidden_size", 0)?.div_euclid(heads))
}

fn sliding_window(text: &ConfigMap) -> Option<i64> {
    // ModelConfig turns a 0 window into None ("disabled").
    text.get("sliding_window")
        .and_then(|v| coerce_int(v).ok())
        .filter(|w| *w != 0)
}

fn layer_types(text: &ConfigMap) -> Option<Vec<String>> {
    let list = text.get("layer_types")?.as_array()?;
    Some(
        list.iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
    )
}

fn mla_dims(text: &ConfigMap) -> MlaDims {
    MlaDims {
        kv_lora_rank: required(text, "kv_lora_rank"),
        qk_nope_head_dim: required(text, "qk_nope_head_dim"),
        qk_rope_head_dim: required(text, "qk_rope_head_dim"),
        v_head_dim: required(text, "v_head_dim"),
        q_lora_rank: text
            .get("q_lora_rank")
            .filter(|v| !v.is_null())
            .map(coerce_int),
    }
}

/// `get_num_experts`: first present name, a list's first element, falsy → `block_configs`.
fn num_experts(text: &ConfigMap) -> Field {
    const KEYS: [&str; 4] = [
        "num_experts",
        "moe_num_experts",
        "n_routed_experts",
        "num_local_experts",
    ];
    let value = first_present(text, &KEYS);
    if let Some(Value::Array(list)) = value {
        return list.first().map_or(Ok(0), coerce_int);
    }
    match value {
        Some(v) if truthy(v) => coerce_int(v),
        _ => Ok(max_block_experts(text)),
    }
}

fn max_block_experts(text: &ConfigMap) -> i64 {
    let Some(blocks) = text.get("block_configs").and_then(Value::as_array) else {
        return 0;
    };
    blocks
        .iter()
        .filter(|b| b.get("block_type").and_then(Value::as_str) == Some("moe"))
        .filter_map(|b| b.get("n_routed_experts").and_then(Value::as_i64))
        .fold(0, i64::max)
}

/// `get_num_experts_per_token`: first present name, a list's max, falsy → 0.
fn num_experts_per_tok(text: &ConfigMap) -> Field {
    const KEYS: [&str; 5] = [
        "num_experts_per_tok",
        "num_experts_per_token",
        "top_k_experts",
        "moe_topk",
        "moe_top_k",
    ];
    match first_present(text, &KEYS) {
        Some(Value::Array(list)) => list
            .iter()
            .map(coerce_int)
            .try_fold(0, |max, v| v.map(|v| max.max(v))),
        Some(v) if truthy(v) => coerce_int(v),
        _ => Ok(0),
    }
}

fn ffn_dims(config: &HfConfig, layers: &Field, num_experts: &Field) -> FfnDims {
    let cfg = config.ffn_config();
    let hidden = or_default(config.text(), "hidden_size", 0);
    let intermediate_size = match cfg.get("intermediate_size") {
        Some(v) => coerce_int(v),
        None => hidden.map(|h| h * 4),
    };
    let pick = |keys: &[&str]| first_present(cfg, keys).map_or(Ok(0), coerce_int);
    FfnDims {
        intermediate_size,
        num_experts: num_experts.clone(),
        num_experts_per_tok: num_experts_per_tok(config.text()),
        moe_intermediate_size: pick(&["moe_intermediate_size", "intermediate_size"]),
        num_shared_experts: pick(&["n_shared_experts", "num_shared_experts"]),
        num_moe_layers: num_moe_layers(cfg, layers, num_experts),
    }
}

/// `L` for MoE models, then overridden by `interleave_moe_layer_step`, then by
/// `moe_layer_freq` + `first_k_dense_replace` (last writer wins, as in vLLM's chain).
fn num_moe_layers(cfg: &ConfigMap, layers: &Field, num_experts: &Field) -> Field {
    let layers = *layers.as_ref().map_err(Clone::clone)?;
    let is_moe = num_experts.as_ref().is_ok_and(|n| *n != 0);
    let mut count = if is_moe { layers } else { 0 };
    let layer_range = 0..layers.max(0);
    if let Some(step) = cfg.get("interleave_moe_layer_step") {
        let step = coerce_int(step)?;
        if step > 0 {
            count = layer_range.clone().filter(|i| (i + 1) % step == 0).count() as i64;
        }
    }
    if let (Some(freq), Some(first_dense)) =
        (cfg.get("moe_layer_freq"), cfg.get("first_k_dense_replace"))
    {
        let (freq, first_dense) = (coerce_int(freq)?, coerce_int(first_dense)?);
        if freq == 0 {
            return Err(FieldIssue::NotAnInteger("moe_layer_freq = 0".to_owned()));
        }
        count = layer_range
            .filter(|i| *i >= first_dense && i.rem_euclid(freq) == 0)
            .count() as i64;
    }
    Ok(count)
}

fn config_dtype(config: &HfConfig) -> Option<Dtype> {
    let read = |map: &ConfigMap| {
        ["dtype", "torch_dtype"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .and_then(Dtype::parse)
    };
    read(config.root()).or_else(|| read(config.text()))
}
