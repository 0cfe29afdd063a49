//! Runs `sim calibrate`: fits the step-time model to a real deployment's `Iteration(N)` log
//! lines (and, from its bench results, the time outside the iterations and the front end),
//! writes `calibration.json` ([`file`]), and reads it back for `sim run`/`sim serve`/`sim sweep
//! --calibration`.
//!
//! [`bench`] reads bench results and pairs each with its log; [`front`] fits the outside time
//! and the front end from them; [`validate`] fits on part of the data and predicts the rest.

mod bench;
mod file;
mod front;
mod validate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use profilemate_sim::calibrate::features::{FEATURE_NAMES, StepTimeModel};
use profilemate_sim::calibrate::fit::Fit;
use profilemate_sim::calibrate::observations::{LogObservations, Observation, read_log};
use profilemate_sim::calibrate::step_fit::fit_step_time;
pub(crate) use profilemate_sim::calibrate::step_fit::{coefficients, mape};
use serde_json::{Value, json};

use self::bench::BenchRun;
use self::front::{Delays, FrontEndFit, delays, fit_front_end, outside_of};
use super::engine_args::{Engine, EngineArgs};
pub(crate) use file::{Calibration, front_end_json};

/// `profilemate sim calibrate` flags.
#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// vLLM server logs written with --enable-logging-iteration-details.
    #[arg(required = true, value_name = "LOG")]
    pub(crate) logs: Vec<PathBuf>,
    /// `bench serve --save-result --save-detailed` results of the same runs. A result pairs
    /// with the log whose generation tokens it matches (one bench run per log): it then gives
    /// the time outside the iterations, and the client → engine delay from replaying its
    /// requests through the simulated scheduler (give the engine flags the server ran with).
    #[arg(long, value_name = "RESULT.json", num_args = 1..)]
    pub(crate) bench: Vec<PathBuf>,
    /// The model, the GPU whose roofline prices the steps (the fit's coefficients are relative
    /// to it; `sim run --calibration` must use the same) and the engine flags.
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    /// Where to write the calibration.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub(crate) output: PathBuf,
    /// Also fit on part of the data and report the error on the rest: leave one log out with
    /// several logs (each paired bench result predicted by a fit without its log and bench),
    /// else the first 70 % of iterations against the last 30 %.
    #[arg(long)]
    pub(crate) validate: bool,
}

/// The time outside the iterations, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outside {
    /// Mean per step, in ms.
    pub(crate) value: f64,
    /// Its standard error, when it can be told.
    pub(crate) standard_error: Option<f64>,
    /// How it was measured, and on what.
    pub(crate) report: Value,
}

/// Everything fitted from a set of logs and bench results.
#[derive(Debug, Clone)]
pub(crate) struct Fitted {
    /// The regression.
    pub(crate) fit: Fit,
    /// The step-time model, outside time included.
    pub(crate) model: StepTimeModel,
    /// The outside time.
    pub(crate) outside: Option<Outside>,
    /// The front end, with a bench result.
    pub(crate) front_end: Option<FrontEndFit>,
}

/// A bench result and the log it pairs with.
pub(crate) type PairedBench<'a> = (&'a BenchRun, Option<&'a LogObservations>);

