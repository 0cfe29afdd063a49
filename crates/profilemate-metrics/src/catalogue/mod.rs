//! The vLLM 0.32 metric catalogue: name, type, labels, buckets and help of every metric, as data
//! both the embedded engine (to register) and `watch` (to recognise) use.

pub mod buckets;
mod table;

pub use buckets::{BucketConfig, BucketFamily, Buckets};

use crate::alias::canonical_name;
use crate::error::RegistryError;
use crate::model::MetricType;
use crate::registry::{CounterFamily, GaugeFamily, HistogramFamily, Registry};

/// Which part of vLLM defines a metric, and so when it is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Core engine metrics (`PrometheusStatLogger`), always or per engine flags.
    Engine,
    /// Speculative decoding, when a speculative config is set.
    SpecDecode,
    /// Diffusion models (the spec-decode path under other names).
    Diffusion,
    /// MFU counters (`PerfMetricsProm`), always registered.
    Mfu,
    /// OffloadingConnector flat metrics.
    KvOffload,
    /// CPU offloading spec additions.
    KvOffloadCpu,
    /// Deprecated CPU offload names with a `transfer_type` label.
    KvOffloadDeprecated,
    /// Tiering offloading spec.
    KvOffloadTiering,
    /// SimpleCPUOffloadConnector.
    SimpleKvOffload,
    /// NIXL connector.
    Nixl,
    /// Mooncake store connector.
    Mooncake,
    /// HF3FS connector.
    Hf3fs,
    /// HiSparse connector.
    HiSparse,
    /// Frontend: RL weight updates, sleep mode, websockets, tool-call parser.
    Frontend,
}

/// One metric as vLLM registers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// The registered name (counters are exposed with `_total`).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricType,
    /// Label names in vLLM's order (`model_name`, `engine`, then extras).
    pub labels: &'static [&'static str],
    /// Bucket bounds for histograms.
    pub buckets: Option<Buckets>,
    /// Which part of vLLM defines it.
    pub group: Group,
    /// vLLM's help text.
    pub help: &'static str,
}

/// A family registered from a [`MetricDef`].
#[derive(Debug, Clone)]
pub enum RegisteredFamily {
    /// A counter.
    Counter(CounterFamily),
    /// A gauge.
    Gauge(GaugeFamily),
    /// A histogram.
    Histogram(HistogramFamily),
}

impl MetricDef {
    /// The name on its `# TYPE` line: counters end in `_total` (never `_total_total`).
    pub fn family_name(&self) -> String {
        match self.kind {
            MetricType::Counter => format!("{}_total", self.name.trim_end_matches("_total")),
            _ => self.name.to_owned(),
        }
    }

    /// The sample names it is exposed under (with `_created` series).
    pub fn sample_names(&self) -> Vec<String> {
        let base = self.name.trim_end_matches("_total");
        match self.kind {
            MetricType::Counter => vec![self.family_name(), format!("{base}_created")],
            MetricType::Histogram => ["_bucket", "_count", "_sum", "_created"]
                .iter()
                .map(|s| format!("{}{s}", self.name))
                .collect(),
            _ => vec![self.name.to_owned()],
        }
    }

    /// Registers this metric in `registry`, histogram bounds chosen by `buckets`. Types other
    /// than counter and histogram register as gauges.
    pub fn register(
        &self,
        registry: &Registry,
        buckets: &BucketConfig,
    ) -> Result<RegisteredFamily, RegistryError> {
        let (name, help, labels) = (self.name, self.help, self.labels);
        Ok(match self.kind {
            MetricType::Counter => RegisteredFamily::Counter(registry.counter(name, help, labels)?),
            MetricType::Histogram => {
                let bounds = self.buckets.map(|b| buckets.bounds(b)).unwrap_or_default();
                RegisteredFamily::Histogram(registry.histogram(name, help, labels, &bounds)?)
            }
            _ => RegisteredFamily::Gauge(registry.gauge(name, help, labels)?),
        })
    }
}

/// Every metric in the catalogue.
pub fn all() -> impl Iterator<Item = &'static MetricDef> + Clone {
    table::all()
}

/// The metrics of one group.
pub fn group(group: Group) -> impl Iterator<Item = &'static MetricDef> {
    all().filter(move |d| d.group == group)
}

/// Looks a metric up by registered name, family name or any sample name (`_total`, `_created`,
/// `_bucket`, `_sum`, `_count`), Ray `vllm_` spellings included.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    let name = canonical_name(name);
    all().find(|d| d.name == name || d.sample_names().iter().any(|s| *s == name))
}

#[cfg(test)]
mod tests;
