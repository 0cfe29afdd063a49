//! Presents a run: status lines and a progress bar from the event stream, vLLM's result table,
//! profilemate's extra table, and the result file.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use profilemate_bench::config::{BenchConfig, OutputConfig};
use profilemate_bench::output::{
    NameParts, ResultJson, render_extras_table, render_vllm_table, result_filename, write_result,
};
use profilemate_bench::{Event, Report};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::commands::progress::{Mode, Progress};

/// vLLM's warning when no temperature is sent.
pub(super) fn warn_temperature(config: &BenchConfig) {
    if !config.workload.backend.is_pooling()
        && !config.endpoint.extra_body.contains_key("temperature")
    {
        println!(
            "WARNING: vllm bench serve no longer sets temperature==0 (greedy) in requests by default. The default will be determined on the server side and can be model/API specific. For the old behavior, include --temperature=0."
        );
    }
}

/// Prints status lines and shows progress (see [`Mode`]) until the sender is dropped.
pub(super) async fn consume_events(mut rx: UnboundedReceiver<Event>, mode: Mode) {
    let mut progress = Progress::new(mode);
    // Lines are due on time even while no request finishes.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        let event = tokio::select! {
            e = rx.recv() => e,
            _ = tick.tick() => {
                progress.tick();
                continue;
            }
        };
        let Some(event) = event else { break };
        present_event(&mut progress, event);
    }
    progress.finish();
}

/// Shows one event.
pub(crate) fn present_event(progress: &mut Progress, event: Event) {
    match event {
        Event::Message(m) => progress.suspend(|| println!("{m}")),
        Event::Warning(w) => progress.suspend(|| eprintln!("WARNING: {w}")),
        Event::Started { total } => progress.start(total),
        Event::RequestDone { .. } => progress.request_done(),
        Event::Stopping { in_flight, grace } => progress.suspend(|| {
            eprintln!(
                "Interrupted: no more requests will be sent; waiting up to {:.1} s for the {in_flight} requests in flight (Ctrl-C again to stop now).",
                grace.as_secs_f64()
            );
        }),
        Event::VirtualProgress {
            done,
            total,
            simulated,
        } => progress.virtual_progress(done, total, simulated),
        Event::Finished => progress.finish(),
    }
}

/// Writes the result file, prints the tables and where the file went, and picks the exit
/// status (1 if the run was interrupted or every request failed). The file is written first,
/// so a console that fails (a closed pipe) loses no record. `output` is the workload's result
/// file settings.
pub(crate) fn finish(output: &OutputConfig, report: &Report) -> anyhow::Result<ExitCode> {
    let saved = save(output, report)?;
    let mut out = std::io::stdout().lock();
    print_failures(&mut out, report)?;
    out.write_all(render_vllm_table(report).as_bytes())?;
    out.write_all(render_extras_table(report).as_bytes())?;
    if let Some(path) = saved {
        writeln!(out, "Results saved to {}", path.display())?;
    }
    if report.interrupted {
        writeln!(
            out,
            "Run interrupted: {} completed, {} failed, {} interrupted in flight, {} not sent.",
            report.completed(),
            report.records.len() as u64 - report.completed(),
            report.interrupted_requests,
            report.not_sent
        )?;
        return Ok(ExitCode::from(1));
    }
    if report.all_failed() {
        writeln!(out, "All requests failed.")?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// vLLM's first-ten-errors listing.
fn print_failures(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    let failed: Vec<&str> = report
        .records
        .iter()
        .filter(|r| !r.success)
        .map(|r| r.error.as_str())
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "Failed requests during benchmark run detected (capping to 10):"
    )?;
    for (i, err) in failed.iter().take(10).enumerate() {
        writeln!(out, "Error {i}: {err}")?;
    }
    Ok(())
}

/// Writes the result file if one is asked for; returns its path.
fn save(output: &OutputConfig, report: &Report) -> anyhow::Result<Option<std::path::PathBuf>> {
    let s = &report.settings;
    let parts = NameParts {
        backend: s.backend.name(),
        model_id: &s.model_id,
        request_rate: s.request_rate,
        max_concurrency: s.max_concurrency,
        ramp_up: s.ramp_up,
        date: &report.date,
    };
    let Some(path) = result_filename(output, &parts) else {
        return Ok(None);
    };
    let bytes = ResultJson::new(report, output.save_detailed).to_bytes();
    write_result(&path, &bytes, output.append_result)
        .with_context(|| format!("saving {}", path.display()))?;
    Ok(Some(path))
}

/// What to try next, after a `bench serve` run: capacity planning in virtual time, another GPU,
/// a real server.
pub(super) fn next_steps(embedded: bool, config: &BenchConfig) {
    let model = config
        .endpoint
        .model
        .as_deref()
        .unwrap_or(crate::commands::model_source::DEFAULT_MODEL);
    if embedded {
        println!(
            "Next: `profilemate sim run --model {model} --request-rate 10 --num-prompts 10000` plans capacity in virtual time (hours of traffic in seconds); `--gpu h200` runs this benchmark on another GPU; `--base-url http://HOST:8000` benchmarks a real vLLM server with the same flags."
        );
    } else if config.endpoint.gpu.is_none() {
        println!(
            "Next: add `--gpu h100-sxm` (or the server's GPU, see `profilemate hardware list`) for MFU, MBU and what bounds the run; `profilemate sim run` plans capacity in virtual time."
        );
    }
}
