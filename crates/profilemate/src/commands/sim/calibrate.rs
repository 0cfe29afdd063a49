//! Runs `sim calibrate`: fits the step-time model to a real deployment's `Iteration(N)` log
//! lines (and its bench results' TTFTs), writes `calibration.json`, and reads it back for
//! `sim run`/`sim serve --calibration`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use std::time::Duration;

use profilemate_model::ModelSpec;
use profilemate_sim::calibrate::features::{FEATURE_NAMES, StepTimeModel};
use profilemate_sim::calibrate::fit::{Fit, fit_non_negative_huber};
use profilemate_sim::calibrate::observations::{LogObservations, Observation, read_log};
use profilemate_sim::vllm_log::MfuLogStepTimer;
use profilemate_sim::{Request, Simulation};
use serde_json::{Value, json};

use super::engine_args::{Engine, EngineArgs};

/// The `timing_model` a calibration file names.
pub(crate) const TIMING_MODEL: &str = "calibrated-roofline-v1";

/// `profilemate sim calibrate` flags.
#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// vLLM server logs written with --enable-logging-iteration-details.
    #[arg(required = true, value_name = "LOG")]
    pub(crate) logs: Vec<PathBuf>,
    /// `vllm bench serve --save-result --save-detailed` results of the same runs: fits the
    /// client → engine delay by replaying their requests through the simulated engine (give the
    /// engine flags the server ran with) and comparing TTFTs.
    #[arg(long, value_name = "RESULT.json", num_args = 1..)]
    pub(crate) bench: Vec<PathBuf>,
    /// The model, the GPU whose roofline prices the steps (the fit's coefficients are relative
    /// to it; `sim run --calibration` must use the same) and, for `--bench`, the engine flags.
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    /// Where to write the calibration.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub(crate) output: PathBuf,
    /// Also fit on part of the data and report the error on the rest: leave one log out with
    /// several logs, else the first 70 % of iterations against the last 30 %.
    #[arg(long)]
    pub(crate) validate: bool,
}

/// `sim calibrate`.
pub(crate) fn run(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    if args.engine.calibration.is_some() {
        bail!("sim calibrate makes a calibration and does not take --calibration: drop it");
    }
    let engine = args.engine.resolve(0)?;
    let (setup, gpu) = (&engine.setup, &engine.gpu);
    let mut timer = engine.timer.clone();
    let clock = timer.estimator_mut();
    let mut logs = Vec::new();
    for path in &args.logs {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read log {}", path.display()))?;
        let obs = read_log(&text, clock).with_context(|| format!("log {}", path.display()))?;
        logs.push(obs);
    }
    let all: Vec<&Observation> = logs.iter().flat_map(|l| &l.iterations).collect();
    let fit = fit_rows(&all).context("cannot fit the step time")?;
    let outside = pooled_outside(&logs);
    let model = StepTimeModel {
        coefficients: coefficients(&fit),
        outside_ms: outside.map_or(0.0, |o| o.0),
    };
    let mut benches = Vec::new();
    for path in &args.bench {
        benches.push(front_end(path, &model, &engine)?);
    }
    let validation = if args.validate {
        Some(validate(&logs)?)
    } else {
        None
    };
    let out = calibration_json(
        args,
        &setup.label,
        &setup.spec,
        &gpu.name,
        &fit,
        outside,
        &logs,
        &benches,
        validation.as_ref(),
    );
    let text = serde_json::to_string_pretty(&out)? + "\n";
    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "Fitted {} iterations from {} log(s) on the {} roofline:",
        fit.rows,
        logs.len(),
        gpu.name
    )?;
    for (j, name) in FEATURE_NAMES.iter().enumerate() {
        writeln!(
            o,
            "  {name:<26} {:>10.4} ± {:.4}",
            fit.coefficients[j], fit.standard_errors[j]
        )?;
    }
    match outside {
        Some((m, se, n)) => writeln!(
            o,
            "  {:<26} {m:>10.4} ± {se:.4} ({n} busy seconds)",
            "outside_ms"
        )?,
        None => writeln!(
            o,
            "  outside_ms: not measured (no busy seconds in the logs); 0 used"
        )?,
    }
    writeln!(
        o,
        "Per-iteration MAPE of the fit: {:.1} %.",
        fit.mape * 100.0
    )?;
    for b in &benches {
        writeln!(
            o,
            "Front-end delay from {}: {:.1} ms.",
            b["path"].as_str().unwrap_or(""),
            b["front_end_delay_ms"].as_f64().unwrap_or(0.0)
        )?;
    }
    if let Some(v) = &validation {
        writeln!(
            o,
            "Held-out per-iteration MAPE ({}): {:.1} %.",
            v["method"].as_str().unwrap_or(""),
            v["held_out_mape"].as_f64().unwrap_or(0.0) * 100.0
        )?;
    }
    writeln!(o, "Wrote {}.", args.output.display())?;
    Ok(ExitCode::SUCCESS)
}

