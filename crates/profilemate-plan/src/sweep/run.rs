//! `bench sweep serve`: every serve combination's server, every bench combination's runs, the
//! results laid out and summarized as vLLM 0.32's `benchmarks/sweep/serve.py` does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::layout::{combination_dir, failure_path, run_path, warmup_path};
use super::params::{SweepItem, is_linked};
use super::record::RunRecord;
use super::server::{ServerError, ServerProcess, run_subcommand};

/// What `bench sweep serve` was asked to do.
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// The server command (`vllm serve …`, `profilemate sim serve …`).
    pub serve_cmd: Vec<String>,
    /// The bench command (`vllm bench serve …`, `profilemate bench serve …`).
    pub bench_cmd: Vec<String>,
    /// Run after each benchmark instead of the cache reset.
    pub after_bench_cmd: Vec<String>,
    /// Show the subcommands' stdout.
    pub show_stdout: bool,
    /// How long a server may take to answer `/health`.
    pub server_ready_timeout: Duration,
    /// Server combinations (one empty item when none were given).
    pub serve_params: Vec<SweepItem>,
    /// Bench combinations (one empty item when none were given).
    pub bench_params: Vec<SweepItem>,
    /// Serve and bench keys that must agree.
    pub link_vars: Vec<(String, String)>,
    /// `OUTPUT_DIR/EXPERIMENT_NAME`.
    pub experiment_dir: PathBuf,
    /// Measured runs per combination.
    pub num_runs: usize,
    /// Prompts in one unmeasured warmup run per combination (0: none).
    pub warmup_num_prompts: usize,
    /// Record a failed run and go on.
    pub continue_on_error: bool,
    /// Print the commands only.
    pub dry_run: bool,
}

/// Why the sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The server could not be started, readied or reset.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The bench command failed.
    #[error(
        "the benchmark failed: {0} (the sweep can go on with --continue-on-error; --resume restarts where it stopped)"
    )]
    Bench(String),
    /// A result file could not be read or written.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

