//! Reads a `bench serve --save-result --save-detailed` result ([`BenchRun`]) for `sim
//! calibrate`, finds the log it was measured against, and computes the latency figures
//! ([`Figures`]) a run is compared on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use profilemate_bench::metrics::stats::percentile_sorted;
use profilemate_bench::record::ClientRequestRecord;
use profilemate_plan::virtual_run::RecordedSend;
use profilemate_sim::calibrate::observations::LogObservations;
use serde_json::{Value, json};

/// One successful request of a bench result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BenchRequest {
    /// Send time from the run's first send, in s.
    pub(crate) send_s: f64,
    /// Prompt tokens.
    pub(crate) input: u32,
    /// Output tokens.
    pub(crate) output: u32,
    /// Measured TTFT, in ms.
    pub(crate) ttft_ms: f64,
    /// Measured end-to-end latency, in ms.
    pub(crate) latency_ms: f64,
}

/// A bench result's requests and how they were sent.
#[derive(Debug, Clone)]
pub(crate) struct BenchRun {
    /// The file.
    pub(crate) path: PathBuf,
    /// Successful requests, in send order.
    pub(crate) requests: Vec<BenchRequest>,
    /// `--max-concurrency`, if the client ran with one.
    pub(crate) max_concurrency: Option<usize>,
    /// Whether it sent at `--request-rate inf` (a closed loop with `max_concurrency`).
    pub(crate) unpaced: bool,
}

impl BenchRun {
    /// Reads `path`.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read bench result {}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("bench result {} is not JSON", path.display()))?;
        let nums = |key: &str| -> Option<Vec<f64>> {
            v.get(key)?.as_array()?.iter().map(Value::as_f64).collect()
        };
        let (Some(ttfts), Some(latencies), Some(ins), Some(outs), Some(starts)) = (
            nums("ttfts"),
            nums("latencies"),
            nums("input_lens"),
            nums("output_lens"),
            nums("start_times"),
        ) else {
            bail!(
                "bench result {} has no per-request ttfts, latencies, input_lens, output_lens and start_times: save it with --save-detailed",
                path.display()
            );
        };
        let first = starts.iter().copied().fold(f64::INFINITY, f64::min);
        let mut requests: Vec<BenchRequest> = (0..ttfts.len().min(latencies.len()))
            .filter_map(|i| {
                let (ttft, output) = (ttfts[i], *outs.get(i)?);
                (ttft > 0.0 && output >= 1.0).then(|| BenchRequest {
                    send_s: starts.get(i).map_or(0.0, |s| s - first),
                    input: ins.get(i).map_or(0, |&x| x as u32),
                    output: output as u32,
                    ttft_ms: ttft * 1000.0,
                    latency_ms: latencies[i] * 1000.0,
                })
            })
            .collect();
        if requests.is_empty() {
            bail!("bench result {} has no successful request", path.display());
        }
        requests.sort_by(|a, b| a.send_s.total_cmp(&b.send_s));
        let max_concurrency = v["max_concurrency"].as_u64().map(|n| n as usize);
        let unpaced = match &v["request_rate"] {
            Value::String(s) => s == "inf",
            Value::Number(n) => n.as_f64().is_none_or(f64::is_infinite),
            _ => true,
        };
        Ok(BenchRun {
            path: path.to_owned(),
            requests,
            max_concurrency,
            unpaced,
        })
    }

    /// Tokens the engine generated for generation requests: every output token but each
    /// request's first, which its last prefill chunk samples.
    pub(crate) fn generation_tokens(&self) -> u64 {
        self.requests
            .iter()
            .map(|r| u64::from(r.output.saturating_sub(1)))
            .sum()
    }

    /// The requests to replay, as the client sent them: a closed loop (`--max-concurrency` at
    /// an unpaced rate) sends each as soon as a slot frees, so all are due at 0.
    pub(crate) fn sends(&self) -> Vec<RecordedSend> {
        let closed = self.max_concurrency.is_some() && self.unpaced;
        self.requests
            .iter()
            .map(|r| RecordedSend {
                send_at: if closed {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64(r.send_s.max(0.0))
                },
                prompt_tokens: r.input,
                output_tokens: r.output,
            })
            .collect()
    }

    /// The measured figures.
    pub(crate) fn figures(&self) -> Figures {
        let per_request: Vec<(f64, f64, u32)> = self
            .requests
            .iter()
            .map(|r| (r.ttft_ms, r.latency_ms, r.output))
            .collect();
        Figures::of(&per_request)
    }

    /// The index of the log this result was measured against: the first not yet taken whose
    /// generation tokens equal the result's (a log holding other traffic too cannot pair).
    pub(crate) fn pair(&self, logs: &[LogObservations], taken: &[bool]) -> Option<usize> {
        let want = self.generation_tokens() as f64;
        logs.iter().enumerate().position(|(i, log)| {
            let have: f64 = log
                .iterations
                .iter()
                .map(|o| o.features.generation_tokens)
                .sum();
            !taken[i] && have == want
        })
    }
}