/// Fits the relative error: each row and its time are divided by the time, so a 3 ms decode
/// step weighs as much as a 300 ms prefill (the target is per-iteration percentage error).
fn fit_rows(obs: &[&Observation]) -> anyhow::Result<Fit> {
    let obs: Vec<&&Observation> = obs.iter().filter(|o| o.elapsed_ms > 0.0).collect();
    let rows: Vec<Vec<f64>> = obs
        .iter()
        .map(|o| o.features.row().iter().map(|x| x / o.elapsed_ms).collect())
        .collect();
    let y = vec![1.0; rows.len()];
    let mut fit = fit_non_negative_huber(&rows, &y)?;
    let model = StepTimeModel {
        coefficients: coefficients(&fit),
        outside_ms: 0.0,
    };
    fit.mape = mape(&model, &obs.iter().map(|o| **o).collect::<Vec<_>>());
    Ok(fit)
}

fn coefficients(fit: &Fit) -> [f64; 5] {
    let mut c = [0.0; 5];
    c.copy_from_slice(&fit.coefficients[..5]);
    c
}

/// Mean absolute percentage error of `model`'s elapsed time on `obs` (rows with a positive time).
fn mape(model: &StepTimeModel, obs: &[&Observation]) -> f64 {
    let errs: Vec<f64> = obs
        .iter()
        .filter(|o| o.elapsed_ms > 0.0)
        .map(|o| ((model.elapsed_ms(&o.features) - o.elapsed_ms) / o.elapsed_ms).abs())
        .collect();
    errs.iter().sum::<f64>() / errs.len().max(1) as f64
}

/// The outside time over all logs, weighted by busy seconds: (mean, standard error, seconds).
fn pooled_outside(logs: &[LogObservations]) -> Option<(f64, f64, usize)> {
    let est: Vec<_> = logs.iter().filter_map(|l| l.outside).collect();
    let n: usize = est.iter().map(|e| e.seconds).sum();
    if n == 0 {
        return None;
    }
    let w =
        |e: &profilemate_sim::calibrate::observations::OutsideEstimate| e.seconds as f64 / n as f64;
    let mean = est.iter().map(|e| w(e) * e.mean_ms).sum();
    let se = est
        .iter()
        .map(|e| (w(e) * e.standard_error_ms).powi(2))
        .sum::<f64>()
        .sqrt();
    Some((mean, se, n))
}

/// Held-out error: leave one log out with several logs, else the first 70 % against the rest.
fn validate(logs: &[LogObservations]) -> anyhow::Result<Value> {
    let model_of = |fit: &Fit| StepTimeModel {
        coefficients: coefficients(fit),
        outside_ms: 0.0,
    };
    if logs.len() > 1 {
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
        Ok(
            json!({"method": "leave one log out", "held_out_mape": sum / count.max(1) as f64, "folds": folds}),
        )
    } else {
        let all: Vec<&Observation> = logs[0].iterations.iter().collect();
        let cut = all.len() * 7 / 10;
        let fit = fit_rows(&all[..cut]).context("cannot fit on the first 70 % of iterations")?;
        let m = mape(&model_of(&fit), &all[cut..]);
        Ok(
            json!({"method": "first 70 % of iterations, tested on the last 30 %", "train_iterations": cut, "held_out_iterations": all.len() - cut, "held_out_mape": m}),
        )
    }
}

