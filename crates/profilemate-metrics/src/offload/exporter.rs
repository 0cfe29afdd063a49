//! The offload exporter: applies [`OffloadStats`] payloads to Prometheus families, keeping the
//! deprecated `transfer_type` metrics of the CPU offloading spec in step (`OffloadPromMetrics`).

use std::collections::BTreeMap;

use super::payload::{OffloadStats, StatKind, StatValue};
use crate::catalogue::{self, BucketConfig, Group, RegisteredFamily};
use crate::error::{ExportError, RegistryError};
use crate::registry::{EngineLabels, Registry};

/// Which offloading spec the connector runs, deciding the metric set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadSpec {
    /// `CPUOffloadingSpec`: flat + CPU metrics, and the deprecated `transfer_type` names.
    Cpu,
    /// `TieringOffloadingSpec` (a `CPUOffloadingSpec` subclass): CPU set plus tiering metrics.
    Tiering,
    /// Any other spec: the flat connector metrics only.
    Other,
}

impl OffloadSpec {
    fn groups(self) -> &'static [Group] {
        match self {
            Self::Cpu => &[Group::KvOffload, Group::KvOffloadCpu],
            Self::Tiering => &[
                Group::KvOffload,
                Group::KvOffloadCpu,
                Group::KvOffloadTiering,
            ],
            Self::Other => &[Group::KvOffload],
        }
    }

    fn observes_deprecated(self) -> bool {
        self != Self::Other
    }
}

/// Flat metric → (deprecated metric, `transfer_type`).
const DEPRECATED: [(&str, &str, &str); 6] = [
    (
        "vllm:kv_offload_load_bytes",
        "vllm:kv_offload_total_bytes",
        "CPU_to_GPU",
    ),
    (
        "vllm:kv_offload_load_time",
        "vllm:kv_offload_total_time",
        "CPU_to_GPU",
    ),
    (
        "vllm:kv_offload_load_size",
        "vllm:kv_offload_size",
        "CPU_to_GPU",
    ),
    (
        "vllm:kv_offload_store_bytes",
        "vllm:kv_offload_total_bytes",
        "GPU_to_CPU",
    ),
    (
        "vllm:kv_offload_store_time",
        "vllm:kv_offload_total_time",
        "GPU_to_CPU",
    ),
    (
        "vllm:kv_offload_store_size",
        "vllm:kv_offload_size",
        "GPU_to_CPU",
    ),
];

/// Exports offload payloads per engine.
#[derive(Debug)]
pub struct OffloadExporter {
    engines: EngineLabels,
    spec: OffloadSpec,
    families: BTreeMap<&'static str, (RegisteredFamily, usize)>,
}

impl OffloadExporter {
    /// Registers the spec's metrics (and the deprecated ones for CPU specs) in `registry`, and
    /// pre-creates the deprecated series of every engine, as vLLM does.
    pub fn new(
        registry: &Registry,
        engines: EngineLabels,
        spec: OffloadSpec,
    ) -> Result<Self, RegistryError> {
        let mut groups = spec.groups().to_vec();
        if spec.observes_deprecated() {
            groups.push(Group::KvOffloadDeprecated);
        }
        let mut families = BTreeMap::new();
        for def in catalogue::all().filter(|d| groups.contains(&d.group)) {
            let extra = def.labels.len().saturating_sub(EngineLabels::NAMES.len());
            families.insert(
                def.name,
                (def.register(registry, &BucketConfig::default())?, extra),
            );
        }
        let exporter = Self {
            engines,
            spec,
            families,
        };
        exporter.precreate_deprecated()?;
        Ok(exporter)
    }

    fn precreate_deprecated(&self) -> Result<(), RegistryError> {
        let deprecated = DEPRECATED
            .iter()
            .filter(|_| self.spec.observes_deprecated());
        for &engine in &self.engines.engines {
            for (_, name, transfer) in deprecated.clone() {
                self.touch(name, engine, &[transfer])?;
            }
        }
        Ok(())
    }

