//! Runs `sim sweep`: `bench sweep serve`'s grids and `--slo` search over the simulated engine
//! in virtual time, with the deployment axes a real sweep cannot vary cheaply (GPU preset,
//! TP/PP, batch limits, KV dtype, prefix caching, offload, speculative decoding), then the cost
//! per million output tokens, the Pareto front and a recommendation.
//!
//! A combination is a `sim run` command line: the arguments after `--`, with the serve and
//! bench parameters applied as `bench sweep serve` applies them to its commands
//! (`max_num_seqs` → `--max-num-seqs`), so one grid file serves both sweeps.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser};
use profilemate_bench::EventSink;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::output::ResultJson;
use profilemate_plan::early_stop::SloGuard;
use profilemate_plan::recommend::{ConfigCapacity, default_gpu_hour_cost, pareto_front, recommend};
use profilemate_plan::search::{
    Capacity, Limit, Probe, ProbeOutcome, SearchReport, SearchSettings,
};
use profilemate_plan::slo::check_all;
use profilemate_plan::slo::{LatencyMetric, Slo};
use profilemate_plan::staged::{ProbeLength, find_capacity_staged};
use profilemate_plan::sweep::capacity::{LoadVariable, ProbeRecord, judge};
use profilemate_plan::sweep::params::{SweepItem, is_linked, parse_link_vars, read_sweep_file};
use profilemate_plan::virtual_run::{
    ClientDetail, Through, run_data_parallel_with_events, run_virtual_through,
};
use profilemate_sim::vllm_log::MfuLogStepTimer;
use serde_json::{Map, Value, json};

use super::run::SimRunArgs;
use crate::commands::bench::sim_workload_config;
use crate::commands::slo_search_args::SloSearchArgs;

/// `profilemate sim sweep` flags.
#[derive(Debug, Args)]
pub(crate) struct SimSweepArgs {
    /// JSON file of engine parameter combinations (`bench sweep serve`'s format: a list of
    /// objects or an object of named objects), e.g. [{"max_num_seqs": 64}, {"gpu": "h200"}].
    #[arg(long)]
    serve_params: Option<PathBuf>,
    /// JSON file of workload parameter combinations.
    #[arg(long)]
    bench_params: Option<PathBuf>,
    /// Comma-separated serve=bench keys that must be equal.
    #[arg(long, default_value = "")]
    link_vars: String,
    #[command(flatten)]
    search: SloSearchArgs,
    /// US dollars per GPU-hour (default: an indicative price per GPU preset, see
    /// `profilemate_plan::recommend::GPU_HOUR_COST_USD`).
    #[arg(long)]
    gpu_hour_cost: Option<f64>,
    /// Size each request-rate probe as this many seconds of traffic (--num-prompts = rate ×
    /// seconds), so every probe covers the same span of time; default: --num-prompts as given.
    #[arg(long, value_name = "SECONDS")]
    workload_seconds: Option<f64>,
    /// Search first on probes of this share of the workload (its --workload-seconds, or its
    /// --num-prompts; at least 100 requests), then confirm at full length near their answer:
    /// the capacity reported and the load above it that fails are always full-length probes.
    /// 1 searches at full length only.
    #[arg(long, default_value_t = 0.1, value_name = "SHARE")]
    short_probe_share: f64,
    /// Combinations simulated at once (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Write every combination's result (and probes) here as JSON.
    #[arg(short = 'o', long)]
    output_json: Option<PathBuf>,
    /// The `sim run` command line each combination starts from (model, GPU, workload).
    #[arg(last = true, required = true, value_name = "SIM_RUN_ARGS")]
    run_args: Vec<String>,
}

/// A `sim run` command line as clap reads it.
#[derive(Debug, Parser)]
#[command(no_binary_name = true, name = "sim run")]
struct SimRunLine {
    #[command(flatten)]
    args: SimRunArgs,
}

/// One simulated run: its bench result and what it ran on.
struct Simulated {
    result: Map<String, Value>,
    gpus: u64,
    gpu: String,
    /// A watched SLO failed before the run ended, and the rest was not simulated.
    early_stopped: bool,
}

/// One combination's outcome.
struct Outcome {
    label: String,
    gpus: u64,
    gpu: String,
    /// Without `--slo`: the single run's result.
    run: Option<Map<String, Value>>,
    /// With `--slo`: the search at full length.
    search: Option<SearchReport<ProbeRecord>>,
    /// With `--slo`: the short probes that chose where the full-length search started.
    short_probes: Vec<Probe<ProbeRecord>>,
}

