//! Defines [`DeploymentArgs`]: the model and deployment flags shared by `estimate`, `kv` and the
//! simulator commands, resolved into a config, a spec and a [`Deployment`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use profilemate_model::{
    Deployment, Dtype, HfConfig, KvCacheDtype, ModelSpec, ParallelConfig, presets,
};

/// Which model, and how it is run.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeploymentArgs {
    /// A model preset (`llama-3.1-8b`, `deepseek-v3`, …; an unknown name lists them).
    #[arg(long, conflicts_with = "config")]
    pub(crate) model: Option<String>,
    /// A Hugging Face `config.json`, or the model directory holding it.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Model dtype: auto (from the config; float32 checkpoints run in bfloat16), bfloat16,
    /// float16, float32.
    #[arg(long, default_value = "auto")]
    pub(crate) dtype: String,
    /// KV-cache dtype: auto (the model dtype), fp8, fp8_e4m3, fp8_e5m2, fp8_ds_mla, …
    #[arg(long, default_value = "auto")]
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
    /// The preset name or config path, for display.
    pub(crate) label: String,
    /// The loaded config (the corrected model reads `quantization_config` from it).
    pub(crate) config: HfConfig,
    /// The architecture, as vLLM derives it.
    pub(crate) spec: ModelSpec,
    /// Dtypes and parallel layout.
    pub(crate) deployment: Deployment,
}

impl DeploymentArgs {
    /// Names `preset` as the model when neither `--model` nor `--config` was given.
    pub(crate) fn model_or(&mut self, preset: &str) {
        if self.model.is_none() && self.config.is_none() {
            self.model = Some(preset.to_owned());
        }
    }

    /// Loads the model and checks the deployment flags.
    pub(crate) fn resolve(&self) -> anyhow::Result<Setup> {
        let (label, config) = match (&self.model, &self.config) {
            (Some(name), _) => (name.clone(), presets::config(name)?),
            (None, Some(path)) => (
                path.display().to_string(),
                HfConfig::load(path)
                    .with_context(|| format!("cannot load --config {}", path.display()))?,
            ),
            (None, None) => anyhow::bail!("give --model PRESET or --config PATH"),
        };
        let spec = ModelSpec::from_config(&config);
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

/// `auto` takes the checkpoint's dtype, running float32 checkpoints in bfloat16 as vLLM does on
/// GPUs; a config without a dtype runs in bfloat16.
fn resolve_dtype(flag: &str, spec: &ModelSpec) -> anyhow::Result<Dtype> {
    if flag != "auto" {
        return Ok(flag.parse::<Dtype>()?);
    }
    Ok(match spec.config_dtype {
        Some(Dtype::Float32) | None => Dtype::Bfloat16,
        Some(dtype) => dtype,
    })
}
