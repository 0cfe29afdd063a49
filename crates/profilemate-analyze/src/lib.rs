/*!
Why is this vLLM deployment slow? Findings, with evidence, from what a vLLM 0.32 server (or
profilemate's simulated engine) already writes.

# Overview

- [`input::open`] opens a log file or `-` (stdin), gzip or not (told by the magic bytes).
- [`LogReader`] makes one streaming pass over it: each line's envelope
  (`(Proc pid=N) LEVEL MM-DD HH:MM:SS [file:line] message`) is split at byte level, ANSI
  colours and `\r` removed, the multi-line records (CUDA-graph tables, MFU debug JSON)
  regrouped per process, and the messages it knows (`Iteration(N)`, the periodic stats line,
  MFU, spec-decode, KV-transfer, the startup config) added to per-engine aggregates. Unknown
  lines are counted, never an error. The result is a [`LogReport`] of raw counts and sums.
- [`LogReport::summarize`] derives means, percentiles, shares, utilization against the
  configured limits, MFU/MBU against a [`Gpu`], and the ranked [`Finding`]s, as a
  [`LogSummary`] that serializes to JSON. Nothing here prints.

# Example

```
use profilemate_analyze::LogReader;

let log = "(APIServer pid=1) INFO 11-22 17:54:41 [loggers.py:199] Engine 000: Iteration(0): \
    1 context requests, 300 context tokens, 0 generation requests, 0 generation tokens, \
    iteration elapsed time: 265.42 ms, CPU KV cache usage: 2.4%\n";
let report = LogReader::new().read_all(log.as_bytes())?;
let summary = report.summarize(None);
assert_eq!(summary.total.iterations.count, 1);
assert_eq!(summary.total.iterations.context_tokens, 300);
# Ok::<(), std::io::Error>(())
```
*/
#![deny(missing_docs)]

pub mod aggregate;
pub mod bench_result;
pub mod config;
pub mod counts;
mod cursor;
mod envelope;
pub mod error;
pub mod findings;
pub mod group;
pub mod input;
pub mod message;
pub mod reader;
pub mod scrape;
pub mod summary;

use std::path::Path;

pub use error::AnalyzeError;
pub use findings::Finding;
pub use profilemate_model::hardware::Gpu;
pub use reader::{LogReader, LogReport};
pub use summary::LogSummary;

/// Reads the log at `path` (`-` for stdin; gzip accepted) in one pass.
pub fn read_log_file(path: &Path) -> Result<LogReport, AnalyzeError> {
    let input = input::open(path)?;
    LogReader::new()
        .read_all(input)
        .map_err(|io| AnalyzeError::Read {
            path: path.to_owned(),
            io,
        })
}

/// torch device-name fragments → GPU preset names, most specific first.
const DEVICE_NAMES: &[(&str, &str)] = &[
    ("H100 PCIe", "h100-pcie"),
    ("H100", "h100-sxm"),
    ("H200", "h200"),
    ("A100-SXM4-40GB", "a100-40gb"),
    ("A100-PCIE-40GB", "a100-40gb"),
    ("A100", "a100-80gb"),
    ("B200", "b200"),
    ("L40S", "l40s"),
    ("MI325X", "mi325x"),
    ("MI300X", "mi300x"),
];

/// The GPU preset a device name in the log stands for (`NVIDIA H100 80GB HBM3` → `h100-sxm`).
pub fn gpu_from_device_name(name: &str) -> Option<Gpu> {
    DEVICE_NAMES
        .iter()
        .find(|(fragment, _)| name.contains(fragment))
        .and_then(|(_, preset)| profilemate_model::hardware::preset(preset).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_map_to_presets() {
        let name = |n| gpu_from_device_name(n).map(|g| g.name.to_string());
        assert_eq!(name("NVIDIA H100 80GB HBM3").as_deref(), Some("h100-sxm"));
        assert_eq!(name("NVIDIA H100 PCIe").as_deref(), Some("h100-pcie"));
        assert_eq!(name("NVIDIA A100-SXM4-40GB").as_deref(), Some("a100-40gb"));
        assert_eq!(name("AMD Instinct MI300X").as_deref(), Some("mi300x"));
        assert_eq!(name("NVIDIA GeForce RTX 4090"), None);
    }
}
