//! Runs `profilemate bench sweep serve`: vLLM 0.32's `vllm bench sweep serve` (same flags,
//! parameter files and result layout), plus `--slo` to find each combination's capacity.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use profilemate_plan::search::{Capacity, Limit};
use profilemate_plan::sweep::capacity::LoadVariable;
use profilemate_plan::sweep::capacity::search_combination;
use profilemate_plan::sweep::layout::sanitize_filename;
use profilemate_plan::sweep::params::{is_linked, parse_link_vars, python_str, read_sweep_file};
use profilemate_plan::sweep::record::RunRecord;
use profilemate_plan::sweep::run::{SweepSettings, run_sweep, start_server};
use profilemate_plan::sweep::workload::{explore_combination, write_summary};
use serde_json::Value;

use crate::commands::slo_search_args::SloSearchArgs;

/// `profilemate bench sweep`.
#[derive(Debug, Args)]
pub(crate) struct SweepArgs {
    #[command(subcommand)]
    command: SweepCommand,
}

/// The `bench sweep` subcommands.
#[derive(Debug, Subcommand)]
enum SweepCommand {
    /// Run a server and bench command over grids of parameters, like `vllm bench sweep serve`;
    /// with `--slo`, find each combination's highest load that meets the SLOs.
    Serve(Box<SweepServeArgs>),
    /// Explore each combination's latency-throughput trade-off between serial and batch
    /// inference, like `vllm bench sweep serve_workload`.
    #[command(name = "serve_workload")]
    ServeWorkload(Box<SweepWorkloadArgs>),
    /// Plot performance curves from a sweep's results (every summary.json under the
    /// directory), like `vllm bench sweep plot`; PNG or SVG.
    Plot(Box<super::plot::PlotArgs>),
    /// Plot the Pareto frontier of output tokens/s per user against per GPU from a sweep's
    /// results, like `vllm bench sweep plot_pareto`; PNG or SVG.
    #[command(name = "plot_pareto")]
    PlotPareto(Box<super::plot::PlotParetoArgs>),
}

/// The workload variable `serve_workload` explores.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum WorkloadVar {
    /// `--request-rate`.
    #[value(name = "request_rate")]
    RequestRate,
    /// `--max-concurrency`.
    #[value(name = "max_concurrency")]
    MaxConcurrency,
}

/// `bench sweep serve_workload` flags: `serve`'s, then the workload options.
#[derive(Debug, Args)]
struct SweepWorkloadArgs {
    #[command(flatten)]
    serve: SweepServeArgs,
    /// The variable to adjust in each iteration.
    #[arg(long, value_enum, default_value = "request_rate")]
    workload_var: WorkloadVar,
    /// Number of workload levels to explore, the serial and batch ends included.
    #[arg(long, default_value_t = 10)]
    workload_iters: usize,
}

/// `bench sweep serve` flags (vLLM's, then the SLO search's).
#[derive(Debug, Args)]
struct SweepServeArgs {
    /// The command that runs the server: `vllm serve …` or `profilemate sim serve …`.
    #[arg(long)]
    serve_cmd: String,
    /// The command that runs the benchmark: `vllm bench serve …` or `profilemate bench serve …`.
    #[arg(long)]
    bench_cmd: String,
    /// Run after each benchmark instead of resetting the server's caches.
    #[arg(long)]
    after_bench_cmd: Option<String>,
    /// Show the subcommands' standard output.
    #[arg(long)]
    show_stdout: bool,
    /// Seconds to wait for the server's /health.
    #[arg(long, default_value_t = 300)]
    server_ready_timeout: u64,
    /// JSON file of server parameter combinations (a list of objects, or an object of named
    /// objects); with --bench-params, their Cartesian product is run.
    #[arg(long)]
    serve_params: Option<PathBuf>,
    /// Comma-separated serve=bench keys that must be equal, e.g. max_num_seqs=max_concurrency.
    #[arg(long, default_value = "")]
    link_vars: String,
    /// JSON file of bench parameter combinations.
    #[arg(long)]
    bench_params: Option<PathBuf>,
    /// The directory results go under.
    #[arg(short = 'o', long, default_value = "results")]
    output_dir: PathBuf,
    /// The experiment's name (default: the UTC time, `%Y%m%d_%H%M%S`).
    #[arg(short = 'e', long)]
    experiment_name: Option<String>,
    /// Measured runs per combination.
    #[arg(long, default_value_t = 3)]
    num_runs: usize,
    /// Prompts in one unmeasured warmup run before each combination.
    #[arg(long, default_value_t = 0)]
    warmup_num_prompts: usize,
    /// Record a failed run and go on instead of stopping the sweep.
    #[arg(long)]
    continue_on_error: bool,
    /// Print the commands, run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Continue a previous sweep of this experiment, skipping finished runs.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    search: SloSearchArgs,
}

