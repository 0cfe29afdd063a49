//! Derives the quantization method vLLM 0.32 would pick for a checkpoint, and the weight byte
//! size its perf model assigns to each method name.
//!
//! Mirrors `ModelArchConfigConvertorBase.get_quantization_config` (normalisation) and
//! `ModelConfig._verify_quantization` (the override probes) in vLLM 0.32, for a GPU platform:
//! `gptq` → `auto_gptq`, `awq` → `auto_awq`, `auto-round` → `inc`, gpt-oss `mxfp4` →
//! `gpt_oss_mxfp4`, ModelOpt `quant_algo` → `modelopt*`. The byte sizes mirror
//! `_QUANT_WEIGHT_BYTE_SIZE` in `vllm/v1/metrics/perf.py`.

use serde_json::Value;

use crate::dtype::KvCacheDtype;
use crate::field::truthy;
use crate::hf_config::{ConfigMap, HfConfig};
use crate::pynum::Num;

/// The 19-name table of vLLM 0.32's perf model: method → bytes per weight. Python keeps `1` as
/// an `int` and `0.5` as a `float`, which decides where the formulas switch to float.
const WEIGHT_BYTE_SIZE: &[(&str, Num)] = &[
    ("fp8", Num::Int(1)),
    ("fbgemm_fp8", Num::Int(1)),
    ("ptpc_fp8", Num::Int(1)),
    ("fp_quant", Num::Int(1)),
    ("modelopt", Num::Int(1)),
    ("modelopt_mxfp8", Num::Int(1)),
    ("mxfp4", Num::Float(0.5)),
    ("awq", Num::Float(0.5)),
    ("awq_marlin", Num::Float(0.5)),
    ("gptq", Num::Float(0.5)),
    ("gptq_marlin", Num::Float(0.5)),
    ("modelopt_fp4", Num::Float(0.5)),
    ("petit_nvfp4", Num::Float(0.5)),
    ("compressed-tensors", Num::Float(0.5)),
    ("torchao", Num::Float(0.5)),
    ("quark", Num::Float(0.5)),
    ("moe_wna16", Num::Float(0.5)),
    ("inc", Num::Float(0.5)),
    ("experts_int8", Num::Int(1)),
];

/// vLLM's weight byte size for a quantization method, or `None` for a name outside its table
/// (vLLM then skips the attention and FFN components).
pub fn vllm_weight_byte_size(method: &str) -> Option<Num> {
    WEIGHT_BYTE_SIZE
        .iter()
        .find(|(name, _)| *name == method)
        .map(|(_, size)| *size)
}

/// The quantization method vLLM derives from the checkpoint, if it is quantized.
pub fn derive_quantization_method(config: &HfConfig) -> Option<String> {
    let quant = quantization_config(config)?;
    let method = normalized_method(quant);
    let chosen = override_method(quant, &method, config.model_type()).unwrap_or(method);
    (!chosen.is_empty()).then_some(chosen)
}

/// The raw `quantization_config` (or compressed-tensors' `compression_config`), looked up on
/// the root config and then on `text_config`.
pub fn quantization_config(config: &HfConfig) -> Option<&ConfigMap> {
    own_quantization_config(config.root()).or_else(|| {
        config
            .root()
            .get("text_config")
            .and_then(Value::as_object)
            .and_then(own_quantization_config)
    })
}

/// The KV-cache dtype a ModelOpt checkpoint declares, which vLLM 0.32 uses for
/// `--kv-cache-dtype auto`: `resolve_kv_cache_dtype_string` → `get_kv_cache_quant_algo_string`
/// (vllm/utils/torch_utils.py), reading the root `quantization_config` after
/// `_normalize_quantization_config` set its `quant_method`. Only a method starting with
/// `modelopt` is read; the first truthy of `quantization.kv_cache_scheme`, `kv_cache_scheme`,
/// `quantization.kv_cache_quant_algo`, `kv_cache_quant_algo` decides: a `{dynamic: false,
/// num_bits: 8, type: float}` scheme is `fp8`, a 4-bit float scheme `nvfp4`, the strings `fp8` /
/// `nvfp4` (any case) are `fp8_e4m3` / `nvfp4`; anything else, or nothing, leaves `auto`.
pub fn checkpoint_kv_cache_dtype(config: &HfConfig) -> Option<KvCacheDtype> {
    let quant = config
        .root()
        .get("quantization_config")
        .and_then(Value::as_object)?;
    if !normalized_method(quant).starts_with("modelopt") {
        return None;
    }
    let inner = quant
        .get("quantization")
        .and_then(Value::as_object)
        .unwrap_or(quant);
    let algo = [
        inner.get("kv_cache_scheme"),
        quant.get("kv_cache_scheme"),
        inner.get("kv_cache_quant_algo"),
        quant.get("kv_cache_quant_algo"),
    ]
    .into_iter()
    .flatten()
    .find(|v| truthy(v))?;
    let name = match algo {
        Value::Object(scheme) => {
            let is = |key: &str, want: Value| scheme.get(key) == Some(&want);
            if is("dynamic", Value::Bool(false))
                && is("num_bits", 8.into())
                && is("type", "float".into())
            {
                "fp8"
            } else if is("num_bits", 4.into()) && is("type", "float".into()) {
                "nvfp4"
            } else {
                return None;
            }
        }
        Value::String(s) => match s.to_lowercase().as_str() {
            "fp8" => "fp8_e4m3",
            "nvfp4" => "nvfp4",
            _ => return None,
        },
        _ => return None,
    };
    name.parse().ok()
}

