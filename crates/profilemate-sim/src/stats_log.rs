//! Aggregates steps into vLLM's periodic stats line, and formats and parses that line.
//!
//! Mirrors `LoggingStatLogger.record()` / `log()` (vllm/v1/metrics/loggers.py:286-345) and
//! `CachingMetrics` (vllm/v1/metrics/stats.py), vLLM 0.32:
//! `Engine 000: Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f
//! tokens/s, Running: %d reqs, Waiting: %d reqs[, Preemptions: %d], {DEV} KV cache usage:
//! %.1f%%[, Prefix cache hit rate: %.1f%%]`. Only the message is produced (no envelope).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::records::{PrefixCacheStats, StepRecord};
use crate::sink::EngineSink;

/// The content of one periodic stats line.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsLine {
    /// Engine index (`Engine 000`).
    pub engine: u32,
    /// Prompt tokens per second since the previous line (cache hits excluded).
    pub prompt_throughput: f64,
    /// Generated tokens per second since the previous line.
    pub generation_throughput: f64,
    /// Running requests after the last step.
    pub running: u32,
    /// Waiting requests after the last step.
    pub waiting: u32,
    /// Preemptions since the previous line (printed only when non-zero).
    pub preemptions: u64,
    /// KV-cache device as printed (`GPU`, `CPU`, …).
    pub device: String,
    /// KV-cache usage in percent after the last step.
    pub kv_cache_usage_pct: f64,
    /// Prefix-cache hit rate over the last 1000 requests, in percent; `None` when no request
    /// has looked up the cache (always with prefix caching off).
    pub prefix_cache_hit_rate_pct: Option<f64>,
    /// Neither this nor the previous interval produced tokens: vLLM logs the line at DEBUG
    /// instead of INFO. Not part of the text.
    pub idle: bool,
}

impl fmt::Display for StatsLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Engine {:03}: Avg prompt throughput: {:.1} tokens/s, Avg generation throughput: {:.1} \
             tokens/s, Running: {} reqs, Waiting: {} reqs",
            self.engine,
            self.prompt_throughput,
            self.generation_throughput,
            self.running,
            self.waiting,
        )?;
        if self.preemptions > 0 {
            write!(f, ", Preemptions: {}", self.preemptions)?;
        }
        write!(
            f,
            ", {} KV cache usage: {:.1}%",
            self.device, self.kv_cache_usage_pct
        )?;
        if let Some(rate) = self.prefix_cache_hit_rate_pct {
            write!(f, ", Prefix cache hit rate: {rate:.1}%")?;
        }
        Ok(())
    }
}

/// Why a message is not a well-formed periodic stats line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a vLLM stats line: {0}")]
pub struct ParseStatsError(&'static str);

fn number<T: FromStr>(text: &str, what: &'static str) -> Result<T, ParseStatsError> {
    text.trim().parse().map_err(|_| ParseStatsError(what))
}

impl StatsLine {
    /// Finds and parses the stats message in a full log line; `None` when it is not one.
    pub fn find_in(line: &str) -> Option<Self> {
        let start = line.find("Engine ")?;
        line[start..].trim_end_matches(['\r', '\n']).parse().ok()
    }

    /// Fills one `, `-separated part; unknown parts (Deferred, KV fetch, Corrupted, other
    /// cache hit rates) are skipped.
    fn apply(&mut self, part: &str) -> Result<(), ParseStatsError> {
        let field = |p: &'static str, s: &'static str| part.strip_prefix(p)?.strip_suffix(s);
        if let Some(v) = field("Avg prompt throughput: ", " tokens/s") {
            self.prompt_throughput = number(v, "prompt throughput")?;
        } else if let Some(v) = field("Avg generation throughput: ", " tokens/s") {
            self.generation_throughput = number(v, "generation throughput")?;
        } else if let Some(v) = field("Running: ", " reqs") {
            self.running = number(v, "running")?;
        } else if let Some(v) = field("Waiting: ", " reqs") {
            self.waiting = number(v, "waiting")?;
        } else if let Some(v) = part.strip_prefix("Preemptions: ") {
            self.preemptions = number(v, "preemptions")?;
        } else if let Some(v) = field("Prefix cache hit rate: ", "%") {
            self.prefix_cache_hit_rate_pct = Some(number(v, "prefix cache hit rate")?);
        } else if let Some((device, v)) = part.split_once(" KV cache usage: ") {
            self.device = device.to_owned();
            self.kv_cache_usage_pct = number(v.trim_end_matches('%'), "KV cache usage")?;
        }
        Ok(())
    }
}

impl FromStr for StatsLine {
    type Err = ParseStatsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (engine, body) = s
            .strip_prefix("Engine ")
            .and_then(|rest| rest.split_once(": "))
            .ok_or(ParseStatsError("Engine NNN: prefix"))?;
        if !body.starts_with("Avg prompt throughput: ") {
            return Err(ParseStatsError("Avg prompt throughput"));
        }
        let mut line = StatsLine {
            engine: number(engine, "engine index")?,
            prompt_throughput: 0.0,
            generation_throughput: 0.0,
            running: 0,
            waiting: 0,
            preemptions: 0,
            device: String::new(),
            kv_cache_usage_pct: 0.0,
            prefix_cache_hit_rate_pct: None,
            idle: false,
        };
        for part in body.split(", ") {
            line.apply(part)?;
        }
        if line.device.is_empty() {
            return Err(ParseStatsError("KV cache usage"));
        }
        line.idle = line.prompt_throughput == 0.0 && line.generation_throughput == 0.0;
        Ok(line)
    }
}

