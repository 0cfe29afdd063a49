//! Runs `sim run`: a `bench serve` workload (same flags, table and result JSON) against the
//! simulated engine in virtual time instead of over HTTP — a capacity plan in seconds.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use profilemate_bench::{EventSink, cancel_pair};
use profilemate_model::roofline::Efficiency;
use profilemate_plan::virtual_run::{
    FrontEnd, Through, VirtualRun, run_data_parallel_with_events, run_virtual_through,
};
use profilemate_sim::vllm_log::MfuLogStepTimer;

use profilemate_sim::calibrate::FEATURE_NAMES;

use super::args::LogArgs;
use super::calibrate::front_end_json;
use super::disagg::{DisaggArgs, Disaggregated};
use super::engine_args::{Engine, EngineArgs};
use super::log_file::EngineLog;
use crate::commands::bench::{WorkloadArgs, finish, sim_workload_config};

/// `profilemate sim run` flags: the engine's, then the workload's.
#[derive(Debug, Args)]
pub(crate) struct SimRunArgs {
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    #[command(flatten)]
    pub(crate) workload: WorkloadArgs,
    #[command(flatten)]
    pub(crate) disagg: DisaggArgs,
    #[command(flatten)]
    pub(crate) log: LogArgs,
    /// Write the engine's vLLM server log here, stamped in virtual time from 2026-01-01
    /// 00:00:00 UTC (read it with `profilemate analyze log`).
    #[arg(long, value_name = "PATH")]
    pub(crate) log_file: Option<PathBuf>,
}

/// `sim run`: resolve the engine and workload, simulate, present and save as `bench serve`.
pub(crate) fn run(args: &SimRunArgs) -> anyhow::Result<ExitCode> {
    let mut workload = sim_workload_config(&args.workload)?;
    let disagg = args
        .disagg
        .resolve(&args.engine, workload.seed, args.log_file.is_some())?;
    if let Some(pd) = disagg {
        workload.prompt_vocab = pd.decode.prompt_vocab();
        return run_disaggregated(args, &workload, &pd);
    }
    let engine = args.engine.resolve(workload.seed)?;
    workload.prompt_vocab = engine.prompt_vocab();
    let dp = usize::try_from(args.engine.deployment.dp).unwrap_or(usize::MAX);
    if dp > 1 && args.log_file.is_some() {
        anyhow::bail!(
            "--log-file writes one engine's vLLM log: it cannot be combined with --data-parallel-size {dp}; drop one of them"
        );
    }
    let (mut log, mfu) = EngineLog::open(&args.log, args.log_file.as_deref(), &engine)?;
    let mut out = std::io::stdout().lock();
    describe(&mut out, &engine, args.engine.deployment.dp)?;
    let started = Instant::now();
    let label = engine.setup.label.clone();
    drop(out);
    let (events, printer, token) = progress_and_interrupt(args.workload.disable_tqdm);
    let mut no_log = ();
    let observer: &mut dyn profilemate_sim::EngineSink = match &mut log {
        Some(log) => &mut log.sink,
        None => &mut no_log,
    };
    let timing = virtual_timing(&engine);
    let front_end = front_end(&engine);
    let timer = match &engine.calibration {
        Some(c) => MfuLogStepTimer::new(engine.timer, mfu).with_calibration(c.model),
        None => MfuLogStepTimer::new(engine.timer, mfu),
    };
    let through = Through {
        engine: engine.config,
        timer,
        front_end,
        detail: Default::default(),
    };
    let result = if dp > 1 {
        run_data_parallel_with_events(&workload, through, dp, &label, &events, &token, observer)
    } else {
        run_virtual_through(&workload, through, &label, &events, &token, observer)
    };
    drop(events);
    let _ = printer.join();
    let log_path = log.map(EngineLog::finish).transpose()?;
    let VirtualRun {
        mut report,
        num_steps,
    } = result?;
    report.virtual_timing = Some(timing);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Simulated {} requests and {num_steps} engine steps: {:.2} s of virtual time in {:.2} s.",
        report.records.len(),
        report.duration,
        started.elapsed().as_secs_f64()
    )?;
    if let Some(path) = log_path {
        writeln!(out, "Wrote the engine's vLLM log to {}.", path.display())?;
    }
    drop(out);
    finish(&workload.output, &report)
}

/// The progress printer fed by the returned sink (join it once the sink is dropped), and
/// the token Ctrl-C (or SIGTERM) cancels: the simulation stops at once and what was
/// simulated is reported.
fn progress_and_interrupt(
    disable_tqdm: bool,
) -> (
    EventSink,
    std::thread::JoinHandle<()>,
    profilemate_bench::cancel::CancelToken,
) {
    let (events, mut rx) = EventSink::channel();
    let mode = crate::commands::progress::Mode::detect(disable_tqdm);
    let printer = std::thread::spawn(move || {
        let mut progress = crate::commands::progress::Progress::new(mode);
        while let Some(event) = rx.blocking_recv() {
            crate::commands::bench::present_event(&mut progress, event);
        }
        progress.finish();
    });
    let (canceller, token) = cancel_pair();
    crate::commands::interrupt::spawn_handler_thread(canceller);
    (events, printer, token)
}

