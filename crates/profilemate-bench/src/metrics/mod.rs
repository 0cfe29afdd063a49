//! Provides the metric math: vLLM-exact aggregates ([`calculate_metrics`]) and the figures
//! profilemate reports beyond vLLM ([`extras`]).

pub mod calculate;
pub mod connections;
pub mod extras;
pub mod goodput;
pub mod peaks;
pub mod stats;
pub mod summary;

pub use calculate::{
    BenchmarkMetrics, EmbedBenchmarkMetrics, calculate_embedding_metrics, calculate_metrics,
    output_len,
};
pub use extras::{ExtraMetrics, calculate_extras};
pub use goodput::Goodput;
pub use summary::{Summary, percentile_label};
