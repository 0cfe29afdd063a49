//! Defines [`DeploymentArgs`]: the model and deployment flags shared by `estimate`, `kv` and the
//! simulator commands, resolved into a config, a spec and a [`Deployment`].

use std::path::PathBuf;

use clap::Args;
use profilemate_model::{Deployment, Dtype, HfConfig, KvCacheDtype, ModelSpec, ParallelConfig};

use crate::commands::model_source::{DEFAULT_MODEL, load_config, load_model};

/// `--dtype` and `--kv-cache-dtype`'s default: from the checkpoint.
const AUTO: &str = "auto";

/// Which model, and how it is run.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeploymentArgs {
    /// The model, as vLLM's `--model`: a Hugging Face id (`meta-llama/Llama-3.1-8B`,
    /// `Qwen/Qwen3-30B-A3B`, …; a preset's, or one in the local Hugging Face cache), a preset
    /// name (`llama-3.1-8b`, `llama-3.1-70b`, `llama-4-scout`, `qwen3-8b`, `qwen3-30b-a3b`,
    /// `mistral-7b`, `mixtral-8x7b`, `deepseek-v2-lite`, `deepseek-v3`, `gpt-oss-20b`,
    /// `gpt-oss-120b`, `llama-4-maverick`, `deepseek-v3.2`, `gemma-2-9b`, `gemma-2-27b`,
    /// `gemma-3-4b`, `gemma-3-27b`, `phi-4`, `olmo-2-13b`, `ernie-4.5-21b-a3b`, `tiny-llama`; any
    /// case, loose spellings such as `llama3.1-8b`), or a model directory [default: llama-3.1-8b]
    #[arg(long, conflicts_with = "config")]
    pub(crate) model: Option<String>,
    /// A Hugging Face `config.json`, or the model directory holding it (instead of --model).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Model dtype: auto (from the config; float32 checkpoints run in bfloat16), bfloat16,
    /// float16, float32.
    #[arg(long, default_value = AUTO)]
    pub(crate) dtype: String,
    /// KV-cache dtype: auto (the model dtype), fp8, fp8_e4m3, fp8_e5m2, fp8_ds_mla, …
    #[arg(long, default_value = AUTO)]
    pub(crate) kv_cache_dtype: String,
    /// Tensor-parallel size.
    #[arg(
        long = "tensor-parallel-size",
        short = 't',
        visible_alias = "tp",
        default_value_t = 1
    )]
    pub(crate) tp: u64,
    /// Pipeline-parallel size.
    #[arg(
        long = "pipeline-parallel-size",
        visible_alias = "pp",
        default_value_t = 1
    )]
    pub(crate) pp: u64,
    /// Data-parallel size.
    #[arg(long = "data-parallel-size", visible_alias = "dp", default_value_t = 1)]
    pub(crate) dp: u64,
    /// Spread MoE experts with expert parallelism.
    #[arg(long)]
    pub(crate) enable_expert_parallel: bool,
    /// Treat every layer as full attention (vLLM's `--disable-sliding-window`).
    #[arg(long)]
    pub(crate) disable_sliding_window: bool,
}

/// The resolved model and deployment.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The model as the user named it (preset, Hugging Face id, directory) or the config path;
    /// `sim serve` serves it under this name, as vLLM serves `--model`.
    pub(crate) label: String,
    /// The loaded config (the corrected model reads `quantization_config` from it).
    pub(crate) config: HfConfig,
    /// The architecture, as vLLM derives it.
    pub(crate) spec: ModelSpec,
    /// Dtypes and parallel layout.
    pub(crate) deployment: Deployment,
}

impl DeploymentArgs {
    /// Loads the model (`--model`, `--config`, else [`DEFAULT_MODEL`]) and checks the
    /// deployment flags.
    pub(crate) fn resolve(&self) -> anyhow::Result<Setup> {
        let (label, config) = match (&self.model, &self.config) {
            (Some(name), _) => (name.clone(), load_model(name)?),
            (None, Some(path)) => (path.display().to_string(), load_config("--config", path)?),
            (None, None) => (DEFAULT_MODEL.to_owned(), load_model(DEFAULT_MODEL)?),
        };
        let spec = ModelSpec::try_from_config(&config)?;
        let deployment = Deployment {
            dtype: resolve_dtype(&self.dtype, &spec)?,
            kv_cache_dtype: self.kv_cache_dtype.parse::<KvCacheDtype>()?,
            parallel: ParallelConfig::new(self.tp, self.pp, self.dp, self.enable_expert_parallel)?,
            disable_sliding_window: self.disable_sliding_window,
        };
        Ok(Setup {
            label,
            config,
            spec,
            deployment,
        })
    }
}

impl Setup {
    /// `model` (else [`DEFAULT_MODEL`]) deployed with the deployment flags' defaults: dtypes
    /// from the checkpoint, one GPU.
    pub(crate) fn load(model: Option<&str>) -> anyhow::Result<Setup> {
        let label = model.unwrap_or(DEFAULT_MODEL).to_owned();
        let config = load_model(&label)?;
        let spec = ModelSpec::try_from_config(&config)?;
        let deployment = Deployment {
            dtype: resolve_dtype(AUTO, &spec)?,
            kv_cache_dtype: KvCacheDtype::Auto,
            parallel: ParallelConfig::default(),
            disable_sliding_window: false,
        };
        Ok(Setup {
            label,
            config,
            spec,
            deployment,
        })
    }
}

/// `auto` takes the checkpoint's dtype, running float32 checkpoints in bfloat16 as vLLM does on
/// GPUs; a config without a dtype runs in bfloat16.
fn resolve_dtype(flag: &str, spec: &ModelSpec) -> anyhow::Result<Dtype> {
    if flag != AUTO {
        return Ok(flag.parse::<Dtype>()?);
    }
    Ok(match spec.config_dtype {
        Some(Dtype::Float32) | None => Dtype::Bfloat16,
        Some(dtype) => dtype,
    })
}
