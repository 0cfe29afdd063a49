//! A capacity search in two stages: bracket and bisect on short probes, then confirm at full
//! length near their answer, so most probes are cheap and the capacity reported is still one a
//! full-length probe met.
//!
//! Short probes (a share of the full workload) cost a fraction of a full one and land near the
//! answer, but can err either way: a short run has less time to build a queue (optimistic near
//! saturation) and a percentile over fewer requests is noisier (on the 100-configuration
//! benchmark their answer was within −12 %…+18 % of the full-length one). So they only pick where
//! the full-length search starts: [`find_capacity_near`] from the short stage's lowest failing
//! load, in steps of the short bracket's width (about the tolerance). A full-length probe above
//! the capacity usually stops early (its SLO certainly failed), one below runs to the end; so
//! the full stage starts just above the short answer and walks down in small steps, and most
//! configurations pay for one passing full-length probe plus a few cut short. Either way the
//! capacity and its failing bound come from full-length probes only.

use crate::search::{
    Capacity, ProbeOutcome, SearchReport, SearchSettings, SearchSettingsError, find_capacity,
    find_capacity_near,
};

/// How long a probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeLength {
    /// A share of the workload, to find roughly where the capacity lies.
    Short,
    /// The whole workload; the capacity reported rests on these only.
    Full,
}

/// Both stages' probes; the capacity is the full-length stage's.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedReport<T> {
    /// The search on short probes (its capacity is only the full stage's starting point).
    pub short: SearchReport<T>,
    /// The search on full-length probes, from the short stage's answer.
    pub full: SearchReport<T>,
}

impl<T> StagedReport<T> {
    /// The capacity found at full length.
    pub fn capacity(&self) -> &Capacity {
        &self.full.capacity
    }
}

