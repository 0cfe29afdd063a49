//! Provides [`WeightWidths`]: bytes per weight for attention, dense FFN and expert weights,
//! read from `quantization_config` instead of vLLM's 19-name table.
//!
//! Bits come from `bits` / `w_bit` / `weight_bits` / `num_bits` (or compressed-tensors'
//! `config_groups.*.weights`), block scales add `scale bytes / group size` (FP16 scale plus a
//! packed 4-bit zero point for GPTQ/AWQ-style methods, one byte for MXFP4's E8M0 per 32 and
//! NVFP4's FP8 per 16), and layers named in `modules_to_not_convert` / `ignore` keep the model
//! dtype. A method with no readable width falls back to the model dtype with a note — never
//! dropping a component, as vLLM does (model-anchors.md §5 #4, #5).

use serde_json::Value;

use crate::dtype::Dtype;
use crate::hf_config::{ConfigMap, HfConfig};
use crate::quant::quantization_config;
use crate::spec::ModelSpec;

/// Bytes per weight of each weight family.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightWidths {
    /// Attention projections.
    pub attention: f64,
    /// Dense FFN and shared experts.
    pub dense_ffn: f64,
    /// Routed experts.
    pub experts: f64,
    /// Why a width fell back to the model dtype, if one did.
    pub note: Option<String>,
}

impl WeightWidths {
    /// Every weight at the model dtype.
    pub fn unquantized(dtype: Dtype) -> Self {
        let w = dtype.size() as f64;
        Self {
            attention: w,
            dense_ffn: w,
            experts: w,
            note: None,
        }
    }

    /// Reads the widths from the checkpoint's `quantization_config`.
    pub fn from_config(config: &HfConfig, spec: &ModelSpec, dtype: Dtype) -> Self {
        let (Some(method), Some(qc)) = (spec.quantization.as_deref(), quantization_config(config))
        else {
            return Self::unquantized(dtype);
        };
        let dense = dtype.size() as f64;
        let Some(width) = quantized_width(method, qc) else {
            return Self {
                note: Some(format!(
                    "quantization `{method}` has no readable bit width: weights counted at {dtype}"
                )),
                ..Self::unquantized(dtype)
            };
        };
        let ignored = |needle: &str| ignore_list(qc).iter().any(|m| m.contains(needle));
        let attention_kept = ignored("self_attn") || ignored(".attn") || method == "gpt_oss_mxfp4";
        Self {
            attention: if attention_kept { dense } else { width },
            dense_ffn: if ignored("shared_expert") {
                dense
            } else {
                width
            },
            experts: width,
            note: None,
        }
    }
}

/// Bytes per weight of a quantized matrix, scales included.
fn quantized_width(method: &str, qc: &ConfigMap) -> Option<f64> {
    let (bits, group, scale_bytes) = match method {
        "mxfp4" | "gpt_oss_mxfp4" => (4.0, 32.0, 1.0),
        "modelopt_fp4" | "petit_nvfp4" => (4.0, 16.0, 1.0),
        m if m.contains("fp8") || m == "modelopt" || m == "modelopt_mxfp8" => (8.0, 0.0, 0.0),
        "bitsandbytes" => bnb_bits(qc)?,
        _ => {
            let bits = read_bits(qc)?;
            (bits, read_group(qc).unwrap_or(0.0), 2.5)
        }
    };
    let scales = if group > 0.0 {
        scale_bytes / group
    } else {
        0.0
    };
    Some(bits / 8.0 + scales)
}

fn bnb_bits(qc: &ConfigMap) -> Option<(f64, f64, f64)> {
    let flag = |key: &str| qc.get(key).and_then(Value::as_bool).unwrap_or(false);
    if flag("load_in_4bit") {
        Some((4.0, 64.0, 4.0))
    } else if flag("load_in_8bit") {
        Some((8.0, 0.0, 0.0))
    } else {
        None
    }
}

fn read_bits(qc: &ConfigMap) -> Option<f64> {
    ["bits", "w_bit", "weight_bits", "num_bits"]
        .iter()
        .find_map(|k| qc.get(*k).and_then(Value::as_f64))
        .or_else(|| group_weights(qc)?.get("num_bits")?.as_f64())
}

fn read_group(qc: &ConfigMap) -> Option<f64> {
    ["group_size", "q_group_size"]
        .iter()
        .find_map(|k| qc.get(*k).and_then(Value::as_f64))
        .or_else(|| group_weights(qc)?.get("group_size")?.as_f64())
        .filter(|g| *g > 0.0)
}

/// compressed-tensors: the first `config_groups.*.weights`.
fn group_weights(qc: &ConfigMap) -> Option<&ConfigMap> {
    qc.get("config_groups")?
        .as_object()?
        .values()
        .find_map(|g| g.get("weights")?.as_object())
}

fn ignore_list(qc: &ConfigMap) -> Vec<&str> {
    ["modules_to_not_convert", "ignore", "ignored_layers"]
        .iter()
        .filter_map(|k| qc.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}
