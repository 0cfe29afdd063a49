//! Resolves `--model` as vLLM users spell it (a preset, a Hugging Face id, a cached model, a
//! local directory) and `--config`, into a loaded config: the one home of model resolution.

use std::path::Path;

use profilemate_model::hf_cache::{self, HubEnv};
use profilemate_model::{HfConfig, ModelError, presets};

/// The model every command runs when neither `--model` nor `--config` is given.
pub(crate) const DEFAULT_MODEL: &str = "llama-3.1-8b";

/// How many presets a "did you mean" names.
const SUGGESTIONS: usize = 3;

/// Loads the model `--model NAME` names, trying in turn, as vLLM finds a model: a local
/// directory (or `config.json` file); a preset by name or Hugging Face id (any case); the
/// model's `config.json` in the local Hugging Face cache; a preset by a loose spelling
/// (`Llama-3.1-8B`, `llama3.1-8b`). Otherwise the error names the nearest presets.
pub(crate) fn load_model(name: &str) -> anyhow::Result<HfConfig> {
    let path = Path::new(name);
    if path.exists() {
        return load_config("--model", path);
    }
    if let Some(preset) = presets::find_exact(name) {
        return Ok(presets::config(preset)?);
    }
    let hub = HubEnv::from_env().hub_dir();
    if hf_cache::is_repo_id(name)
        && let Some(config) = hub
            .as_deref()
            .and_then(|h| hf_cache::cached_config(h, name))
    {
        return load_config("--model", &config);
    }
    if let Some(preset) = presets::find_loose(name) {
        return Ok(presets::config(preset)?);
    }
    anyhow::bail!("{}", unknown_model(name, hub.as_deref()))
}

/// Loads `--config PATH` (a model directory or its `config.json`).
pub(crate) fn load_config(flag: &str, path: &Path) -> anyhow::Result<HfConfig> {
    HfConfig::load(path).map_err(|e| match e {
        ModelError::NoConfigJson { .. } => anyhow::anyhow!("{flag} {}: {e}", path.display()),
        other => {
            anyhow::Error::new(other).context(format!("cannot load {flag} {}", path.display()))
        }
    })
}

/// The one-line error for a name nothing matched: the nearest presets and what else to give.
fn unknown_model(name: &str, hub: Option<&Path>) -> String {
    let nearest = presets::nearest(name, SUGGESTIONS);
    let cache = match hub {
        Some(dir) if hf_cache::is_repo_id(name) => format!(
            ", not in the Hugging Face cache ({})",
            dir.join(hf_cache::repo_folder_name(name)).display()
        ),
        _ => String::new(),
    };
    format!(
        "--model {name}: no preset{cache} and no such directory; did you mean {}? \
         (`profilemate estimate --help` lists the presets; for another model give --config DIR, \
         a directory with its config.json)",
        nearest.join(", ")
    )
}
