//! Calibrates the step time to a real deployment from its own `Iteration(N)` log lines.
//!
//! [`fit`] is the robust non-negative regression; [`features`] prices each logged iteration on
//! the roofline; [`shapes`] rebuilds each iteration's per-request shape from the log's counts;
//! [`step_fit`] fits the model's coefficients to them; [`observations`] reads a log into priced iterations and the time spent
//! outside them; [`StepTimeModel`] is the fitted model and [`CalibratedTimer`] plugs it into the
//! engine as a [`StepTimer`](crate::StepTimer).

pub mod features;
pub mod fit;
pub mod observations;
pub mod shapes;
pub mod step_fit;
mod timer;

pub use features::{FEATURE_NAMES, Features, NUM_FEATURES, StepTimeModel};
pub use timer::CalibratedTimer;
