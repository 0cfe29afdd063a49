//! `profilemate hardware list`: the built-in GPU presets and their peaks.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use profilemate_model::hardware::{Gpu, presets};
use serde_json::{Value, json};

/// Arguments of `profilemate hardware`.
#[derive(Debug, Args)]
pub(crate) struct HardwareArgs {
    #[command(subcommand)]
    pub(crate) command: HardwareCommand,
}

/// The `hardware` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum HardwareCommand {
    /// List the GPU presets (names for `--gpu`) with their dense peaks and memory.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `hardware`.
pub(crate) fn run(args: &HardwareArgs) -> anyhow::Result<ExitCode> {
    let HardwareCommand::List { json } = args.command;
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<Value> = presets::ALL.iter().map(to_json).collect();
        let mut text = serde_json::to_string_pretty(&list)?;
        text.push('\n');
        out.write_all(text.as_bytes())?;
    } else {
        out.write_all(table(&presets::ALL).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The human table: one row per GPU, in datasheet units; the name columns as wide as the
/// longest entry.
fn table(gpus: &[Gpu]) -> String {
    let name_w = gpus.iter().map(|g| g.name.len()).max().unwrap_or(0).max(4);
    let gpu_w = gpus
        .iter()
        .map(|g| g.description.len())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut out = format!(
        "{:<name_w$} {:<gpu_w$} {:>9} {:>10} {:>10} {:>9} {:>12} {:>8}\n",
        "NAME", "GPU", "MEM GiB", "HBM GB/s", "BF16 TF/s", "FP8 TF/s", "LINK GB/s", "RIDGE"
    );
    for g in gpus {
        let fp8 = g
            .fp8_flops
            .map_or_else(|| "-".to_owned(), |f| format!("{:.1}", f / 1e12));
        let _ = writeln!(
            out,
            "{:<name_w$} {:<gpu_w$} {:>9.1} {:>10.0} {:>10.1} {:>9} {:>12.0} {:>8.0}",
            g.name,
            g.description,
            g.memory_bytes as f64 / (1u64 << 30) as f64,
            g.memory_bandwidth / 1e9,
            g.bf16_flops / 1e12,
            fp8,
            g.interconnect_bandwidth / 1e9,
            g.bf16_flops / g.memory_bandwidth,
        );
    }
    out.push_str(
        "\nRIDGE: BF16 FLOP per byte of HBM traffic at which a kernel stops being memory-bound.\n",
    );
    out
}

/// One GPU as JSON, units in the key names.
fn to_json(g: &Gpu) -> Value {
    json!({
        "name": g.name,
        "description": g.description,
        "memory_bytes": g.memory_bytes,
        "memory_bandwidth_bytes_per_s": g.memory_bandwidth,
        "bf16_flops_per_s": g.bf16_flops,
        "fp8_flops_per_s": g.fp8_flops,
        "interconnect_bytes_per_s": g.interconnect_bandwidth,
        "data_center_blackwell": g.data_center_blackwell,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_preset_with_its_ridge_point() {
        let text = table(&presets::ALL);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("h100-sxm ")).count(),
            1
        );
        // H100 SXM: 989.4e12 / 3.35e12 = 295.3 FLOP/B.
        let h100 = text.lines().find(|l| l.starts_with("h100-sxm ")).unwrap();
        assert!(h100.trim_end().ends_with("295"), "{h100}");
        assert!(text.contains("a100-40gb") && text.contains("mi355x"));
        // Every row's columns line up with the header's, long names included.
        let ridge = text.lines().next().unwrap().len();
        for line in text.lines().take(presets::ALL.len() + 1) {
            assert_eq!(line.len(), ridge, "{line}");
        }
    }
}
