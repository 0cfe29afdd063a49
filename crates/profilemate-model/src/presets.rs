//! Provides model presets: popular `config.json` files compiled into the binary, so nothing
//! needs a download.
//!
//! The configs are copies of the public checkpoints' `config.json` (for DeepSeek-V3 and
//! gpt-oss-120b, transcribed from their published configs).

use crate::error::ModelError;
use crate::hf_config::HfConfig;
use crate::spec::ModelSpec;

/// `(name, Hugging Face repository, config.json text)`.
const PRESETS: &[(&str, &str, &str)] = &[
    (
        "llama-3.1-8b",
        "meta-llama/Llama-3.1-8B",
        include_str!("../presets/llama-3.1-8b.json"),
    ),
    (
        "llama-3.1-70b",
        "meta-llama/Llama-3.1-70B-Instruct",
        include_str!("../presets/llama-3.1-70b.json"),
    ),
    (
        "llama-4-scout",
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        include_str!("../presets/llama-4-scout.json"),
    ),
    (
        "qwen3-8b",
        "Qwen/Qwen3-8B",
        include_str!("../presets/qwen3-8b.json"),
    ),
    (
        "qwen3-30b-a3b",
        "Qwen/Qwen3-30B-A3B",
        include_str!("../presets/qwen3-30b-a3b.json"),
    ),
    (
        "mistral-7b",
        "mistralai/Mistral-7B-v0.1",
        include_str!("../presets/mistral-7b.json"),
    ),
    (
        "mixtral-8x7b",
        "mistralai/Mixtral-8x7B-v0.1",
        include_str!("../presets/mixtral-8x7b.json"),
    ),
    (
        "deepseek-v2-lite",
        "deepseek-ai/DeepSeek-V2-Lite",
        include_str!("../presets/deepseek-v2-lite.json"),
    ),
    (
        "deepseek-v3",
        "deepseek-ai/DeepSeek-V3",
        include_str!("../presets/deepseek-v3.json"),
    ),
    (
        "gpt-oss-20b",
        "openai/gpt-oss-20b",
        include_str!("../presets/gpt-oss-20b.json"),
    ),
    (
        "gpt-oss-120b",
        "openai/gpt-oss-120b",
        include_str!("../presets/gpt-oss-120b.json"),
    ),
    (
        "tiny-llama",
        "(profilemate's tiny test model: 4 layers, hidden 256)",
        include_str!("../presets/tiny-llama.json"),
    ),
];

/// The preset names, in listing order.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(name, _, _)| *name).collect()
}

/// `(name, source repository)` for every preset.
pub fn list() -> impl Iterator<Item = (&'static str, &'static str)> {
    PRESETS.iter().map(|(name, repo, _)| (*name, *repo))
}

/// The config of a preset.
pub fn config(name: &str) -> Result<HfConfig, ModelError> {
    let (_, _, text) =
        PRESETS
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| ModelError::UnknownPreset {
                name: name.to_owned(),
                available: names(),
            })?;
    HfConfig::from_json_str(text)
}

/// The [`ModelSpec`] of a preset.
pub fn spec(name: &str) -> Result<ModelSpec, ModelError> {
    Ok(ModelSpec::from_config(&config(name)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_has_the_core_fields() {
        for name in names() {
            let spec = spec(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(spec.hidden_size.clone().unwrap() > 0, "{name}");
            assert!(spec.num_hidden_layers.clone().unwrap() > 0, "{name}");
        }
    }

    #[test]
    fn unknown_preset_lists_the_available_ones() {
        let err = spec("llama-9").unwrap_err().to_string();
        assert!(
            err.contains("llama-9") && err.contains("llama-3.1-8b"),
            "{err}"
        );
    }
}