/// `sim sweep`.
pub(crate) fn run(args: &SimSweepArgs) -> anyhow::Result<ExitCode> {
    let serve = read_sweep_file(args.serve_params.as_deref())?;
    let bench = read_sweep_file(args.bench_params.as_deref())?;
    let links = parse_link_vars(&args.link_vars)?;
    let variable = args.search.variable();
    let searching = !args.search.slos.is_empty();
    let search = args.search.settings()?;
    if let Some(seconds) = args.workload_seconds
        && !(seconds.is_finite() && seconds > 0.0)
    {
        bail!("--workload-seconds {seconds} must be a positive number of seconds");
    }
    if !(args.short_probe_share > 0.0 && args.short_probe_share <= 1.0) {
        bail!(
            "--short-probe-share {} must be in (0, 1]: e.g. 0.1 for probes a tenth of the workload, 1 for full-length probes only",
            args.short_probe_share
        );
    }
    let mut combos: Vec<(String, Vec<String>)> = Vec::new();
    for s in &serve {
        for b in &bench {
            if !is_linked(s, b, &links) {
                continue;
            }
            if searching && b.has_param(variable.key()) {
                bail!(
                    "--bench-params sets {} but the --slo search varies it: remove it from the file",
                    variable.key()
                );
            }
            let argv = b.apply_to_cmd(&s.apply_to_cmd(&args.run_args));
            let label = [s.as_text(" "), b.as_text(" ")]
                .join(" ")
                .trim()
                .to_string();
            combos.push((label, argv));
        }
    }
    // Refuse a bad command line before simulating anything.
    for (label, argv) in &combos {
        parse_line(label, argv)?;
    }
    let started = Instant::now();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, combos.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<anyhow::Result<Outcome>>>> =
        Mutex::new((0..combos.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((label, argv)) = combos.get(i) else {
                        return;
                    };
                    let outcome = run_combination(label, argv, args, variable, &search);
                    results.lock().expect("no worker panics")[i] = Some(outcome);
                }
            });
        }
    });
    let outcomes = results
        .into_inner()
        .expect("no worker panics")
        .into_iter()
        .map(|o| o.expect("every combination ran"))
        .collect::<anyhow::Result<Vec<Outcome>>>()?;
    let elapsed = started.elapsed().as_secs_f64();
    let report = if searching {
        present_capacities(args, &outcomes, variable)?
    } else {
        present_runs(&outcomes)
    };
    println!(
        "Simulated {} combination(s) in {elapsed:.2} s on {jobs} thread(s).",
        outcomes.len()
    );
    if searching {
        let full: usize = outcomes
            .iter()
            .filter_map(|o| o.search.as_ref())
            .map(|r| r.probes.len())
            .sum();
        let short: usize = outcomes.iter().map(|o| o.short_probes.len()).sum();
        println!("Search probes: {short} short, {full} full-length (capacities rest on these).");
    }
    if let Some(path) = &args.output_json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("Results saved to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_line(label: &str, argv: &[String]) -> anyhow::Result<SimRunArgs> {
    SimRunLine::try_parse_from(argv)
        .map(|line| line.args)
        .map_err(|e| {
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            let first = first.trim_start_matches("error: ");
            anyhow::anyhow!(
                "combination {:?}: the sim run arguments `{}` are invalid: {first}",
                if label.is_empty() { "(default)" } else { label },
                argv.join(" ")
            )
        })
}

