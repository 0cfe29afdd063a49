//! Provides model presets: popular `config.json` files compiled into the binary, so nothing
//! needs a download.
//!
//! The configs are copies of the public checkpoints' `config.json` (for DeepSeek-V3 and
//! gpt-oss-120b, transcribed from their published configs; the issue-12 families — Gemma 2 and 3,
//! Phi-4, OLMo 2, ERNIE 4.5, DeepSeek-V3.2, Llama-4 Maverick — are the model directories of
//! `testdata/goldens/perf/configs/`, whose README gives each one's source). Each preset answers to its name
//! and to the Hugging Face ids of the checkpoints that share its config, in any case or
//! loose spelling ([`find`]).

use crate::error::ModelError;
use crate::hf_config::HfConfig;
use crate::model_name;
use crate::spec::ModelSpec;

/// One built-in model.
struct Preset {
    /// profilemate's name (`llama-3.1-8b`).
    name: &'static str,
    /// The Hugging Face repositories whose `config.json` this is (the first is where it was
    /// copied from; the others share its architecture: instruct, base or dated variants).
    hf_ids: &'static [&'static str],
    /// The `config.json` text.
    config: &'static str,
}

/// The presets, in listing order.
const PRESETS: &[Preset] = &[
    Preset {
        name: "llama-3.1-8b",
        hf_ids: &[
            "meta-llama/Llama-3.1-8B",
            "meta-llama/Llama-3.1-8B-Instruct",
            "meta-llama/Meta-Llama-3.1-8B",
            "meta-llama/Meta-Llama-3.1-8B-Instruct",
        ],
        config: include_str!("../presets/llama-3.1-8b.json"),
    },
    Preset {
        name: "llama-3.1-70b",
        hf_ids: &[
            "meta-llama/Llama-3.1-70B-Instruct",
            "meta-llama/Llama-3.1-70B",
            "meta-llama/Meta-Llama-3.1-70B-Instruct",
            "meta-llama/Meta-Llama-3.1-70B",
        ],
        config: include_str!("../presets/llama-3.1-70b.json"),
    },
    Preset {
        name: "llama-4-scout",
        hf_ids: &[
            "meta-llama/Llama-4-Scout-17B-16E-Instruct",
            "meta-llama/Llama-4-Scout-17B-16E",
        ],
        config: include_str!("../presets/llama-4-scout.json"),
    },
    Preset {
        name: "qwen3-8b",
        hf_ids: &["Qwen/Qwen3-8B", "Qwen/Qwen3-8B-Base"],
        config: include_str!("../presets/qwen3-8b.json"),
    },
    Preset {
        name: "qwen3-30b-a3b",
        hf_ids: &["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B-Base"],
        config: include_str!("../presets/qwen3-30b-a3b.json"),
    },
    Preset {
        name: "mistral-7b",
        hf_ids: &[
            "mistralai/Mistral-7B-v0.1",
            "mistralai/Mistral-7B-Instruct-v0.1",
        ],
        config: include_str!("../presets/mistral-7b.json"),
    },
    Preset {
        name: "mixtral-8x7b",
        hf_ids: &[
            "mistralai/Mixtral-8x7B-v0.1",
            "mistralai/Mixtral-8x7B-Instruct-v0.1",
        ],
        config: include_str!("../presets/mixtral-8x7b.json"),
    },
    Preset {
        name: "deepseek-v2-lite",
        hf_ids: &[
            "deepseek-ai/DeepSeek-V2-Lite",
            "deepseek-ai/DeepSeek-V2-Lite-Chat",
        ],
        config: include_str!("../presets/deepseek-v2-lite.json"),
    },
    Preset {
        name: "deepseek-v3",
        hf_ids: &[
            "deepseek-ai/DeepSeek-V3",
            "deepseek-ai/DeepSeek-V3-Base",
            "deepseek-ai/DeepSeek-V3-0324",
        ],
        config: include_str!("../presets/deepseek-v3.json"),
    },
    Preset {
        name: "gpt-oss-20b",
        hf_ids: &["openai/gpt-oss-20b"],
        config: include_str!("../presets/gpt-oss-20b.json"),
    },
    Preset {
        name: "gpt-oss-120b",
        hf_ids: &["openai/gpt-oss-120b"],
        config: include_str!("../presets/gpt-oss-120b.json"),
    },
    Preset {
        name: "llama-4-maverick",
        hf_ids: &[
            "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
            "meta-llama/Llama-4-Maverick-17B-128E",
        ],
        config: include_str!("../presets/llama-4-maverick.json"),
    },
    Preset {
        name: "deepseek-v3.2",
        hf_ids: &["deepseek-ai/DeepSeek-V3.2", "deepseek-ai/DeepSeek-V3.2-Exp"],
        config: include_str!("../presets/deepseek-v3.2.json"),
    },
    Preset {
        name: "gemma-2-9b",
        hf_ids: &["google/gemma-2-9b-it", "google/gemma-2-9b"],
        config: include_str!("../presets/gemma-2-9b.json"),
    },
    Preset {
        name: "gemma-2-27b",
        hf_ids: &["google/gemma-2-27b-it", "google/gemma-2-27b"],
        config: include_str!("../presets/gemma-2-27b.json"),
    },
    Preset {
        name: "gemma-3-4b",
        hf_ids: &["google/gemma-3-4b-it", "google/gemma-3-4b-pt"],
        config: include_str!("../presets/gemma-3-4b.json"),
    },
    Preset {
        name: "gemma-3-27b",
        hf_ids: &["google/gemma-3-27b-it", "google/gemma-3-27b-pt"],
        config: include_str!("../presets/gemma-3-27b.json"),
    },
    Preset {
        name: "phi-4",
        hf_ids: &["microsoft/phi-4"],
        config: include_str!("../presets/phi-4.json"),
    },
    Preset {
        name: "olmo-2-13b",
        hf_ids: &[
            "allenai/OLMo-2-1124-13B",
            "allenai/OLMo-2-1124-13B-Instruct",
        ],
        config: include_str!("../presets/olmo-2-13b.json"),
    },
    Preset {
        name: "ernie-4.5-21b-a3b",
        hf_ids: &[
            "baidu/ERNIE-4.5-21B-A3B-PT",
            "baidu/ERNIE-4.5-21B-A3B-Base-PT",
        ],
        config: include_str!("../presets/ernie-4.5-21b-a3b.json"),
    },
    Preset {
        name: "tiny-llama",
        hf_ids: &[],
        config: include_str!("../presets/tiny-llama.json"),
    },
];

