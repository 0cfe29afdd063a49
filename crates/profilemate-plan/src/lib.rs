//! Capacity planning above the load generator and the engine: which load a deployment serves
//! within its SLOs, and which deployment to pick.
//!
//! - [`virtual_run`]: a `bench serve` workload (`profilemate-bench`) driven through the simulated
//!   vLLM engine (`profilemate-sim`) in virtual time (`sim run`);
//! - [`search`]: the highest load that meets every [`slo`], the same code for a real server and
//!   for the simulated engine; [`staged`] runs it on short probes first and confirms at full
//!   length near their answer;
//! - [`sweep`]: grids of server and bench parameters against real servers, laid out as vLLM
//!   0.32's `vllm bench sweep` lays them out.
//!
//! `profilemate-bench` does not depend on `profilemate-sim`: this crate is where the two meet.

#![deny(missing_docs)]

pub mod early_stop;
pub mod error;
pub mod recommend;
pub mod search;
pub mod slo;
pub mod staged;
pub mod sweep;
pub mod virtual_run;

pub use error::PlanError;
