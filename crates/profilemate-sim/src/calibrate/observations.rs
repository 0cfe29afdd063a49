//! Reads a vLLM server log into priced iterations ([`LogObservations`]) and estimates the time
//! each step spends outside vLLM's `iteration elapsed time` ([`OutsideEstimate`]).
//!
//! The log gives each iteration's context/generation requests and tokens, not each request's
//! context length. The decode context is estimated by following the tokens (see
//! [`ContextTracker`]); a context request's chunk is split evenly between the iteration's
//! context requests and priced as a fresh prefill (no earlier chunk).

use profilemate_model::ScheduledRequest;
use profilemate_model::roofline::{CostModel, StepClock};

use super::features::Features;
use crate::iteration_log::IterationLine;

/// One logged iteration, priced.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// `Iteration(N)`.
    pub index: u64,
    /// Its roofline features.
    pub features: Features,
    /// Its `iteration elapsed time`, in ms.
    pub elapsed_ms: f64,
}

/// The time between iterations while requests run, from the log's one-second timestamps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutsideEstimate {
    /// Mean time per step outside `iteration elapsed time`, in ms.
    pub mean_ms: f64,
    /// Its standard error (spread of the per-second estimates), in ms.
    pub standard_error_ms: f64,
    /// Busy seconds the estimate comes from.
    pub seconds: usize,
}

/// A log's iterations and what else it says.
#[derive(Debug, Clone, PartialEq)]
pub struct LogObservations {
    /// Non-dummy iterations, in log order.
    pub iterations: Vec<Observation>,
    /// Time outside the iterations, when the log has busy seconds to measure it on.
    pub outside: Option<OutsideEstimate>,
    /// The model the engine served (`model='…'` of its startup line), when logged.
    pub model: Option<String>,
}

/// Why a log cannot be calibrated from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObservationError {
    /// No `Iteration(N)` line.
    #[error(
        "has no `Iteration(N)` lines: start vLLM with --enable-logging-iteration-details and send it traffic"
    )]
    NoIterations,
}

/// Follows decode contexts through a log that never names requests: each context request's
/// tokens wait as "pending prefill"; when the number of generation requests grows, the newcomers
/// take their share of the pending tokens; when it shrinks, the leavers take the mean context
/// with them; every generation token adds one token of context.
#[derive(Debug, Clone, Default)]
pub struct ContextTracker {
    members: u32,
    context: f64,
    pending_requests: u32,
    pending_tokens: f64,
}

impl ContextTracker {
    /// Updates for an iteration with these counts and returns the estimated Σ context (tokens
    /// already computed) of its generation requests.
    pub fn before(&mut self, line: &IterationLine) -> f64 {
        let g = line.counts.num_generation_requests;
        if g > self.members {
            let joining = g - self.members;
            let from_pending = joining.min(self.pending_requests);
            if from_pending > 0 {
                let share = self.pending_tokens * f64::from(from_pending)
                    / f64::from(self.pending_requests);
                self.context += share;
                self.pending_tokens -= share;
                self.pending_requests -= from_pending;
            }
            // Joiners without pending tokens (resumed after preemption) come in at the mean.
            let mean = if self.members > 0 {
                self.context / f64::from(self.members)
            } else {
                0.0
            };
            self.context += mean * f64::from(joining - from_pending);
        } else if g < self.members {
            let mean = self.context / f64::from(self.members);
            self.context -= mean * f64::from(self.members - g);
        }
        self.members = g;
        if g == 0 {
            self.context = 0.0;
        }
        self.context
    }

    /// Updates after the iteration: prompts join the pending pool, decodes grow by their tokens.
    pub fn after(&mut self, line: &IterationLine) {
        let c = &line.counts;
        self.pending_requests += c.num_ctx_requests;
        self.pending_tokens += f64::from(c.num_ctx_tokens);
        self.context += f64::from(c.num_generation_tokens);
    }
}

