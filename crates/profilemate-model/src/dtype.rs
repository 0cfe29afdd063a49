//! Defines the model dtype and KV-cache dtype, and their element sizes as vLLM 0.32 counts them.
//!
//! Mirrors `STR_DTYPE_TO_TORCH_DTYPE` and `get_kv_cache_torch_dtype` in
//! `vllm/utils/torch_utils.py` (vLLM 0.32).

use std::fmt;
use std::str::FromStr;

use crate::error::ModelError;

/// The dtype the model computes in (`--dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE half precision.
    Float16,
    /// bfloat16.
    Bfloat16,
    /// IEEE single precision.
    Float32,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Dtype::Float16 | Dtype::Bfloat16 => 2,
            Dtype::Float32 => 4,
        }
    }

    /// The canonical name (`float16`, `bfloat16`, `float32`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Float16 => "float16",
            Dtype::Bfloat16 => "bfloat16",
            Dtype::Float32 => "float32",
        }
    }

    /// Parses a dtype name as `--dtype` and `config.json` spell it (`half`, `float` too).
    pub fn parse(name: &str) -> Option<Dtype> {
        match name {
            "float16" | "half" | "fp16" => Some(Dtype::Float16),
            "bfloat16" | "bf16" => Some(Dtype::Bfloat16),
            "float32" | "float" | "fp32" => Some(Dtype::Float32),
            _ => None,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dtype {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dtype::parse(s).ok_or_else(|| ModelError::UnknownDtype {
            what: "dtype",
            value: s.to_owned(),
            expected: "float16, half, bfloat16, float32, float",
        })
    }
}

/// Every `--kv-cache-dtype` value of vLLM 0.32 except `auto`, with its element size in vLLM's
/// table. The 4-bit formats are stored in a `uint8` container, so vLLM counts them as 1 byte.
const KV_CACHE_DTYPES: &[(&str, u64)] = &[
    ("float16", 2),
    ("half", 2),
    ("bfloat16", 2),
    ("float32", 4),
    ("float", 4),
    ("fp8", 1),
    ("fp8_e4m3", 1),
    ("fp8_e5m2", 1),
    ("fp8_inc", 1),
    ("fp8_ds_mla", 1),
    ("nvfp4_ds_mla", 1),
    ("int8", 1),
    ("int4_per_token_head", 1),
    ("int8_per_token_head", 1),
    ("fp8_per_token_head", 1),
    ("turboquant_k8v4", 1),
    ("turboquant_4bit_nc", 1),
    ("turboquant_k3v4_nc", 1),
    ("turboquant_3bit_nc", 1),
    ("ultraquant_4bit", 1),
    ("nvfp4", 1),
    ("nvfp4_4over6", 1),
];

/// The KV-cache dtype (`--kv-cache-dtype`): `auto` follows the model dtype.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvCacheDtype {
    /// Same as the model dtype.
    Auto,
    /// A named cache format from vLLM's table.
    Named(&'static str),
}

impl KvCacheDtype {
    /// Element size in bytes as vLLM 0.32 counts it (`get_kv_cache_torch_dtype` → element size).
    pub fn size(&self, model_dtype: Dtype) -> u64 {
        match self {
            KvCacheDtype::Auto => model_dtype.size(),
            KvCacheDtype::Named(name) => KV_CACHE_DTYPES
                .iter()
                .find(|(n, _)| n == name)
                .map_or(model_dtype.size(), |(_, size)| *size),
        }
    }

    /// The name as given on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            KvCacheDtype::Auto => "auto",
            KvCacheDtype::Named(name) => name,
        }
    }
}

impl fmt::Display for KvCacheDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KvCacheDtype {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(KvCacheDtype::Auto);
        }
        KV_CACHE_DTYPES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(n, _)| KvCacheDtype::Named(n))
            .ok_or_else(|| ModelError::UnknownDtype {
                what: "kv-cache-dtype",
                value: s.to_owned(),
                expected: "auto, bfloat16, float16, fp8, fp8_e4m3, fp8_e5m2, nvfp4, …",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_vllm_table() {
        assert_eq!(KvCacheDtype::Auto.size(Dtype::Float32), 4);
        assert_eq!(KvCacheDtype::Auto.size(Dtype::Bfloat16), 2);
        let fp8: KvCacheDtype = "fp8".parse().unwrap();
        assert_eq!(fp8.size(Dtype::Float32), 1);
        let nvfp4: KvCacheDtype = "nvfp4".parse().unwrap();
        assert_eq!(
            nvfp4.size(Dtype::Bfloat16),
            1,
            "4-bit formats count 1 byte in vLLM"
        );
    }

    #[test]
    fn unknown_names_are_errors_naming_the_flag() {
        let err = "fp6".parse::<KvCacheDtype>().unwrap_err().to_string();
        assert!(
            err.contains("kv-cache-dtype") && err.contains("fp6"),
            "{err}"
        );
        let err = "int3".parse::<Dtype>().unwrap_err().to_string();
        assert!(err.contains("dtype") && err.contains("int3"), "{err}");
    }
}
