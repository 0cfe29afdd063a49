//! `analyze bench RESULT.json [--before F --after F]`: a `bench serve` result beside the
//! server's view of the same run, and findings.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use profilemate_analyze::bench_result::{ScrapesFrom, analyze_bench, read_bench_result};
use profilemate_analyze::scrape::{check_order, read_scrape_file};
use profilemate_analyze::{AnalyzeError, Gpu};

use super::render_bench::bench_text;

/// Arguments of `analyze bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The result JSON `bench serve --save-result` wrote (profilemate's or vLLM's).
    #[arg(value_name = "RESULT")]
    pub(crate) result: PathBuf,
    /// The /metrics scrape taken before the run (for results without `server_scrapes`, such as
    /// vLLM's).
    #[arg(long, value_name = "FILE", requires = "after")]
    pub(crate) before: Option<PathBuf>,
    /// The /metrics scrape taken after the run.
    #[arg(long, value_name = "FILE", requires = "before")]
    pub(crate) after: Option<PathBuf>,
    /// Measure MFU and MBU against this GPU (a preset or a JSON file).
    #[arg(long, value_name = "GPU")]
    pub(crate) gpu: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `analyze bench`.
pub(crate) fn run(args: &BenchArgs, gpu: Option<&Gpu>) -> anyhow::Result<ExitCode> {
    let client = read_bench_result(&args.result)?;
    let scrapes = match (&args.before, &args.after) {
        (Some(b), Some(a)) => {
            let (before, after) = (read_scrape_file(b)?, read_scrape_file(a)?);
            let names = (b.display().to_string(), a.display().to_string());
            check_order(&before.scrape, &after.scrape, (&names.0, &names.1))?;
            Some((before, after, ScrapesFrom::Files))
        }
        _ => match client.embedded_scrapes() {
            Some(Ok((before, after))) => Some((before, after, ScrapesFrom::Result)),
            Some(Err(detail)) => {
                return Err(AnalyzeError::NotBenchResult {
                    path: args.result.clone(),
                    detail,
                }
                .into());
            }
            None => None,
        },
    };
    let analysis = analyze_bench(client, scrapes, gpu.map(|g| (g, "--gpu")));
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&analysis)?;
        text.push('\n');
        text
    } else {
        bench_text(&args.result.display().to_string(), &analysis)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