/// Mean and p99 of TTFT, TPOT and end-to-end latency, in ms, as vLLM's `bench serve` computes
/// them (TPOT over requests with more than one output token; numpy's linear percentile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figures {
    /// TTFT mean and p99.
    pub(crate) ttft: [f64; 2],
    /// TPOT mean and p99.
    pub(crate) tpot: [f64; 2],
    /// E2EL mean and p99.
    pub(crate) e2el: [f64; 2],
}

impl Figures {
    /// From `(ttft ms, latency ms, output tokens)` per request.
    pub(crate) fn of(requests: &[(f64, f64, u32)]) -> Self {
        let ttft: Vec<f64> = requests.iter().map(|r| r.0).collect();
        let e2el: Vec<f64> = requests.iter().map(|r| r.1).collect();
        let tpot: Vec<f64> = requests
            .iter()
            .filter(|r| r.2 > 1)
            .map(|r| (r.1 - r.0) / f64::from(r.2 - 1))
            .collect();
        Figures {
            ttft: mean_p99(ttft),
            tpot: mean_p99(tpot),
            e2el: mean_p99(e2el),
        }
    }

    /// From a virtual run's client records (successful ones).
    pub(crate) fn of_records(records: &[ClientRequestRecord]) -> Self {
        let per_request: Vec<(f64, f64, u32)> = records
            .iter()
            .filter(|r| r.success)
            .map(|r| {
                (
                    r.ttft * 1000.0,
                    r.latency * 1000.0,
                    u32::try_from(r.output_tokens).unwrap_or(u32::MAX),
                )
            })
            .collect();
        Self::of(&per_request)
    }

    /// `{ttft: {predicted, measured, error}, …}` for each figure: `self` predicted.
    pub(crate) fn against(&self, measured: &Figures) -> Value {
        let pair = |p: [f64; 2], m: [f64; 2]| {
            json!({
                "mean_ms": {"predicted": p[0], "measured": m[0], "error": rel(p[0], m[0])},
                "p99_ms": {"predicted": p[1], "measured": m[1], "error": rel(p[1], m[1])},
            })
        };
        json!({
            "ttft": pair(self.ttft, measured.ttft),
            "tpot": pair(self.tpot, measured.tpot),
            "e2el": pair(self.e2el, measured.e2el),
        })
    }
}

/// `(predicted − measured) / measured`.
pub(crate) fn rel(predicted: f64, measured: f64) -> f64 {
    if measured == 0.0 {
        0.0
    } else {
        (predicted - measured) / measured
    }
}

fn mean_p99(mut v: Vec<f64>) -> [f64; 2] {
    if v.is_empty() {
        return [0.0, 0.0];
    }
    v.sort_by(f64::total_cmp);
    [
        v.iter().sum::<f64>() / v.len() as f64,
        percentile_sorted(&v, 99.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_vllm_tpot_and_numpy_percentiles() {
        // TPOT skips the single-token request; p99 interpolates between the two largest.
        let f = Figures::of(&[(100.0, 300.0, 5), (200.0, 600.0, 9), (50.0, 50.0, 1)]);
        assert!((f.ttft[0] - 350.0 / 3.0).abs() < 1e-9);
        assert_eq!(f.tpot[0], (50.0 + 50.0) / 2.0);
        assert!((f.e2el[1] - (300.0 + 0.98 * 300.0)).abs() < 1e-9);
        let v = f.against(&f);
        assert_eq!(v["ttft"]["mean_ms"]["error"], 0.0);
    }
}
