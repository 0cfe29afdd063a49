//! Integration tests: `sim run`'s library half.

mod util;

mod layering;
mod multi_turn;
mod virtual_run;
