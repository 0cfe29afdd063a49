//! Integration tests: `sim run`'s library half.

mod util;

mod layering;
mod virtual_run;