/// `sim run` with a prefill pool and a decode pool.
fn run_disaggregated(
    args: &SimRunArgs,
    workload: &profilemate_bench::config::WorkloadConfig,
    pd: &Disaggregated,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    pd.describe(&mut out)?;
    describe(&mut out, &pd.decode, 1)?;
    drop(out);
    let started = Instant::now();
    let (events, printer, token) = progress_and_interrupt(args.workload.disable_tqdm);
    let result = pd.run(workload, &events, &token, &mut ());
    drop(events);
    let _ = printer.join();
    let VirtualRun { report, num_steps } = result?;
    println!(
        "Simulated {} requests and {num_steps} engine steps over {} instances: {:.2} s of virtual time in {:.2} s.",
        report.records.len(),
        pd.pd.prefill_instances + pd.pd.decode_instances,
        report.duration,
        started.elapsed().as_secs_f64()
    );
    finish(&workload.output, &report)
}

/// States what is simulated: model, GPU, limits, KV cache and step timing.
fn describe(out: &mut impl Write, e: &Engine, dp: u64) -> std::io::Result<()> {
    let c = &e.config;
    writeln!(
        out,
        "Simulated engine: {} on {} ({}).",
        e.setup.label, e.gpu.name, e.gpu.description
    )?;
    let p = &e.setup.deployment.parallel;
    if dp > 1 {
        writeln!(
            out,
            "Data parallel: {dp} identical engines behind vLLM's load balancer, {} GPUs (DP {dp} × TP {} × PP {}); the figures below are per engine.",
            dp * p.tp * p.pp,
            p.tp,
            p.pp
        )?;
    }
    let kv = match &e.kv {
        Some(kv) => format!(
            "{} blocks of {} tokens ({:.1} GiB after {:.1} GiB of weights)",
            kv.num_blocks,
            c.block_size,
            kv.capacity.kv_bytes as f64 / (1u64 << 30) as f64,
            kv.capacity.weight_bytes as f64 / (1u64 << 30) as f64,
        ),
        None => format!(
            "{} blocks of {} tokens (override)",
            c.num_gpu_blocks, c.block_size
        ),
    };
    writeln!(
        out,
        "max_num_seqs {}, max_num_batched_tokens {}, max_model_len {}, KV cache {kv}.",
        c.max_num_seqs, c.max_num_batched_tokens, c.max_model_len
    )?;
    if let Some(cal) = &e.calibration {
        let terms: Vec<String> = FEATURE_NAMES
            .iter()
            .zip(cal.model.coefficients)
            .filter(|(_, c)| *c != 0.0)
            .map(|(n, c)| format!("{n} {c:.4}"))
            .collect();
        let front = &cal.front_end;
        return writeln!(
            out,
            "Step time: calibrated ({}) on the {} roofline: {} + {:.3} ms outside the iteration + {} µs CPU overhead; front end {:.1} ms + {:.4} ms per prompt token, requests handed over {:.2} ms apart; prefix caching {}, async scheduling {}.",
            cal.path.display(),
            e.gpu.name,
            terms.join(", "),
            cal.model.outside_ms,
            c.cpu_overhead_per_step.as_micros(),
            front.delay.as_secs_f64() * 1000.0,
            front.per_prompt_token.as_secs_f64() * 1000.0,
            front.serial.as_secs_f64() * 1000.0,
            on_off(c.enable_prefix_caching),
            on_off(c.async_scheduling)
        );
    }
    writeln!(
        out,
        "Step time: vLLM's FLOPs and bytes on the {} roofline, CUDA-graph padding included, + {} µs fixed + {} µs CPU overhead; prefix caching {}, async scheduling {}.",
        e.gpu.name,
        Efficiency::default().step_overhead.as_micros(),
        c.cpu_overhead_per_step.as_micros(),
        on_off(c.enable_prefix_caching),
        on_off(c.async_scheduling)
    )
}

/// The front end a run puts between its client and the engines: the calibration's, if any.
pub(crate) fn front_end(engine: &Engine) -> FrontEnd {
    engine
        .calibration
        .as_ref()
        .map_or_else(FrontEnd::default, |c| c.front_end)
}

/// What a run's result says about how it was timed (`virtual_timing`).
pub(crate) fn virtual_timing(engine: &Engine) -> serde_json::Value {
    match &engine.calibration {
        Some(c) => c.timing_json(),
        None => serde_json::json!({
            "timing_model": "roofline",
            "gpu": engine.gpu.name,
            "step_time": "vLLM's FLOPs and bytes on the GPU's roofline, CUDA-graph padding included, plus the fixed step overhead and --cpu-overhead-per-step-us",
            "front_end": front_end_json(&FrontEnd::default()),
        }),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
