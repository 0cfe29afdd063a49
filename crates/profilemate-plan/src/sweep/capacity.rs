//! `bench sweep serve --slo …`: for each combination, the highest request rate (or
//! concurrency) whose runs meet every SLO, found by [`crate::search`] with real bench runs.

use std::borrow::Borrow;
use std::path::Path;

use serde_json::{Map, Value};

use super::layout::combination_dir;
use super::params::SweepItem;
use super::run::{SweepError, SweepSettings, run_combination};
use super::server::ServerProcess;
use crate::search::{ProbeOutcome, SearchReport, SearchSettings, find_capacity, is_saturated};
use crate::slo::{Slo, check_all};

/// The bench parameter the search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadVariable {
    /// `--request-rate`, requests per second.
    RequestRate,
    /// `--max-concurrency`, requests in flight.
    MaxConcurrency,
}

impl LoadVariable {
    /// The bench flag's key (`request_rate`).
    pub fn key(self) -> &'static str {
        match self {
            Self::RequestRate => "request_rate",
            Self::MaxConcurrency => "max_concurrency",
        }
    }

    /// The value a run achieved: its request throughput, or for concurrency its throughput ×
    /// mean end-to-end latency (Little's law), as vLLM's workload explorer estimates it.
    pub fn achieved(self, run: &Map<String, Value>) -> f64 {
        let get = |k: &str| run.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        match self {
            Self::RequestRate => get("request_throughput"),
            Self::MaxConcurrency => get("request_throughput") * get("mean_e2el_ms") / 1000.0,
        }
    }
}

/// One probe's measurements: the mean over its runs of every numeric result key.
pub type ProbeRecord = Map<String, Value>;

/// Why a capacity search stopped.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// A run failed.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// The search settings were refused.
    #[error(transparent)]
    Settings(#[from] crate::search::SearchSettingsError),
    /// No run of a probe succeeded.
    #[error("no run at {key}={load} succeeded: the search cannot judge that load")]
    NoRuns {
        /// The load variable.
        key: &'static str,
        /// The load.
        load: f64,
    },
}

/// Searches one serve × bench combination against a running server. Each probe is a
/// combination with the load set (laid out under `…-SLO-<key>=<load>`), so `--resume` reuses
/// finished probes.
pub fn search_combination(
    settings: &SweepSettings,
    server: Option<&ServerProcess>,
    serve: &SweepItem,
    bench: &SweepItem,
    slos: &[Slo],
    variable: LoadVariable,
    search: &SearchSettings,
) -> Result<SearchReport<ProbeRecord>, CapacityError> {
    find_capacity(search, |load| {
        let load = round_load(load, variable);
        let mut probe = bench.clone();
        probe.insert(variable.key().into(), load_value(load, variable));
        let dir = probe_dir(&settings.experiment_dir, serve, bench, variable, load);
        let runs = run_combination(settings, server, serve, &probe, &dir)?;
        if runs.is_empty() {
            return Err(CapacityError::NoRuns {
                key: variable.key(),
                load,
            });
        }
        Ok(judge(&runs, slos, load, variable))
    })
}

/// Whether the probe's mean result meets the SLOs, and whether it saturated: for a request-rate
/// probe, the achieved `request_throughput` fell behind the offered rate beyond Poisson noise
/// ([`is_saturated`] over the run's `completed` requests).
pub fn judge<R: Borrow<Map<String, Value>>>(
    runs: &[R],
    slos: &[Slo],
    load: f64,
    variable: LoadVariable,
) -> ProbeOutcome<ProbeRecord> {
    let mean = mean_record(runs);
    let meets_slos = check_all(slos, &mean).iter().all(|c| c.met);
    let achieved = mean
        .get("request_throughput")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let completed = mean.get("completed").and_then(Value::as_f64).unwrap_or(0.0);
    let saturated = match variable {
        LoadVariable::RequestRate => is_saturated(load, achieved, completed as u64, None),
        // A concurrency has no offered rate to lag behind; the SLOs bound it.
        LoadVariable::MaxConcurrency => false,
    };
    ProbeOutcome {
        meets_slos,
        saturated,
        detail: mean,
    }
}

