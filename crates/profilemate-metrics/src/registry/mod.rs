//! The metric registry: register counters, gauges and histograms, then render them.

mod cell;
mod engine;
mod family;
mod handles;

pub use engine::{EngineLabels, PerEngine, per_engine};
pub use handles::{
    Counter, CounterFamily, Gauge, GaugeFamily, Histogram, HistogramFamily, LabelledFamily,
};

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::RegistryError;
use crate::model::{MetricType, Scrape};
use crate::parse::{is_label_name, is_metric_name};
use family::{Cell, Collect, Desc, FamilyCore};

/// A set of metric families, shared by cheap clones.
///
/// Registration mirrors `prometheus_client`: a counter registered as `x` or `x_total` is exposed
/// as `x_total` with a `x_created` series; histograms get `_bucket`/`_count`/`_sum`/`_created`.
#[derive(Debug, Clone)]
pub struct Registry(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    with_created: bool,
    families: RwLock<Vec<Arc<dyn Collect>>>,
    names: RwLock<HashSet<String>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry that exposes `_created` series, as vLLM does by default.
    pub fn new() -> Self {
        Self::build(true)
    }

    /// An empty registry without `_created` series (`PROMETHEUS_DISABLE_CREATED_SERIES=true`).
    pub fn without_created_series() -> Self {
        Self::build(false)
    }

    fn build(with_created: bool) -> Self {
        let families = RwLock::new(Vec::new());
        Self(Arc::new(Inner {
            with_created,
            families,
            names: RwLock::default(),
        }))
    }

    /// Registers a counter; a trailing `_total` on `name` is dropped first.
    pub fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<CounterFamily, RegistryError> {
        let base = name.strip_suffix("_total").unwrap_or(name);
        let desc = describe(base, help, labels, MetricType::Counter, &[])?;
        self.add(desc).map(CounterFamily)
    }

    /// Registers a gauge.
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<GaugeFamily, RegistryError> {
        let desc = describe(name, help, labels, MetricType::Gauge, &[])?;
        self.add(desc).map(GaugeFamily)
    }

    /// Registers a histogram with finite, strictly increasing `buckets` (`+Inf` is implied; a
    /// trailing `+Inf` is accepted and dropped).
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramFamily, RegistryError> {
        let desc = describe(name, help, labels, MetricType::Histogram, buckets)?;
        self.add(desc).map(HistogramFamily)
    }

    fn add<C: Cell>(&self, desc: Desc) -> Result<Arc<FamilyCore<C>>, RegistryError> {
        let exposed = exposed_names(&desc);
        let mut names = self.0.names.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(taken) = exposed.iter().find(|n| names.contains(*n)) {
            return Err(RegistryError::Duplicate(taken.clone()));
        }
        names.extend(exposed);
        let core = Arc::new(FamilyCore::<C>::new(desc));
        let mut families = self
            .0
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        families.push(core.clone());
        Ok(core)
    }

    /// Every family in registration order, in the exposition model.
    pub fn collect(&self) -> Scrape {
        let families = self
            .0
            .families
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let with_created = self.0.with_created;
        Scrape {
            families: families.iter().map(|f| f.collect(with_created)).collect(),
        }
    }

    /// The registry in Prometheus text format 0.0.4, as vLLM's `/metrics` serves it.
    pub fn render(&self) -> String {
        crate::text::render(&self.collect())
    }
}

fn describe(
    base: &str,
    help: &str,
    labels: &[&str],
    kind: MetricType,
    buckets: &[f64],
) -> Result<Desc, RegistryError> {
    if !is_metric_name(base) {
        return Err(RegistryError::InvalidMetricName(base.into()));
    }
    if let Some(bad) = labels
        .iter()
        .find(|l| !is_label_name(l) || l.starts_with("__"))
    {
        return Err(RegistryError::InvalidLabelName((*bad).into()));
    }
    if kind == MetricType::Histogram && labels.contains(&"le") {
        return Err(RegistryError::ReservedLabel);
    }
    let bounds = checked_bounds(kind, buckets)?;
    let label_names = labels.iter().map(|l| l.to_string()).collect();
    Ok(Desc {
        base: base.into(),
        help: help.into(),
        label_names,
        kind,
        bounds,
    })
}

