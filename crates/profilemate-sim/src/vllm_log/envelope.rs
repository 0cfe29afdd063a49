//! Provides [`Logger`], which writes messages in vLLM's log envelope,
//! `({process} pid={pid}) {LEVEL} {MM-DD HH:MM:SS} [{file}:{line}] {message}`, stamped by a
//! [`LogClock`].
//!
//! Mirrors `_FORMAT`/`_DATE_FORMAT` of vllm/logger.py and `NewLineFormatter`
//! (vllm/logging_utils/formatter.py, vLLM 0.32): a multi-line message repeats the prefix on
//! every line, each line break written `\r\n`. Times are UTC (vLLM prints local time).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use profilemate_metrics::civil::civil_from_days;

/// Where each line claims to come from, as vLLM's `[file:line]`.
pub mod origin {
    /// `LoggingStatLogger._log_iteration_details`.
    pub const ITERATION: &str = "loggers.py:199";
    /// `LoggingStatLogger.log`, the periodic stats line.
    pub const STATS: &str = "loggers.py:335";
    /// `KVConnectorLogging.log` (kv_connector/v1/metrics.py), the KV-transfer line.
    pub const KV_TRANSFER: &str = "metrics.py:103";
    /// `CUDAGraphLogging.log`.
    pub const CUDAGRAPH: &str = "cuda_graph.py:123";
    /// `PerfMetricsLogging.log`, the MFU line.
    pub const MFU: &str = "perf.py:1725";
    /// `log_non_default_args` (vllm/entrypoints/serve/utils/api_utils.py).
    pub const NON_DEFAULT_ARGS: &str = "api_utils.py:286";
    /// `SchedulerConfig.__post_init__`, the chunked-prefill line (vllm/config/scheduler.py).
    pub const CHUNKED_PREFILL: &str = "scheduler.py:307";
    /// `EngineCore.__init__`, the engine config line (vllm/v1/engine/core.py).
    pub const ENGINE_CONFIG: &str = "core.py:133";
    /// `update_kv_cache_capacity`, the KV cache size line (vllm/v1/core/kv_cache_utils.py).
    pub const KV_CACHE_SIZE: &str = "kv_cache_utils.py:2327";
}

/// 2026-01-01 00:00:00 UTC: where [`LogClock::Virtual`] logs of `sim run` start, so equal runs
/// write equal logs.
pub const VIRTUAL_START_UNIX_SECS: u64 = 1_767_225_600;

/// What a line's timestamp is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogClock {
    /// The wall clock when the line is written (a real-time server).
    Wall,
    /// `start_unix_secs` plus the engine's virtual time of the event.
    Virtual {
        /// Unix seconds of virtual time zero.
        start_unix_secs: u64,
    },
}

impl LogClock {
    /// Unix seconds of an event at virtual time `at`.
    pub fn unix_secs(self, at: Duration) -> u64 {
        match self {
            LogClock::Wall => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            LogClock::Virtual { start_unix_secs } => start_unix_secs.saturating_add(at.as_secs()),
        }
    }
}

/// The vLLM process a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The API server, which writes the stat loggers' lines.
    ApiServer,
    /// The engine core (a child process in vLLM): the engine config and KV cache lines. Its
    /// pid is written as the logger's pid + 1.
    EngineCore,
}

/// Formats and writes vLLM-style INFO lines into `W`.
///
/// Write errors never interrupt the engine: the first is kept ([`take_error`](Self::take_error))
/// and later lines are dropped.
#[derive(Debug)]
pub struct Logger<W> {
    out: W,
    clock: LogClock,
    pid: u32,
    line: String,
    error: Option<io::Error>,
}

impl<W: Write> Logger<W> {
    /// Writes into `out`, stamped by `clock`, as the API server of process `pid`.
    pub fn new(out: W, clock: LogClock, pid: u32) -> Self {
        Logger {
            out,
            clock,
            pid,
            line: String::with_capacity(256),
            error: None,
        }
    }

