//! Runs `profilemate bench sweep plot` and `plot_pareto`: vLLM 0.32's `vllm bench sweep plot`
//! and `plot_pareto` over a sweep's output directory (every `summary.json` under it), drawn
//! with `plotters` to PNG or SVG instead of seaborn. The data (groups, filters, curves, the
//! frontier) comes from `profilemate_plan::sweep::{figures, pareto}`; here are the flags and
//! the drawing.

mod curves;
mod pareto;

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use plotters::prelude::*;
use profilemate_plan::sweep::layout::sanitize_filename;
use profilemate_plan::sweep::params::python_str;

pub(crate) use curves::{PlotArgs, plot};
pub(crate) use pareto::{PlotParetoArgs, plot_pareto};

/// DejaVu Sans, cut to ASCII and a few symbols (`assets/README.md` says how): the
/// bitmap backend needs glyphs, and a plot must not depend on the machine's fonts.
const FONT: &[u8] = include_bytes!("../../../../assets/DejaVuSans-subset.ttf");

/// The image format written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FigFormat {
    /// A PNG bitmap (vLLM's format).
    Png,
    /// An SVG drawing.
    Svg,
}

impl FigFormat {
    pub(super) fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
        }
    }
}

/// A comma-separated flag's items (none when absent or empty).
pub(super) fn list(text: Option<&str>) -> Vec<String> {
    match text {
        Some(t) if !t.is_empty() => t.split(',').map(String::from).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn register_font() -> anyhow::Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("the embedded font could not be loaded"))
}

/// A group's file name: `PREFIX[-k=v…].EXT`, sanitized as vLLM sanitizes it.
pub(super) fn fig_path(
    dir: &Path,
    prefix: &str,
    group: &[(String, String)],
    format: FigFormat,
) -> PathBuf {
    let mut parts = vec![prefix.to_string()];
    parts.extend(group.iter().map(|(k, v)| format!("{k}={v}")));
    dir.join(sanitize_filename(&format!(
        "{}.{}",
        parts.join("-"),
        format.extension()
    )))
}

pub(super) fn group_text(group: &[(String, String)]) -> String {
    let items: Vec<String> = group.iter().map(|(k, v)| format!("'{k}': '{v}'")).collect();
    format!("{{{}}}", items.join(", "))
}

/// The range covering `values` with a margin; a log range stays positive.
pub(super) fn axis_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        return (lo / 1.2, hi * 1.2);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

/// What drawing on a backend returns.
pub(super) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Python's `str(float)` (`2.0`, `0.5`).
pub(super) fn python_float_str(v: f64) -> String {
    python_str(
        &serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number),
    )
}
