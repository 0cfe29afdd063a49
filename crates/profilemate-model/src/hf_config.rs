//! Provides [`HfConfig`]: a Hugging Face `config.json` as vLLM 0.32 sees it.
//!
//! vLLM reads a config *object* built by transformers, not the raw JSON: class defaults and
//! `__post_init__` rules apply (see [`crate::class_defaults`]), a separate
//! `hf_quant_config.json` beside `config.json` is merged in (ModelOpt ≤ 0.29), and two
//! different "text config" nestings are used by different parts of the perf model.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::class_defaults::apply_class_defaults;
use crate::error::ModelError;

/// A JSON object, the shape of every (sub-)config.
pub type ConfigMap = Map<String, Value>;

/// The keys transformers' `get_text_config()` searches, in its order.
const TEXT_CONFIG_KEYS: [&str; 4] = ["text_encoder", "decoder", "generator", "text_config"];

/// A loaded model config with transformers' class behaviour applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    root: ConfigMap,
    text_key: Option<&'static str>,
}

impl HfConfig {
    /// Loads `config.json` from a model directory, or the given file. In a directory, a
    /// `hf_quant_config.json` beside it supplies `quantization_config` when the config has none.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let (config_path, dir) = if path.is_dir() {
            let config = path.join("config.json");
            if !config.exists() {
                return Err(ModelError::NoConfigJson {
                    dir: path.to_path_buf(),
                });
            }
            (config, Some(path))
        } else {
            (path.to_path_buf(), path.parent())
        };
        let mut root = read_json_object(&config_path)?;
        let separate_quant = dir
            .map(|d| d.join("hf_quant_config.json"))
            .filter(|p| p.is_file() && !root.contains_key("quantization_config"));
        if let Some(quant) = separate_quant {
            root.insert(
                "quantization_config".into(),
                Value::Object(read_json_object(&quant)?),
            );
        }
        Self::from_map(root)
    }

    /// Builds a config from JSON text (a preset, or a test's inline config).
    pub fn from_json_str(text: &str) -> Result<Self, ModelError> {
        let value: Value = serde_json::from_str(text).map_err(|source| ModelError::Json {
            path: PathBuf::from("<inline config>"),
            source,
        })?;
        match value {
            Value::Object(map) => Self::from_map(map),
            _ => Err(not_an_object("<inline config>")),
        }
    }

    /// Builds a config from an already parsed JSON object.
    pub fn from_map(mut root: ConfigMap) -> Result<Self, ModelError> {
        apply_class_defaults(&mut root, None);
        let text_key = select_text_config(&root)?;
        Ok(Self { root, text_key })
    }

    /// The top-level config (`hf_config`).
    pub fn root(&self) -> &ConfigMap {
        &self.root
    }

    /// The text config (`hf_text_config`): the single non-null sub-config under
    /// `text_encoder`, `decoder`, `generator` or `text_config`, else the root.
    pub fn text(&self) -> &ConfigMap {
        self.text_key
            .and_then(|k| self.root.get(k))
            .and_then(Value::as_object)
            .unwrap_or(&self.root)
    }

    /// The config the FFN parsers read: `hf_config.text_config` when present and not null,
    /// else `hf_config` (a different nesting from [`HfConfig::text`]).
    pub fn ffn_config(&self) -> &ConfigMap {
        self.root
            .get("text_config")
            .and_then(Value::as_object)
            .unwrap_or(&self.root)
    }

    /// `hf_config.model_type`.
    pub fn model_type(&self) -> Option<&str> {
        self.root.get("model_type").and_then(Value::as_str)
    }
}

fn select_text_config(root: &ConfigMap) -> Result<Option<&'static str>, ModelError> {
    let present: Vec<&'static str> = TEXT_CONFIG_KEYS
        .into_iter()
        .filter(|k| root.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    match present.as_slice() {
        [] => Ok(None),
        [key] => validate_text_config(root, key).map(|()| Some(*key)),
        keys => Err(ModelError::InvalidConfig {
            field: keys.join(", "),
            reason: "are all present: a config may hold only one text sub-config".to_owned(),
        }),
    }
}

fn validate_text_config(root: &ConfigMap, key: &str) -> Result<(), ModelError> {
    let Some(sub) = root.get(key).and_then(Value::as_object) else {
        return Err(ModelError::InvalidConfig {
            field: key.to_owned(),
            reason: "must be a JSON object".to_owned(),
        });
    };
    if sub.contains_key("num_attention_heads") {
        Ok(())
    } else {
        Err(ModelError::InvalidConfig {
            field: format!("{key}.num_attention_heads"),
            reason: "is missing: the text sub-config must define it".to_owned(),
        })
    }
}

fn read_json_object(path: &Path) -> Result<ConfigMap, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(not_an_object(&path.display().to_string())),
        Err(source) => Err(ModelError::Json {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn not_an_object(origin: &str) -> ModelError {
    ModelError::InvalidConfig {
        field: origin.to_owned(),
        reason: "is not a JSON object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_config_is_the_single_sub_config() {
        let cfg = HfConfig::from_json_str(
            r#"{"model_type":"llava","text_config":{"num_attention_heads":8,"hidden_size":64}}"#,
        )
        .unwrap();
        assert_eq!(cfg.text()["hidden_size"], 64);
        assert_eq!(cfg.ffn_config()["hidden_size"], 64);
    }

    #[test]
    fn decoder_nesting_differs_for_the_ffn_view() {
        let cfg = HfConfig::from_json_str(
            r#"{"hidden_size":1,"decoder":{"num_attention_heads":8,"hidden_size":64}}"#,
        )
        .unwrap();
        assert_eq!(cfg.text()["hidden_size"], 64);
        assert_eq!(cfg.ffn_config()["hidden_size"], 1);
    }

    #[test]
    fn two_text_configs_are_an_error() {
        let err = HfConfig::from_json_str(
            r#"{"decoder":{"num_attention_heads":8},"text_config":{"num_attention_heads":8}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("decoder, text_config"), "{err}");
    }

    #[test]
    fn sub_config_without_heads_is_an_error_naming_the_field() {
        let err = HfConfig::from_json_str(r#"{"text_config":{"hidden_size":8}}"#).unwrap_err();
        assert!(
            err.to_string().contains("text_config.num_attention_heads"),
            "{err}"
        );
    }

    #[test]
    fn non_object_json_is_an_error() {
        assert!(HfConfig::from_json_str("[1,2]").is_err());
        assert!(HfConfig::from_json_str("{").is_err());
    }
}
