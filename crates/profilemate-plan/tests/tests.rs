//! Integration tests: `sim run`'s library half.

mod util;

mod data_parallel;
mod disaggregation;
mod front_end;
mod layering;
mod mixed_lengths;
mod multi_turn;
mod virtual_run;
