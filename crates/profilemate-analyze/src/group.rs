//! Regroups vLLM's multi-line log records: the CUDA-graph config and stats table and the MFU
//! debug JSON.
//!
//! vLLM's `NewLineFormatter` (vllm/logging_utils/formatter.py, vLLM 0.32) writes each line of a
//! multi-line message as its own log line with the full prefix, ending in `\r`, the last one
//! without it (observability-anchors.md §0.6). A record is the run of lines of one process
//! with the same (pid, timestamp, `file:line`) after a recognised first line; it ends at the
//! first line without `\r` (when the record used `\r`), at another line of the same process,
//! or at the end of the input.

use serde_json::Value;

use crate::cursor::Cursor;
use crate::message::EngineKey;

/// A record being collected.
#[derive(Debug)]
pub(crate) struct OpenGroup {
    pub(crate) pid: u32,
    timestamp: [u8; 14],
    origin: Vec<u8>,
    saw_cr: bool,
    pub(crate) engine: EngineKey,
    pub(crate) body: GroupBody,
}

/// What kind of record, with what it has read so far.
#[derive(Debug)]
pub(crate) enum GroupBody {
    CudaGraph(CudaGraphTable),
    /// The JSON text, and the brace depth after it.
    MfuDetails {
        json: String,
        depth: i32,
    },
}

/// The largest MFU-details JSON kept; a longer one is dropped (bounded memory).
const MAX_JSON: usize = 1 << 16;

impl OpenGroup {
    pub(crate) fn new(
        pid: u32,
        timestamp: &[u8],
        origin: &[u8],
        engine: EngineKey,
        body: GroupBody,
    ) -> Self {
        let mut stamp = [0; 14];
        let len = timestamp.len().min(14);
        stamp[..len].copy_from_slice(&timestamp[..len]);
        OpenGroup {
            pid,
            timestamp: stamp,
            origin: origin.to_vec(),
            saw_cr: false,
            engine,
            body,
        }
    }

    /// Whether a line with this envelope continues the record.
    pub(crate) fn continues(&self, pid: u32, timestamp: &[u8], origin: &[u8]) -> bool {
        pid == self.pid && timestamp == self.timestamp && origin == self.origin.as_slice()
    }

    /// Feeds one line of the record; `true` when the record is complete.
    pub(crate) fn feed(&mut self, message: &[u8], ended_in_cr: bool) -> bool {
        self.saw_cr |= ended_in_cr;
        let done = match &mut self.body {
            GroupBody::CudaGraph(table) => {
                table.line(message);
                false
            }
            GroupBody::MfuDetails { json, depth } => {
                *depth += brace_balance(message);
                if json.len() + message.len() < MAX_JSON {
                    json.push_str(&String::from_utf8_lossy(message));
                    json.push('\n');
                } else {
                    json.clear();
                }
                *depth <= 0
            }
        };
        done || (self.saw_cr && !ended_in_cr)
    }
}