/// The prefix-cache hit rate over the most recent 1000 requests (`CachingMetrics`).
#[derive(Debug, Default)]
struct HitRateWindow {
    queue: VecDeque<(u64, u64, u64)>,
    requests: u64,
    queries: u64,
    hits: u64,
}

impl HitRateWindow {
    const MAX_RECENT_REQUESTS: u64 = 1000;

    fn observe(&mut self, stats: &PrefixCacheStats) {
        if stats.requests == 0 {
            return;
        }
        self.queue
            .push_back((stats.requests, stats.queries, stats.hits));
        self.requests += stats.requests;
        self.queries += stats.queries;
        self.hits += stats.hits;
        while self.queue.len() > 1 && self.requests > Self::MAX_RECENT_REQUESTS {
            let Some((r, q, h)) = self.queue.pop_front() else {
                break;
            };
            self.requests -= r;
            self.queries -= q;
            self.hits -= h;
        }
    }

    fn hit_rate_pct(&self) -> Option<f64> {
        let rate = if self.queries == 0 {
            0.0
        } else {
            self.hits as f64 / self.queries as f64
        };
        (self.requests > 0).then_some(rate * 100.0)
    }
}

/// A sink that accumulates steps and produces a [`StatsLine`] on demand (vLLM calls it
/// every 10 s; the caller chooses, passing the virtual time).
#[derive(Debug)]
pub struct StatsLogger {
    engine: u32,
    device: String,
    last_log: Duration,
    prompt_tokens: u64,
    generation_tokens: u64,
    preemptions: u64,
    last_throughputs: (f64, f64),
    last_step: Option<(u32, u32, f64)>,
    hit_rate: HitRateWindow,
}

impl StatsLogger {
    /// A logger for engine `engine` whose KV cache lives on `device` (`GPU`, `CPU`), starting
    /// its first interval at `start`.
    pub fn new(engine: u32, device: &str, start: Duration) -> Self {
        StatsLogger {
            engine,
            device: device.to_owned(),
            last_log: start,
            prompt_tokens: 0,
            generation_tokens: 0,
            preemptions: 0,
            last_throughputs: (0.0, 0.0),
            last_step: None,
            hit_rate: HitRateWindow::default(),
        }
    }

