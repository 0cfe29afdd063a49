//! Service-level objectives on a bench result's latency statistics: `--slo ttft_p99_ms:500`.

use std::fmt;
use std::str::FromStr;

/// A per-request latency that `bench serve` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyMetric {
    /// Time to first token.
    Ttft,
    /// Time per output token after the first.
    Tpot,
    /// Inter-token latency.
    Itl,
    /// End-to-end request latency.
    E2el,
}

impl LatencyMetric {
    /// The name vLLM uses in its result keys (`ttft` in `p99_ttft_ms`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ttft => "ttft",
            Self::Tpot => "tpot",
            Self::Itl => "itl",
            Self::E2el => "e2el",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ttft" => Self::Ttft,
            "tpot" => Self::Tpot,
            "itl" => Self::Itl,
            "e2el" => Self::E2el,
            _ => return None,
        })
    }
}

/// Which statistic of a latency's distribution an SLO bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// The mean.
    Mean,
    /// The median.
    Median,
    /// The standard deviation.
    Std,
    /// A percentile in (0, 100].
    Percentile(f64),
}

impl Statistic {
    /// vLLM's spelling: `mean`, `median`, `std`, `p99`, `p99.9` (`str(int(p))` when whole).
    pub fn vllm_word(self) -> String {
        match self {
            Self::Mean => "mean".into(),
            Self::Median => "median".into(),
            Self::Std => "std".into(),
            Self::Percentile(p) if p.fract() == 0.0 => format!("p{}", p as u32),
            Self::Percentile(p) => format!("p{p}"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "mean" => Self::Mean,
            "median" | "p50" => Self::Median,
            "std" => Self::Std,
            _ => {
                let p: f64 = text.strip_prefix('p')?.parse().ok()?;
                if !(p > 0.0 && p <= 100.0) {
                    return None;
                }
                Self::Percentile(p)
            }
        })
    }
}

/// A statistic of a latency: the thing an SLO bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SloMetric {
    /// The latency.
    pub metric: LatencyMetric,
    /// Its statistic.
    pub statistic: Statistic,
}

impl SloMetric {
    /// The key of this value in a vLLM (and our) bench result: `p99_ttft_ms`, `mean_tpot_ms`.
    pub fn result_key(&self) -> String {
        format!("{}_{}_ms", self.statistic.vllm_word(), self.metric.name())
    }
}

/// An upper bound on one latency statistic, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// What is bounded.
    pub metric: SloMetric,
    /// The bound, in milliseconds; met when the value is at most this.
    pub limit_ms: f64,
}

impl Slo {
    /// Whether `value_ms` meets the bound. A value that is not finite never does.
    pub fn is_met_by(&self, value_ms: f64) -> bool {
        value_ms.is_finite() && value_ms <= self.limit_ms
    }
}

/// One SLO checked against a result: the value found (if the result has the key) and whether
/// it meets the bound.
#[derive(Debug, Clone, PartialEq)]
pub struct SloCheck {
    /// The SLO.
    pub slo: Slo,
    /// The result's value for it, if present and numeric.
    pub value_ms: Option<f64>,
    /// Whether it meets the bound (a missing value never does).
    pub met: bool,
}

/// Checks every SLO against a bench result (vLLM's keys: `p99_ttft_ms`, `mean_tpot_ms`, …).
/// A percentile the run did not compute is missing: pass `--metric-percentiles` with it.
pub fn check_all(
    slos: &[Slo],
    result: &serde_json::Map<String, serde_json::Value>,
) -> Vec<SloCheck> {
    slos.iter()
        .map(|slo| {
            let value_ms = result
                .get(&slo.metric.result_key())
                .and_then(serde_json::Value::as_f64);
            SloCheck {
                slo: *slo,
                value_ms,
                met: value_ms.is_some_and(|v| slo.is_met_by(v)),
            }
        })
        .collect()
}

/// Why an `--slo` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid --slo value {value:?}: use METRIC_STAT_ms:LIMIT with METRIC one of ttft, tpot, itl, e2el, STAT one of mean, median, std, pNN (e.g. ttft_p99_ms:500), and LIMIT a positive number of milliseconds"
)]
pub struct SloParseError {
    /// The value as given.
    pub value: String,
}

impl FromStr for Slo {
    type Err = SloParseError;

    /// Reads `ttft_p99_ms:500`; vLLM's key order (`p99_ttft_ms:500`) is accepted too.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || SloParseError {
            value: text.to_string(),
        };
        let (key, limit) = text.split_once(':').ok_or_else(refuse)?;
        let limit_ms: f64 = limit.trim().parse().map_err(|_| refuse())?;
        if !(limit_ms.is_finite() && limit_ms > 0.0) {
            return Err(refuse());
        }
        let stem = key.trim().strip_suffix("_ms").ok_or_else(refuse)?;
        let (first, second) = stem.split_once('_').ok_or_else(refuse)?;
        let metric = match (LatencyMetric::parse(first), Statistic::parse(second)) {
            (Some(metric), Some(statistic)) => SloMetric { metric, statistic },
            _ => match (Statistic::parse(first), LatencyMetric::parse(second)) {
                (Some(statistic), Some(metric)) => SloMetric { metric, statistic },
                _ => return Err(refuse()),
            },
        };
        Ok(Self { metric, limit_ms })
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_ms ≤ {} ms",
            self.metric.metric.name(),
            self.metric.statistic.vllm_word(),
            self.limit_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_key_orders_and_maps_to_the_result_key() {
        let slo: Slo = "ttft_p99_ms:500".parse().unwrap();
        assert_eq!(slo.metric.result_key(), "p99_ttft_ms");
        assert_eq!(slo.limit_ms, 500.0);
        let slo: Slo = "p99.9_itl_ms:25.5".parse().unwrap();
        assert_eq!(slo.metric.result_key(), "p99.9_itl_ms");
        let slo: Slo = "tpot_mean_ms:50".parse().unwrap();
        assert_eq!(slo.metric.result_key(), "mean_tpot_ms");
        let slo: Slo = "e2el_p50_ms:9000".parse().unwrap();
        assert_eq!(slo.metric.result_key(), "median_e2el_ms");
    }

    #[test]
    fn refuses_unknown_metrics_stats_and_limits() {
        for bad in [
            "ttft_p99:500",
            "ttft_p99_ms",
            "ttfb_p99_ms:500",
            "ttft_p101_ms:500",
            "ttft_p0_ms:500",
            "ttft_p99_ms:-1",
            "ttft_p99_ms:0",
            "ttft_p99_ms:inf",
            "ttft_p99_ms:NaN",
            "",
        ] {
            let err = bad.parse::<Slo>().unwrap_err();
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn checks_a_result_by_its_keys() {
        let slos: Vec<Slo> = ["ttft_p99_ms:500", "tpot_mean_ms:50", "itl_p99.9_ms:80"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let result = serde_json::json!({"p99_ttft_ms": 420.0, "mean_tpot_ms": 51.5});
        let checks = check_all(&slos, result.as_object().unwrap());
        assert_eq!(checks[0].value_ms, Some(420.0));
        assert!(checks[0].met);
        assert!(!checks[1].met);
        assert_eq!(checks[2].value_ms, None);
        assert!(!checks[2].met);
    }

    #[test]
    fn a_value_that_is_not_finite_never_meets() {
        let slo: Slo = "ttft_p99_ms:500".parse().unwrap();
        assert!(slo.is_met_by(500.0));
        assert!(!slo.is_met_by(500.1));
        assert!(!slo.is_met_by(f64::NAN));
        assert!(!slo.is_met_by(f64::INFINITY));
    }
}
