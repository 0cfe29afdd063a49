//! A metric family's series table and its conversion to the exposition model.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::cell::{AtomicF64, HistogramCell};
use crate::error::RegistryError;
use crate::model::{Labels, MetricFamily, MetricType, Sample};
use crate::number::go_float;

/// What a family is: name, help, label names, type and buckets.
#[derive(Debug, Clone)]
pub(crate) struct Desc {
    /// The registered name, `_total` stripped for counters (`prometheus_client`'s `_name`).
    pub(crate) base: String,
    pub(crate) help: String,
    pub(crate) label_names: Vec<String>,
    pub(crate) kind: MetricType,
    /// Finite bucket bounds (histograms only).
    pub(crate) bounds: Arc<[f64]>,
}

impl Desc {
    /// The name on the family's `# TYPE` line.
    pub(crate) fn family_name(&self) -> String {
        match self.kind {
            MetricType::Counter => format!("{}_total", self.base),
            _ => self.base.clone(),
        }
    }
}

/// A value cell that knows how to become samples.
pub(crate) trait Cell: Send + Sync + std::fmt::Debug + 'static {
    fn create(desc: &Desc) -> Self;
    /// Pushes this series' value samples (not `_created`).
    fn samples(&self, desc: &Desc, labels: &Labels, out: &mut Vec<Sample>);
}

impl Cell for AtomicF64 {
    fn create(_: &Desc) -> Self {
        Self::default()
    }

    fn samples(&self, desc: &Desc, labels: &Labels, out: &mut Vec<Sample>) {
        out.push(Sample::new(desc.family_name(), labels.clone(), self.get()));
    }
}

impl Cell for HistogramCell {
    fn create(desc: &Desc) -> Self {
        Self::new(desc.bounds.clone())
    }

    fn samples(&self, desc: &Desc, labels: &Labels, out: &mut Vec<Sample>) {
        let state = self.state();
        let bucket = format!("{}_bucket", desc.base);
        for (bound, count) in state.buckets {
            let mut with_le = labels.clone();
            with_le.insert("le", go_float(bound));
            out.push(Sample::new(&bucket, with_le, count as f64));
        }
        out.push(Sample::new(
            format!("{}_count", desc.base),
            labels.clone(),
            state.count as f64,
        ));
        out.push(Sample::new(
            format!("{}_sum", desc.base),
            labels.clone(),
            state.sum,
        ));
    }
}

#[derive(Debug)]
struct Series<C> {
    values: Box<[String]>,
    labels: Labels,
    cell: Arc<C>,
    created: f64,
}

impl<C> Series<C> {
    fn has_values(&self, values: &[&str]) -> bool {
        self.values
            .iter()
            .map(String::as_str)
            .eq(values.iter().copied())
    }
}

/// The series of one family, keyed by label values in registration order.
#[derive(Debug)]
pub(crate) struct FamilyCore<C> {
    pub(crate) desc: Desc,
    series: RwLock<Vec<Series<C>>>,
}

impl<C: Cell> FamilyCore<C> {
    pub(crate) fn new(desc: Desc) -> Self {
        let core = Self {
            desc,
            series: RwLock::new(Vec::new()),
        };
        if core.desc.label_names.is_empty() {
            core.insert(&[]);
        }
        core
    }

    /// The cell for `values`, created on first use.
    pub(crate) fn get_or_create(&self, values: &[&str]) -> Result<Arc<C>, RegistryError> {
        if values.len() != self.desc.label_names.len() {
            return Err(RegistryError::LabelCount {
                name: self.desc.family_name(),
                expected: self.desc.label_names.len(),
                got: values.len(),
            });
        }
        Ok(self.find(values).unwrap_or_else(|| self.insert(values)))
    }

    fn find(&self, values: &[&str]) -> Option<Arc<C>> {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        series
            .iter()
            .find(|s| s.has_values(values))
            .map(|s| s.cell.clone())
    }

    fn insert(&self, values: &[&str]) -> Arc<C> {
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = series.iter().find(|s| s.has_values(values)) {
            return s.cell.clone();
        }
        let pairs = self
            .desc
            .label_names
            .iter()
            .cloned()
            .zip(values.iter().map(|v| v.to_string()));
        let cell = Arc::new(C::create(&self.desc));
        series.push(Series {
            values: values.iter().map(|v| v.to_string()).collect(),
            labels: Labels::from_pairs(pairs),
            cell: cell.clone(),
            created: unix_now(),
        });
        cell
    }

    /// The family in the exposition model, `_created` samples after all value samples.
    pub(crate) fn collect(&self, with_created: bool) -> MetricFamily {
        let d = &self.desc;
        let mut family = MetricFamily::new(d.family_name(), d.kind, Some(d.help.clone()));
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        for s in series.iter() {
            s.cell.samples(d, &s.labels, &mut family.samples);
        }
        if with_created && d.kind != MetricType::Gauge {
            let name = format!("{}_created", d.base);
            let created = series
                .iter()
                .map(|s| Sample::new(&name, s.labels.clone(), s.created));
            family.samples.extend(created);
        }
        family
    }
}

/// Type-erased access for the registry.
pub(crate) trait Collect: Send + Sync + std::fmt::Debug {
    fn collect(&self, with_created: bool) -> MetricFamily;
}

impl<C: Cell> Collect for FamilyCore<C> {
    fn collect(&self, with_created: bool) -> MetricFamily {
        FamilyCore::collect(self, with_created)
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