/// Net `{` minus `}` outside JSON strings.
pub(crate) fn brace_balance(text: &[u8]) -> i32 {
    let (mut depth, mut in_string, mut escaped) = (0, false, false);
    for &b in text {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{') => depth += 1,
            (false, b'}') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// One CUDA-graph config and stats record (`CUDAGraphLogging.generate_metric_table`,
/// vllm/compilation/cuda_graph.py:40-124, vLLM 0.32).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CudaGraphTable {
    /// `- Mode: …`.
    pub mode: Option<String>,
    /// How many capture sizes the config lists.
    pub capture_sizes: Option<u32>,
    /// The largest capture size (0 when none).
    pub max_capture_size: u32,
    /// Σ unpadded tokens × count over the rows.
    pub unpadded_tokens: u64,
    /// Σ padded tokens × count.
    pub padded_tokens: u64,
    /// Steps per runtime mode: FULL, PIECEWISE, NONE.
    pub steps_by_mode: [u64; 3],
    /// Rows read.
    pub rows: u64,
}

impl CudaGraphTable {
    fn line(&mut self, message: &[u8]) {
        if let Some(mode) = message.strip_prefix(b"- Mode: ") {
            self.mode = Some(String::from_utf8_lossy(mode).into_owned());
        } else if let Some(list) = message.strip_prefix(b"- Capture sizes: [") {
            self.capture_sizes(list);
        } else if message.starts_with(b"| ") && !message.starts_with(b"| Unpadded") {
            self.row(message);
        }
    }

    fn capture_sizes(&mut self, list: &[u8]) {
        let body = list.strip_suffix(b"]").unwrap_or(list);
        let sizes = body
            .split(|&b| b == b',')
            .filter_map(|s| Cursor::new(s.trim_ascii()).u32());
        let (count, max) = sizes.fold((0, 0), |(n, m), s| (n + 1, m.max(s)));
        self.capture_sizes = Some(count);
        self.max_capture_size = max;
    }

    /// `| unpadded | padded | paddings | MODE | count |`.
    fn row(&mut self, message: &[u8]) {
        let mut cells = message
            .split(|&b| b == b'|')
            .map(<[u8]>::trim_ascii)
            .filter(|c| !c.is_empty());
        let number = |cells: &mut dyn Iterator<Item = &[u8]>| Cursor::new(cells.next()?).uint();
        let (Some(unpadded), Some(padded), Some(_)) =
            (number(&mut cells), number(&mut cells), number(&mut cells))
        else {
            return;
        };
        let Some(mode) = cells.next() else { return };
        let Some(count) = number(&mut cells) else {
            return;
        };
        let slot = match mode {
            b"FULL" => 0,
            b"PIECEWISE" => 1,
            b"NONE" => 2,
            _ => return,
        };
        self.unpadded_tokens += unpadded * count;
        self.padded_tokens += padded * count;
        self.steps_by_mode[slot] += count;
        self.rows += 1;
    }
}

/// The figures of one `MFU details: {…}` JSON (`PerfMetricsDebugLogging`,
/// vllm/v1/metrics/perf.py:1636-1670, vLLM 0.32).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MfuDetails {
    /// `prefill_reqs`.
    pub prefill_reqs: u64,
    /// `decode_reqs`.
    pub decode_reqs: u64,
    /// `num_batches`.
    pub num_batches: u64,
    /// `duration` in seconds.
    pub duration_s: f64,
    /// `flops_breakdown` summed per component (`attn`, `ffn`, …), in TFLOP.
    pub tflops_by_component: Vec<(String, f64)>,
    /// `num_read_bytes_breakdown` + `num_write_bytes_breakdown` per component, in GB.
    pub gb_by_component: Vec<(String, f64)>,
}

impl MfuDetails {
    /// Parses the JSON; `None` when it is not JSON.
    pub(crate) fn parse(json: &str) -> Option<Self> {
        let doc: Value = serde_json::from_str(json).ok()?;
        let int = |key: &str| doc.get(key).and_then(Value::as_u64).unwrap_or(0);
        let mut details = MfuDetails {
            prefill_reqs: int("prefill_reqs"),
            decode_reqs: int("decode_reqs"),
            num_batches: int("num_batches"),
            duration_s: doc
                .get("duration")
                .and_then(Value::as_str)
                .and_then(|d| d.trim_end_matches('s').parse().ok())
                .unwrap_or(0.0),
            ..MfuDetails::default()
        };
        sum_by_component(&doc, "flops_breakdown", &mut details.tflops_by_component);
        sum_by_component(
            &doc,
            "num_read_bytes_breakdown",
            &mut details.gb_by_component,
        );
        sum_by_component(
            &doc,
            "num_write_bytes_breakdown",
            &mut details.gb_by_component,
        );
        Some(details)
    }
}

/// Adds `"component.item": "12.3TF"` values to `out` under `component`.
fn sum_by_component(doc: &Value, key: &str, out: &mut Vec<(String, f64)>) {
    let Some(map) = doc.get(key).and_then(Value::as_object) else {
        return;
    };
    for (name, value) in map {
        let component = name.split('.').next().unwrap_or(name);
        let Some(amount) = value.as_str().and_then(|v| {
            let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            digits.parse::<f64>().ok()
        }) else {
            continue;
        };
        match out.iter_mut().find(|(c, _)| c == component) {
            Some((_, total)) => *total += amount,
            None => out.push((component.to_owned(), amount)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_sum_per_mode() {
        let mut t = CudaGraphTable::default();
        for line in [
            &b"- Mode: FULL_AND_PIECEWISE"[..],
            b"- Capture sizes: [1, 2, 4, 8, 16]",
            b"| Unpadded Tokens | Padded Tokens | Num Paddings | Runtime Mode | Count |",
            b"|-----------------|---------------|--------------|--------------|-------|",
            b"| 5               | 8             | 3            | FULL         | 120   |",
            b"| 2048            | 2048          | 0            | NONE         | 9     |",
            b"| 300             | 304           | 4            | PIECEWISE    | 7     |",
        ] {
            t.line(line);
        }
        assert_eq!(t.mode.as_deref(), Some("FULL_AND_PIECEWISE"));
        assert_eq!((t.capture_sizes, t.max_capture_size), (Some(5), 16));
        assert_eq!(t.steps_by_mode, [120, 7, 9]);
        assert_eq!(t.unpadded_tokens, 5 * 120 + 2048 * 9 + 300 * 7);
        assert_eq!(t.padded_tokens, 8 * 120 + 2048 * 9 + 304 * 7);
        let mut empty = CudaGraphTable::default();
        empty.line(b"- Capture sizes: []");
        assert_eq!((empty.capture_sizes, empty.max_capture_size), (Some(0), 0));
    }

    #[test]
    fn details_json_sums_components() {
        let d = MfuDetails::parse(
            r#"{"prefill_reqs": 41, "decode_reqs": 2380, "num_batches": 97,
                "flops_breakdown": {"attn.qkv_proj": "12.3TF", "attn.attn_qk": "0.7TF", "ffn.dense_ffn": "40.0TF"},
                "num_read_bytes_breakdown": {"ffn.weight": "1.5GB"},
                "num_write_bytes_breakdown": {"ffn.output": "0.5GB"},
                "duration": "10.0s", "mfu_calc_overhead": "0.3%"}"#,
        )
        .unwrap();
        assert_eq!(
            (d.prefill_reqs, d.decode_reqs, d.num_batches),
            (41, 2380, 97)
        );
        assert_eq!(d.duration_s, 10.0);
        assert_eq!(d.tflops_by_component[0].0, "attn");
        assert!((d.tflops_by_component[0].1 - 13.0).abs() < 1e-9);
        assert_eq!(d.gb_by_component, [("ffn".to_owned(), 2.0)]);
        assert_eq!(brace_balance(br#"{"a": "}{", "b": {"#), 2);
    }
}