/// What `tiny-llama` is: it has no Hugging Face repository.
const TINY_LLAMA_SOURCE: &str = "(profilemate's tiny test model: 4 layers, hidden 256)";

/// The preset names, in listing order.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// `(name, source repository)` for every preset.
pub fn list() -> impl Iterator<Item = (&'static str, &'static str)> {
    PRESETS.iter().map(|p| {
        (
            p.name,
            p.hf_ids.first().copied().unwrap_or(TINY_LLAMA_SOURCE),
        )
    })
}

/// The Hugging Face ids a preset answers to (empty for `tiny-llama`).
pub fn hf_ids(name: &str) -> &'static [&'static str] {
    PRESETS
        .iter()
        .find(|p| p.name == name)
        .map_or(&[], |p| p.hf_ids)
}

/// The preset a user's spelling names, if any: a preset name or one of its Hugging Face ids
/// (case-insensitive), else the same after [`model_name::normalise`] (`Llama-3.1-8B`,
/// `llama3.1-8b`, `acme/Llama-3.1-8B-Instruct`).
pub fn find(spelling: &str) -> Option<&'static str> {
    find_exact(spelling).or_else(|| find_loose(spelling))
}

/// The preset whose name or one of whose Hugging Face ids is `spelling`, ignoring case.
pub fn find_exact(spelling: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|p| {
            p.name.eq_ignore_ascii_case(spelling)
                || p.hf_ids.iter().any(|id| id.eq_ignore_ascii_case(spelling))
        })
        .map(|p| p.name)
}

/// The preset whose name or Hugging Face id matches `spelling` once both are normalised
/// (lowercase, no `-`, `_`, `.`, no `ORG/` prefix).
pub fn find_loose(spelling: &str) -> Option<&'static str> {
    let wanted = model_name::normalise(spelling);
    PRESETS
        .iter()
        .find(|p| spellings(p).any(|s| model_name::normalise(s) == wanted))
        .map(|p| p.name)
}