/// Runs a `bench sweep` subcommand.
pub(crate) fn run(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        SweepCommand::Serve(serve) => serve_sweep(serve),
        SweepCommand::ServeWorkload(workload) => workload_sweep(workload),
        SweepCommand::Plot(plot) => super::plot::plot(plot),
        SweepCommand::PlotPareto(pareto) => super::plot::plot_pareto(pareto),
    }
}

fn split_command(flag: &str, text: &str) -> anyhow::Result<Vec<String>> {
    match shlex::split(text) {
        Some(words) if !words.is_empty() => Ok(words),
        _ => bail!("{flag} {text:?} is empty or not a shell command (unbalanced quotes?)"),
    }
}

fn settings(args: &SweepServeArgs) -> anyhow::Result<SweepSettings> {
    if args.num_runs < 1 {
        bail!("--num-runs must be at least 1");
    }
    let name = match &args.experiment_name {
        Some(name) => name.clone(),
        None => profilemate_bench::clock::Civil::now()
            .compact()
            .replace('-', "_"),
    };
    let experiment_dir = args.output_dir.join(name);
    if args.resume && !experiment_dir.exists() {
        bail!(
            "cannot resume: {} does not exist (drop --resume to start it)",
            experiment_dir.display()
        );
    }
    if !args.resume && experiment_dir.exists() {
        bail!(
            "{} exists already: pass --resume to continue it, or another --experiment-name",
            experiment_dir.display()
        );
    }
    Ok(SweepSettings {
        serve_cmd: split_command("--serve-cmd", &args.serve_cmd)?,
        bench_cmd: split_command("--bench-cmd", &args.bench_cmd)?,
        after_bench_cmd: match &args.after_bench_cmd {
            Some(cmd) => split_command("--after-bench-cmd", cmd)?,
            None => Vec::new(),
        },
        show_stdout: args.show_stdout,
        server_ready_timeout: Duration::from_secs(args.server_ready_timeout),
        serve_params: read_sweep_file(args.serve_params.as_deref())?,
        bench_params: read_sweep_file(args.bench_params.as_deref())?,
        link_vars: parse_link_vars(&args.link_vars)?,
        experiment_dir,
        num_runs: args.num_runs,
        warmup_num_prompts: args.warmup_num_prompts,
        continue_on_error: args.continue_on_error,
        dry_run: args.dry_run,
    })
}

