//! Integration tests of the server: the API through `router(state).oneshot`, and real HTTP on
//! `127.0.0.1:0` for streaming, faults, logs and the fixed-timing schedule.

mod api;
mod bodies;
mod data_parallel;
mod faults;
mod hardening;
mod logs;
mod observability;
mod streaming;
mod util;