fn checked_bounds(kind: MetricType, buckets: &[f64]) -> Result<Arc<[f64]>, RegistryError> {
    if kind != MetricType::Histogram {
        return Ok(Arc::from([]));
    }
    let finite = match buckets.split_last() {
        Some((last, rest)) if *last == f64::INFINITY => rest,
        _ => buckets,
    };
    let increasing = finite.windows(2).all(|w| w[0] < w[1]);
    if finite.is_empty() || !increasing || finite.iter().any(|b| !b.is_finite()) {
        return Err(RegistryError::InvalidBuckets);
    }
    Ok(Arc::from(finite))
}

fn exposed_names(desc: &Desc) -> Vec<String> {
    let suffixes: &[&str] = match desc.kind {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["", "_bucket", "_count", "_sum", "_created"],
        _ => &[""],
    };
    suffixes
        .iter()
        .map(|s| format!("{}{s}", desc.base))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_follow_prometheus_client() {
        let reg = Registry::without_created_series();
        let fam = reg
            .counter("vllm:estimated_flops_per_gpu_total", "F.", &["engine"])
            .unwrap();
        fam.labels(&["0"]).unwrap().inc_by(2.0);
        let want = "# HELP vllm:estimated_flops_per_gpu_total F.\n\
                    # TYPE vllm:estimated_flops_per_gpu_total counter\n\
                    vllm:estimated_flops_per_gpu_total{engine=\"0\"} 2.0\n";
        assert_eq!(reg.render(), want);
        let dup = reg
            .counter("vllm:estimated_flops_per_gpu", "again", &[])
            .unwrap_err();
        assert_eq!(
            dup,
            RegistryError::Duplicate("vllm:estimated_flops_per_gpu_total".into())
        );
    }

    #[test]
    fn histogram_renders_buckets_count_sum_then_created() {
        let reg = Registry::new();
        let fam = reg
            .histogram("h", "H.", &["model_name"], &[1.0, 1e6])
            .unwrap();
        let h = fam.labels(&["m"]).unwrap();
        h.observe(0.5);
        h.observe(2e6);
        let text = reg.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "h_bucket{le=\"1.0\",model_name=\"m\"} 1.0");
        assert_eq!(lines[3], "h_bucket{le=\"1e+06\",model_name=\"m\"} 1.0");
        assert_eq!(lines[4], "h_bucket{le=\"+Inf\",model_name=\"m\"} 2.0");
        assert_eq!(lines[5], "h_count{model_name=\"m\"} 2.0");
        assert_eq!(lines[6], "h_sum{model_name=\"m\"} 2.0000005e+06");
        assert_eq!(
            lines[7..9],
            ["# HELP h_created H.", "# TYPE h_created gauge"]
        );
        assert!(lines[9].starts_with("h_created{model_name=\"m\"} 1."));
    }

    #[test]
    fn unlabelled_families_start_with_one_zero_series() {
        let reg = Registry::without_created_series();
        let g = reg.gauge("g", "G.", &[]).unwrap();
        assert_eq!(reg.render(), "# HELP g G.\n# TYPE g gauge\ng 0.0\n");
        g.labels(&[]).unwrap().set(-3.5);
        assert!(reg.render().ends_with("g -3.5\n"));
    }

    #[test]
    fn registration_is_validated() {
        let reg = Registry::new();
        let err = |r: Result<GaugeFamily, RegistryError>| r.unwrap_err();
        assert_eq!(
            err(reg.gauge("1x", "", &[])),
            RegistryError::InvalidMetricName("1x".into())
        );
        assert_eq!(
            err(reg.gauge("x", "", &["a:b"])),
            RegistryError::InvalidLabelName("a:b".into())
        );
        let h = reg.histogram("h", "", &["le"], &[1.0]);
        assert_eq!(h.unwrap_err(), RegistryError::ReservedLabel);
        for bad in [&[][..], &[2.0, 1.0], &[1.0, f64::NAN]] {
            assert_eq!(
                reg.histogram("h", "", &[], bad).unwrap_err(),
                RegistryError::InvalidBuckets
            );
        }
        let fam = reg.gauge("x", "", &["a", "b"]).unwrap();
        let want = RegistryError::LabelCount {
            name: "x".into(),
            expected: 2,
            got: 1,
        };
        assert_eq!(fam.labels(&["1"]).unwrap_err(), want);
    }

    #[test]
    fn counters_ignore_negative_increments() {
        let reg = Registry::new();
        let c = reg.counter("c", "", &[]).unwrap().labels(&[]).unwrap();
        c.inc();
        c.inc_by(-5.0);
        c.inc_by(f64::NAN);
        assert_eq!(c.get(), 1.0);
    }
}
