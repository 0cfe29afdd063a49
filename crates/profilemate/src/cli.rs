//! Defines the command-line surface: one clap struct per subcommand.

use clap::{Parser, Subcommand};

use crate::commands::analyze::AnalyzeArgs;
use crate::commands::bench::BenchArgs;
use crate::commands::estimate::EstimateArgs;
use crate::commands::hardware::HardwareArgs;
use crate::commands::kv::KvArgs;
use crate::commands::sim::SimArgs;

/// profilemate: how fast your LLM inference deployment is, why, and how close it is to what the
/// hardware allows.
#[derive(Debug, Parser)]
#[command(name = "profilemate", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// FLOPs and bytes of one scheduler step, per component, exactly as vLLM 0.32 counts them.
    Estimate(Box<EstimateArgs>),
    /// Load generation: `bench serve` is a drop-in for `vllm bench serve` with more honest figures.
    Bench(BenchArgs),
    /// GPU presets: peaks, memory, interconnect (`hardware list`).
    Hardware(HardwareArgs),
    /// KV-cache bytes per token, capacity on a GPU, and what each max_model_len costs.
    Kv(Box<KvArgs>),
    /// The simulated vLLM engine: `sim serve` serves it over vLLM's HTTP API in real time.
    Sim(SimArgs),
    /// Why is it slow? Findings with evidence from a vLLM server's logs (`analyze log FILE…`).
    Analyze(AnalyzeArgs),
}
