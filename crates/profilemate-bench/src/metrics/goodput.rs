//! Provides `--goodput` SLO parsing and the per-request "good" test.
//!
//! Mirrors `check_goodput_args()` / `parse_goodput()` and the goodput block of
//! `calculate_metrics()` in vllm/benchmarks/serve.py, vLLM 0.32.

use crate::error::BenchConfigError;

/// Service-level objectives in milliseconds; a request is good iff it meets all that are set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Goodput {
    /// TTFT SLO (ms).
    pub ttft_ms: Option<f64>,
    /// TPOT SLO (ms); requests with one output token count as TPOT 0.
    pub tpot_ms: Option<f64>,
    /// E2EL SLO (ms).
    pub e2el_ms: Option<f64>,
}

impl Goodput {
    /// Parses `KEY:VALUE` pairs (`ttft`, `tpot`, `e2el`; non-negative milliseconds).
    pub fn parse<S: AsRef<str>>(pairs: &[S]) -> Result<Self, BenchConfigError> {
        let mut g = Self::default();
        for pair in pairs {
            let pair = pair.as_ref();
            let bad = || BenchConfigError::Goodput {
                value: pair.to_string(),
            };
            let (key, value) = pair.split_once(':').ok_or_else(bad)?;
            let ms: f64 = value.trim().parse().map_err(|_| bad())?;
            if ms < 0.0 || ms.is_nan() {
                return Err(bad());
            }
            match key.trim() {
                "ttft" => g.ttft_ms = Some(ms),
                "tpot" => g.tpot_ms = Some(ms),
                "e2el" => g.e2el_ms = Some(ms),
                _ => return Err(bad()),
            }
        }
        Ok(g)
    }

    /// Whether any SLO is set (vLLM prints and saves goodput only then).
    pub fn is_set(&self) -> bool {
        self.ttft_ms.is_some() || self.tpot_ms.is_some() || self.e2el_ms.is_some()
    }

    /// Whether a successful request with these values (seconds) meets every SLO.
    pub fn is_good(&self, ttft: f64, tpot: f64, e2el: f64) -> bool {
        let ok = |slo: Option<f64>, v: f64| slo.is_none_or(|ms| ms / 1000.0 >= v);
        ok(self.ttft_ms, ttft) && ok(self.tpot_ms, tpot) && ok(self.e2el_ms, e2el)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_rejects_bad_ones() {
        let g = Goodput::parse(&["ttft:500", "tpot:50"]).unwrap();
        assert_eq!(
            (g.ttft_ms, g.tpot_ms, g.e2el_ms),
            (Some(500.0), Some(50.0), None)
        );
        assert!(Goodput::parse(&["itl:5"]).is_err());
        assert!(Goodput::parse(&["ttft:-1"]).is_err());
        assert!(Goodput::parse(&["ttft"]).is_err());
    }

    #[test]
    fn good_means_all_slos_met_inclusive() {
        let g = Goodput::parse(&["ttft:500", "tpot:50"]).unwrap();
        assert!(g.is_good(0.5, 0.05, 99.0));
        assert!(!g.is_good(0.5001, 0.01, 0.0));
    }
}
