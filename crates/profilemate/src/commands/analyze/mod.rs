//! `profilemate analyze`: findings, with evidence, from what a vLLM server already writes.
//! `analyze log FILE…` reads vLLM 0.32 logs (ours included); `analyze metrics` reads the
//! window between two `/metrics` scrapes; `analyze bench` a bench result with its scrapes.

mod bench;
mod metrics;
mod render;
mod render_bench;
mod render_metrics;

use render_metrics::metrics_text;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use profilemate_analyze::{Gpu, LogReport, LogSummary, gpu_from_device_name, read_log_file};
use profilemate_model::hardware;

/// Arguments of `profilemate analyze`.
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    #[command(subcommand)]
    pub(crate) command: AnalyzeCommand,
}

/// The `analyze` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AnalyzeCommand {
    /// Read vLLM server logs: throughput, prefill/decode split, batch use, queue, KV, step
    /// times, MFU/MBU, CUDA-graph padding, and findings. Exit 1 when a file holds no vLLM line.
    Log(LogArgs),
    /// Read the window between two /metrics scrapes (two files, or --url scraped twice):
    /// rates, windowed latency quantiles, prefix cache, preemptions, MFU/MBU, spec decode,
    /// KV offload, gauges, and findings.
    Metrics(metrics::MetricsArgs),
    /// Read a bench serve result (ours or vLLM's --save-result JSON) with the server's scrapes
    /// around the run: client latencies beside the server's, the client TTFT split, request
    /// counts matched, and findings.
    Bench(bench::BenchArgs),
}

/// Arguments of `analyze log`.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Log files, each analysed on its own (`-` is stdin; gzip is detected and decompressed).
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Print JSON (one pretty-printed object per file) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Measure MFU and MBU against this GPU (a preset from `profilemate hardware list`, or a
    /// JSON file); by default the GPU the log names, if any.
    #[arg(long, value_name = "GPU")]
    pub(crate) gpu: Option<String>,
}

/// Runs `analyze`.
pub(crate) fn run(args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        AnalyzeCommand::Log(args) => log(args),
        AnalyzeCommand::Metrics(m) => metrics::run(m, resolve_gpu(m.gpu.as_deref())?.as_ref()),
        AnalyzeCommand::Bench(b) => bench::run(b, resolve_gpu(b.gpu.as_deref())?.as_ref()),
    }
}

/// `--gpu`: a preset or a JSON file.
fn resolve_gpu(name: Option<&str>) -> anyhow::Result<Option<Gpu>> {
    name.map(hardware::resolve).transpose().context("--gpu")
}

fn log(args: &LogArgs) -> anyhow::Result<ExitCode> {
    let gpu = resolve_gpu(args.gpu.as_deref())?;
    let mut out = std::io::stdout().lock();
    let mut all_recognised = true;
    for path in &args.files {
        let report = read_log_file(path)?;
        all_recognised &= report.is_vllm_log();
        let summary = summarize(&report, gpu.as_ref());
        let text = if args.json {
            let mut text = serde_json::to_string_pretty(&summary)?;
            text.push('\n');
            text
        } else {
            render::text(&path.display().to_string(), &summary)
        };
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    Ok(if all_recognised {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The summary against `--gpu`, else against the GPU the log names.
fn summarize(report: &LogReport, gpu: Option<&Gpu>) -> LogSummary {
    if let Some(gpu) = gpu {
        return report.summarize(Some((gpu, "--gpu")));
    }
    let from_log = report.device_name.as_deref().and_then(gpu_from_device_name);
    report.summarize(from_log.as_ref().map(|g| (g, "log")))
}
