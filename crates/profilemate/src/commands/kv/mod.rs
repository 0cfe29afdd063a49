//! `profilemate kv`: KV bytes per token, KV capacity on a GPU, and what each `max_model_len`
//! costs in memory, reads, prefill FLOPs and decode step time.

mod args;
mod report;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use profilemate_model::kv::{KvCapacity, KvLayout, sweep};
use profilemate_model::roofline::{Efficiency, Roofline};
use profilemate_model::{PerfModel, hardware};

pub(crate) use args::KvArgs;

/// Runs `kv`.
pub(crate) fn run(args: &KvArgs) -> anyhow::Result<ExitCode> {
    let r = args.deployment.resolve()?;
    let gpu = hardware::resolve(&args.gpu)?;
    let whole = KvLayout::whole_model(&r.spec, &r.deployment)?;
    let per_gpu = KvLayout::per_gpu(&r.spec, &r.deployment)?;
    let sizing = args.sizing(&r, &gpu)?;
    let capacity = KvCapacity::compute(&r.spec, &r.deployment, &per_gpu, &sizing)
        .with_context(|| format!("{} on one {}", r.label, gpu.name))?;
    let model = PerfModel::vllm_exact(&r.spec, &r.deployment)
        .with_context(|| format!("cannot estimate {}", r.label))?;
    let roofline = Roofline::new(gpu.clone(), Efficiency::default());
    let lens = args.lens(sizing.max_model_len);
    let rows = sweep(
        &model,
        &whole,
        &per_gpu,
        &capacity,
        Some(&roofline),
        sizing.max_num_seqs,
        &lens,
    );
    let report = report::KvReport {
        resolved: &r,
        gpu: &gpu,
        whole,
        per_gpu,
        sizing,
        capacity,
        rows,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut text = serde_json::to_string_pretty(&report.to_json())?;
        text.push('\n');
        out.write_all(text.as_bytes())?;
    } else {
        out.write_all(report.to_table().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