    /// The line for the interval ending at `now`, which then starts a new interval.
    pub fn log(&mut self, now: Duration) -> StatsLine {
        let secs = now.saturating_sub(self.last_log).as_secs_f64();
        let rate = |tokens: u64| {
            if secs > 0.0 {
                tokens as f64 / secs
            } else {
                0.0
            }
        };
        let (prompt, generation) = (rate(self.prompt_tokens), rate(self.generation_tokens));
        let idle = [
            prompt,
            generation,
            self.last_throughputs.0,
            self.last_throughputs.1,
        ] == [0.0; 4];
        let (running, waiting, kv) = self.last_step.unwrap_or((0, 0, 0.0));
        let line = StatsLine {
            engine: self.engine,
            prompt_throughput: prompt,
            generation_throughput: generation,
            running,
            waiting,
            preemptions: self.preemptions,
            device: self.device.clone(),
            kv_cache_usage_pct: kv * 100.0,
            prefix_cache_hit_rate_pct: self.hit_rate.hit_rate_pct(),
            idle,
        };
        self.last_throughputs = (prompt, generation);
        (self.prompt_tokens, self.generation_tokens, self.preemptions) = (0, 0, 0);
        self.last_log = now;
        line
    }
}

impl EngineSink for StatsLogger {
    fn on_step(&mut self, step: &StepRecord) {
        self.prompt_tokens += u64::from(step.num_prompt_tokens);
        self.generation_tokens += u64::from(step.num_generated_tokens);
        self.preemptions += u64::from(step.num_preempted);
        self.last_step = Some((step.num_running, step.num_waiting, step.kv_cache_usage));
        self.hit_rate.observe(&step.prefix_cache);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN2: &str = "(APIServer pid=22508) INFO 11-22 17:54:45 [loggers.py:335] Engine 000: Avg prompt \
        throughput: 479.9 tokens/s, Avg generation throughput: 61.0 tokens/s, Running: 8 reqs, Waiting: 8 reqs, \
        CPU KV cache usage: 18.9%";
    const RUN1: &str = "Engine 000: Avg prompt throughput: 64.4 tokens/s, Avg generation throughput: 35.7 \
        tokens/s, Running: 4 reqs, Waiting: 0 reqs, CPU KV cache usage: 0.1%, Prefix cache hit rate: 0.0%";

    #[test]
    fn parses_fixture_lines() {
        let line = StatsLine::find_in(RUN2).unwrap();
        assert_eq!(
            (line.prompt_throughput, line.generation_throughput),
            (479.9, 61.0)
        );
        assert_eq!(
            (line.running, line.waiting, line.kv_cache_usage_pct),
            (8, 8, 18.9)
        );
        assert_eq!(
            (line.device.as_str(), line.prefix_cache_hit_rate_pct),
            ("CPU", None)
        );
        let line: StatsLine = RUN1.parse().unwrap();
        assert_eq!(line.prefix_cache_hit_rate_pct, Some(0.0));
    }

    #[test]
    fn formats_back_to_the_fixture_text() {
        let message = &RUN2[RUN2.find("Engine").unwrap()..];
        assert_eq!(message.parse::<StatsLine>().unwrap().to_string(), message);
        assert_eq!(RUN1.parse::<StatsLine>().unwrap().to_string(), RUN1);
    }

    #[test]
    fn optional_parts_are_read_and_unknown_ones_skipped() {
        let text = "Engine 001: Avg prompt throughput: 1843.2 tokens/s, Avg generation throughput: 612.7 \
            tokens/s, Running: 24 reqs, Waiting: 3 reqs, Deferred: 1 reqs, Preemptions: 2, GPU KV cache \
            usage: 71.4%, Prefix cache hit rate: 38.9%, MM cache hit rate: 10.0%";
        let line: StatsLine = text.parse().unwrap();
        assert_eq!(
            (
                line.engine,
                line.preemptions,
                line.prefix_cache_hit_rate_pct
            ),
            (1, 2, Some(38.9))
        );
        assert!(
            "Iteration(3): 1 context requests"
                .parse::<StatsLine>()
                .is_err()
        );
    }

    #[test]
    fn hit_rate_window_keeps_the_last_thousand_requests() {
        let mut window = HitRateWindow::default();
        let stats = |requests, queries, hits| PrefixCacheStats {
            requests,
            queries,
            hits,
            ..Default::default()
        };
        window.observe(&stats(600, 6000, 6000));
        window.observe(&stats(600, 6000, 0));
        // The first batch is dropped once the window holds more than 1000 requests.
        assert_eq!(window.hit_rate_pct(), Some(0.0));
        window.observe(&stats(0, 0, 0));
        assert_eq!(window.requests, 600);
    }
}
