//! Defines [`PlanError`]: why a virtual run cannot start.

/// A virtual run that cannot start: bad workload settings, or engine settings the simulated
/// engine refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The workload cannot be built (bad flags, an unreadable dataset, …).
    #[error(transparent)]
    Bench(#[from] profilemate_bench::BenchError),
    /// The simulated engine refused its settings.
    #[error("invalid engine settings: {0}")]
    Engine(#[from] profilemate_sim::EngineConfigError),
    /// A closed-loop workload (`multi_turn`) asked of a prefill/decode disaggregated
    /// deployment, which hands out only scheduled requests.
    #[error(
        "--dataset-name multi_turn is not supported with prefill/decode disaggregation (--prefill-instances, --decode-instances) yet: run it colocated"
    )]
    ClosedLoopWithDisaggregation,
}
