//! `profilemate estimate`: one step's FLOPs and bytes, per component, in a table, as JSON, or
//! for a file of golden cases.

mod args;
mod batch;
mod cases;
mod report;
mod roofline;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use profilemate_model::{ExecutionContext, PerfModel};

pub(crate) use args::EstimateArgs;

/// Runs `estimate` in the mode its arguments select.
pub(crate) fn run(args: &EstimateArgs) -> anyhow::Result<ExitCode> {
    if let Some(cases_file) = &args.cases {
        return cases::run(cases_file, args.configs_dir.as_deref());
    }
    let setup = args.deployment.resolve()?;
    let model = PerfModel::vllm_exact(&setup.spec, &setup.deployment)
        .with_context(|| format!("cannot estimate {}", setup.label))?;
    let ctx: ExecutionContext = batch::context(&args.prefill, &args.decode)?;
    let estimate = report::Estimate::compute(&setup, &model, &ctx)?;
    let roofline = args.roofline.build(&setup)?;
    let corrected = roofline::corrected_model(args, &setup)?;
    let step = roofline.as_ref().map(|r| match &corrected {
        Some(c) => (r, r.analyze(c, &ctx)),
        None => (r, r.analyze(&model, &ctx)),
    });
    let compared = corrected
        .as_ref()
        .map(|c| roofline::compare(&model, c, &ctx));
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut doc = estimate.to_json();
        if let (Some((r, step)), Some(map)) = (&step, doc.as_object_mut()) {
            map.insert("roofline".to_owned(), roofline::json(r, step));
        }
        if let (Some(rows), Some(map)) = (&compared, doc.as_object_mut()) {
            map.insert("corrected".to_owned(), roofline::compare_json(rows));
        }
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        out.write_all(estimate.to_table().as_bytes())?;
        if let Some(rows) = &compared {
            out.write_all(roofline::compare_table(rows).as_bytes())?;
        }
        if let Some((r, step)) = &step {
            out.write_all(roofline::table(r, step).as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
