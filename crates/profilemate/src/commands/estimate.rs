//! `profilemate estimate`: the step estimate in human, JSON and golden-case modes.

use std::process::ExitCode;

use clap::Args;

/// Arguments of `profilemate estimate`.
#[derive(Debug, Args)]
pub(crate) struct EstimateArgs {}

/// Runs `estimate`.
pub(crate) fn run(_args: &EstimateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("estimate is being built")
}