/// Simulates one `sim run` command line; with `guard_slos`, stops as soon as one of their
/// percentile bounds has certainly failed ([`SloGuard`]) and says so in `early_stopped`. With
/// [`ClientDetail::FirstAndLast`] the client keeps only each stream's first and last token
/// times, and the result leaves out the figures that needs every chunk for.
fn simulate(
    label: &str,
    argv: &[String],
    guard_slos: &[Slo],
    detail: ClientDetail,
) -> anyhow::Result<Simulated> {
    let args = parse_line(label, argv)?;
    let mut workload = sim_workload_config(&args.workload)?;
    // Only a run sized by its request count can be judged early (not one cut by --duration).
    let requests = if workload.duration.is_none() {
        workload.num_prompts
    } else {
        0
    };
    let mut guard = SloGuard::new(guard_slos, requests);
    let disagg = args
        .disagg
        .resolve(&args.engine, workload.seed, args.log_file.is_some())?;
    if let Some(pd) = disagg {
        workload.prompt_vocab = pd.decode.prompt_vocab();
        let run = pd.run(
            &workload,
            &EventSink::discard(),
            &CancelToken::never(),
            &mut guard,
        )?;
        return Ok(Simulated {
            result: ResultJson::new(&run.report, false)
                .merged()
                .0
                .into_iter()
                .collect(),
            gpus: pd.gpus(),
            gpu: pd.decode.gpu.name.to_string(),
            early_stopped: guard.tripped(),
        });
    }
    let engine = args.engine.resolve(workload.seed)?;
    workload.prompt_vocab = engine.prompt_vocab();
    let parallel = &engine.setup.deployment.parallel;
    // Every data-parallel engine has its own TP × PP GPUs.
    let dp = args.engine.deployment.dp;
    let gpus = dp * parallel.tp * parallel.pp;
    let dp = usize::try_from(dp).unwrap_or(usize::MAX);
    let gpu = engine.gpu.name.to_string();
    let timing = super::run::virtual_timing(&engine);
    let front_end = super::run::front_end(&engine);
    // `--calibration` (a `sim calibrate` fit) times the steps and the front end as in `sim run`.
    let timer = MfuLogStepTimer::new(engine.timer, None);
    let timer = match &engine.calibration {
        Some(c) => timer.with_calibration(c.model),
        None => timer,
    };
    let through = Through {
        engine: engine.config,
        timer,
        front_end,
        detail,
    };
    let mut run = if dp > 1 {
        run_data_parallel_with_events(
            &workload,
            through,
            dp,
            &engine.setup.label,
            &EventSink::discard(),
            &CancelToken::never(),
            &mut guard,
        )?
    } else {
        run_virtual_through(
            &workload,
            through,
            &engine.setup.label,
            &EventSink::discard(),
            &CancelToken::never(),
            &mut guard,
        )?
    };
    run.report.virtual_timing = Some(timing);
    let result = ResultJson::new(&run.report, false)
        .merged()
        .0
        .into_iter()
        .filter(|(key, _)| !detail.unmeasured(key))
        .collect();
    Ok(Simulated {
        result,
        gpus,
        gpu,
        early_stopped: guard.tripped(),
    })
}

fn run_combination(
    label: &str,
    argv: &[String],
    args: &SimSweepArgs,
    variable: LoadVariable,
    search: &SearchSettings,
) -> anyhow::Result<Outcome> {
    if args.search.slos.is_empty() {
        let sim = simulate(label, argv, &[], ClientDetail::Chunks)?;
        return Ok(Outcome {
            label: label.to_string(),
            gpus: sim.gpus,
            gpu: sim.gpu,
            run: Some(sim.result),
            search: None,
            short_probes: Vec::new(),
        });
    }
    let search = match (variable, args.search.bounds_given()) {
        (LoadVariable::RequestRate, false) => {
            // Bracket around the engine's throughput with every request at once: capacity
            // under any latency SLO lies below it.
            let mut all_at_once = SweepItem::default();
            all_at_once.insert("request_rate".into(), json!("inf"));
            let detail = ClientDetail::FirstAndLast;
            let sim = simulate(label, &all_at_once.apply_to_cmd(argv), &[], detail)?;
            let ceiling = sim
                .result
                .get("request_throughput")
                .and_then(Value::as_f64)
                .filter(|t| t.is_finite() && *t > 0.0)
                .with_context(|| format!("combination {:?}: no request completed", shown(label)))?;
            let start = (0.7 * ceiling).max(search.min);
            SearchSettings {
                start,
                max: (1.05 * ceiling).max(start),
                ..*search
            }
        }
        _ => *search,
    };
    let full_prompts = parse_line(label, argv)?.workload.num_prompts;
    let share = args.short_probe_share;
    let prompts_at = |load: f64| match (args.workload_seconds, variable) {
        (Some(seconds), LoadVariable::RequestRate) => (load * seconds).ceil().max(1.0) as usize,
        _ => full_prompts,
    };
    // A workload too small to shorten (100 requests or fewer) is searched at full length only.
    let staged = short_probe_requests(prompts_at(search.start), share) < prompts_at(search.start);
    // A probe is judged by its SLOs and throughput: every chunk's time is needed only for ITL.
    let needs_chunks = (args.search.slos.iter()).any(|slo| slo.metric.metric == LatencyMetric::Itl);
    let detail = if needs_chunks {
        ClientDetail::Chunks
    } else {
        ClientDetail::FirstAndLast
    };
    let mut platform = None;
    let mut probe = |load: f64, length: ProbeLength| -> anyhow::Result<_> {
        let mut at_load = SweepItem::default();
        at_load.insert(variable.key().into(), load_value(load, variable));
        let prompts = prompts_at(load);
        let prompts = match length {
            ProbeLength::Full => prompts,
            ProbeLength::Short => short_probe_requests(prompts, share),
        };
        if prompts != full_prompts || args.workload_seconds.is_some() {
            at_load.insert("num_prompts".into(), json!(prompts));
        }
        let sim = simulate(
            label,
            &at_load.apply_to_cmd(argv),
            &args.search.slos,
            detail,
        )?;
        platform = Some((sim.gpus, sim.gpu));
        if sim.early_stopped {
            let mut detail = sim.result;
            detail.insert("early_stopped".into(), json!(true));
            return Ok(ProbeOutcome {
                meets_slos: false,
                saturated: false,
                detail,
            });
        }
        Ok(judge(&[sim.result], &args.search.slos, load, variable))
    };
    let (report, short_probes) = if staged {
        let staged = find_capacity_staged(&search, &mut probe)?;
        (staged.full, staged.short.probes)
    } else {
        let full = profilemate_plan::search::find_capacity(&search, |load| {
            probe(load, ProbeLength::Full)
        })?;
        (full, Vec::new())
    };
    let (gpus, gpu) = platform.expect("the search probes at least once");
    Ok(Outcome {
        label: label.to_string(),
        gpus,
        gpu,
        run: None,
        search: Some(report),
        short_probes,
    })
}

