//! Golden-case mode: one JSON answer line per input line, same order; exit 1 if any case
//! errored.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use profilemate_model::cases::CaseRunner;

/// Answers every non-blank line of `cases_file`.
pub(crate) fn run(cases_file: &Path, configs_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let configs_dir = configs_dir.context("--cases needs --configs-dir DIR")?;
    let file = std::fs::File::open(cases_file)
        .with_context(|| format!("cannot open --cases {}", cases_file.display()))?;
    let mut runner = CaseRunner::new(configs_dir);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut all_ok = true;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", cases_file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let (answer, ok) = runner.answer_line(&line);
        all_ok &= ok;
        serde_json::to_writer(&mut out, &answer)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
