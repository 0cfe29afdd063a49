//! The data model shared by the writer and the parser: families, samples, labels.

use std::fmt;

/// The type a `# TYPE` line declares for a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A monotonically increasing value (`_total`, `_created`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets (`_bucket{le=…}`), `_sum`, `_count`, `_created`.
    Histogram,
    /// Quantiles (`{quantile=…}`), `_sum`, `_count`, `_created`.
    Summary,
    /// OpenMetrics gauge histogram (`_bucket`, `_gsum`, `_gcount`).
    GaugeHistogram,
    /// OpenMetrics state set.
    StateSet,
    /// OpenMetrics info metric (`_info`).
    Info,
    /// `untyped` (0.0.4) or `unknown` (OpenMetrics), and samples with no `# TYPE`.
    Untyped,
}

impl MetricType {
    /// Reads the keyword of a `# TYPE` line (both 0.0.4 and OpenMetrics spellings).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            "gaugehistogram" => Self::GaugeHistogram,
            "stateset" => Self::StateSet,
            "info" => Self::Info,
            "untyped" | "unknown" => Self::Untyped,
            _ => return None,
        })
    }

    /// The 0.0.4 keyword written on a `# TYPE` line.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Summary => "summary",
            Self::GaugeHistogram => "gaugehistogram",
            Self::StateSet => "stateset",
            Self::Info => "info",
            Self::Untyped => "untyped",
        }
    }

    /// The sample-name suffixes a family of this type may carry, besides the bare name.
    pub(crate) fn suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["_total", "_created"],
            Self::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Self::Summary => &["_sum", "_count", "_created"],
            Self::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            Self::Info => &["_info"],
            Self::Gauge | Self::StateSet | Self::Untyped => &[],
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A label set, kept sorted by label name (the order `prometheus_client` writes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// An empty label set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs, sorting them by name.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut v: Vec<_> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        v.sort();
        Self(v)
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`, keeping the set sorted.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) => self.0[i].1 = value.into(),
            Err(i) => self.0.insert(i, (name, value.into())),
        }
    }

    /// Removes label `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }

    /// Keeps only the labels whose names are in `names` (PromQL `by (…)`).
    pub fn keep_only(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// Drops the labels whose names are in `names` (PromQL `without (…)`).
    pub fn without(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// The `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An OpenMetrics exemplar attached to a sample (`# {trace_id="…"} 0.5 1.7e9`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels.
    pub labels: Labels,
    /// The exemplar's value.
    pub value: f64,
    /// Its timestamp in seconds, if given.
    pub timestamp: Option<f64>,
}

/// One sample line: a full sample name (`vllm:x_bucket`), its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample name as written, suffix included.
    pub name: String,
    /// The labels, sorted by name.
    pub labels: Labels,
    /// The value (`NaN` and `±Inf` allowed).
    pub value: f64,
    /// The timestamp in seconds since the epoch (0.0.4 milliseconds are converted).
    pub timestamp: Option<f64>,
    /// An OpenMetrics exemplar, if one was attached.
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// A sample with no timestamp and no exemplar.
    pub fn new(name: impl Into<String>, labels: Labels, value: f64) -> Self {
        Self {
            name: name.into(),
            labels,
            value,
            timestamp: None,
            exemplar: None,
        }
    }
}

/// A metric family: the samples under one `# TYPE` line.
///
/// Families are named the 0.0.4 way: a counter family is named after its `_total` sample, and
/// `prometheus_client`'s separate `<name>_created` gauge families are folded back into the counter
/// or histogram they belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name as on its `# TYPE` line (or the sample name for untyped samples).
    pub name: String,
    /// The declared type.
    pub kind: MetricType,
    /// The unescaped `# HELP` text.
    pub help: Option<String>,
    /// The OpenMetrics `# UNIT`, if any.
    pub unit: Option<String>,
    /// The samples in exposition order.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// An empty family.
    pub fn new(name: impl Into<String>, kind: MetricType, help: Option<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            help,
            unit: None,
            samples: Vec::new(),
        }
    }

    /// The name its `_created` samples carry: `x_total` → `x_created`, `x` → `x_created`.
    pub fn created_name(&self) -> String {
        let base = match self.kind {
            MetricType::Counter => self.name.strip_suffix("_total").unwrap_or(&self.name),
            _ => &self.name,
        };
        format!("{base}_created")
    }
}

/// A parsed or collected exposition: metric families in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// The families in exposition order.
    pub families: Vec<MetricFamily>,
}

impl Scrape {
    /// The family named `name`, accepting Ray-style `vllm_` spellings of `vllm:` names.
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        let want = crate::alias::canonical_name(name);
        self.families
            .iter()
            .find(|f| crate::alias::canonical_name(&f.name) == want)
    }

    /// Every sample of every family.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.families.iter().flat_map(|f| f.samples.iter())
    }
}
