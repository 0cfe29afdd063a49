//! Provides [`VirtualLog`], an [`EngineSink`] that writes the engine's log in virtual time: the
//! interval lines every `interval` of virtual time, as the API server's `_force_log` task does
//! every `VLLM_LOG_STATS_INTERVAL` seconds of wall time
//! (vllm/entrypoints/launchers/utils/server_utils.py, vLLM 0.32).

use std::io::{self, Write};
use std::time::Duration;

use profilemate_metrics::offload::OffloadStats;

use super::engine_logs::EngineLogs;
use crate::records::StepRecord;
use crate::sink::EngineSink;

/// Ticks an [`EngineLogs`] at 1, 2, 3, … × `interval` of virtual time: a tick covers the steps
/// that ended by it. Idle intervals write nothing, as in vLLM.
#[derive(Debug)]
pub struct VirtualLog<W> {
    logs: EngineLogs<W>,
    interval: Duration,
    next_due: Duration,
}

impl<W: Write> VirtualLog<W> {
    /// Ticks `logs` every `interval` (not zero) from virtual time 0.
    pub fn new(logs: EngineLogs<W>, interval: Duration) -> Self {
        let interval = interval.max(Duration::from_nanos(1));
        VirtualLog {
            logs,
            interval,
            next_due: interval,
        }
    }

    /// The engine's logs, e.g. for the startup lines.
    pub fn logs(&mut self) -> &mut EngineLogs<W> {
        &mut self.logs
    }

    /// Writes the ticks due before `at`.
    fn catch_up(&mut self, at: Duration) {
        while self.next_due < at {
            self.logs.log_interval(self.next_due);
            self.next_due = self.next_due.saturating_add(self.interval);
        }
    }

    /// Ends the log with the tick after the last event (a server keeps running and logs the
    /// last steps at its next tick) and flushes; the first write error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        self.logs.log_interval(self.next_due);
        match self.logs.logger().take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<W: Write> EngineSink for VirtualLog<W> {
    fn on_step(&mut self, step: &StepRecord) {
        self.catch_up(step.end());
        self.logs.on_step(step);
    }

    fn on_kv_connector_stats(&mut self, stats: &OffloadStats, at: Duration) {
        self.catch_up(at);
        self.logs.on_kv_connector_stats(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vllm_log::{EngineLogSettings, LogClock, Logger, VIRTUAL_START_UNIX_SECS};
    use crate::{ConstantStepTimer, EngineConfig, Request, Simulation};

    /// A run of ~36 virtual seconds: one request a second, 100 ms steps.
    fn log_of_a_36_second_run() -> (String, u64) {
        let clock = LogClock::Virtual {
            start_unix_secs: VIRTUAL_START_UNIX_SECS,
        };
        let settings = EngineLogSettings {
            iteration_details: true,
            device: "GPU".to_owned(),
            stats: true,
            kv_transfer: false,
            cudagraph: None,
            mfu: None,
        };
        let mut out = Vec::new();
        let logs = EngineLogs::new(Logger::new(&mut out, clock, 1), settings);
        let mut log = VirtualLog::new(logs, Duration::from_secs(10));
        let config = EngineConfig {
            async_scheduling: false,
            ..EngineConfig::default()
        };
        let mut sim =
            Simulation::new(config, ConstantStepTimer(Duration::from_millis(100))).unwrap();
        for i in 0..35 {
            sim.add_request(Request::synthetic(Duration::from_secs(i), 100, 10))
                .unwrap();
        }
        let mut steps: Vec<StepRecord> = Vec::new();
        sim.run(&mut (&mut steps, &mut log));
        log.finish().unwrap();
        (String::from_utf8(out).unwrap(), steps.len() as u64)
    }

    #[test]
    fn stats_lines_tick_every_10_virtual_seconds() {
        let (text, _) = log_of_a_36_second_run();
        let stamps: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("[loggers.py:335]"))
            .map(|l| &l[23..37])
            .collect();
        assert_eq!(
            stamps,
            [
                "01-01 00:00:10",
                "01-01 00:00:20",
                "01-01 00:00:30",
                "01-01 00:00:40"
            ]
        );
    }

    #[test]
    fn finish_logs_the_last_steps_at_the_next_tick() {
        let clock = LogClock::Virtual { start_unix_secs: 0 };
        let settings = EngineLogSettings {
            iteration_details: false,
            device: "GPU".to_owned(),
            stats: true,
            kv_transfer: false,
            cudagraph: None,
            mfu: None,
        };
        let mut out = Vec::new();
        let logs = EngineLogs::new(Logger::new(&mut out, clock, 1), settings);
        let mut log = VirtualLog::new(logs, Duration::from_secs(10));
        let mut sim = Simulation::new(
            EngineConfig::default(),
            ConstantStepTimer(Duration::from_millis(100)),
        )
        .unwrap();
        sim.add_request(Request::synthetic(Duration::from_secs(31), 100, 10))
            .unwrap();
        sim.run(&mut log);
        log.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let stats: Vec<&str> = text.lines().collect();
        assert_eq!(stats.len(), 1, "{text}");
        assert!(
            stats[0].contains(
                " 01-01 00:00:40 [loggers.py:335] Engine 000: Avg prompt throughput: 10.0 tokens/s"
            ),
            "{text}"
        );
    }

    #[test]
    fn iteration_lines_are_stamped_at_their_step_end() {
        let (text, steps) = log_of_a_36_second_run();
        let iterations: Vec<&str> = text.lines().filter(|l| l.contains("Iteration(")).collect();
        assert_eq!(iterations.len() as u64, steps);
        assert!(iterations[0].contains(" 01-01 00:00:00 "));
        assert!(
            iterations.last().unwrap().contains(" 01-01 00:00:35 "),
            "{}",
            iterations.last().unwrap()
        );
    }
}
