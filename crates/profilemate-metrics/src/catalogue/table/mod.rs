//! The catalogue table, generated from the vLLM 0.32 wheel's metric definitions.

mod connectors;
mod core;
mod offload;

use super::MetricDef;

/// The engine label names every engine metric starts with.
const L: &[&str] = &["model_name", "engine"];

/// Every metric, in the anchors' order.
pub(super) fn all() -> impl Iterator<Item = &'static MetricDef> + Clone {
    core::METRICS
        .iter()
        .chain(offload::METRICS)
        .chain(connectors::METRICS)
}