/// Up to `n` preset names nearest to `spelling` (edit distance between normalised names,
/// over each preset's name and Hugging Face ids), nearest first; ties keep listing order.
pub fn nearest(spelling: &str, n: usize) -> Vec<&'static str> {
    let wanted = model_name::normalise(spelling);
    let mut scored: Vec<(usize, usize, &'static str)> = PRESETS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let d = spellings(p)
                .map(|s| model_name::edit_distance(&wanted, &model_name::normalise(s)))
                .min()
                .unwrap_or(usize::MAX);
            (d, i, p.name)
        })
        .collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(n)
        .map(|(_, _, name)| name)
        .collect()
}

/// A preset's name and its Hugging Face ids.
fn spellings(p: &Preset) -> impl Iterator<Item = &'static str> {
    std::iter::once(p.name).chain(p.hf_ids.iter().copied())
}

/// The config of a preset, by any spelling [`find`] accepts.
pub fn config(name: &str) -> Result<HfConfig, ModelError> {
    let preset = find(name)
        .and_then(|found| PRESETS.iter().find(|p| p.name == found))
        .ok_or_else(|| ModelError::UnknownPreset {
            name: name.to_owned(),
            available: names(),
        })?;
    HfConfig::from_json_str(preset.config)
}

/// The [`ModelSpec`] of a preset.
pub fn spec(name: &str) -> Result<ModelSpec, ModelError> {
    ModelSpec::try_from_config(&config(name)?)
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
    fn hugging_face_ids_and_loose_spellings_find_their_preset() {
        for spelling in [
            "llama-3.1-8b",
            "meta-llama/Llama-3.1-8B",
            "META-LLAMA/llama-3.1-8b-instruct",
            "Llama-3.1-8B",
            "llama3.1-8b",
            "llama_3_1_8b",
            "someone/Llama-3.1-8B",
        ] {
            assert_eq!(find(spelling), Some("llama-3.1-8b"), "{spelling}");
        }
        assert_eq!(find("Qwen/Qwen3-30B-A3B"), Some("qwen3-30b-a3b"));
        assert_eq!(find("deepseek-ai/DeepSeek-V3"), Some("deepseek-v3"));
        assert_eq!(find("openai/gpt-oss-20b"), Some("gpt-oss-20b"));
        assert_eq!(find("mistralai/Mistral-7B-v0.1"), Some("mistral-7b"));
        assert_eq!(find("google/gemma-3-27b-it"), Some("gemma-3-27b"));
        assert_eq!(find("google/gemma-2-9b-it"), Some("gemma-2-9b"));
        assert_eq!(find("microsoft/phi-4"), Some("phi-4"));
        assert_eq!(find("deepseek-ai/DeepSeek-V3.2"), Some("deepseek-v3.2"));
        assert_eq!(
            find("deepseek-ai/DeepSeek-V3"),
            Some("deepseek-v3"),
            "not V3.2"
        );
        assert_eq!(
            find("meta-llama/Llama-4-Maverick-17B-128E-Instruct"),
            Some("llama-4-maverick")
        );
        assert_eq!(find("allenai/OLMo-2-1124-13B-Instruct"), Some("olmo-2-13b"));
        assert_eq!(
            find("baidu/ERNIE-4.5-21B-A3B-PT"),
            Some("ernie-4.5-21b-a3b")
        );
        assert_eq!(find("Gemma3-27B"), Some("gemma-3-27b"), "loose");
        assert_eq!(find("llama-3.1-9b"), None);
        assert_eq!(
            find_exact("llama3.1-8b"),
            None,
            "loose spellings are not exact"
        );
    }

    #[test]
    fn every_preset_but_the_test_model_has_a_hugging_face_id_that_finds_it() {
        for name in names() {
            let ids = hf_ids(name);
            assert_eq!(ids.is_empty(), name == "tiny-llama", "{name}");
            for id in ids {
                assert!(id.contains('/'), "{id}");
                assert_eq!(find_exact(id), Some(name), "{id}");
            }
        }
    }

    #[test]
    fn nearest_presets_rank_by_edit_distance() {
        assert_eq!(
            nearest("llama-3.1-9b", 2),
            ["llama-3.1-8b", "llama-3.1-70b"]
        );
        assert_eq!(nearest("Qwen/Qwen3-7B", 1), ["qwen3-8b"]);
        assert_eq!(nearest("deepsek-v3", 1), ["deepseek-v3"]);
        assert_eq!(nearest("gpt-oss-12b", 1), ["gpt-oss-120b"], "one insertion");
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