fn serve_sweep(args: &SweepServeArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(args)?;
    if !args.search.slos.is_empty() {
        return slo_search(args, &settings);
    }
    let runs = run_sweep(&settings).map_err(|e| {
        anyhow::anyhow!(
            "{e}. The sweep stopped early: pass --resume to continue from its last finished run"
        )
    })?;
    if settings.dry_run {
        println!(
            "Experiment will be saved at: {}",
            settings.experiment_dir.display()
        );
    } else {
        print_summary(&settings, &runs, &[]);
        println!(
            "Experiment has been saved at: {}",
            settings.experiment_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The per-combination means of the headline figures, one row per combination (the runs'
/// values of the keys the parameter files set).
fn print_summary(settings: &SweepSettings, runs: &[RunRecord], extra_keys: &[&str]) {
    const COLUMNS: [(&str, &str); 6] = [
        ("request_throughput", "req/s"),
        ("output_throughput", "out tok/s"),
        ("mean_ttft_ms", "TTFT mean"),
        ("p99_ttft_ms", "TTFT p99"),
        ("mean_tpot_ms", "TPOT mean"),
        ("p99_tpot_ms", "TPOT p99"),
    ];
    let mut keys: Vec<&str> = Vec::new();
    for key in extra_keys {
        if !keys.contains(key) {
            keys.push(key);
        }
    }
    for item in settings.serve_params.iter().chain(&settings.bench_params) {
        for (key, _) in &item.0 {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
    }
    let mut groups: Vec<(String, Vec<&RunRecord>)> = Vec::new();
    for run in runs {
        let label = keys
            .iter()
            .filter_map(|k| Some(format!("{k}={}", python_str(run.get(*k)?))))
            .collect::<Vec<_>>()
            .join(" ");
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, members)) => members.push(run),
            None => groups.push((label, vec![run])),
        }
    }
    let width = groups
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(11, 200);
    let mut table = format!("{:<width$} {:>4}", "combination", "runs");
    for (_, title) in COLUMNS {
        table.push_str(&format!(" {title:>10}"));
    }
    table.push('\n');
    for (label, members) in &groups {
        let label = if label.is_empty() { "(default)" } else { label };
        table.push_str(&format!("{label:<width$} {:>4}", members.len()));
        for (key, _) in COLUMNS {
            let values: Vec<f64> = members
                .iter()
                .filter_map(|r| r.get(key)?.as_f64())
                .collect();
            if values.is_empty() {
                table.push_str(&format!(" {:>10}", "n/a"));
            } else {
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                table.push_str(&format!(" {mean:>10.2}"));
            }
        }
        table.push('\n');
    }
    print!("{table}");
}

/// `--slo`: for every serve × bench combination, the capacity, then one table.
fn slo_search(args: &SweepServeArgs, settings: &SweepSettings) -> anyhow::Result<ExitCode> {
    let variable = args.search.variable();
    for bench in &settings.bench_params {
        if bench.has_param(variable.key()) {
            bail!(
                "--bench-params sets {} but the --slo search varies it: remove it from the file",
                variable.key()
            );
        }
    }
    let search = args.search.settings()?;
    let slo_text = args.search.describe();
    let mut rows = Vec::new();
    for serve in &settings.serve_params {
        let server = start_server(settings, serve)?;
        for bench in &settings.bench_params {
            if !is_linked(serve, bench, &settings.link_vars) {
                continue;
            }
            if settings.dry_run {
                println!(
                    "Search: {} from {} for {}",
                    variable.key(),
                    search.start,
                    slo_text
                );
                continue;
            }
            let report = search_combination(
                settings,
                server.as_ref(),
                serve,
                bench,
                &args.search.slos,
                variable,
                &search,
            )?;
            let label = [serve.as_text(" "), bench.as_text(" ")]
                .join(" ")
                .trim()
                .to_string();
            rows.push((label, report));
        }
        drop(server);
        println!("[END SERVER]");
    }
    if settings.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    println!("Capacity under {} ({}):", slo_text, variable.key());
    for (label, report) in &rows {
        let label = if label.is_empty() { "(default)" } else { label };
        let line = match &report.capacity {
            Capacity::Found {
                load,
                failing_load,
                limit,
                converged,
            } => {
                let why = match limit {
                    Limit::Slo => format!("an SLO fails at {}", failing_load.unwrap_or(f64::NAN)),
                    Limit::Saturation => format!(
                        "the server saturates at {} (achieved rate below the offered)",
                        failing_load.unwrap_or(f64::NAN)
                    ),
                    Limit::SearchMaximum => "the SLOs hold up to --search-max".to_string(),
                };
                let note = if *converged {
                    ""
                } else {
                    " (not converged: raise --search-max-probes)"
                };
                format!("{load} — {why}; {} probes{note}", report.probes.len())
            }
            Capacity::NoneMeets { lowest_probed } => {
                format!("none — the SLOs fail even at {lowest_probed}")
            }
        };
        println!("  {label}: {line}");
    }
    let summary: Vec<Value> = rows
        .iter()
        .map(|(label, report)| {
            serde_json::json!({
                "combination": label,
                "capacity": match &report.capacity {
                    Capacity::Found { load, .. } => Value::from(*load),
                    Capacity::NoneMeets { .. } => Value::Null,
                },
                "probes": report.probes.iter().map(|p| serde_json::json!({
                    "load": p.load,
                    "meets_slos": p.outcome.meets_slos,
                    "saturated": p.outcome.saturated,
                    "result": Value::Object(p.outcome.detail.clone()),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let path = settings
        .experiment_dir
        .join(sanitize_filename("capacity.json"));
    std::fs::create_dir_all(&settings.experiment_dir)?;
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Experiment has been saved at: {}",
        settings.experiment_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `serve_workload`: per serve combination one server, per bench combination the serial and
/// batch runs and the levels between (vLLM's `explore_combs_workloads`).
fn workload_sweep(args: &SweepWorkloadArgs) -> anyhow::Result<ExitCode> {
    let variable = match args.workload_var {
        WorkloadVar::RequestRate => LoadVariable::RequestRate,
        WorkloadVar::MaxConcurrency => LoadVariable::MaxConcurrency,
    };
    if args.workload_iters < 2 {
        bail!("--workload-iters must be at least 2 (the serial and batch ends)");
    }
    if !args.serve.search.slos.is_empty() {
        bail!("--slo searches belong to `bench sweep serve`; serve_workload explores fixed levels");
    }
    let settings = settings(&args.serve)?;
    if settings
        .bench_params
        .iter()
        .any(|b| b.has_param(variable.key()))
    {
        bail!(
            "--bench-params sets {} but serve_workload explores it: remove it from the file",
            variable.key()
        );
    }
    let mut all = Vec::new();
    for serve in &settings.serve_params {
        let server = start_server(&settings, serve)?;
        for bench in &settings.bench_params {
            if !is_linked(serve, bench, &settings.link_vars) {
                continue;
            }
            all.extend(explore_combination(
                &settings,
                server.as_ref(),
                serve,
                bench,
                variable,
                args.workload_iters,
            )?);
        }
        drop(server);
        println!("[END SERVER]");
    }
    if settings.dry_run {
        println!(
            "Experiment will be saved at: {}",
            settings.experiment_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    write_summary(&settings.experiment_dir, &all)?;
    print_summary(&settings, &all, &["max_concurrency", variable.key()]);
    println!(
        "Experiment has been saved at: {}",
        settings.experiment_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