    /// Writes `message` at INFO from the API server's `origin`, at virtual time `at`.
    pub fn info(&mut self, at: Duration, origin: &str, message: &str) {
        self.info_from(Process::ApiServer, at, origin, message);
    }

    /// Writes `message` at INFO from `process`'s `origin`, at virtual time `at`.
    pub fn info_from(&mut self, process: Process, at: Duration, origin: &str, message: &str) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        let (name, pid) = match process {
            Process::ApiServer => ("APIServer", self.pid),
            Process::EngineCore => ("EngineCore", self.pid.wrapping_add(1)),
        };
        let prefix = prefix(name, pid, "INFO", origin, self.clock.unix_secs(at));
        let mut lines = message.split('\n').peekable();
        while let Some(text) = lines.next() {
            let end = if lines.peek().is_some() { "\r\n" } else { "\n" };
            let _ = write!(self.line, "{prefix}{text}{end}");
        }
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.error = Some(e);
        }
    }

    /// Flushes the writer.
    pub fn flush(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
    }

    /// The first write error, if any (and forgets it).
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

/// `({process} pid=P) LEVEL MM-DD HH:MM:SS [origin] `.
fn prefix(process: &str, pid: u32, level: &str, origin: &str, unix_secs: u64) -> String {
    let (month, day) = month_day(unix_secs / 86_400);
    let secs = unix_secs % 86_400;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    format!("({process} pid={pid}) {level} {month:02}-{day:02} {h:02}:{m:02}:{s:02} [{origin}] ")
}

/// Month and day of a day count since 1970-01-01 ([`civil_from_days`]).
fn month_day(days: u64) -> (u32, u32) {
    let (_, month, day) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX / 2));
    (month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_the_fixture_shape() {
        // 2026-11-22 17:23:28 UTC.
        let p = prefix("APIServer", 1833, "INFO", origin::ITERATION, 1_795_368_208);
        assert_eq!(
            p,
            "(APIServer pid=1833) INFO 11-22 17:23:28 [loggers.py:199] "
        );
        assert_eq!(month_day(0), (1, 1));
        assert_eq!(month_day(59), (3, 1));
    }

    #[test]
    fn multi_line_messages_repeat_the_prefix() {
        let mut logger = Logger::new(Vec::new(), LogClock::Wall, 7);
        logger.info(Duration::ZERO, origin::CUDAGRAPH, "a\n\nb");
        let text = String::from_utf8(logger.get_ref().clone()).unwrap();
        assert_eq!(text.matches("[cuda_graph.py:123] ").count(), 3);
        assert_eq!(text.matches("\r\n").count(), 2);
        assert!(text.ends_with("b\n"));
    }

    #[test]
    fn virtual_clock_stamps_start_plus_virtual_time() {
        let clock = LogClock::Virtual {
            start_unix_secs: VIRTUAL_START_UNIX_SECS,
        };
        let mut logger = Logger::new(Vec::new(), clock, 1);
        logger.info(Duration::from_millis(3_725_999), origin::STATS, "x");
        logger.info_from(
            Process::EngineCore,
            Duration::ZERO,
            origin::ENGINE_CONFIG,
            "y",
        );
        let text = String::from_utf8(logger.get_ref().clone()).unwrap();
        assert_eq!(
            text,
            "(APIServer pid=1) INFO 01-01 01:02:05 [loggers.py:335] x\n\
             (EngineCore pid=2) INFO 01-01 00:00:00 [core.py:133] y\n"
        );
    }

    /// A writer that refuses everything.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_first_write_error_is_kept() {
        let mut logger = Logger::new(Full, LogClock::Wall, 1);
        logger.info(Duration::ZERO, origin::STATS, "x");
        logger.info(Duration::ZERO, origin::STATS, "y");
        assert_eq!(logger.take_error().unwrap().to_string(), "disk full");
        assert!(logger.take_error().is_none());
    }
}