/// Requests in a short probe: `share` of the full probe's, at least 100 (or all of them).
fn short_probe_requests(full: usize, share: f64) -> usize {
    let short = (full as f64 * share).ceil() as usize;
    short.max(full.min(100)).min(full)
}

fn load_value(load: f64, variable: LoadVariable) -> Value {
    match variable {
        LoadVariable::RequestRate => json!(load),
        LoadVariable::MaxConcurrency => json!(load.round().max(1.0) as u64),
    }
}

/// The table of single runs.
fn present_runs(outcomes: &[Outcome]) -> Value {
    const COLUMNS: [(&str, &str); 5] = [
        ("request_throughput", "req/s"),
        ("output_throughput", "out tok/s"),
        ("p99_ttft_ms", "TTFT p99"),
        ("p99_tpot_ms", "TPOT p99"),
        ("p99_e2el_ms", "E2EL p99"),
    ];
    let width = label_width(outcomes);
    let mut table = format!("{:<width$} {:>4}", "combination", "GPUs");
    for (_, title) in COLUMNS {
        table.push_str(&format!(" {title:>10}"));
    }
    let mut rows = Vec::new();
    for o in outcomes {
        let run = o.run.as_ref().expect("a single run");
        table.push_str(&format!("\n{:<width$} {:>4}", shown(&o.label), o.gpus));
        for (key, _) in COLUMNS {
            match run.get(key).and_then(Value::as_f64) {
                Some(v) => table.push_str(&format!(" {v:>10.2}")),
                None => table.push_str(&format!(" {:>10}", "n/a")),
            }
        }
        rows.push(json!({"combination": o.label, "gpus": o.gpus, "gpu": o.gpu, "result": run}));
    }
    println!("{table}");
    Value::Array(rows)
}

