//! Provides [`Logger`], which writes messages in vLLM's log envelope:
//! `({process} pid={pid}) {LEVEL} {MM-DD HH:MM:SS} [{file}:{line}] {message}`.
//!
//! Mirrors `_FORMAT`/`_DATE_FORMAT` of vllm/logger.py and `NewLineFormatter`
//! (vllm/logging_utils/formatter.py, vLLM 0.32): a multi-line message repeats the prefix on
//! every line, each line break written `\r\n`. Times are UTC (vLLM prints local time).

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::LogTarget;

/// Where each line claims to come from, as vLLM's `[file:line]`.
pub(crate) mod origin {
    /// `LoggingStatLogger._log_iteration_details`.
    pub(crate) const ITERATION: &str = "loggers.py:199";
    /// `LoggingStatLogger.log`, the periodic stats line.
    pub(crate) const STATS: &str = "loggers.py:335";
    /// `KVConnectorLogging.log` (kv_connector/v1/metrics.py), the KV-transfer line.
    pub(crate) const KV_TRANSFER: &str = "metrics.py:103";
    /// `CUDAGraphLogging.log`.
    pub(crate) const CUDAGRAPH: &str = "cuda_graph.py:123";
    /// `PerfMetricsLogging.log`, the MFU line.
    pub(crate) const MFU: &str = "perf.py:1725";
}

/// Formats and writes vLLM-style log lines from the `APIServer` process.
#[derive(Debug)]
pub(crate) struct Logger {
    target: LogTarget,
    pid: u32,
    line: String,
}

impl Logger {
    pub(crate) fn new(target: LogTarget) -> Self {
        Logger {
            target,
            pid: std::process::id(),
            line: String::with_capacity(256),
        }
    }

    /// Writes `message` at INFO from `origin`.
    pub(crate) fn info(&mut self, origin: &str, message: &str) {
        self.line.clear();
        let prefix = prefix(self.pid, "INFO", origin, unix_now());
        let mut lines = message.split('\n').peekable();
        while let Some(text) = lines.next() {
            let end = if lines.peek().is_some() { "\r\n" } else { "\n" };
            let _ = write!(self.line, "{prefix}{text}{end}");
        }
        self.target.write(&self.line);
    }

    pub(crate) fn flush(&self) {
        self.target.flush();
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `(APIServer pid=P) LEVEL MM-DD HH:MM:SS [origin] `.
fn prefix(pid: u32, level: &str, origin: &str, unix_secs: u64) -> String {
    let (month, day) = month_day(unix_secs / 86_400);
    let secs = unix_secs % 86_400;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    format!("(APIServer pid={pid}) {level} {month:02}-{day:02} {h:02}:{m:02}:{s:02} [{origin}] ")
}

/// Month and day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn month_day(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MemoryLog;

    #[test]
    fn envelope_matches_the_fixture_shape() {
        // 2026-11-22 17:23:28 UTC.
        let p = prefix(1833, "INFO", origin::ITERATION, 1_795_368_208);
        assert_eq!(
            p,
            "(APIServer pid=1833) INFO 11-22 17:23:28 [loggers.py:199] "
        );
        assert_eq!(month_day(0), (1, 1));
        assert_eq!(month_day(59), (3, 1));
    }

    #[test]
    fn multi_line_messages_repeat_the_prefix() {
        let log = MemoryLog::new();
        let mut logger = Logger::new(log.target());
        logger.info(origin::CUDAGRAPH, "a\n\nb");
        let text = log.contents();
        assert_eq!(text.matches("[cuda_graph.py:123] ").count(), 3);
        assert_eq!(text.matches("\r\n").count(), 2);
        assert!(text.ends_with("b\n"));
    }
}
