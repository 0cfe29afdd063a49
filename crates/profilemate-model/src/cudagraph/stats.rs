//! Provides [`CudaGraphStats`]: per-step dispatch observations and vLLM's stats table.
//!
//! Mirrors `CUDAGraphStat` and `CUDAGraphLogging.generate_metric_table` in
//! vllm/compilation/cuda_graph.py, vLLM 0.32 (observability-anchors.md §2.4).

use std::fmt::Write;

use crate::cudagraph::dispatch::Dispatch;
use crate::cudagraph::mode::{CudaGraphMode, RuntimeMode};

/// One row key of the table: `(unpadded, padded, paddings, mode)`.
pub type CudaGraphStat = Dispatch;

const HEADERS: [&str; 5] = [
    "Unpadded Tokens",
    "Padded Tokens",
    "Num Paddings",
    "Runtime Mode",
    "Count",
];

/// Dispatch decisions observed over one log interval, counted per distinct stat in the order
/// first seen (Python's `Counter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CudaGraphStats {
    counts: Vec<(CudaGraphStat, u64)>,
}

impl CudaGraphStats {
    /// An empty interval.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one step.
    pub fn observe(&mut self, stat: CudaGraphStat) {
        match self.counts.iter_mut().find(|(s, _)| *s == stat) {
            Some((_, count)) => *count += 1,
            None => self.counts.push((stat, 1)),
        }
    }

    /// Whether nothing was observed (vLLM then logs nothing).
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Steps observed.
    pub fn num_steps(&self) -> u64 {
        self.counts.iter().map(|(_, c)| c).sum()
    }

    /// Steps observed in `mode`.
    pub fn steps_in(&self, mode: RuntimeMode) -> u64 {
        self.counts
            .iter()
            .filter(|(s, _)| s.mode == mode)
            .map(|(_, c)| c)
            .sum()
    }

    /// Σ unpadded / Σ padded tokens over the interval (1 when empty).
    pub fn padding_efficiency(&self) -> f64 {
        let sum = |f: fn(&CudaGraphStat) -> u32| -> u64 {
            self.counts.iter().map(|(s, c)| u64::from(f(s)) * c).sum()
        };
        let padded = sum(|s| s.padded_tokens);
        if padded == 0 {
            return 1.0;
        }
        sum(|s| s.unpadded_tokens) as f64 / padded as f64
    }

    /// The rows, most frequent first, ties in first-seen order.
    pub fn rows(&self) -> Vec<(CudaGraphStat, u64)> {
        let mut rows = self.counts.clone();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        rows
    }

    /// The log message exactly as vLLM builds it: settings header, then the table, every line
    /// ending in `\n`.
    pub fn render(&self, mode: CudaGraphMode, capture_sizes: &[u32]) -> String {
        let rows: Vec<[String; 5]> = self.rows().iter().map(|(s, c)| cells(s, *c)).collect();
        let widths: [usize; 5] = std::array::from_fn(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .fold(HEADERS[i].len(), usize::max)
        });
        let mut out = format!(
            "**CUDAGraph Config Settings:**\n\n- Mode: {}\n- Capture sizes: {}\n\n\
             **CUDAGraph Stats:**\n\n",
            mode.name(),
            python_list(capture_sizes)
        );
        push_row(&mut out, &HEADERS.map(str::to_owned), &widths);
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        let _ = writeln!(out, "|{}|", dashes.join("|"));
        for row in &rows {
            push_row(&mut out, row, &widths);
        }
        if rows.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// One multi-line log record as vLLM writes it: `prefix` (`(APIServer pid=…) INFO … [file:line] `)
/// before the message and again after every newline, which becomes `\r\n`
/// (`NewLineFormatter` in vllm/logging_utils/formatter.py, vLLM 0.32); the handler ends the
/// record with `\n`.
pub fn log_record(prefix: &str, message: &str) -> String {
    let mut out = String::with_capacity(message.len() * 2);
    out.push_str(prefix);
    for (i, line) in message.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
            out.push_str(prefix);
        }
        out.push_str(line);
    }
    out.push('\n');
    out
}

fn cells(s: &CudaGraphStat, count: u64) -> [String; 5] {
    [
        s.unpadded_tokens.to_string(),
        s.padded_tokens.to_string(),
        s.num_paddings().to_string(),
        s.mode.name().to_owned(),
        count.to_string(),
    ]
}

fn push_row(out: &mut String, cells: &[String; 5], widths: &[usize; 5]) {
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:<w$}"))
        .collect();
    let _ = writeln!(out, "| {} |", padded.join(" | "));
}

/// Python's `str(list)`: `[1, 2, 4]`.
fn python_list(sizes: &[u32]) -> String {
    let items: Vec<String> = sizes.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(unpadded: u32, padded: u32, mode: RuntimeMode) -> CudaGraphStat {
        Dispatch {
            mode,
            unpadded_tokens: unpadded,
            padded_tokens: padded,
        }
    }

    #[test]
    fn table_matches_vllm_layout() {
        let mut stats = CudaGraphStats::new();
        for _ in 0..2 {
            stats.observe(stat(2048, 2048, RuntimeMode::None));
        }
        for _ in 0..3 {
            stats.observe(stat(5, 8, RuntimeMode::Full));
        }
        stats.observe(stat(300, 304, RuntimeMode::Piecewise));
        let text = stats.render(CudaGraphMode::FullAndPiecewise, &[1, 2, 4, 8]);
        let expected = "**CUDAGraph Config Settings:**\n\n\
            - Mode: FULL_AND_PIECEWISE\n\
            - Capture sizes: [1, 2, 4, 8]\n\n\
            **CUDAGraph Stats:**\n\n\
            | Unpadded Tokens | Padded Tokens | Num Paddings | Runtime Mode | Count |\n\
            |-----------------|---------------|--------------|--------------|-------|\n\
            | 5               | 8             | 3            | FULL         | 3     |\n\
            | 2048            | 2048          | 0            | NONE         | 2     |\n\
            | 300             | 304           | 4            | PIECEWISE    | 1     |\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn log_record_repeats_the_prefix_after_every_newline() {
        let mut stats = CudaGraphStats::new();
        stats.observe(stat(5, 8, RuntimeMode::Full));
        let prefix = "(APIServer pid=4242) INFO 10-20 08:41:10 [cuda_graph.py:123] ";
        let record = log_record(prefix, &stats.render(CudaGraphMode::Full, &[8]));
        let lines: Vec<&str> = record.split("\r\n").collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[0], format!("{prefix}**CUDAGraph Config Settings:**"));
        assert_eq!(lines[1], prefix);
        assert_eq!(
            lines[9],
            format!(
                "{prefix}| 5               | 8             | 3            | FULL         | 1     |"
            )
        );
        assert_eq!(lines[10], format!("{prefix}\n"));
    }

    #[test]
    fn efficiency_and_counts_sum_over_steps() {
        let mut stats = CudaGraphStats::new();
        stats.observe(stat(5, 8, RuntimeMode::Full));
        stats.observe(stat(5, 8, RuntimeMode::Full));
        stats.observe(stat(600, 600, RuntimeMode::None));
        assert_eq!(stats.num_steps(), 3);
        assert_eq!(stats.steps_in(RuntimeMode::Full), 2);
        // (5 + 5 + 600) / (8 + 8 + 600) = 610 / 616.
        assert!((stats.padding_efficiency() - 610.0 / 616.0).abs() < 1e-12);
    }
}
