//! Provides the arrival schedule: every request's send offset, computed up front from a seed.
//!
//! Ports `get_request()` and `_get_current_request_rate()` in vllm/benchmarks/serve.py, vLLM 0.32:
//! the rate of request *i* is constant or ramps (linear / exponential in `i / max(N-1, 1)`); the
//! gap is 0 for an infinite rate, `1/rate` for infinite burstiness, otherwise
//! `Gamma(shape = burstiness, scale = 1 / (rate · burstiness))`; gaps are summed, and without a
//! ramp-up the offsets are rescaled so the last lands exactly at `N / rate`.
//!
//! vLLM draws from numpy's global Mersenne Twister; profilemate draws from `rand`'s `StdRng`
//! seeded with `--seed`, so a seed reproduces *our* schedule, not numpy's numbers.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};

use crate::error::ScheduleError;

/// `--ramp-up-strategy` with its start and end rates (requests/s, integers as in vLLM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RampUp {
    /// `rate = start + (end - start) · progress`.
    Linear {
        /// `--ramp-up-start-rps`.
        start: u32,
        /// `--ramp-up-end-rps`.
        end: u32,
    },
    /// `rate = start · (end / start)^progress`.
    Exponential {
        /// `--ramp-up-start-rps` (> 0).
        start: u32,
        /// `--ramp-up-end-rps`.
        end: u32,
    },
}

impl RampUp {
    /// The strategy name as vLLM spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Linear { .. } => "linear",
            Self::Exponential { .. } => "exponential",
        }
    }

    /// `(start, end)` rates.
    pub fn bounds(&self) -> (u32, u32) {
        match *self {
            Self::Linear { start, end } | Self::Exponential { start, end } => (start, end),
        }
    }
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// A rate process (`--request-rate`, `--burstiness`, optional ramp-up).
    Rate {
        /// `--request-rate` (may be infinite).
        request_rate: f64,
        /// `--burstiness`: gamma shape; 1 is Poisson, infinite is constant gaps.
        burstiness: f64,
        /// Optional ramp-up, which replaces `request_rate`.
        ramp_up: Option<RampUp>,
    },
    /// Each request's own timestamp (timed traces, `--self-timed`).
    SelfTimed,
}

/// The arrival offsets of a run, plus each request's rate (for `rps_change_events`).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Send offset of each request from the start of the run.
    pub offsets: Vec<Duration>,
    /// The rate in force for each request (0 for self-timed runs).
    pub rates: Vec<f64>,
}

/// The rate for request `index` of `total` (`_get_current_request_rate`).
pub fn rate_at(request_rate: f64, ramp_up: Option<RampUp>, index: usize, total: usize) -> f64 {
    let progress = index as f64 / (total.saturating_sub(1).max(1)) as f64;
    match ramp_up {
        None => request_rate,
        Some(RampUp::Linear { start, end }) => {
            f64::from(start) + (f64::from(end) - f64::from(start)) * progress
        }
        Some(RampUp::Exponential { start, end }) => {
            f64::from(start) * (f64::from(end) / f64::from(start)).powf(progress)
        }
    }
}

/// Computes the schedule for `total` requests; `timestamps` are used only when self-timed.
pub fn compute_schedule(
    arrivals: Arrivals,
    total: usize,
    timestamps: &[Option<f64>],
    seed: u64,
) -> Result<Schedule, ScheduleError> {
    if total == 0 {
        return Err(ScheduleError::Empty);
    }
    match arrivals {
        Arrivals::SelfTimed => Ok(self_timed(total, timestamps)),
        Arrivals::Rate {
            request_rate,
            burstiness,
            ramp_up,
        } => rate_schedule(request_rate, burstiness, ramp_up, total, seed),
    }
}

fn self_timed(total: usize, timestamps: &[Option<f64>]) -> Schedule {
    let secs = |i: usize| timestamps.get(i).copied().flatten().unwrap_or(0.0).max(0.0);
    Schedule {
        offsets: (0..total).map(|i| offset(secs(i))).collect(),
        rates: vec![0.0; total],
    }
}

fn rate_schedule(
    request_rate: f64,
    burstiness: f64,
    ramp_up: Option<RampUp>,
    total: usize,
    seed: u64,
) -> Result<Schedule, ScheduleError> {
    if burstiness.is_nan() || burstiness <= 0.0 {
        return Err(ScheduleError::Burstiness(burstiness));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let rates: Vec<f64> = (0..total)
        .map(|i| rate_at(request_rate, ramp_up, i, total))
        .collect();
    let mut delays = Vec::with_capacity(total);
    for (index, &rate) in rates.iter().enumerate() {
        delays.push(
            gap(rate, burstiness, &mut rng)
                .ok_or(ScheduleError::NonPositiveRate { index, rate })?,
        );
    }
    cumulate(&mut delays);
    let last = delays[total - 1];
    if ramp_up.is_none() && last != 0.0 {
        let factor = (total as f64 / request_rate) / last;
        delays.iter_mut().for_each(|d| *d *= factor);
    }
    Ok(Schedule {
        offsets: delays.iter().map(|&s| offset(s)).collect(),
        rates,
    })
}

/// One inter-arrival gap in seconds; `None` for a non-positive rate.
fn gap(rate: f64, burstiness: f64, rng: &mut StdRng) -> Option<f64> {
    if rate.is_nan() || rate <= 0.0 {
        return None;
    }
    if rate.is_infinite() {
        return Some(0.0);
    }
    if burstiness.is_infinite() {
        return Some(1.0 / rate);
    }
    let gamma = Gamma::new(burstiness, 1.0 / (rate * burstiness)).ok()?;
    Some(gamma.sample(rng))
}

/// Seconds to an offset: negatives and NaN clamp to zero, overflow to `Duration::MAX`.
fn offset(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

fn cumulate(xs: &mut [f64]) {
    for i in 1..xs.len() {
        xs[i] += xs[i - 1];
    }
}

/// `(request index, rps)` at which the integer RPS rises during a ramp-up, starting with the
/// start rate at index 0 (vLLM's `rps_change_events`, timestamped by the dispatcher).
pub fn rps_steps(ramp_up: RampUp, rates: &[f64]) -> Vec<(usize, u32)> {
    let (start, _) = ramp_up.bounds();
    let mut steps = vec![(0, start)];
    let mut last = i64::from(start);
    for (i, &rate) in rates.iter().enumerate() {
        let now = rate as i64;
        if now > last {
            steps.extend((last + 1..=now).map(|r| (i, r as u32)));
            last = now;
        }
    }
    steps
}

#[cfg(test)]
mod tests;