/// Reads `log` (a vLLM server log) and prices its iterations on `clock`.
pub fn read_log<M: CostModel>(
    log: &str,
    clock: &mut StepClock<M>,
) -> Result<LogObservations, ObservationError> {
    let mut iterations = Vec::new();
    let mut stamped: Vec<(i64, &IterationLine, f64)> = Vec::new();
    let mut lines = Vec::new();
    let mut model = None;
    for line in log.lines() {
        if model.is_none() && line.contains("Initializing a V1 LLM engine") {
            model = quoted_after(line, "model='").map(str::to_owned);
        }
        if let Some(it) = IterationLine::find_in(line) {
            if !it.dummy {
                lines.push((timestamp_secs(line), it));
            }
        }
    }
    if lines.is_empty() {
        return Err(ObservationError::NoIterations);
    }
    let mut tracker = ContextTracker::default();
    let (mut prefill, mut decode, mut tmp) = (Vec::new(), Vec::new(), Vec::new());
    for (_, it) in &lines {
        let context = tracker.before(it);
        let c = it.counts;
        split_evenly(&mut prefill, c.num_ctx_requests, c.num_ctx_tokens, 0.0);
        split_evenly(
            &mut decode,
            c.num_generation_requests,
            c.num_generation_tokens,
            context,
        );
        let features = Features::price(clock, &prefill, &decode, &mut tmp);
        tracker.after(it);
        iterations.push(Observation {
            index: it.index,
            features,
            elapsed_ms: it.elapsed_ms,
        });
    }
    for (t, it) in &lines {
        if let Some(t) = t {
            stamped.push((*t, it, it.elapsed_ms));
        }
    }
    Ok(LogObservations {
        iterations,
        outside: outside_time(&stamped),
        model,
    })
}

/// `requests` requests sharing `tokens` scheduled tokens and `context` computed tokens evenly.
fn split_evenly(out: &mut Vec<ScheduledRequest>, requests: u32, tokens: u32, context: f64) {
    out.clear();
    let n = u64::from(requests);
    let tokens = u64::from(tokens);
    let context = context.max(0.0).round() as u64;
    for i in 0..n {
        out.push(ScheduledRequest {
            num_computed_tokens: context / n + u64::from(i < context % n),
            num_scheduled_tokens: tokens / n + u64::from(i < tokens % n),
        });
    }
}

/// The text between `prefix` and the next `'`.
fn quoted_after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let start = line.find(prefix)? + prefix.len();
    let len = line[start..].find('\'')?;
    Some(&line[start..start + len])
}

/// The `MM-DD HH:MM:SS` stamp of a vLLM log line as seconds (months counted as 31 days: only
/// differences within a log matter, and a month end merely breaks a busy stretch).
fn timestamp_secs(line: &str) -> Option<i64> {
    let level = [" INFO ", " WARNING ", " DEBUG ", " ERROR "]
        .iter()
        .find_map(|l| line.find(l).map(|i| i + l.len()))?;
    let stamp = line.get(level..level + 14)?;
    let b = stamp.as_bytes();
    if b[2] != b'-' || b[5] != b' ' || b[8] != b':' || b[11] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| stamp[r].parse::<i64>().ok();
    let (mo, d, h, mi, s) = (
        num(0..2)?,
        num(3..5)?,
        num(6..8)?,
        num(9..11)?,
        num(12..14)?,
    );
    Some((((mo * 31 + d) * 24 + h) * 60 + mi) * 60 + s)
}

