//! `bench sweep serve_workload`: the latency-throughput trade-off of each combination, explored
//! between serial (one request at a time) and batch (all at once) inference, as vLLM 0.32's
//! `benchmarks/sweep/serve_workload.py` explores it.

use std::path::Path;

use serde_json::{Value, json};

use super::capacity::LoadVariable;
use super::layout::combination_dir;
use super::params::{SweepItem, python_str};
use super::record::RunRecord;
use super::run::{SweepError, SweepSettings, run_combination};
use super::server::ServerProcess;

/// vLLM's default `--num-prompts` (`DEFAULT_NUM_PROMPTS`).
pub const DEFAULT_NUM_PROMPTS: u64 = 1000;

/// The dataset size: the bench combination's `num_prompts`, else `--num-prompts N` (or
/// `--num-prompts=N`) in the bench command, else vLLM's default.
pub fn dataset_size(bench: &SweepItem, bench_cmd: &[String]) -> u64 {
    if let Some(n) = bench.get("num_prompts").and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }) {
        return n;
    }
    for (i, arg) in bench_cmd.iter().enumerate() {
        if arg == "--num-prompts" {
            if let Some(n) = bench_cmd.get(i + 1).and_then(|s| s.parse().ok()) {
                return n;
            }
        } else if let Some(Ok(n)) = arg.strip_prefix("--num-prompts=").map(str::parse) {
            return n;
        }
    }
    DEFAULT_NUM_PROMPTS
}

/// The intermediate levels between `serial` and `batch`: numpy's `linspace(serial, batch,
/// iters)[1:-1]`, each rounded half to even as Python's `round`, deduplicated and sorted.
pub fn intermediate_levels(serial: f64, batch: f64, iters: usize) -> Vec<i64> {
    if iters < 3 {
        return Vec::new();
    }
    let step = (batch - serial) / (iters - 1) as f64;
    let mut levels: Vec<i64> = (1..iters - 1)
        .map(|i| (serial + step * i as f64).round_ties_even() as i64)
        .collect();
    levels.sort_unstable();
    levels.dedup();
    levels
}

/// One combination's exploration: the serial run, the batch run, then the levels between the
/// values they achieved; every run's record, in that order (empty when an end failed).
pub fn explore_combination(
    settings: &SweepSettings,
    server: Option<&ServerProcess>,
    serve: &SweepItem,
    bench: &SweepItem,
    variable: LoadVariable,
    iters: usize,
) -> Result<Vec<RunRecord>, SweepError> {
    println!("[WL START]");
    println!("Serve parameters: {}", or_none(serve.as_text(", ")));
    println!("Bench parameters: {}", or_none(bench.as_text(", ")));
    println!("Number of workload iterations: {iters}");
    let size = dataset_size(bench, &settings.bench_cmd);
    println!("Dataset size: {size}");
    let level = |base: &SweepItem, value: Value| -> Result<Vec<RunRecord>, SweepError> {
        let mut at_level = base.clone();
        at_level.insert(variable.key().into(), value.clone());
        let extra = [
            "WL-".to_string(),
            format!("{}={}", variable.key(), python_str(&value)),
        ];
        let dir = combination_dir(&settings.experiment_dir, serve, base, &extra);
        run_combination(settings, server, serve, &at_level, &dir)
    };
    let with_concurrency = |n: u64| {
        let mut item = bench.clone();
        item.insert("max_concurrency".into(), json!(n));
        item
    };
    let serial = level(&with_concurrency(1), json!(1))?;
    let batch = level(&with_concurrency(size), json!(size))?;
    if serial.is_empty() || batch.is_empty() {
        if settings.dry_run {
            println!("Omitting intermediate Workload iterations.");
        } else {
            println!(
                "Unable to establish both Workload Explorer endpoints; skipping intermediate workload levels."
            );
        }
        println!("[WL END]");
        return Ok(Vec::new());
    }
    let average = |runs: &[RunRecord]| {
        runs.iter().map(|r| variable.achieved(r)).sum::<f64>() / runs.len() as f64
    };
    let serial_value = average(&serial).ceil();
    let batch_value = average(&batch).floor();
    println!("Serial inference: {}={serial_value}", variable.key());
    println!("Batch inference: {}={batch_value}", variable.key());
    let mut all = serial;
    for value in intermediate_levels(serial_value, batch_value, iters) {
        println!("Exploring: {}={value}", variable.key());
        all.extend(level(bench, json!(value))?);
    }
    all.extend(batch);
    println!("[WL END]");
    Ok(all)
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "(None)".into()
    } else {
        text
    }
}

/// Writes `summary.csv` for the explored runs.
pub fn write_summary(dir: &Path, runs: &[RunRecord]) -> Result<(), SweepError> {
    let path = dir.join("summary.csv");
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, super::run::summary_csv(runs)))
        .map_err(|e| SweepError::File {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::params::parse_sweep;

    #[test]
    fn levels_are_numpys_linspace_rounded_like_python() {
        // np.linspace(3, 40, 10)[1:-1] = 7.11, 11.22, 15.33, 19.44, 23.56, 27.67, 31.78, 35.89
        assert_eq!(
            intermediate_levels(3.0, 40.0, 10),
            [7, 11, 15, 19, 24, 28, 32, 36]
        );
        // Python rounds 2.5 to 2 and 3.5 to 4; duplicates go.
        assert_eq!(intermediate_levels(1.0, 4.0, 3), [2]);
        assert_eq!(intermediate_levels(1.0, 6.0, 3), [4]);
        assert_eq!(intermediate_levels(1.0, 2.0, 10), [1, 2]);
        assert!(intermediate_levels(1.0, 9.0, 2).is_empty());
    }

    #[test]
    fn the_dataset_size_comes_from_the_combination_the_command_or_vllms_default() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let bench = parse_sweep("b", r#"[{"num_prompts": 50}, {}]"#).unwrap();
        assert_eq!(dataset_size(&bench[0], &words("x --num-prompts 9")), 50);
        assert_eq!(dataset_size(&bench[1], &words("x --num-prompts 9")), 9);
        assert_eq!(dataset_size(&bench[1], &words("x --num-prompts=12")), 12);
        assert_eq!(dataset_size(&bench[1], &words("x")), 1000);
    }

    #[test]
    fn concurrency_is_estimated_by_littles_law() {
        let run = json!({"request_throughput": 4.0, "mean_e2el_ms": 2500.0});
        let run = run.as_object().unwrap();
        assert_eq!(LoadVariable::RequestRate.achieved(run), 4.0);
        assert_eq!(LoadVariable::MaxConcurrency.achieved(run), 10.0);
    }
}
