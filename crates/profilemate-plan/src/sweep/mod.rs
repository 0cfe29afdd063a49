//! `bench sweep serve`: grids of server and bench parameters run against real servers, with
//! vLLM 0.32's parameter files, command rewriting and result layout.

pub mod capacity;
pub mod layout;
pub mod params;
pub mod record;
pub mod run;
pub mod server;
pub mod workload;