    /// Applies one payload from `engine`: counters increase, gauges are set, histograms observe
    /// every value. The payload is checked first, so a bad payload changes nothing.
    pub fn observe(&self, stats: &OffloadStats, engine: usize) -> Result<(), ExportError> {
        if !self.engines.engines.contains(&engine) {
            return Err(ExportError::UnknownEngine(engine));
        }
        for (name, kind) in stats.metrics() {
            self.check(name, kind, stats)?;
        }
        for (name, _) in stats.metrics() {
            for (labels, value) in stats.series(name).into_iter().flatten() {
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                self.apply(name, engine, &labels, value)?;
            }
        }
        Ok(())
    }

    fn check(&self, name: &str, kind: StatKind, stats: &OffloadStats) -> Result<(), ExportError> {
        if DEPRECATED.iter().any(|(_, old, _)| *old == name) {
            return Err(ExportError::UnknownMetric(name.into()));
        }
        let (family, extra) = self
            .families
            .get(name)
            .ok_or_else(|| ExportError::UnknownMetric(name.into()))?;
        let defined = family_kind(family);
        if defined != kind {
            return Err(ExportError::TypeMismatch {
                name: name.into(),
                defined: defined.as_str(),
                found: kind.as_str(),
            });
        }
        let bad = stats
            .series(name)
            .into_iter()
            .flatten()
            .find(|(labels, _)| labels.len() != *extra);
        match bad {
            Some((labels, _)) => Err(ExportError::Registry(RegistryError::LabelCount {
                name: name.into(),
                expected: *extra,
                got: labels.len(),
            })),
            None => Ok(()),
        }
    }

    fn apply(
        &self,
        name: &str,
        engine: usize,
        labels: &[&str],
        value: &StatValue,
    ) -> Result<(), ExportError> {
        self.apply_one(name, engine, labels, value)?;
        let twin = DEPRECATED.iter().find(|(flat, _, _)| *flat == name);
        if let Some((_, old, transfer)) =
            twin.filter(|_| labels.is_empty() && self.spec.observes_deprecated())
        {
            self.apply_one(old, engine, &[transfer], value)?;
        }
        Ok(())
    }

    fn apply_one(
        &self,
        name: &str,
        engine: usize,
        labels: &[&str],
        value: &StatValue,
    ) -> Result<(), ExportError> {
        let values = self.label_values(engine, labels);
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let (family, _) = self
            .families
            .get(name)
            .ok_or_else(|| ExportError::UnknownMetric(name.into()))?;
        match (family, value) {
            (RegisteredFamily::Counter(f), StatValue::Number(n)) => {
                f.labels(&values)?.inc_by(n.as_f64())
            }
            (RegisteredFamily::Gauge(f), StatValue::Number(n)) => {
                f.labels(&values)?.set(n.as_f64())
            }
            (RegisteredFamily::Histogram(f), StatValue::Observations(list)) => {
                let h = f.labels(&values)?;
                list.iter().for_each(|n| h.observe(n.as_f64()));
            }
            _ => return Err(ExportError::UnknownMetric(name.into())),
        }
        Ok(())
    }

    /// Creates the series `(name, engine, labels)` without changing its value.
    fn touch(&self, name: &str, engine: usize, labels: &[&str]) -> Result<(), RegistryError> {
        let values = self.label_values(engine, labels);
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        match self.families.get(name) {
            Some((RegisteredFamily::Counter(f), _)) => f.labels(&values).map(drop),
            Some((RegisteredFamily::Gauge(f), _)) => f.labels(&values).map(drop),
            Some((RegisteredFamily::Histogram(f), _)) => f.labels(&values).map(drop),
            None => Ok(()),
        }
    }

    fn label_values(&self, engine: usize, labels: &[&str]) -> Vec<String> {
        let head = [self.engines.model_name.clone(), engine.to_string()];
        head.into_iter()
            .chain(labels.iter().map(|l| l.to_string()))
            .collect()
    }
}

fn family_kind(family: &RegisteredFamily) -> StatKind {
    match family {
        RegisteredFamily::Counter(_) => StatKind::Counter,
        RegisteredFamily::Gauge(_) => StatKind::Gauge,
        RegisteredFamily::Histogram(_) => StatKind::Histogram,
    }
}
