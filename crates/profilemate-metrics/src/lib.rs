//! Prometheus metrics for LLM inference: the one layer that writes, reads and queries them.
#![deny(missing_docs)]

pub mod alias;
pub mod catalogue;
pub mod error;
pub mod http;
pub mod mfu;
pub mod model;
pub mod number;
pub mod offload;
pub mod parse;
pub mod query;
pub mod registry;
pub mod text;