/// The capacities, the Pareto front and the recommendation.
fn present_capacities(
    args: &SimSweepArgs,
    outcomes: &[Outcome],
    variable: LoadVariable,
) -> anyhow::Result<Value> {
    let first_key = args.search.slos[0].metric.result_key();
    let mut configs = Vec::new();
    for o in outcomes {
        let cost = match args.gpu_hour_cost {
            Some(c) => c,
            None => default_gpu_hour_cost(&o.gpu).with_context(|| {
                format!("no default price for GPU {}: pass --gpu-hour-cost", o.gpu)
            })?,
        };
        let report = o.search.as_ref().expect("a search");
        let at_capacity = match &report.capacity {
            Capacity::Found { load, .. } => report
                .probes
                .iter()
                .find(|p| p.load == *load)
                .map(|p| (*load, &p.outcome.detail)),
            Capacity::NoneMeets { .. } => None,
        };
        configs.push(ConfigCapacity {
            label: o.label.clone(),
            gpus: o.gpus,
            gpu_hour_cost: cost,
            capacity_rps: at_capacity.map(|(load, detail)| match variable {
                LoadVariable::RequestRate => load,
                LoadVariable::MaxConcurrency => detail
                    .get("request_throughput")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            }),
            output_tok_s: at_capacity
                .and_then(|(_, d)| d.get("output_throughput").and_then(Value::as_f64)),
            latency_ms: at_capacity.and_then(|(_, d)| d.get(&first_key).and_then(Value::as_f64)),
        });
    }
    let front = pareto_front(&configs);
    let width = label_width(outcomes);
    println!(
        "Capacity under {} ({} searched; GPU-hour prices {}):",
        args.search.describe(),
        variable.key(),
        if args.gpu_hour_cost.is_some() {
            "from --gpu-hour-cost"
        } else {
            "indicative defaults"
        }
    );
    println!(
        "{:<width$} {:>4} {:>10} {:>11} {:>11} {:>12} {:>9}  limit",
        "combination", "GPUs", "req/s", "out tok/s", "tok/s/GPU", first_key, "$/M tok"
    );
    let mut rows = Vec::new();
    for (i, (o, c)) in outcomes.iter().zip(&configs).enumerate() {
        let report = o.search.as_ref().expect("a search");
        let limit = match &report.capacity {
            Capacity::Found {
                limit: Limit::Slo,
                failing_load,
                ..
            } => {
                format!("SLO fails at {:.2}", failing_load.unwrap_or(f64::NAN))
            }
            Capacity::Found {
                limit: Limit::Saturation,
                failing_load,
                ..
            } => {
                format!("saturates at {:.2}", failing_load.unwrap_or(f64::NAN))
            }
            Capacity::Found {
                limit: Limit::SearchMaximum,
                ..
            } => "search maximum".into(),
            Capacity::NoneMeets { lowest_probed } => format!("fails even at {lowest_probed:.2}"),
        };
        let num = |v: Option<f64>, p: usize| v.map_or("n/a".to_string(), |v| format!("{v:.p$}"));
        println!(
            "{:<width$} {:>4} {:>10} {:>11} {:>11} {:>12} {:>9}  {limit}{}",
            shown(&o.label),
            c.gpus,
            num(c.capacity_rps, 2),
            num(c.output_tok_s, 0),
            num(c.tok_s_per_gpu(), 0),
            num(c.latency_ms, 1),
            num(c.cost_per_million_tokens(), 3),
            if front.contains(&i) { "  (front)" } else { "" },
        );
        let probe_json = |p: &Probe<ProbeRecord>| {
            let values: Map<String, Value> = check_all(&args.search.slos, &p.outcome.detail)
                .iter()
                .map(|c| (c.slo.metric.result_key(), json!(c.value_ms)))
                .collect();
            json!({"load": p.load, "meets_slos": p.outcome.meets_slos,
                       "early_stopped": p.outcome.detail.contains_key("early_stopped"),
                       "saturated": p.outcome.saturated, "slo_values": values,
                       "request_throughput": p.outcome.detail.get("request_throughput"),
                       "output_throughput": p.outcome.detail.get("output_throughput"),
                       "completed": p.outcome.detail.get("completed")})
        };
        let checks: Vec<Value> = report.probes.iter().map(probe_json).collect();
        let short_checks: Vec<Value> = o.short_probes.iter().map(probe_json).collect();
        rows.push(json!({
            "combination": o.label, "gpu": o.gpu, "gpus": c.gpus,
            "gpu_hour_cost": c.gpu_hour_cost, "capacity_rps": c.capacity_rps,
            "output_throughput": c.output_tok_s, "tok_s_per_gpu": c.tok_s_per_gpu(),
            "cost_per_million_output_tokens": c.cost_per_million_tokens(),
            "limit": limit, "on_pareto_front": front.contains(&i), "probes": checks,
            "short_probes": short_checks,
        }));
    }
    let pick = recommend(&configs);
    match &pick {
        Some(r) => {
            println!("Recommendation: {}", shown(&configs[r.index].label));
            for reason in &r.reasons {
                println!("  - {reason}");
            }
        }
        None => println!("Recommendation: none — no combination meets the SLOs at any load tried."),
    }
    Ok(json!({
        "slos": args.search.describe(),
        "search_var": variable.key(),
        "configurations": rows,
        "recommendation": pick.map(|r| json!({"combination": configs[r.index].label, "reasons": r.reasons})),
    }))
}

fn label_width(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .map(|o| shown(&o.label).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(11, 80)
}

fn shown(label: &str) -> &str {
    if label.is_empty() { "(default)" } else { label }
}
