//! Capacity planning above the load generator and the engine: a `bench serve` workload
//! (`profilemate-bench`) driven through the simulated vLLM engine (`profilemate-sim`) in
//! virtual time ([`virtual_run`], `sim run`).
//!
//! `profilemate-bench` does not depend on `profilemate-sim`: this crate is where the two meet.

#![deny(missing_docs)]

pub mod error;
pub mod virtual_run;

pub use error::PlanError;
