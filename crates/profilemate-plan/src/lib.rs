//! Capacity planning: which load a deployment serves within its SLOs, and which deployment to
//! pick. [`search`] finds the highest load that meets every [`slo`] (the same code for a real
//! server and for the simulated engine); [`sweep`] runs grids of server and bench parameters
//! against real servers, laid out as vLLM 0.32's `vllm bench sweep` lays them out.

pub mod search;
pub mod slo;
pub mod sweep;
