//! Defines [`DeploymentArgs`]: the model and deployment flags shared by `kv` (and any command
//! that sizes a deployment on a GPU), resolved into a spec and a [`Deployment`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use profilemate_model::hardware::{self, Gpu};
use profilemate_model::{Deployment, Dtype, KvCacheDtype, ModelSpec, ParallelConfig, presets};

/// Which model, how it is run, and on which GPU.
#[derive(Debug, Args)]
pub(crate) struct DeploymentArgs {
    /// A model preset (`llama-3.1-8b`, `deepseek-v3`, …).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    pub(crate) model: Option<String>,
    /// A Hugging Face `config.json`, or the model directory holding it.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Model dtype: auto (from the config), bfloat16, float16, float32.
    #[arg(long, default_value = "auto")]
    pub(crate) dtype: String,
    /// KV-cache dtype: auto (the model dtype), fp8, fp8_e4m3, fp8_ds_mla, …
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
    /// GPU preset (`profilemate hardware list`) or a JSON file describing one.
    #[arg(long, default_value = "h100-sxm")]
    pub(crate) gpu: String,
}

/// The resolved model, deployment and GPU.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) label: String,
    pub(crate) spec: ModelSpec,
    pub(crate) deployment: Deployment,
    pub(crate) gpu: Gpu,
}

impl DeploymentArgs {
    /// Loads the model and GPU and checks the layout.
    pub(crate) fn resolve(&self) -> anyhow::Result<Resolved> {
        let (label, spec) = match (&self.model, &self.config) {
            (Some(name), _) => (name.clone(), presets::spec(name)?),
            (_, Some(path)) => {
                let spec = ModelSpec::load(path)
                    .with_context(|| format!("cannot load --config {}", path.display()))?;
                (path.display().to_string(), spec)
            }
            (None, None) => anyhow::bail!("give --model PRESET or --config PATH"),
        };
        let dtype = match self.dtype.as_str() {
            "auto" => spec
                .config_dtype
                .filter(|d| *d != Dtype::Float32)
                .unwrap_or(Dtype::Bfloat16),
            name => name.parse::<Dtype>()?,
        };
        let deployment = Deployment {
            dtype,
            kv_cache_dtype: self.kv_cache_dtype.parse::<KvCacheDtype>()?,
            parallel: ParallelConfig::new(self.tp, self.pp, self.dp, self.enable_expert_parallel)?,
            disable_sliding_window: self.disable_sliding_window,
        };
        let gpu = hardware::resolve(&self.gpu)?;
        Ok(Resolved {
            label,
            spec,
            deployment,
            gpu,
        })
    }
}
