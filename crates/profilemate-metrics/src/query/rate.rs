//! `increase` and `rate` with Prometheus' counter-reset handling and boundary extrapolation
//! (`extrapolatedRate` in `promql/functions.go`).

/// One sample of a series: time in seconds and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Seconds (any epoch, consistent within one series).
    pub t: f64,
    /// The sample value.
    pub v: f64,
}

/// A range selector's window `(start, end]` in seconds: `x[5m]` evaluated at `end` has
/// `start = end - 300`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Exclusive start.
    pub start: f64,
    /// Inclusive end (the evaluation time).
    pub end: f64,
}

impl Window {
    /// The window of a range `seconds` long ending at `end`.
    pub fn ending_at(end: f64, seconds: f64) -> Self {
        Self {
            start: end - seconds,
            end,
        }
    }

    fn contains(&self, t: f64) -> bool {
        t > self.start && t <= self.end
    }
}

/// The raw increase from the first to the last point, adding back the value before each counter
/// reset (a drop). `None` with fewer than two points.
pub fn reset_adjusted_delta(points: &[Point]) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    if points.len() < 2 {
        return None;
    }
    let resets: f64 = points
        .windows(2)
        .filter(|w| w[1].v < w[0].v)
        .map(|w| w[0].v)
        .sum();
    Some(last.v - first.v + resets)
}

/// PromQL `increase(x[window])` of a counter: the reset-adjusted delta of the points inside the
/// window, extrapolated towards the window's edges. `None` with fewer than two points inside.
pub fn increase(points: &[Point], window: Window) -> Option<f64> {
    let inside: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| window.contains(p.t))
        .collect();
    let delta = reset_adjusted_delta(&inside)?;
    let (first, last) = (inside[0], inside[inside.len() - 1]);
    let sampled = last.t - first.t;
    if sampled <= 0.0 {
        return None;
    }
    let average = sampled / (inside.len() - 1) as f64;
    let mut to_start = edge_gap(first.t - window.start, average);
    if delta > 0.0 && first.v >= 0.0 {
        to_start = to_start.min(sampled * (first.v / delta));
    }
    let to_end = edge_gap(window.end - last.t, average);
    Some(delta * (sampled + to_start + to_end) / sampled)
}

/// How far to extrapolate towards an edge: all the way when the gap is within 110 % of the
/// average sample spacing, otherwise half a spacing.
fn edge_gap(gap: f64, average: f64) -> f64 {
    if gap >= average * 1.1 {
        average / 2.0
    } else {
        gap
    }
}

/// PromQL `rate(x[window])`: [`increase`] divided by the window length in seconds.
pub fn rate(points: &[Point], window: Window) -> Option<f64> {
    Some(increase(points, window)? / (window.end - window.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(raw: &[(f64, f64)]) -> Vec<Point> {
        raw.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn reset_is_added_back_and_sparse_edges_extrapolate_half_a_step() {
        // delta 20-100 = -80, plus 110 at the reset = 30; gaps of 15 s > 1.1 x 10 s become 5 s,
        // so 30 x (30+5+5)/30 = 40 over 60 s.
        let p = pts(&[(15.0, 100.0), (25.0, 110.0), (35.0, 5.0), (45.0, 20.0)]);
        let w = Window {
            start: 0.0,
            end: 60.0,
        };
        assert_eq!(reset_adjusted_delta(&p), Some(30.0));
        assert!(close(increase(&p, w).unwrap(), 40.0));
        assert!(close(rate(&p, w).unwrap(), 40.0 / 60.0));
    }

    #[test]
    fn extrapolation_stops_at_the_counters_zero_point() {
        // delta 40 over 20 s; the start gap (30 s) would become 5 s but the zero point is only
        // 20 x 4/40 = 2 s back; the end gap of 10 s is kept: 40 x (20+2+10)/20 = 64.
        let p = pts(&[(30.0, 4.0), (40.0, 24.0), (50.0, 44.0)]);
        let w = Window {
            start: 0.0,
            end: 60.0,
        };
        assert!(close(increase(&p, w).unwrap(), 64.0));
        assert!(close(rate(&p, w).unwrap(), 64.0 / 60.0));
    }

    #[test]
    fn dense_samples_extrapolate_to_the_edges() {
        // gaps 1 s (start, clamped to the zero point 0 s) and 1 s (end): 38 x 39/38 = 39.
        let p = pts(&[
            (1.0, 0.0),
            (11.0, 10.0),
            (21.0, 20.0),
            (31.0, 30.0),
            (39.0, 38.0),
        ]);
        let w = Window::ending_at(40.0, 40.0);
        assert!(close(increase(&p, w).unwrap(), 39.0));
        assert!(close(rate(&p, w).unwrap(), 0.975));
    }

    #[test]
    fn window_is_left_open_and_needs_two_points() {
        let p = pts(&[(0.0, 1.0), (10.0, 2.0), (20.0, 3.0)]);
        assert_eq!(
            increase(
                &p,
                Window {
                    start: 10.0,
                    end: 20.0
                }
            ),
            None
        );
        assert_eq!(
            rate(
                &p[..1],
                Window {
                    start: -1.0,
                    end: 1.0
                }
            ),
            None
        );
        assert_eq!(reset_adjusted_delta(&[]), None);
        // A sample 0.1 ms inside the start and one on the end: 2 x 20.0001/20.
        let w = Window {
            start: -0.0001,
            end: 20.0,
        };
        assert!(close(increase(&p, w).unwrap(), 2.0 * 20.0001 / 20.0));
    }
}
