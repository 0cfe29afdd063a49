//! Defines the flags of `estimate`.

use std::path::PathBuf;

use clap::Args;

use crate::commands::deployment_args::DeploymentArgs;

/// Arguments of `profilemate estimate`.
#[derive(Debug, Args)]
pub(crate) struct EstimateArgs {
    #[command(flatten)]
    pub(crate) deployment: DeploymentArgs,
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
    /// testdata/goldens/perf/README.md), one JSON line each.
    #[arg(long, value_name = "FILE.jsonl", requires = "configs_dir")]
    pub(crate) cases: Option<PathBuf>,
    /// With --cases: the directory holding `<model>/config.json`.
    #[arg(long, value_name = "DIR")]
    pub(crate) configs_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) roofline: super::roofline::RooflineArgs,
}