fn file_error(path: &Path, detail: impl ToString) -> SweepError {
    SweepError::File {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// Runs the sweep; returns every measured run's record (the result JSON plus `run_number` and
/// the overrides), in order. A dry run prints the commands and returns nothing.
pub fn run_sweep(settings: &SweepSettings) -> Result<Vec<RunRecord>, SweepError> {
    let mut all = Vec::new();
    for serve in &settings.serve_params {
        match run_serve_combination(settings, serve, &mut all) {
            Ok(()) => {}
            Err(error) if settings.continue_on_error => {
                let name = super::layout::sanitize_filename(&format!(
                    "SERVE-{}-failure.json",
                    if serve.is_empty() {
                        "default".to_string()
                    } else {
                        serve.name()
                    }
                ));
                let record = serde_json::json!({
                    "error_type": error_type(&error),
                    "error": error.to_string(),
                    "serve_overrides": Value::Object(serve.0.iter().cloned().collect()),
                });
                write_json(&settings.experiment_dir.join(name), &record, 2)?;
                println!("[FAILED SERVER COMBINATION] {}: {error}", serve.name());
            }
            Err(error) => return Err(error),
        }
    }
    if !settings.dry_run {
        let csv = summary_csv(&all);
        let path = settings.experiment_dir.join("summary.csv");
        std::fs::create_dir_all(&settings.experiment_dir).map_err(|e| file_error(&path, e))?;
        std::fs::write(&path, csv).map_err(|e| file_error(&path, e))?;
    }
    Ok(all)
}

fn error_type(error: &SweepError) -> &'static str {
    match error {
        SweepError::Server(_) => "ServerError",
        SweepError::Bench(_) => "CalledProcessError",
        SweepError::File { .. } => "OSError",
    }
}

/// One server, all bench combinations against it. The server is started only when some
/// combination has no `summary.json` yet (so `--resume` skips finished servers).
fn run_serve_combination(
    settings: &SweepSettings,
    serve: &SweepItem,
    all: &mut Vec<RunRecord>,
) -> Result<(), SweepError> {
    let needs_server = settings.bench_params.iter().any(|bench| {
        !run_path(
            &combination_dir(&settings.experiment_dir, serve, bench, &[]),
            None,
        )
        .exists()
    });
    let server = match needs_server {
        true => start_server(settings, serve)?,
        false => None,
    };
    for bench in &settings.bench_params {
        if !is_linked(serve, bench, &settings.link_vars) {
            continue;
        }
        let dir = combination_dir(&settings.experiment_dir, serve, bench, &[]);
        all.extend(run_combination(
            settings,
            server.as_ref(),
            serve,
            bench,
            &dir,
        )?);
    }
    if needs_server {
        drop(server);
        println!("[END SERVER]");
    }
    Ok(())
}

/// Announces and (unless a dry run) starts `serve`'s server, waiting until it is ready.
pub fn start_server(
    settings: &SweepSettings,
    serve: &SweepItem,
) -> Result<Option<ServerProcess>, SweepError> {
    let server_cmd = serve.apply_to_cmd(&settings.serve_cmd);
    println!("[BEGIN SERVER]");
    println!("Server overrides: {}", serve.as_text(", "));
    println!("Server command: {}", server_cmd.join(" "));
    if settings.dry_run {
        return Ok(None);
    }
    let mut server =
        ServerProcess::start(&server_cmd, &settings.after_bench_cmd, settings.show_stdout)?;
    server.wait_until_ready(settings.server_ready_timeout)?;
    Ok(Some(server))
}

/// A combination's warmup and measured runs; writes `summary.json` when any run succeeded.
pub fn run_combination(
    settings: &SweepSettings,
    server: Option<&ServerProcess>,
    serve: &SweepItem,
    bench: &SweepItem,
    dir: &Path,
) -> Result<Vec<RunRecord>, SweepError> {
    let mut runs = Vec::new();
    if settings.warmup_num_prompts > 0 {
        let mut warmup = bench.clone();
        warmup.insert("num_prompts".into(), settings.warmup_num_prompts.into());
        run_guarded(settings, server, serve, &warmup, -1, &warmup_path(dir))?;
    }
    for n in 0..settings.num_runs {
        let path = run_path(dir, Some(n));
        if let Some(run) = run_guarded(settings, server, serve, bench, n as i64, &path)? {
            runs.push(run);
        }
    }
    if settings.dry_run {
        return Ok(Vec::new());
    }
    if runs.is_empty() {
        println!("[NO SUCCESSFUL MEASURED RUNS] leaving combination retryable");
        return Ok(runs);
    }
    write_json(&run_path(dir, None), &runs, 4)?;
    Ok(runs)
}

/// [`run_benchmark`], recording a failure and going on under `--continue-on-error`.
fn run_guarded(
    settings: &SweepSettings,
    server: Option<&ServerProcess>,
    serve: &SweepItem,
    bench: &SweepItem,
    run_number: i64,
    path: &Path,
) -> Result<Option<RunRecord>, SweepError> {
    match run_benchmark(settings, server, serve, bench, run_number, path) {
        Ok(run) => Ok(run),
        Err(error) if settings.continue_on_error => {
            let record = serde_json::json!({
                "run_number": run_number,
                "error_type": error_type(&error),
                "error": error.to_string(),
                "serve_overrides": Value::Object(serve.0.iter().cloned().collect()),
                "bench_overrides": Value::Object(bench.0.iter().cloned().collect()),
            });
            let failure = failure_path(path);
            write_json(&failure, &record, 2)?;
            println!("[FAILED BENCHMARK] run={run_number}: {error}");
            println!("Failure details: {}", failure.display());
            if let Some(server) = server {
                let _ = server.after_bench();
            }
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// One bench run, or the record already on disk (`--resume`).
fn run_benchmark(
    settings: &SweepSettings,
    server: Option<&ServerProcess>,
    serve: &SweepItem,
    bench: &SweepItem,
    run_number: i64,
    path: &Path,
) -> Result<Option<RunRecord>, SweepError> {
    let mut cmd = bench.apply_to_cmd(&settings.bench_cmd);
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    cmd.extend(
        [
            "--percentile-metrics",
            "ttft,tpot,itl,e2el",
            "--save-result",
            "--result-dir",
            &dir.display().to_string(),
            "--result-filename",
            &file,
        ]
        .map(String::from),
    );
    println!("[BEGIN BENCHMARK]");
    println!("Benchmark overrides: {}", bench.as_text(", "));
    println!("Run Number: {run_number}");
    println!("Benchmark command: {}", cmd.join(" "));
    println!("Output file: {}", path.display());
    if path.exists() {
        println!("Found existing results.");
        println!("[SKIPPED BENCHMARK]");
        return Ok(Some(with_overrides(
            read_json(path)?,
            serve,
            bench,
            run_number,
        )));
    }
    let Some(server) = server else {
        if settings.dry_run {
            println!("[END BENCHMARK]");
            return Ok(None);
        }
        return Err(file_error(path, "no result and no server to produce it"));
    };
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    run_subcommand(&cmd, settings.show_stdout).map_err(SweepError::Bench)?;
    server.after_bench()?;
    let run = with_overrides(read_json(path)?, serve, bench, run_number);
    write_json(path, &run, 4)?;
    println!("[END BENCHMARK]");
    Ok(Some(run))
}

/// vLLM's `_update_run_data`: `run_number`, then the serve and bench overrides, set as a
/// dict's `update` sets them (a key the result already has keeps its place).
fn with_overrides(
    mut run: RunRecord,
    serve: &SweepItem,
    bench: &SweepItem,
    run_number: i64,
) -> RunRecord {
    run.insert("run_number".into(), run_number.into());
    for (k, v) in serve.0.iter().chain(&bench.0) {
        run.insert(k.clone(), v.clone());
    }
    run
}

fn read_json(path: &Path) -> Result<RunRecord, SweepError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    match RunRecord::from_json(&text) {
        Ok(record) => Ok(record),
        Err(e) if e.is_data() => Err(file_error(path, "not a JSON object")),
        Err(e) => Err(file_error(path, format!("not JSON ({e})"))),
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize, indent: usize) -> Result<(), SweepError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    }
    let indent = " ".repeat(indent);
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).map_err(|e| file_error(path, e))?;
    std::fs::write(path, out).map_err(|e| file_error(path, e))
}

/// `summary.csv` as pandas writes `DataFrame.from_records(runs).to_csv()`: an unnamed index
/// column, the union of the keys in first-seen order (each run's own key order: the result
/// file's, then `run_number`, then the overrides), empty cells where a run lacks a key.
pub fn summary_csv(runs: &[RunRecord]) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for run in runs {
        for key in run.keys_in_order() {
            if !columns.contains(&key) {
                columns.push(key);
            }
        }
    }
    let mut out = String::new();
    out.push_str(
        &std::iter::once(String::new())
            .chain(columns.iter().map(|c| csv_cell(c)))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for (i, run) in runs.iter().enumerate() {
        let mut cells = vec![i.to_string()];
        for column in &columns {
            let cell = match run.get(*column) {
                None | Some(Value::Null) => String::new(),
                Some(value) => super::params::python_str(value),
            };
            cells.push(csv_cell(&cell));
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// Python's `csv` minimal quoting.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::parse_sweep;
    use super::*;

    /// The head of a `vllm bench serve` result file (vLLM 0.32's `serve.py` builds it in this
    /// order: `date`, `endpoint_type`, …, `max_concurrency`, then the benchmark's figures).
    const RESULT: &str = r#"{"date": "20261206-010203", "endpoint_type": "openai",
        "backend": "openai", "label": null, "model_id": "m", "tokenizer_id": "m",
        "num_prompts": 50, "request_rate": "inf", "burstiness": 1.0, "max_concurrency": null,
        "duration": 1.5, "completed": 50, "request_throughput": 33.3, "p99_ttft_ms": 12.5}"#;

    #[test]
    fn summary_columns_follow_the_result_file_then_run_number_then_the_overrides() {
        let serve = parse_sweep("s", r#"[{"max_num_seqs": 4, "model": "m"}]"#).unwrap();
        let bench = parse_sweep(
            "b",
            r#"{"fast": {"request_rate": 8, "random_output_len": 4}}"#,
        )
        .unwrap();
        let runs: Vec<RunRecord> = (0..2)
            .map(|n| {
                let result = RunRecord::from_json(RESULT).unwrap();
                with_overrides(result, &serve[0], &bench[0], n)
            })
            .collect();
        let csv = summary_csv(&runs);
        let mut lines = csv.lines();
        // `request_rate` was in the result: the override keeps its place and sets its value.
        assert_eq!(
            lines.next().unwrap(),
            ",date,endpoint_type,backend,label,model_id,tokenizer_id,num_prompts,request_rate,\
             burstiness,max_concurrency,duration,completed,request_throughput,p99_ttft_ms,\
             run_number,max_num_seqs,model,_benchmark_name,random_output_len"
        );
        assert_eq!(
            lines.next().unwrap(),
            "0,20261206-010203,openai,openai,,m,m,50,8,1.0,,1.5,50,33.3,12.5,0,4,m,fast,4"
        );
        assert!(lines.next().unwrap().starts_with("1,"));
        // A run with a key the first lacks adds its column at the end, as pandas does.
        let mut extra = runs[1].clone();
        extra.insert("goodput".into(), Value::from(3));
        let header = summary_csv(&[runs[0].clone(), extra]);
        assert!(
            header
                .lines()
                .next()
                .unwrap()
                .ends_with(",random_output_len,goodput")
        );
    }
}