/// `sim calibrate`.
pub(crate) fn run(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    if args.engine.calibration.is_some() {
        bail!("sim calibrate makes a calibration and does not take --calibration: drop it");
    }
    let engine = args.engine.resolve(0)?;
    let mut timer = engine.timer.clone();
    let clock = timer.estimator_mut();
    let budget = engine.config.max_num_batched_tokens;
    let mut logs = Vec::new();
    for path in &args.logs {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read log {}", path.display()))?;
        let obs =
            read_log(&text, clock, budget).with_context(|| format!("log {}", path.display()))?;
        logs.push(obs);
    }
    let mut benches = Vec::new();
    for path in &args.bench {
        benches.push(BenchRun::read(path)?);
    }
    let mut taken = vec![false; logs.len()];
    let mut pairs = Vec::new();
    for b in &benches {
        let p = b.pair(&logs, &taken);
        if let Some(i) = p {
            taken[i] = true;
        }
        pairs.push(p);
    }
    let all_logs: Vec<&LogObservations> = logs.iter().collect();
    let paired: Vec<PairedBench<'_>> = benches
        .iter()
        .zip(&pairs)
        .map(|(b, p)| (b, p.map(|i| &logs[i])))
        .collect();
    let fitted = fit_all(&all_logs, &paired, &engine)?;
    let validation = if args.validate {
        Some(validate::validate(&logs, &benches, &pairs, &engine)?)
    } else {
        None
    };
    let out = calibration_json(args, &engine, &fitted, &logs, &pairs, validation.as_ref());
    let text = serde_json::to_string_pretty(&out)? + "\n";
    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    print_summary(args, &engine, &fitted, logs.len(), validation.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

/// Fits the step time to `logs`, the outside time to the paired bench results (else to the
/// logs' stamps), and the front end to every bench result.
pub(crate) fn fit_all(
    logs: &[&LogObservations],
    benches: &[PairedBench<'_>],
    engine: &Engine,
) -> anyhow::Result<Fitted> {
    let all: Vec<&Observation> = logs.iter().flat_map(|l| &l.iterations).collect();
    let fit = fit_rows(&all).context("cannot fit the step time")?;
    let outside = outside(logs, benches);
    let model = StepTimeModel {
        coefficients: coefficients(&fit),
        outside_ms: outside.as_ref().map_or(0.0, |o| o.value),
    };
    let mut per_bench: Vec<(String, Delays)> = Vec::new();
    for (b, log) in benches {
        let d = delays(
            b,
            *log,
            &model,
            model.outside_ms,
            &engine.config,
            &engine.timer,
        )?;
        per_bench.push((b.path.display().to_string(), d));
    }
    let mut front_end = fit_front_end(&per_bench);
    if let Some(f) = &mut front_end {
        let paired: Vec<(&BenchRun, &LogObservations)> = benches
            .iter()
            .filter_map(|(b, l)| Some((*b, (*l)?)))
            .collect();
        f.fit_serial(&paired, model.outside_ms, &engine.config)?;
    }
    Ok(Fitted {
        fit,
        model,
        outside,
        front_end,
    })
}

/// The outside time: from the paired bench results' decode spans when there are any
/// (weighted by their generation tokens), else from the logs' one-second stamps.
fn outside(logs: &[&LogObservations], benches: &[PairedBench<'_>]) -> Option<Outside> {
    let from_benches: Vec<(String, f64, f64)> = benches
        .iter()
        .filter_map(|(b, log)| {
            let log = (*log)?;
            let g = b.generation_tokens() as f64;
            (g > 0.0).then(|| (b.path.display().to_string(), outside_of(b, log), g))
        })
        .collect();
    if !from_benches.is_empty() {
        let total: f64 = from_benches.iter().map(|b| b.2).sum();
        let mean = from_benches.iter().map(|b| b.1 * b.2).sum::<f64>() / total;
        let n = from_benches.len();
        let se = (n > 1).then(|| {
            let var = from_benches
                .iter()
                .map(|b| (b.1 - mean).powi(2))
                .sum::<f64>()
                / (n - 1) as f64;
            (var / n as f64).sqrt()
        });
        let per: Vec<Value> = from_benches
            .iter()
            .map(|(p, v, g)| json!({"path": p, "outside_ms": v, "generation_tokens": g}))
            .collect();
        return Some(Outside {
            value: mean,
            standard_error: se,
            report: json!({
                "method": "bench decode spans: (sum over requests of E2EL - TTFT - sum over the paired log's iterations of generation tokens x elapsed) / generation tokens",
                "per_bench": per,
            }),
        });
    }
    let est: Vec<_> = logs.iter().filter_map(|l| l.outside).collect();
    let n: usize = est.iter().map(|e| e.seconds).sum();
    if n == 0 {
        return None;
    }
    let w = |seconds: usize| seconds as f64 / n as f64;
    let mean = est.iter().map(|e| w(e.seconds) * e.mean_ms).sum();
    let se = est
        .iter()
        .map(|e| (w(e.seconds) * e.standard_error_ms).powi(2))
        .sum::<f64>()
        .sqrt();
    Some(Outside {
        value: mean,
        standard_error: Some(se),
        report: json!({"method": "log stamps: busy stretches' stamp span minus their elapsed times (one-second stamps)", "busy_seconds": n}),
    })
}

/// The step-time fit ([`fit_step_time`]).
pub(crate) fn fit_rows(obs: &[&Observation]) -> anyhow::Result<Fit> {
    Ok(fit_step_time(obs)?)
}

fn calibration_json(
    args: &CalibrateArgs,
    engine: &Engine,
    fitted: &Fitted,
    logs: &[LogObservations],
    pairs: &[Option<usize>],
    validation: Option<&Value>,
) -> Value {
    let fit = &fitted.fit;
    let coefficients: serde_json::Map<String, Value> = FEATURE_NAMES
        .iter()
        .enumerate()
        .map(|(j, n)| {
            (
                (*n).to_owned(),
                json!({"value": fit.coefficients[j], "standard_error": fit.standard_errors[j], "at_zero": fit.at_zero[j]}),
            )
        })
        .collect();
    let used: Vec<Value> = args
        .logs
        .iter()
        .zip(logs)
        .map(|(p, l)| {
            json!({"path": p.display().to_string(), "iterations": l.iterations.len(), "served_model": l.model, "busy_seconds": l.outside.map_or(0, |o| o.seconds)})
        })
        .collect();
    let benches: Vec<Value> = args
        .bench
        .iter()
        .zip(pairs)
        .map(|(p, pair)| {
            json!({"path": p.display().to_string(), "paired_log": pair.map(|i| args.logs[i].display().to_string())})
        })
        .collect();
    let outside = fitted.outside.as_ref().map(
        |o| json!({"value": o.value, "standard_error": o.standard_error, "measured": o.report}),
    );
    let front_end = fitted.front_end.as_ref().map(|f| f.report.clone());
    json!({
        "timing_model": file::TIMING_MODEL,
        "model": engine.setup.label,
        "model_fingerprint": file::spec_fingerprint(&engine.setup.spec),
        "gpu": engine.gpu.name,
        "step_time": file::STEP_TIME_FORMULA,
        "coefficients": coefficients,
        "outside_ms": outside,
        "front_end": front_end,
        "fit": {"iterations": fit.rows, "mape": fit.mape, "residual_scale": fit.residual_scale},
        "logs": used,
        "bench": benches,
        "validation": validation,
    })
}

fn print_summary(
    args: &CalibrateArgs,
    engine: &Engine,
    fitted: &Fitted,
    num_logs: usize,
    validation: Option<&Value>,
) -> anyhow::Result<()> {
    let fit = &fitted.fit;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "Fitted {} iterations from {num_logs} log(s) on the {} roofline:",
        fit.rows, engine.gpu.name
    )?;
    for (j, name) in FEATURE_NAMES.iter().enumerate() {
        writeln!(
            o,
            "  {name:<26} {:>10.4} ± {:.4}",
            fit.coefficients[j], fit.standard_errors[j]
        )?;
    }
    match &fitted.outside {
        Some(out) => writeln!(
            o,
            "  {:<26} {:>10.4} ± {} ({})",
            "outside_ms",
            out.value,
            out.standard_error
                .map_or("?".to_owned(), |se| format!("{se:.4}")),
            out.report["method"]
                .as_str()
                .unwrap_or("")
                .split(':')
                .next()
                .unwrap_or("")
        )?,
        None => writeln!(
            o,
            "  outside_ms: not measured (no busy seconds in the logs, no paired bench result); 0 used"
        )?,
    }
    writeln!(
        o,
        "Per-iteration MAPE of the fit: {:.1} %.",
        fit.mape * 100.0
    )?;
    if let Some(f) = &fitted.front_end {
        let t = &f.report["tokenization_per_prompt_token"];
        writeln!(
            o,
            "Front end: {:.1} ms per request{}, handed to the engine {:.2} ms apart (tokenization per prompt token: {}).",
            f.delay_ms,
            if f.per_prompt_token_ms > 0.0 {
                format!(" + {:.4} ms per prompt token", f.per_prompt_token_ms)
            } else {
                String::new()
            },
            f.serial_ms,
            match (t["value_ms"].as_f64(), t["standard_error_ms"].as_f64()) {
                (Some(v), Some(se)) if f.per_prompt_token_ms == 0.0 =>
                    format!("{v:.4} ± {se:.4} ms, not identifiable"),
                (Some(v), Some(se)) => format!("{v:.4} ± {se:.4} ms"),
                _ => "not identifiable: one prompt length".to_owned(),
            }
        )?;
        warn_unmatched_replays(&mut o, &f.report)?;
    }
    if let Some(v) = validation {
        validate::print(&mut o, v)?;
    }
    writeln!(o, "Wrote {}.", args.output.display())?;
    Ok(())
}

/// Warns about each bench whose replay through the simulated scheduler left its log within
/// its first half: the front end then rests on the requests before the first differing
/// iteration. Engine flags other than the server's make a replay leave at once; on a run with
/// arrivals spread in time, a small timing difference can too.
fn warn_unmatched_replays(o: &mut impl Write, report: &serde_json::Value) -> anyhow::Result<()> {
    let per_bench = report["serial_fit"]["per_bench_at_fitted_spacing"].as_array();
    for b in per_bench.into_iter().flatten() {
        let (Some(matched), Some(total)) = (b["matched"].as_u64(), b["iterations"].as_u64()) else {
            continue;
        };
        if matched * 2 < total {
            writeln!(
                o,
                "warning: replaying {} matched only {matched} of its log's {total} iterations before one differed, so the front end rests on the requests answered before that; if the server ran other engine flags, give them to sim calibrate (--max-num-seqs, --max-num-batched-tokens, --num-gpu-blocks-override, --block-size, prefix caching, async scheduling); with arrivals spread in time, step-time noise alone can end a replay early",
                b["path"].as_str().unwrap_or("the bench result")
            )?;
        }
    }
    Ok(())
}
