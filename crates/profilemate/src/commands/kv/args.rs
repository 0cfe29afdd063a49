//! Defines the flags of `kv` and turns them into a [`KvSizingConfig`].

use clap::Args;
use profilemate_model::kv::KvSizingConfig;

use profilemate_model::hardware::Gpu;

use crate::commands::deployment_args::{DeploymentArgs, Setup};

const GIB: f64 = (1u64 << 30) as f64;

/// Arguments of `profilemate kv`.
#[derive(Debug, Args)]
pub(crate) struct KvArgs {
    #[command(flatten)]
    pub(crate) deployment: DeploymentArgs,
    /// GPU preset (`profilemate hardware list`) or a JSON file describing one.
    #[arg(long, default_value = "h100-sxm")]
    pub(crate) gpu: String,
    /// Share of GPU memory vLLM may use (`--gpu-memory-utilization`).
    #[arg(long, default_value_t = 0.9)]
    pub(crate) gpu_memory_utilization: f64,
    /// `--max-model-len` (default: the model's `max_position_embeddings`, else 4096).
    #[arg(long)]
    pub(crate) max_model_len: Option<u64>,
    /// `--max-num-seqs`.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_num_seqs: u64,
    /// `--max-num-batched-tokens` (sizes the activation reserve).
    #[arg(long, default_value_t = 8192)]
    pub(crate) max_num_batched_tokens: u64,
    /// Weights per GPU in GiB, instead of the estimate from the parameter count.
    #[arg(long, value_name = "GIB")]
    pub(crate) weights_gib: Option<f64>,
    /// Activation and non-torch reserve per GPU in GiB (vLLM's memory-profiling log line),
    /// instead of the heuristic.
    #[arg(long, value_name = "GIB")]
    pub(crate) activation_reserve_gib: Option<f64>,
    /// The `max_model_len` values of the table, comma-separated (default: doublings from 1024
    /// up to --max-model-len).
    #[arg(long, value_delimiter = ',', value_name = "LEN,…")]
    pub(crate) lens: Vec<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

impl KvArgs {
    /// The sizing settings, validated.
    pub(crate) fn sizing(&self, r: &Setup, gpu: &Gpu) -> anyhow::Result<KvSizingConfig> {
        let gib = |v: Option<f64>, flag: &str| -> anyhow::Result<Option<u64>> {
            match v {
                Some(g) if !(g.is_finite() && g >= 0.0) => {
                    anyhow::bail!("invalid --{flag}: must be a non-negative number of GiB")
                }
                other => Ok(other.map(|g| (g * GIB) as u64)),
            }
        };
        let config = KvSizingConfig {
            gpu_memory_bytes: gpu.memory_bytes,
            gpu_memory_utilization: self.gpu_memory_utilization,
            max_model_len: self
                .max_model_len
                .or(r.spec.max_position_embeddings)
                .unwrap_or(4096),
            max_num_seqs: self.max_num_seqs,
            max_num_batched_tokens: self.max_num_batched_tokens,
            weight_bytes: gib(self.weights_gib, "weights-gib")?,
            activation_reserve_bytes: gib(self.activation_reserve_gib, "activation-reserve-gib")?,
        };
        config.validate()?;
        Ok(config)
    }

    /// The table's lengths: the flag's list, or doublings from 1024 to `max_model_len`
    /// (itself included).
    pub(crate) fn lens(&self, max_model_len: u64) -> Vec<u64> {
        if !self.lens.is_empty() {
            return self.lens.iter().copied().filter(|&l| l > 0).collect();
        }
        let mut lens: Vec<u64> = std::iter::successors(Some(1024u64), |l| l.checked_mul(2))
            .take_while(|&l| l < max_model_len)
            .collect();
        lens.push(max_model_len);
        lens
    }
}
