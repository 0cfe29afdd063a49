//! `bench sweep serve`: grids of server and bench parameters run against real servers, with
//! vLLM 0.32's parameter files, command rewriting and result layout; and the data behind
//! `bench sweep plot` ([`figures`]) and `plot_pareto` ([`pareto`]).

pub mod capacity;
pub mod figures;
pub mod layout;
pub mod params;
pub mod pareto;
pub mod record;
pub mod run;
pub mod server;
pub mod workload;