/// Runs the short stage with `settings`, then the full-length stage from its answer (each
/// stage allowed `settings.max_probes`); `probe` is called with the load and the probe length.
pub fn find_capacity_staged<T, E>(
    settings: &SearchSettings,
    mut probe: impl FnMut(f64, ProbeLength) -> Result<ProbeOutcome<T>, E>,
) -> Result<StagedReport<T>, E>
where
    E: From<SearchSettingsError>,
{
    let short = find_capacity(settings, |load| probe(load, ProbeLength::Short))?;
    let (start, first_step) = match short.capacity {
        Capacity::Found {
            load, failing_load, ..
        } => {
            // From the short stage's failing load (about one tolerance above its answer).
            let step = failing_load
                .map_or(1.0 + settings.tolerance, |f| f / load)
                .max(1.0 + settings.tolerance);
            (failing_load.unwrap_or(load).min(settings.max), step)
        }
        // Nothing met the SLOs in short probes: check the floor at full length, then double.
        Capacity::NoneMeets { .. } => (settings.min, 2.0),
    };
    let full_settings = SearchSettings { start, ..*settings };
    let full = find_capacity_near(&full_settings, first_step, |load| {
        probe(load, ProbeLength::Full)
    })?;
    Ok(StagedReport { short, full })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Limit;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, thiserror::Error)]
    enum TestError {
        #[error(transparent)]
        Settings(#[from] SearchSettingsError),
    }

    fn settings() -> SearchSettings {
        SearchSettings {
            start: 1.0,
            min: 0.01,
            max: 1000.0,
            tolerance: 0.05,
            max_probes: 40,
        }
    }

    /// Short probes meet the SLOs up to `short_edge`, full ones up to `full_edge`; the calls
    /// are logged.
    fn engine(
        short_edge: f64,
        full_edge: f64,
        log: &mut Vec<(f64, ProbeLength)>,
    ) -> impl FnMut(f64, ProbeLength) -> Result<ProbeOutcome<()>, TestError> + '_ {
        move |load, length| {
            log.push((load, length));
            let edge = match length {
                ProbeLength::Short => short_edge,
                ProbeLength::Full => full_edge,
            };
            Ok(ProbeOutcome {
                meets_slos: load <= edge,
                saturated: false,
                detail: (),
            })
        }
    }

    #[test]
    fn a_right_short_answer_costs_one_passing_full_probe() {
        let mut log = Vec::new();
        let report = find_capacity_staged(&settings(), engine(13.0, 13.0, &mut log)).unwrap();
        let full: Vec<f64> = log
            .iter()
            .filter(|(_, l)| *l == ProbeLength::Full)
            .map(|(load, _)| *load)
            .collect();
        assert_eq!(full.len(), 2, "{log:?}");
        assert_eq!(
            report
                .full
                .probes
                .iter()
                .filter(|p| p.outcome.meets_slos)
                .count(),
            1
        );
        let Capacity::Found {
            load,
            failing_load: Some(high),
            limit: Limit::Slo,
            converged: true,
        } = *report.capacity()
        else {
            panic!("{:?}", report.capacity())
        };
        // The failing bound (the short stage's), then the capacity one step below it.
        assert_eq!((full[0], full[1]), (high, load));
        assert!(load <= 13.0 && high > 13.0 && high - load <= 0.05 * load * (1.0 + 1e-9));
        // Every short probe came before any full one.
        let first_full = log.iter().position(|(_, l)| *l == ProbeLength::Full);
        assert!(
            log[first_full.unwrap()..]
                .iter()
                .all(|(_, l)| *l == ProbeLength::Full)
        );
    }

    /// The full stage's passing probes and how many full-length probes it made.
    fn full_stage(short_edge: f64, full_edge: f64) -> (f64, Vec<f64>, usize) {
        let mut log = Vec::new();
        let report =
            find_capacity_staged(&settings(), engine(short_edge, full_edge, &mut log)).unwrap();
        let Capacity::Found {
            load,
            failing_load: Some(high),
            converged: true,
            ..
        } = *report.capacity()
        else {
            panic!("{:?}", report.capacity())
        };
        assert!(load <= full_edge && high > full_edge);
        assert!(high - load <= 0.05 * load * (1.0 + 1e-9));
        let passing = report
            .full
            .probes
            .iter()
            .filter(|p| p.outcome.meets_slos)
            .map(|p| p.load)
            .collect();
        (load, passing, report.full.probes.len())
    }

    #[test]
    fn an_optimistic_short_answer_is_walked_down_at_full_length() {
        // 10 % and 40 % optimistic: within the constant steps down, so the only passing
        // full-length probe is the answer (probes above it fail, and a simulated one that
        // fails stops early: they cost less than the passing probes a bisection would need).
        for short_edge in [13.2, 16.8] {
            let (load, passing, probes) = full_stage(short_edge, 12.0);
            assert_eq!(passing, [load]);
            let steps = ((short_edge * 1.05 / 12.0).ln() / 1.05f64.ln()).ceil() as usize;
            assert!(probes <= steps + 1, "{probes} full-length probes");
        }
        // 67 % optimistic: past the constant steps they grow, then a short bisection.
        let (_, passing, probes) = full_stage(20.0, 12.0);
        assert!(
            probes <= 13 && passing.len() <= 3,
            "{probes} probes, {passing:?}"
        );
    }

    #[test]
    fn nothing_meets_short_probes_but_full_ones_pass() {
        // Pathological, but the full stage must still find the full-length edge.
        let mut log = Vec::new();
        let report = find_capacity_staged(&settings(), engine(0.001, 7.0, &mut log)).unwrap();
        assert!(matches!(report.short.capacity, Capacity::NoneMeets { .. }));
        let Capacity::Found { load, .. } = *report.capacity() else {
            panic!("{:?}", report.capacity())
        };
        assert!((7.0 / 1.05..=7.0).contains(&load));
    }

    proptest! {
        /// Whatever the short probes say, the capacity reported brackets the full-length
        /// edge within the tolerance, and both its bounds were probed at full length.
        #[test]
        fn the_answer_rests_on_full_length_probes(
            short_edge in 0.005f64..1500.0,
            full_edge in 0.02f64..900.0,
            tolerance in 0.01f64..0.3,
        ) {
            let s = SearchSettings { tolerance, max_probes: 200, ..settings() };
            let mut log = Vec::new();
            let report = find_capacity_staged(&s, engine(short_edge, full_edge, &mut log)).unwrap();
            let probed_full = |x: f64| log.iter().any(|&(l, k)| l == x && k == ProbeLength::Full);
            match *report.capacity() {
                Capacity::Found { load, failing_load, converged, .. } => {
                    prop_assert!(converged);
                    prop_assert!(load <= full_edge && probed_full(load));
                    let high = failing_load.unwrap();
                    prop_assert!(high > full_edge && probed_full(high));
                    prop_assert!(high - load <= tolerance * load * (1.0 + 1e-9));
                }
                Capacity::NoneMeets { .. } => prop_assert!(false, "edge {full_edge} ≥ min"),
            }
        }
    }
}
