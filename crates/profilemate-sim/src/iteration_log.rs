//! Formats and parses vLLM's `Iteration(N): …` log message.
//!
//! Mirrors `LoggingStatLogger._log_iteration_details` (vllm/v1/metrics/loggers.py:199,
//! vLLM 0.32), whose format is
//! `{Engine %03d: }Iteration(%d): %d context requests, %d context tokens, %d generation
//! requests, %d generation tokens, iteration elapsed time: %.2f ms[ (dummy)], {DEV} KV cache
//! usage: %.1f%%[, encoder inputs: …]`.
//! Only the message is produced here; the `(APIServer pid=…) INFO … [loggers.py:199]`
//! envelope belongs to the logger.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::batch::IterationCounts;
use crate::records::StepRecord;

/// The content of one `Iteration(N)` line.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationLine {
    /// Engine index (`Engine 000`).
    pub engine: u32,
    /// Iteration index.
    pub index: u64,
    /// Context/generation split.
    pub counts: IterationCounts,
    /// `iteration elapsed time`, in milliseconds as printed.
    pub elapsed_ms: f64,
    /// Whether it is a data-parallel dummy step.
    pub dummy: bool,
    /// KV-cache device as printed (`GPU`, `CPU`, `XPU`, …).
    pub device: String,
    /// KV-cache usage in percent, as printed.
    pub kv_cache_usage_pct: f64,
}

impl IterationLine {
    /// The line vLLM would print for a simulated step on engine 0.
    pub fn from_step(step: &StepRecord, device: &str) -> Self {
        IterationLine {
            engine: 0,
            index: step.index,
            counts: step.counts,
            elapsed_ms: duration_ms(step.duration),
            dummy: false,
            device: device.to_owned(),
            kv_cache_usage_pct: step.kv_cache_usage * 100.0,
        }
    }

    /// Finds and parses the `Iteration(N)` message in a full log line; `None` when the line
    /// is not one.
    pub fn find_in(line: &str) -> Option<Self> {
        let start = line
            .find("Engine ")
            .filter(|&i| line[i..].contains(": Iteration("));
        let start = start.or_else(|| line.find("Iteration("))?;
        line[start..].trim_end_matches(['\r', '\n']).parse().ok()
    }
}

fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for IterationLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "Engine {:03}: Iteration({}): {} context requests, {} context tokens, \
             {} generation requests, {} generation tokens, iteration elapsed time: {:.2} ms{}, \
             {} KV cache usage: {:.1}%",
            self.engine,
            self.index,
            c.num_ctx_requests,
            c.num_ctx_tokens,
            c.num_generation_requests,
            c.num_generation_tokens,
            self.elapsed_ms,
            if self.dummy { " (dummy)" } else { "" },
            self.device,
            self.kv_cache_usage_pct,
        )
    }
}

/// Why a message is not a well-formed `Iteration(N)` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a vLLM Iteration(N) message: expected {expected}")]
pub struct ParseIterationError {
    /// The piece that was missing or malformed.
    pub expected: &'static str,
}

/// Splits `s` at `sep`, parsing what comes before it.
fn field<'a, T: FromStr>(
    s: &'a str,
    sep: &'static str,
) -> Result<(T, &'a str), ParseIterationError> {
    let err = ParseIterationError { expected: sep };
    let (value, rest) = s.split_once(sep).ok_or(err.clone())?;
    Ok((value.trim().parse().map_err(|_| err)?, rest))
}

impl FromStr for IterationLine {
    type Err = ParseIterationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (engine, s) = match s.strip_prefix("Engine ") {
            Some(rest) => field(rest, ": ")?,
            None => (0, s),
        };
        let s = s.strip_prefix("Iteration(").ok_or(ParseIterationError {
            expected: "Iteration(",
        })?;
        let (index, s) = field(s, "): ")?;
        let (num_ctx_requests, s) = field(s, " context requests, ")?;
        let (num_ctx_tokens, s) = field(s, " context tokens, ")?;
        let (num_generation_requests, s) = field(s, " generation requests, ")?;
        let (num_generation_tokens, s) = field(s, " generation tokens, iteration elapsed time: ")?;
        let (elapsed_ms, s) = field(s, " ms")?;
        let dummy = s.starts_with(" (dummy)");
        let s = s.trim_start_matches(" (dummy)").strip_prefix(", ");
        let s = s.ok_or(ParseIterationError { expected: ", " })?;
        let (device, s): (String, _) = field(s, " KV cache usage: ")?;
        let (kv_cache_usage_pct, _) = field(s, "%")?;
        let counts = IterationCounts {
            num_ctx_requests,
            num_ctx_tokens,
            num_generation_requests,
            num_generation_tokens,
        };
        Ok(IterationLine {
            engine,
            index,
            counts,
            elapsed_ms,
            dummy,
            device,
            kv_cache_usage_pct,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_LINE: &str = "(APIServer pid=22508) INFO 11-22 17:54:41 [loggers.py:199] Engine 000: \
        Iteration(1): 2 context requests, 511 context tokens, 1 generation requests, \
        1 generation tokens, iteration elapsed time: 412.29 ms, CPU KV cache usage: 6.3%";

    #[test]
    fn parses_a_fixture_line() {
        let line = IterationLine::find_in(FIXTURE_LINE).unwrap();
        assert_eq!(line.index, 1);
        assert_eq!(
            line.counts,
            IterationCounts {
                num_ctx_requests: 2,
                num_ctx_tokens: 511,
                num_generation_requests: 1,
                num_generation_tokens: 1
            }
        );
        assert_eq!((line.elapsed_ms, line.kv_cache_usage_pct), (412.29, 6.3));
        assert_eq!(line.device, "CPU");
    }

    #[test]
    fn format_round_trips_the_fixture_message() {
        let message = &FIXTURE_LINE[FIXTURE_LINE.find("Engine").unwrap()..];
        assert_eq!(
            message.parse::<IterationLine>().unwrap().to_string(),
            message
        );
    }

    #[test]
    fn parses_dummy_and_encoder_suffixes() {
        let msg = "Engine 001: Iteration(1524): 0 context requests, 0 context tokens, 0 generation requests, \
                   0 generation tokens, iteration elapsed time: 0.35 ms (dummy), GPU KV cache usage: 0.0%, \
                   encoder inputs: 2, encoder output embeddings: 1152";
        let line: IterationLine = msg.parse().unwrap();
        assert!(line.dummy);
        assert_eq!(
            (line.engine, line.index, line.device.as_str()),
            (1, 1524, "GPU")
        );
    }

    #[test]
    fn other_lines_are_not_iterations() {
        assert_eq!(
            IterationLine::find_in("INFO: 127.0.0.1 - \"GET /metrics HTTP/1.1\" 200 OK"),
            None
        );
        let broken = "Iteration(3): x context requests";
        assert_eq!(
            broken.parse::<IterationLine>(),
            Err(ParseIterationError {
                expected: " context requests, "
            })
        );
    }

    #[test]
    fn formats_like_python_percent_formatting() {
        let line = IterationLine {
            engine: 0,
            index: 7,
            counts: IterationCounts::default(),
            elapsed_ms: 8.585,
            dummy: false,
            device: "GPU".into(),
            kv_cache_usage_pct: 2.3622047244094446,
        };
        assert!(
            line.to_string()
                .ends_with("elapsed time: 8.59 ms, GPU KV cache usage: 2.4%")
        );
    }
}
