//! placeholder
pub mod config;
pub mod error;
pub mod metrics;
pub mod record;
pub mod schedule;
pub mod server_metrics;
pub mod tokenizer;
pub mod workload;
pub mod output;
pub mod report;
pub mod clock;
pub use record::{ErrorKind, RequestRecord, Seconds};
