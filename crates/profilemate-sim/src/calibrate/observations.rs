//! Reads a vLLM server log into priced iterations ([`LogObservations`]) and estimates the time
//! each step spends outside vLLM's `iteration elapsed time` ([`OutsideEstimate`]).
//!
//! The log gives each iteration's context/generation requests and tokens, not each request's
//! context length: [`ShapeTracker`] rebuilds them (a chunked prompt continues with its computed
//! context, decode contexts follow the prompts that complete).

use profilemate_model::roofline::{CostModel, StepTimeEstimator};

use super::features::Features;
use super::shapes::ShapeTracker;
use crate::batch::IterationCounts;
use crate::iteration_log::IterationLine;

/// One logged iteration, priced.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// `Iteration(N)`.
    pub index: u64,
    /// Its four counts.
    pub counts: IterationCounts,
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
    /// Seconds of busy stretches the estimate comes from.
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

/// Reads `log` (a vLLM server log) and prices its iterations on `clock`. The token budget that
/// tells a chunked prompt comes from the log's `max_num_batched_tokens=N` line, else `budget`
/// (the engine flags given).
pub fn read_log<M: CostModel>(
    log: &str,
    clock: &mut StepTimeEstimator<M>,
    budget: u32,
) -> Result<LogObservations, ObservationError> {
    let mut iterations = Vec::new();
    let mut stamped: Vec<(i64, &IterationLine, f64)> = Vec::new();
    let mut lines = Vec::new();
    let mut model = None;
    let mut logged_budget = None;
    for line in log.lines() {
        if model.is_none() && line.contains("Initializing a V1 LLM engine") {
            model = quoted_after(line, "model='").map(str::to_owned);
        }
        if logged_budget.is_none() {
            logged_budget = number_after(line, "max_num_batched_tokens=");
        }
        if let Some(it) = IterationLine::find_in(line).filter(|it| !it.dummy) {
            lines.push((timestamp_secs(line), it));
        }
    }
    if lines.is_empty() {
        return Err(ObservationError::NoIterations);
    }
    let counts: Vec<_> = lines.iter().map(|(_, it)| it.counts).collect();
    let mut tracker = ShapeTracker::new(logged_budget.unwrap_or(budget), &counts);
    let mut tmp = Vec::new();
    for (i, (_, it)) in lines.iter().enumerate() {
        let shape = tracker.next_before(&it.counts, counts.get(i + 1));
        let features = Features::price(clock, &shape.prefill, &shape.decode, &mut tmp);
        iterations.push(Observation {
            index: it.index,
            counts: it.counts,
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

/// The number right after `prefix` in `line`.
fn number_after(line: &str, prefix: &str) -> Option<u32> {
    let start = line.find(prefix)? + prefix.len();
    let digits = line[start..]
        .find(|ch: char| !ch.is_ascii_digit())
        .map_or(&line[start..], |end| &line[start..start + end]);
    digits.parse().ok()
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

/// Estimates the time outside the iterations from the log's one-second stamps. The log is cut
/// into busy stretches: runs of iterations each of which (after the first) has generation
/// requests, so a request was running across every gap and vLLM stepped without pause. Between
/// the first and last iteration of a stretch, `n − 1` gaps each hold one iteration's elapsed time
/// and one outside time; the stamps give that span as `b − a` seconds, which is off by less than
/// a second either way and right on average whatever the phase. Pooling all stretches:
/// `outside = (Σ 1000·(b − a) − Σ elapsed after the first) / Σ (n − 1)`; its standard error
/// counts each stretch's rounding as uniform (variance 1/6 s²).
fn outside_time(stamped: &[(i64, &IterationLine, f64)]) -> Option<OutsideEstimate> {
    let (mut wall_ms, mut elapsed_ms, mut gaps, mut stretches, mut seconds) =
        (0.0, 0.0, 0usize, 0usize, 0usize);
    let mut start = 0;
    for i in 1..=stamped.len() {
        let continues = stamped
            .get(i)
            .is_some_and(|(_, it, _)| it.counts.num_generation_requests > 0);
        if continues {
            continue;
        }
        let stretch = &stamped[start..i];
        start = i;
        if stretch.len() < 2 {
            continue;
        }
        let span = stretch[stretch.len() - 1].0 - stretch[0].0;
        wall_ms += 1000.0 * span as f64;
        elapsed_ms += stretch[1..].iter().map(|s| s.2).sum::<f64>();
        gaps += stretch.len() - 1;
        stretches += 1;
        seconds += usize::try_from(span).unwrap_or(0);
    }
    if gaps == 0 || seconds == 0 {
        return None;
    }
    let mean = (wall_ms - elapsed_ms) / gaps as f64;
    Some(OutsideEstimate {
        mean_ms: mean.max(0.0),
        standard_error_ms: 1000.0 * (stretches as f64 / 6.0).sqrt() / gaps as f64,
        seconds,
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
        assert_eq!(
            number_after(
                "enabled with max_num_batched_tokens=512.",
                "max_num_batched_tokens="
            ),
            Some(512)
        );
        assert_eq!(
            number_after("max_num_batched_tokens=x", "max_num_batched_tokens="),
            None
        );
    }

    #[test]
    fn busy_stretches_give_the_outside_time() {
        // 3000 steps of 7 ms elapsed and 3 ms outside, stamped to the second at a random phase.
        let it = line(4, 4, 0, 0);
        let stamped: Vec<(i64, &IterationLine, f64)> = (0..3000)
            .map(|i| {
                (
                    ((437.0 + 10.0 * f64::from(i)) / 1000.0).floor() as i64,
                    &it,
                    7.0,
                )
            })
            .collect();
        let est = outside_time(&stamped).unwrap();
        assert!((est.mean_ms - 3.0).abs() < 0.34, "{est:?}");
        assert!(est.standard_error_ms < 0.2, "{est:?}");
        assert_eq!(est.seconds, 30);
        // A step without generation requests (the engine may have idled before it) cuts the
        // stretch: two stretches, the same estimate within the rounding.
        let cold = line(0, 0, 1, 100);
        let mut cut = stamped.clone();
        cut[1500] = (cut[1500].0, &cold, 7.0);
        let est = outside_time(&cut).unwrap();
        assert!((est.mean_ms - 3.0).abs() < 0.7, "{est:?}");
        // Nothing but prefill-only steps: nothing to measure on.
        let cold_only: Vec<(i64, &IterationLine, f64)> = (0..10).map(|i| (i, &cold, 7.0)).collect();
        assert_eq!(outside_time(&cold_only), None);
    }
}