fn own_quantization_config(map: &ConfigMap) -> Option<&ConfigMap> {
    map.get("quantization_config")
        .filter(|v| !v.is_null())
        .or_else(|| map.get("compression_config"))
        .and_then(Value::as_object)
}

fn normalized_method(quant: &ConfigMap) -> String {
    if let Some(method) = modelopt_producer_method(quant) {
        return method.to_owned();
    }
    quant
        .get("quant_method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase()
        .replace("compressed_tensors", "compressed-tensors")
}

/// Checkpoints written by the ModelOpt producer name their method through `quant_algo`.
fn modelopt_producer_method(quant: &ConfigMap) -> Option<&'static str> {
    let producer = quant.get("producer")?.get("name")?.as_str()?;
    let section = quant.get("quantization")?;
    let is_legacy = section.get("modelopt_quant_config").is_some();
    if producer != "modelopt" && !is_legacy {
        return None;
    }
    match section.get("quant_algo")?.as_str()?.to_uppercase().as_str() {
        "FP8" | "FP8_PER_CHANNEL_PER_TOKEN" | "FP8_PB_WO" => Some("modelopt"),
        "NVFP4" => Some("modelopt_fp4"),
        _ => None,
    }
}

/// The override probes of `_verify_quantization`, in vLLM's order of preference.
fn override_method(quant: &ConfigMap, method: &str, model_type: Option<&str>) -> Option<String> {
    let chosen = match method {
        "gptq" => "auto_gptq",
        "awq" => "auto_awq",
        "auto-round" => "inc",
        "mxfp4" | "gpt_oss_mxfp4" if model_type == Some("gpt_oss") => "gpt_oss_mxfp4",
        m if m.starts_with("modelopt") => modelopt_algo_method(quant)?,
        _ => return None,
    };
    Some(chosen.to_owned())
}

fn modelopt_algo_method(quant: &ConfigMap) -> Option<&'static str> {
    let algo = quant
        .get("quantization")
        .and_then(|q| q.get("quant_algo"))
        .or_else(|| quant.get("quant_algo"))?
        .as_str()?
        .to_uppercase();
    if algo == "FP8" {
        Some("modelopt")
    } else if algo.contains("FP4") {
        Some("modelopt_fp4")
    } else if algo.contains("MXFP8") {
        Some("modelopt_mxfp8")
    } else if algo == "MIXED_PRECISION" {
        Some("modelopt_mixed")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(json: &str) -> Option<String> {
        derive_quantization_method(&HfConfig::from_json_str(json).unwrap())
    }

    #[test]
    fn overrides_follow_vllm() {
        assert_eq!(
            method(r#"{"quantization_config":{"quant_method":"awq"}}"#).unwrap(),
            "auto_awq"
        );
        assert_eq!(
            method(r#"{"quantization_config":{"quant_method":"GPTQ"}}"#).unwrap(),
            "auto_gptq"
        );
        assert_eq!(
            method(r#"{"model_type":"gpt_oss","num_hidden_layers":1,"quantization_config":{"quant_method":"mxfp4"}}"#).unwrap(),
            "gpt_oss_mxfp4"
        );
        assert_eq!(
            method(r#"{"quantization_config":{"quant_method":"mxfp4"}}"#).unwrap(),
            "mxfp4"
        );
        assert_eq!(
            method(r#"{"quantization_config":{"quant_method":"compressed_tensors"}}"#).unwrap(),
            "compressed-tensors"
        );
        assert_eq!(
            method(r#"{"quantization_config":{"quant_method":"modelopt","quant_algo":"NVFP4"}}"#)
                .unwrap(),
            "modelopt_fp4"
        );
        assert_eq!(method(r#"{"hidden_size":8}"#), None);
    }

    #[test]
    fn byte_sizes_keep_python_int_and_float() {
        assert_eq!(vllm_weight_byte_size("fp8"), Some(Num::Int(1)));
        assert_eq!(
            vllm_weight_byte_size("compressed-tensors"),
            Some(Num::Float(0.5))
        );
        assert_eq!(vllm_weight_byte_size("auto_awq"), None);
        assert_eq!(vllm_weight_byte_size("gpt_oss_mxfp4"), None);
    }
}
