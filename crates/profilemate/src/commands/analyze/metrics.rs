//! `analyze metrics BEFORE AFTER` and `analyze metrics --url URL --window S`: a vLLM server's
//! figures over the window between two `/metrics` scrapes, and findings.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use profilemate_analyze::scrape::{
    MetricsSummary, ScrapeInput, WindowSource, analyze_window, check_order, fetch, read_scrape_file,
};
use profilemate_analyze::{AnalyzeError, Gpu};

use super::metrics_text;

/// Arguments of `analyze metrics`.
#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// Two scrape files, the earlier first (not with --url).
    #[arg(value_name = "FILE", num_args = 0..=2)]
    pub(crate) files: Vec<PathBuf>,
    /// Scrape this server twice, --window seconds apart (`/metrics` is added to a bare base URL).
    #[arg(long, value_name = "URL", conflicts_with = "files")]
    pub(crate) url: Option<String>,
    /// The window in seconds: how long to wait between live scrapes (default 10), or how far
    /// apart two files were taken (enables per-second rates and MFU/MBU).
    #[arg(long, value_name = "S")]
    pub(crate) window: Option<f64>,
    /// Measure MFU and MBU against this GPU (a preset from `profilemate hardware list`, or a
    /// JSON file).
    #[arg(long, value_name = "GPU")]
    pub(crate) gpu: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `analyze metrics`.
pub(crate) fn run(args: &MetricsArgs, gpu: Option<&Gpu>) -> anyhow::Result<ExitCode> {
    if let Some(w) = args.window
        && !(w.is_finite() && w > 0.0)
    {
        bail!("--window {w}: give the window in seconds, above 0");
    }
    let (name, summary) = match &args.url {
        Some(url) => live(url, args.window.unwrap_or(10.0), gpu)?,
        None => files(args, gpu)?,
    };
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&summary)?;
        text.push('\n');
        text
    } else {
        metrics_text(&name, &summary)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn files(args: &MetricsArgs, gpu: Option<&Gpu>) -> anyhow::Result<(String, MetricsSummary)> {
    let [before_path, after_path] = args.files.as_slice() else {
        bail!("analyze metrics takes two scrape files (BEFORE AFTER), or --url URL");
    };
    let (before, after) = (
        read_scrape_file(before_path)?,
        read_scrape_file(after_path)?,
    );
    let names = (
        before_path.display().to_string(),
        after_path.display().to_string(),
    );
    check_order(&before.scrape, &after.scrape, (&names.0, &names.1))?;
    let window = args.window.map(|w| (w, WindowSource::Flag));
    let summary = analyze_window(&before, &after, window, gpu.map(|g| (g, "--gpu")));
    Ok((format!("{} -> {}", names.0, names.1), summary))
}

/// Scrapes `url` twice, `window` seconds apart; the window is the time between the middles of
/// the two scrapes.
fn live(url: &str, window: f64, gpu: Option<&Gpu>) -> anyhow::Result<(String, MetricsSummary)> {
    let url = fetch::metrics_url(url);
    let scrape = || -> anyhow::Result<(ScrapeInput, Instant)> {
        let start = Instant::now();
        let body = fetch::get(&url)?;
        let mid = start + start.elapsed() / 2;
        let input = ScrapeInput::from_text(&body).map_err(|why| AnalyzeError::Fetch {
            url: url.clone(),
            why: format!("the answer is not Prometheus text ({why})"),
        })?;
        Ok((input, mid))
    };
    let (before, t0) = scrape()?;
    std::thread::sleep(Duration::from_secs_f64(window));
    let (after, t1) = scrape()?;
    let measured = (t1 - t0).as_secs_f64();
    let summary = analyze_window(
        &before,
        &after,
        Some((measured, WindowSource::Measured)),
        gpu.map(|g| (g, "--gpu")),
    );
    Ok((url, summary))
}
