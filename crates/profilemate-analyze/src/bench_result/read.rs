//! Reads a `bench serve` result JSON: vLLM's keys (`completed`, `duration`, `mean_ttft_ms`, …)
//! and, from profilemate's, the `server_scrapes` block.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::AnalyzeError;
use crate::scrape::ScrapeInput;

/// The client latency metrics vLLM writes, `(key, label)`.
const CLIENT_METRICS: [(&str, &str); 4] = [
    ("ttft", "TTFT"),
    ("tpot", "TPOT"),
    ("itl", "ITL"),
    ("e2el", "E2EL"),
];

/// One client latency metric as the result recorded it, in ms.
#[derive(Debug, Clone, Serialize)]
pub struct ClientLatency {
    /// `ttft`, `tpot`, `itl`, `e2el`.
    pub name: &'static str,
    /// `mean_<name>_ms`.
    pub mean_ms: Option<f64>,
    /// `median_<name>_ms` (or `p50_<name>_ms`).
    pub p50_ms: Option<f64>,
    /// `p99_<name>_ms`, when `--metric-percentiles` included 99.
    pub p99_ms: Option<f64>,
}

/// The client's side of a `bench serve` run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// `completed`.
    pub completed: u64,
    /// `failed` (0 when absent, as in pooling results).
    pub failed: u64,
    /// `duration` in seconds.
    pub duration_s: f64,
    /// `request_throughput`.
    pub request_throughput: Option<f64>,
    /// `request_goodput`, when `--goodput` was given.
    pub request_goodput: Option<f64>,
    /// The latency metrics recorded.
    pub latency: Vec<ClientLatency>,
    /// `server_scrapes.elapsed_s`: seconds between the two scrapes (profilemate only).
    pub scrapes_elapsed_s: Option<f64>,
    /// The raw scrapes of `server_scrapes`, not echoed in output.
    #[serde(skip)]
    pub scrapes: Option<(String, String)>,
}

impl BenchResult {
    /// The recorded metric `name` (`ttft`, …).
    pub fn latency(&self, name: &str) -> Option<&ClientLatency> {
        self.latency.iter().find(|l| l.name == name)
    }

    /// Reads a result from its JSON text; the error says what is missing.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        let completed = v
            .get("completed")
            .and_then(Value::as_u64)
            .ok_or("no `completed` count")?;
        let duration_s = num("duration").ok_or("no `duration`")?;
        let latency = CLIENT_METRICS
            .iter()
            .map(|&(name, _)| ClientLatency {
                name,
                mean_ms: num(&format!("mean_{name}_ms")),
                p50_ms: num(&format!("median_{name}_ms"))
                    .or_else(|| num(&format!("p50_{name}_ms"))),
                p99_ms: num(&format!("p99_{name}_ms")),
            })
            .filter(|l| l.mean_ms.is_some())
            .collect();
        let sc = v.get("server_scrapes");
        let text_of = |k: &str| sc?.get(k)?.as_str().map(str::to_owned);
        Ok(Self {
            completed,
            failed: v.get("failed").and_then(Value::as_u64).unwrap_or(0),
            duration_s,
            request_throughput: num("request_throughput"),
            request_goodput: num("request_goodput"),
            latency,
            scrapes_elapsed_s: sc.and_then(|s| s.get("elapsed_s")).and_then(Value::as_f64),
            scrapes: text_of("before").zip(text_of("after")),
        })
    }

    /// The embedded scrapes, parsed; `Err` names the one that is not Prometheus text.
    pub fn embedded_scrapes(&self) -> Option<Result<(ScrapeInput, ScrapeInput), String>> {
        let (b, a) = self.scrapes.as_ref()?;
        let read = |which: &str, text: &str| {
            ScrapeInput::from_text(text).map_err(|e| format!("server_scrapes.{which}: {e}"))
        };
        Some(read("before", b).and_then(|b| Ok((b, read("after", a)?))))
    }
}

/// Reads the result JSON at `path`.
pub fn read_bench_result(path: &Path) -> Result<BenchResult, AnalyzeError> {
    let mut text = String::new();
    crate::input::open(path)?
        .read_to_string(&mut text)
        .map_err(|io| AnalyzeError::Read {
            path: path.to_owned(),
            io,
        })?;
    BenchResult::from_json(&text).map_err(|detail| AnalyzeError::NotBenchResult {
        path: path.to_owned(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vllms_keys_and_says_what_is_missing() {
        let r = BenchResult::from_json(
            r#"{"completed": 3, "failed": 1, "duration": 2.5, "mean_ttft_ms": 10.0,
                "median_ttft_ms": 9.0, "p99_ttft_ms": 30.0, "request_goodput": null}"#,
        )
        .unwrap();
        assert_eq!((r.completed, r.failed, r.duration_s), (3, 1, 2.5));
        let ttft = r.latency("ttft").unwrap();
        assert_eq!(
            (ttft.mean_ms, ttft.p50_ms, ttft.p99_ms),
            (Some(10.0), Some(9.0), Some(30.0))
        );
        assert!(r.latency("tpot").is_none() && r.request_goodput.is_none());
        assert!(r.embedded_scrapes().is_none());
        assert_eq!(
            BenchResult::from_json(r#"{"duration": 1}"#).unwrap_err(),
            "no `completed` count"
        );
        assert!(
            BenchResult::from_json("vllm:x 1")
                .unwrap_err()
                .starts_with("not JSON")
        );
    }

    #[test]
    fn embedded_scrapes_must_be_prometheus_text() {
        let r = BenchResult::from_json(
            r#"{"completed": 1, "duration": 1, "server_scrapes": {"before": "a_total 1\n", "after": "{}", "elapsed_s": 1.5}}"#,
        )
        .unwrap();
        assert_eq!(r.scrapes_elapsed_s, Some(1.5));
        let err = r.embedded_scrapes().unwrap().unwrap_err();
        assert!(err.starts_with("server_scrapes.after: "), "{err}");
    }
}