/// Estimates the time outside the iterations on "busy" seconds: a second whose iterations all
/// carry generation requests (so a request was running across every gap: vLLM steps without
/// pause while one runs) and whose neighbours also hold such iterations. Within such a second,
/// 1000 ms ≈ Σ elapsed + n × outside; each second gives `(1000 − Σ elapsed) / n`, and the
/// estimate is their iteration-weighted mean (a step straddling a second boundary makes each
/// second's estimate off by up to one step, which averages out).
fn outside_time(stamped: &[(i64, &IterationLine, f64)]) -> Option<OutsideEstimate> {
    // Per second: (iterations, Σ elapsed, all continuing).
    let mut seconds: Vec<(i64, u32, f64, bool)> = Vec::new();
    for (t, it, elapsed) in stamped {
        let continuing = it.counts.num_generation_requests > 0;
        match seconds.last_mut() {
            Some(s) if s.0 == *t => {
                s.1 += 1;
                s.2 += elapsed;
                s.3 &= continuing;
            }
            _ => seconds.push((*t, 1, *elapsed, continuing)),
        }
    }
    let mut estimates = Vec::new();
    for w in seconds.windows(3) {
        let [a, b, c] = [w[0], w[1], w[2]];
        if a.0 + 1 == b.0 && b.0 + 1 == c.0 && b.3 && c.3 && a.1 > 0 {
            estimates.push(((1000.0 - b.2) / f64::from(b.1), f64::from(b.1)));
        }
    }
    if estimates.is_empty() {
        return None;
    }
    let weight: f64 = estimates.iter().map(|e| e.1).sum();
    let mean = estimates.iter().map(|e| e.0 * e.1).sum::<f64>() / weight;
    let n = estimates.len() as f64;
    let var = estimates.iter().map(|e| (e.0 - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Some(OutsideEstimate {
        mean_ms: mean.max(0.0),
        standard_error_ms: (var / n).sqrt(),
        seconds: estimates.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(g: u32, gt: u32, c: u32, ct: u32) -> IterationLine {
        format!(
            "Iteration(0): {c} context requests, {ct} context tokens, {g} generation requests, {gt} generation tokens, iteration elapsed time: 1.00 ms, CPU KV cache usage: 0.0%"
        )
        .parse()
        .unwrap()
    }

    #[test]
    fn the_tracker_follows_prompts_into_decode_and_out() {
        let mut t = ContextTracker::default();
        // Two prompts of 100 and 300 tokens prefill together.
        let p = line(0, 0, 2, 400);
        assert_eq!(t.before(&p), 0.0);
        t.after(&p);
        // Both decode: 400 tokens of context.
        let d = line(2, 2, 0, 0);
        assert_eq!(t.before(&d), 400.0);
        t.after(&d);
        assert_eq!(t.before(&d), 402.0);
        t.after(&d);
        // One finishes: the other keeps the mean.
        let one = line(1, 1, 0, 0);
        assert_eq!(t.before(&one), 202.0);
    }

    #[test]
    fn reads_stamps_and_the_served_model() {
        let l =
            "(APIServer pid=1833) INFO 11-22 17:23:28 [loggers.py:199] Engine 000: Iteration(0): …";
        let t = timestamp_secs(l).unwrap();
        let l2 = l.replace("17:23:28", "17:24:29");
        assert_eq!(timestamp_secs(&l2).unwrap() - t, 61);
        assert_eq!(timestamp_secs("no stamp"), None);
        assert_eq!(
            quoted_after("config: model='./tiny-llama', speculative", "model='"),
            Some("./tiny-llama")
        );
    }

    #[test]
    fn busy_seconds_give_the_outside_time() {
        // Three busy seconds of 100 steps of 7 ms each: 3 ms outside per step.
        let it = line(4, 4, 0, 0);
        let stamped: Vec<(i64, &IterationLine, f64)> =
            (0..300).map(|i| (10 + i / 100, &it, 7.0)).collect();
        let est = outside_time(&stamped).unwrap();
        assert!((est.mean_ms - 3.0).abs() < 1e-9, "{est:?}");
        assert_eq!(est.seconds, 1);
        // An idle second in between (a prefill-only step starts the middle one): no estimate.
        let cold = line(0, 0, 1, 100);
        let mut gappy = stamped.clone();
        gappy[100] = (11, &cold, 7.0);
        assert_eq!(outside_time(&gappy), None);
    }
}