/// The client → engine delay of a bench run (HTTP, tokenization, streaming back): its requests
/// replayed through the simulated engine at their send offsets with the fitted step time, and
/// the median over requests of measured TTFT − simulated TTFT (the simulated one holds the
/// queueing and the prefill).
fn front_end(path: &Path, model: &StepTimeModel, engine: &Engine) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read bench result {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("bench result {} is not JSON", path.display()))?;
    let nums = |key: &str| -> Option<Vec<f64>> {
        v.get(key)?.as_array()?.iter().map(Value::as_f64).collect()
    };
    let (Some(ttfts), Some(ins), Some(outs), Some(starts)) = (
        nums("ttfts"),
        nums("input_lens"),
        nums("output_lens"),
        nums("start_times"),
    ) else {
        bail!(
            "bench result {} has no per-request ttfts, input_lens, output_lens and start_times: save it with --save-detailed",
            path.display()
        );
    };
    let first = starts.iter().copied().fold(f64::INFINITY, f64::min);
    let timer = MfuLogStepTimer::new(engine.timer.clone(), None).with_calibration(*model);
    let mut sim = Simulation::new(engine.config.clone(), timer)
        .with_context(|| format!("cannot replay {}", path.display()))?;
    // Requests in send order (a result lists them in completion order).
    let mut sent: Vec<(f64, f64, f64, f64)> = ttfts
        .iter()
        .zip(&ins)
        .zip(&outs)
        .zip(&starts)
        .filter(|(((ttft, _), output), _)| **ttft > 0.0 && **output >= 1.0)
        .map(|(((ttft, input), output), start)| (*start, *ttft, *input, *output))
        .collect();
    sent.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut measured = Vec::new();
    for (start, ttft, input, output) in sent {
        let at = Duration::from_secs_f64((start - first).max(0.0));
        sim.add_request(Request::synthetic(at, input as u32, output as u32))
            .with_context(|| format!("cannot replay a request of {}", path.display()))?;
        measured.push(ttft * 1000.0);
    }
    if measured.is_empty() {
        bail!("bench result {} has no successful request", path.display());
    }
    sim.run(&mut ());
    let mut delays: Vec<f64> = sim
        .records()
        .iter()
        .zip(&measured)
        .filter_map(|(r, m)| {
            let first = r.first_token?;
            Some(m - first.saturating_sub(r.arrival).as_secs_f64() * 1000.0)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let median = delays[delays.len() / 2];
    Ok(json!({
        "path": path.display().to_string(),
        "requests": delays.len(),
        "front_end_delay_ms": median,
        "min_ms": delays[0],
        "max_ms": delays[delays.len() - 1],
        "method": "median over requests of measured TTFT - TTFT of the request replayed at its send offset through the simulated engine with the fitted step time",
    }))
}

/// A stable fingerprint of the model architecture, so a calibration is not applied to another.
pub(crate) fn spec_fingerprint(spec: &ModelSpec) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{spec:?}").bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[allow(clippy::too_many_arguments)]
fn calibration_json(
    args: &CalibrateArgs,
    label: &str,
    spec: &ModelSpec,
    gpu: &str,
    fit: &Fit,
    outside: Option<(f64, f64, usize)>,
    logs: &[LogObservations],
    benches: &[Value],
    validation: Option<&Value>,
) -> Value {
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
    json!({
        "timing_model": TIMING_MODEL,
        "model": label,
        "model_fingerprint": spec_fingerprint(spec),
        "gpu": gpu,
        "step_time": "elapsed_ms = fixed_ms + prefill_per_roofline_ms * prefill roofline ms + decode_per_roofline_ms * decode roofline ms (context 1) + ms_per_generation_token * generation tokens + ms_per_1k_context_tokens * decode context / 1000; step = elapsed + outside_ms",
        "coefficients": coefficients,
        "outside_ms": outside.map(|(m, se, n)| json!({"value": m, "standard_error": se, "busy_seconds": n})),
        "fit": {"iterations": fit.rows, "mape": fit.mape, "residual_scale_ms": fit.residual_scale},
        "logs": used,
        "bench": benches,
        "validation": validation,
    })
}

/// A calibration read back for `sim run`/`sim serve`.
#[derive(Debug, Clone)]
pub(crate) struct Calibration {
    /// The fitted model.
    pub(crate) model: StepTimeModel,
    /// The GPU whose roofline it was fitted on.
    pub(crate) gpu: String,
    /// The model's fingerprint.
    pub(crate) fingerprint: String,
    /// The file.
    pub(crate) path: PathBuf,
}

impl Calibration {
    /// Reads `path`, a `sim calibrate` output.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --calibration {}", path.display()))?;
        let bad = || {
            anyhow::anyhow!(
                "--calibration {} is not a `profilemate sim calibrate` output: make it with `profilemate sim calibrate LOG -o {}`",
                path.display(),
                path.display()
            )
        };
        let v: Value = serde_json::from_str(&text).map_err(|_| bad())?;
        if v["timing_model"] != TIMING_MODEL {
            return Err(bad());
        }
        let mut coefficients = [0.0; 5];
        for (j, n) in FEATURE_NAMES.iter().enumerate() {
            coefficients[j] = v["coefficients"][n]["value"].as_f64().ok_or_else(bad)?;
        }
        let outside_ms = v["outside_ms"]["value"].as_f64().unwrap_or(0.0);
        Ok(Calibration {
            model: StepTimeModel {
                coefficients,
                outside_ms,
            },
            gpu: v["gpu"].as_str().ok_or_else(bad)?.to_owned(),
            fingerprint: v["model_fingerprint"].as_str().ok_or_else(bad)?.to_owned(),
            path: path.to_owned(),
        })
    }

    /// Refuses a calibration fitted for another model or GPU.
    pub(crate) fn check(&self, spec: &ModelSpec, gpu: &str) -> anyhow::Result<()> {
        if self.gpu != gpu {
            bail!(
                "--calibration {} was fitted on the {} roofline: pass --gpu {}",
                self.path.display(),
                self.gpu,
                self.gpu
            );
        }
        if self.fingerprint != spec_fingerprint(spec) {
            bail!(
                "--calibration {} was fitted for another model: pass the --model/--config it was calibrated with",
                self.path.display()
            );
        }
        Ok(())
    }
}
