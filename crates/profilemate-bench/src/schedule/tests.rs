//! Arrival-schedule tests: mean rate, gamma shape, ramp-up formulas, the rescale-to-N/rate rule
//! and seed reproducibility.

use super::*;

fn rate(request_rate: f64, burstiness: f64) -> Arrivals {
    Arrivals::Rate {
        request_rate,
        burstiness,
        ramp_up: None,
    }
}

fn secs(s: &Schedule) -> Vec<f64> {
    s.offsets.iter().map(Duration::as_secs_f64).collect()
}

fn gaps(s: &Schedule) -> Vec<f64> {
    let t = secs(s);
    std::iter::once(t[0])
        .chain(t.windows(2).map(|w| w[1] - w[0]))
        .collect()
}

#[test]
fn last_arrival_is_rescaled_to_n_over_rate() {
    for (n, r, b) in [(40, 4.0, 1.0), (1000, 25.0, 0.5), (7, 0.5, 3.0)] {
        let s = compute_schedule(rate(r, b), n, &[], 0).unwrap();
        let last = s.offsets[n - 1].as_secs_f64();
        assert!(
            (last - n as f64 / r).abs() < 1e-6,
            "n={n} r={r}: last {last}"
        );
    }
}

#[test]
fn mean_rate_is_the_configured_rate() {
    let s = compute_schedule(rate(10.0, 1.0), 5000, &[], 7).unwrap();
    let g = gaps(&s);
    let mean = g.iter().sum::<f64>() / g.len() as f64;
    assert!((mean - 0.1).abs() < 1e-6, "mean gap {mean}");
}

#[test]
fn gamma_shape_sets_the_coefficient_of_variation() {
    // Gamma(k): CV = 1/sqrt(k). Poisson (k=1) has CV 1; k=4 halves it; k=0.25 doubles it.
    for (k, want) in [(1.0, 1.0), (4.0, 0.5), (0.25, 2.0)] {
        let s = compute_schedule(rate(10.0, k), 20000, &[], 3).unwrap();
        let g = gaps(&s);
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
        let cv = var.sqrt() / mean;
        assert!(
            (cv - want).abs() < 0.08 * want,
            "k={k}: cv {cv}, want {want}"
        );
    }
}

#[test]
fn infinite_burstiness_gives_constant_gaps_and_infinite_rate_sends_at_zero() {
    let s = compute_schedule(rate(4.0, f64::INFINITY), 8, &[], 0).unwrap();
    for (i, t) in secs(&s).iter().enumerate() {
        assert!((t - (i + 1) as f64 * 0.25).abs() < 1e-9);
    }
    let s = compute_schedule(rate(f64::INFINITY, 1.0), 5, &[], 0).unwrap();
    assert!(s.offsets.iter().all(|d| d.is_zero()));
}

#[test]
fn ramp_up_formulas_match_vllm() {
    let lin = Some(RampUp::Linear { start: 2, end: 10 });
    assert_eq!(rate_at(f64::INFINITY, lin, 0, 5), 2.0);
    assert_eq!(rate_at(f64::INFINITY, lin, 2, 5), 6.0);
    assert_eq!(rate_at(f64::INFINITY, lin, 4, 5), 10.0);
    let exp = Some(RampUp::Exponential { start: 1, end: 16 });
    assert!((rate_at(f64::INFINITY, exp, 2, 5) - 4.0).abs() < 1e-12);
    assert!((rate_at(f64::INFINITY, exp, 4, 5) - 16.0).abs() < 1e-12);
    // progress = i / max(N-1, 1): a single request runs at the start rate.
    assert_eq!(rate_at(f64::INFINITY, lin, 0, 1), 2.0);
}

#[test]
fn ramp_up_is_not_rescaled_and_records_rps_steps() {
    let ramp = RampUp::Linear { start: 1, end: 3 };
    let arrivals = Arrivals::Rate {
        request_rate: f64::INFINITY,
        burstiness: f64::INFINITY,
        ramp_up: Some(ramp),
    };
    let s = compute_schedule(arrivals, 5, &[], 0).unwrap();
    // rates 1, 1.5, 2, 2.5, 3 -> gaps 1, 2/3, 1/2, 0.4, 1/3 summed, no rescale.
    let want = [
        1.0,
        1.0 + 2.0 / 3.0,
        1.0 + 2.0 / 3.0 + 0.5,
        2.5666666666666664,
        2.9,
    ];
    for (got, want) in secs(&s).iter().zip(want) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert_eq!(rps_steps(ramp, &s.rates), vec![(0, 1), (2, 2), (4, 3)]);
}

#[test]
fn same_seed_same_schedule_other_seed_differs() {
    let a = compute_schedule(rate(5.0, 0.7), 100, &[], 42).unwrap();
    let b = compute_schedule(rate(5.0, 0.7), 100, &[], 42).unwrap();
    let c = compute_schedule(rate(5.0, 0.7), 100, &[], 43).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    assert_eq!(
        compute_schedule(rate(1.0, 1.0), 0, &[], 0),
        Err(ScheduleError::Empty)
    );
    assert!(matches!(
        compute_schedule(rate(0.0, 1.0), 3, &[], 0),
        Err(ScheduleError::NonPositiveRate { .. })
    ));
    assert!(matches!(
        compute_schedule(rate(1.0, 0.0), 3, &[], 0),
        Err(ScheduleError::Burstiness(_))
    ));
}

#[test]
fn self_timed_uses_timestamps_as_is() {
    let ts = [Some(1.5), None, Some(3.25)];
    let s = compute_schedule(Arrivals::SelfTimed, 3, &ts, 0).unwrap();
    assert_eq!(secs(&s), vec![1.5, 0.0, 3.25]);
}

#[test]
fn extreme_values_saturate_instead_of_panicking() {
    let s = compute_schedule(rate(1e-300, 1.0), 3, &[], 0).unwrap();
    assert_eq!(s.offsets[2], Duration::MAX);
    let s = compute_schedule(Arrivals::SelfTimed, 2, &[Some(1e300), Some(f64::NAN)], 0).unwrap();
    assert_eq!(s.offsets, vec![Duration::MAX, Duration::ZERO]);
}
