//! Defines the flags of `estimate` and resolves them into a model and a deployment.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use profilemate_model::{Deployment, Dtype, KvCacheDtype, ModelSpec, ParallelConfig, presets};

/// Arguments of `profilemate estimate`.
#[derive(Debug, Args)]
pub(crate) struct EstimateArgs {
    /// A model preset (`llama-3.1-8b`, `deepseek-v3`, …; see the error of an unknown name).
    #[arg(long, conflicts_with = "config", required_unless_present_any = ["config", "cases"])]
    pub(crate) model: Option<String>,
    /// A Hugging Face `config.json`, or the model directory holding it.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Model dtype: auto (from the config; float32 checkpoints run in bfloat16), bfloat16,
    /// float16, float32.
    #[arg(long, default_value = "auto")]
    pub(crate) dtype: String,
    /// KV-cache dtype: auto (the model dtype), fp8, fp8_e4m3, fp8_e5m2, bfloat16, …
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
    /// A prefill request: `TOKENS` (a fresh prompt) or `TOKENS@CONTEXT` (a chunk that ends at
    /// context length CONTEXT). Repeatable.
    #[arg(long, value_name = "TOKENS[@CONTEXT]")]
    pub(crate) prefill: Vec<String>,
    /// Decode requests: `COUNT@CONTEXT` (COUNT requests, one token each, at context length
    /// CONTEXT). Repeatable.
    #[arg(long, value_name = "COUNT@CONTEXT")]
    pub(crate) decode: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Golden-case mode: answer every line of this JSONL file (schema of
    /// shared/goldens/perf/README.md), one JSON line each.
    #[arg(long, value_name = "FILE.jsonl", requires = "configs_dir")]
    pub(crate) cases: Option<PathBuf>,
    /// With --cases: the directory holding `<model>/config.json`.
    #[arg(long, value_name = "DIR")]
    pub(crate) configs_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) roofline: super::roofline::RooflineArgs,
}

/// A model and deployment resolved from the flags.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) model_label: String,
    pub(crate) spec: ModelSpec,
    pub(crate) deployment: Deployment,
}

impl EstimateArgs {
    /// Loads the model and checks the deployment flags.
    pub(crate) fn resolve(&self) -> anyhow::Result<Setup> {
        let (model_label, spec) = match (&self.model, &self.config) {
            (Some(name), _) => (name.clone(), presets::spec(name)?),
            (None, Some(path)) => (
                path.display().to_string(),
                ModelSpec::load(path)
                    .with_context(|| format!("cannot load --config {}", path.display()))?,
            ),
            (None, None) => anyhow::bail!("give --model PRESET or --config PATH"),
        };
        let deployment = Deployment {
            dtype: resolve_dtype(&self.dtype, &spec)?,
            kv_cache_dtype: self.kv_cache_dtype.parse::<KvCacheDtype>()?,
            parallel: ParallelConfig::new(self.tp, self.pp, self.dp, self.enable_expert_parallel)?,
            disable_sliding_window: self.disable_sliding_window,
        };
        Ok(Setup {
            model_label,
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
