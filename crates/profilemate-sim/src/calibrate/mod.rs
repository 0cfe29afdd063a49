//! Calibrates the step time to a real deployment from its own `Iteration(N)` log lines.
//!
//! [`fit`] is the robust non-negative regression; [`features`] prices each logged iteration on
//! the roofline; [`observations`] reads a log into priced iterations and the time spent
//! outside them; [`StepTimeModel`] is the fitted model and [`CalibratedTimer`] plugs it into the
//! engine as a [`StepTimer`](crate::StepTimer).

pub mod features;
pub mod fit;
pub mod observations;
mod timer;

pub use features::{FEATURE_NAMES, Features, StepTimeModel};
pub use timer::CalibratedTimer;