/// The mean over runs of every key that is numeric in every run.
pub fn mean_record<R: Borrow<Map<String, Value>>>(runs: &[R]) -> Map<String, Value> {
    let mut mean = Map::new();
    let Some(first) = runs.first() else {
        return mean;
    };
    for key in first.borrow().keys() {
        let values: Option<Vec<f64>> = runs
            .iter()
            .map(|r| r.borrow().get(key).and_then(Value::as_f64))
            .collect();
        if let Some(values) = values {
            let m = values.iter().sum::<f64>() / values.len() as f64;
            if let Some(number) = serde_json::Number::from_f64(m) {
                mean.insert(key.clone(), Value::Number(number));
            }
        }
    }
    mean
}

fn round_load(load: f64, variable: LoadVariable) -> f64 {
    match variable {
        // Three significant digits keep directory names short and probes reusable.
        LoadVariable::RequestRate => {
            let digits = 2 - load.abs().log10().floor() as i32;
            let scale = 10f64.powi(digits.max(0));
            (load * scale).round() / scale
        }
        LoadVariable::MaxConcurrency => load.round().max(1.0),
    }
}

fn load_value(load: f64, variable: LoadVariable) -> Value {
    match variable {
        LoadVariable::RequestRate => {
            serde_json::Number::from_f64(load).map_or(Value::Null, Value::Number)
        }
        LoadVariable::MaxConcurrency => Value::from(load as u64),
    }
}

fn format_load(load: f64, variable: LoadVariable) -> String {
    super::params::python_str(&load_value(load, variable))
}

/// Where a probe of `bench` at `load` is laid out (for reports and tests).
pub fn probe_dir(
    experiment_dir: &Path,
    serve: &SweepItem,
    bench: &SweepItem,
    variable: LoadVariable,
    load: f64,
) -> std::path::PathBuf {
    let extra = [
        "SLO-".to_string(),
        format!("{}={}", variable.key(), format_load(load, variable)),
    ];
    combination_dir(experiment_dir, serve, bench, &extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ttft: f64, throughput: f64) -> Map<String, Value> {
        serde_json::json!({"p99_ttft_ms": ttft, "request_throughput": throughput, "completed": 1000, "model_id": "m"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn judges_the_mean_of_the_runs() {
        let slos = vec!["ttft_p99_ms:500".parse().unwrap()];
        // The mean of 400 and 560 is 480: met, though one run alone missed.
        let outcome = judge(
            &[run(400.0, 9.8), run(560.0, 9.7)],
            &slos,
            10.0,
            LoadVariable::RequestRate,
        );
        assert!(outcome.meets_slos);
        let outcome = judge(
            &[run(400.0, 9.8), run(620.0, 9.7)],
            &slos,
            10.0,
            LoadVariable::RequestRate,
        );
        assert!(!outcome.meets_slos);
        let outcome = judge(
            &[run(400.0, 9.8), run(500.0, 9.7)],
            &slos,
            10.0,
            LoadVariable::RequestRate,
        );
        assert!(outcome.meets_slos);
        assert!(!outcome.saturated);
        assert_eq!(outcome.detail["p99_ttft_ms"], 450.0);
        assert!(!outcome.detail.contains_key("model_id"));
        let outcome = judge(&[run(100.0, 6.0)], &slos, 10.0, LoadVariable::RequestRate);
        assert!(outcome.saturated);
    }

    #[test]
    fn loads_are_rounded_for_reuse() {
        assert_eq!(round_load(4.56789, LoadVariable::RequestRate), 4.57);
        assert_eq!(round_load(123.456, LoadVariable::RequestRate), 123.0);
        assert_eq!(round_load(0.012345, LoadVariable::RequestRate), 0.0123);
        assert_eq!(round_load(7.6, LoadVariable::MaxConcurrency), 8.0);
        assert_eq!(format_load(8.0, LoadVariable::MaxConcurrency), "8");
        assert_eq!(format_load(2.0, LoadVariable::RequestRate), "2.0");
    }
}
