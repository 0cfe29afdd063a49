/*!
Prometheus metrics for LLM inference: the one layer that writes, reads and queries them.

vLLM exports its scheduler gauges, latency histograms, MFU counters and KV-offload metrics in
the Prometheus text format. This crate lets the embedded engine export the same metrics, byte
for byte as vLLM's `prometheus_client` renders them, and lets bench, `analyze` and `watch` read
scrapes back and query them with PromQL semantics.

# Brief overview

- [`registry::Registry`] holds counter, gauge and histogram families. A family hands out
  per-series handles ([`registry::Counter`], [`registry::Gauge`], [`registry::Histogram`]) whose
  updates are one atomic operation and never allocate. [`Registry::render`](registry::Registry::render)
  writes the 0.0.4 text format (module [`text`]).
- [`parse::parse`] reads 0.0.4 and OpenMetrics 1.0 text into a [`model::Scrape`] of
  [`model::MetricFamily`]s; the writer's output parses back identically.
- [`query`] implements `increase`/`rate` (counter resets, Prometheus' extrapolation),
  `histogram_quantile`, bucket deltas between scrapes and `sum by`.
- [`catalogue`] lists every vLLM 0.32 metric: name, type, labels, buckets and help.
- [`offload::OffloadStats`] is the KV-offload connector's self-describing stats payload;
  [`offload::OffloadExporter`] and [`mfu::MfuExporter`] turn payloads and the model crate's
  `PerfStats` into metrics. [`http::MetricsServer`] serves `/metrics` for a scraper.
- [`parse::parse_lenient`] skips malformed lines (counting them) as vLLM's readers do;
  [`query::total_increase`], [`query::histogram_increase`] and [`spec_decode`] read the window
  between two scrapes.
- [`alias`] folds Ray-style `vllm_` names onto `vllm:` names.

# Example

```
use profilemate_metrics::mfu::MfuExporter;
use profilemate_metrics::parse::parse;
use profilemate_metrics::query::{Matcher, Point, Window, rate};
use profilemate_metrics::registry::{EngineLabels, Registry};
use profilemate_model::PerfStats;

let registry = Registry::new();
let mfu = MfuExporter::new(&registry, &EngineLabels::new("tiny-llama", [0]))?;
let step = PerfStats { num_flops_per_gpu: 2_000_000, ..PerfStats::default() };

// Two scrapes ten seconds apart, with five steps in between.
let first = parse(&registry.render())?;
for _ in 0..5 {
    mfu.observe(&step, 0)?;
}
let second = parse(&registry.render())?;

let name = "vllm:estimated_flops_per_gpu_total";
let engine = [Matcher::eq("engine", "0")];
assert!(registry.render().contains(
    "vllm:estimated_flops_per_gpu_total{engine=\"0\",model_name=\"tiny-llama\"} 1e+07\n"
));
let points = [
    Point { t: 0.0, v: first.value(name, &engine).unwrap() },
    Point { t: 10.0, v: second.value(name, &engine).unwrap() },
];
// rate(vllm:estimated_flops_per_gpu_total[10s]) with samples on both window edges.
let flops_per_second = rate(&points, Window { start: -1e-9, end: 10.0 }).unwrap();
assert!((flops_per_second - 1e6).abs() < 1e-3);
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]

pub mod alias;
pub mod catalogue;
pub mod civil;
pub mod error;
pub mod http;
pub mod mfu;
pub mod model;
pub mod number;
pub mod offload;
pub mod parse;
pub mod query;
pub mod registry;
pub mod spec_decode;
pub mod text;

pub use error::{ExportError, ParseError, ParseErrorKind, PayloadError, RegistryError};
pub use model::{Labels, MetricFamily, MetricType, Sample, Scrape};
pub use parse::parse;
pub use registry::Registry;
