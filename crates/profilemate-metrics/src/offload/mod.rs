//! The KV-offload connector's stats payload and its Prometheus exporter.

mod exporter;
mod json;
mod number;
mod payload;

pub use exporter::{OffloadExporter, OffloadSpec};
pub use number::Number;
pub use payload::{LabelValues, OffloadStats, StatKind, StatValue};

#[cfg(test)]
mod tests;
