//! `sim calibrate --validate`: fits on part of the data and predicts the rest — the
//! per-iteration time of a held-out log, and each paired bench result's TTFT/TPOT/E2EL mean and
//! p99 from a fit made without its log and without it.

use std::io::Write;

use anyhow::Context;
use profilemate_plan::virtual_run::{Through, replay_sends};
use profilemate_sim::calibrate::observations::{LogObservations, Observation};
use profilemate_sim::vllm_log::MfuLogStepTimer;
use serde_json::{Value, json};

use super::bench::{BenchRun, Figures};
use super::{PairedBench, coefficients, fit_all, fit_rows, mape};
use crate::commands::sim::engine_args::Engine;
use profilemate_sim::calibrate::StepTimeModel;

/// Held-out errors: leave one log out with several logs, else the first 70 % against the rest.
pub(crate) fn validate(
    logs: &[LogObservations],
    benches: &[BenchRun],
    pairs: &[Option<usize>],
    engine: &Engine,
) -> anyhow::Result<Value> {
    let model_of = |fit: &profilemate_sim::calibrate::fit::Fit| StepTimeModel {
        coefficients: coefficients(fit),
        outside_ms: 0.0,
    };
    if logs.len() < 2 {
        let all: Vec<&Observation> = logs[0].iterations.iter().collect();
        let cut = all.len() * 7 / 10;
        let fit = fit_rows(&all[..cut]).context("cannot fit on the first 70 % of iterations")?;
        let m = mape(&model_of(&fit), &all[cut..]);
        return Ok(json!({
            "method": "first 70 % of iterations, tested on the last 30 %",
            "train_iterations": cut,
            "held_out_iterations": all.len() - cut,
            "held_out_mape": m,
            "bench": benches
                .iter()
                .map(|b| json!({
                    "path": b.path.display().to_string(),
                    "skipped": "one log: a bench result is held out only with its log, which leaves nothing to fit",
                }))
                .collect::<Vec<_>>(),
        }));
    }
    let mut folds = Vec::new();
    let (mut sum, mut count) = (0.0, 0usize);
    for held in 0..logs.len() {
        let train: Vec<&Observation> = logs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != held)
            .flat_map(|(_, l)| &l.iterations)
            .collect();
        let test: Vec<&Observation> = logs[held].iterations.iter().collect();
        let fit =
            fit_rows(&train).with_context(|| format!("cannot fit without log {}", held + 1))?;
        let m = mape(&model_of(&fit), &test);
        sum += m * test.len() as f64;
        count += test.len();
        folds.push(json!({"held_out_log": held, "iterations": test.len(), "mape": m}));
    }
    let mut predicted = Vec::new();
    for (b, pair) in benches.iter().zip(pairs) {
        predicted.push(match pair {
            Some(held) => held_out_bench(b, *held, logs, benches, pairs, engine)?,
            None => json!({
                "path": b.path.display().to_string(),
                "skipped": "pairs with no log: cannot be held out",
            }),
        });
    }
    Ok(json!({
        "method": "leave one log out",
        "held_out_mape": sum / count.max(1) as f64,
        "folds": folds,
        "bench": predicted,
    }))
}

/// `bench` predicted by a fit without its log `held` and without itself: its requests replayed
/// as its client sent them through the engine with the fitted step time and front end.
fn held_out_bench(
    bench: &BenchRun,
    held: usize,
    logs: &[LogObservations],
    benches: &[BenchRun],
    pairs: &[Option<usize>],
    engine: &Engine,
) -> anyhow::Result<Value> {
    let train_logs: Vec<&LogObservations> = logs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != held)
        .map(|(_, l)| l)
        .collect();
    let train_benches: Vec<PairedBench<'_>> = benches
        .iter()
        .zip(pairs)
        .filter(|(b, p)| **p != Some(held) && !std::ptr::eq(*b, bench))
        .map(|(b, p)| (b, p.map(|i| &logs[i])))
        .collect();
    let fitted = fit_all(&train_logs, &train_benches, engine)
        .with_context(|| format!("cannot fit without {}", bench.path.display()))?;
    let front_end = fitted
        .front_end
        .as_ref()
        .map_or_else(Default::default, |f| f.front_end());
    let timer = MfuLogStepTimer::new(engine.timer.clone(), None).with_calibration(fitted.model);
    let through = Through {
        engine: engine.config.clone(),
        timer,
        front_end,
        detail: Default::default(),
    };
    let records = replay_sends(&bench.sends(), bench.max_concurrency, through, &mut ())
        .with_context(|| format!("cannot replay {}", bench.path.display()))?;
    let figures = Figures::of_records(&records);
    Ok(json!({
        "path": bench.path.display().to_string(),
        "held_out_log": held,
        "replay": if bench.max_concurrency.is_some() && bench.unpaced { "closed loop at the client's --max-concurrency" } else { "open loop at the recorded send times" },
        "outside_ms": fitted.model.outside_ms,
        "front_end": super::front_end_json(&front_end),
        "figures": figures.against(&bench.figures()),
    }))
}

/// Prints the held-out figures.
pub(crate) fn print(o: &mut impl Write, v: &Value) -> anyhow::Result<()> {
    writeln!(
        o,
        "Held-out per-iteration MAPE ({}): {:.1} %.",
        v["method"].as_str().unwrap_or(""),
        v["held_out_mape"].as_f64().unwrap_or(0.0) * 100.0
    )?;
    for b in v["bench"].as_array().into_iter().flatten() {
        let path = b["path"].as_str().unwrap_or("");
        if let Some(why) = b["skipped"].as_str() {
            writeln!(o, "  {path}: {why}")?;
            continue;
        }
        let f = &b["figures"];
        let cell = |k: &str, s: &str| {
            let x = &f[k][s];
            format!(
                "{:.1}/{:.1} ({:+.1} %)",
                x["predicted"].as_f64().unwrap_or(0.0),
                x["measured"].as_f64().unwrap_or(0.0),
                x["error"].as_f64().unwrap_or(0.0) * 100.0
            )
        };
        writeln!(
            o,
            "  {path} held out, predicted/measured ms: TTFT mean {} p99 {}; TPOT mean {} p99 {}; E2EL mean {} p99 {}",
            cell("ttft", "mean_ms"),
            cell("ttft", "p99_ms"),
            cell("tpot", "mean_ms"),
            cell("tpot", "p99_ms"),
            cell("e2el", "mean_ms"),
            cell("e2el", "p99_ms"),
        )?;
    }
    Ok(())
}
