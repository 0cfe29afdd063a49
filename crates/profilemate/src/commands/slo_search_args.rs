//! The `--slo` and `--search-*` flags `bench sweep serve` and `sim sweep` share: one definition,
//! one search ([`profilemate_plan::search`]).

use clap::{Args, ValueEnum};
use profilemate_plan::search::SearchSettings;
use profilemate_plan::slo::Slo;
use profilemate_plan::sweep::capacity::LoadVariable;

/// The load a `--slo` search varies.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SearchVar {
    /// `--request-rate` (requests/s).
    RequestRate,
    /// `--max-concurrency`.
    MaxConcurrency,
}

/// `--slo` and the search's bounds.
#[derive(Debug, Clone, Args)]
pub(crate) struct SloSearchArgs {
    /// An SLO every run must meet, e.g. ttft_p99_ms:500 (repeat for several; any latency
    /// bench reports: ttft, tpot, itl, e2el × mean, median, std, pNN). With any, each
    /// combination's highest load meeting them all is searched for.
    #[arg(long = "slo", value_name = "METRIC_STAT_ms:LIMIT")]
    pub(crate) slos: Vec<Slo>,
    /// The load the search varies.
    #[arg(long, value_enum, default_value = "request-rate")]
    pub(crate) search_var: SearchVar,
    /// The first load the search probes (default 1; `sim sweep` starts a request-rate search
    /// at 0.7 × the throughput the engine reaches with every request at once, and stops at
    /// 1.05 × it, unless this or --search-max is given).
    #[arg(long)]
    pub(crate) search_start: Option<f64>,
    /// The lowest load worth probing.
    #[arg(long, default_value_t = 0.1)]
    pub(crate) search_min: f64,
    /// The highest load probed (default 1024).
    #[arg(long)]
    pub(crate) search_max: Option<f64>,
    /// Stop when the failing load is within this fraction above the passing one.
    #[arg(long, default_value_t = 0.05)]
    pub(crate) search_tolerance: f64,
    /// The most probes per combination.
    #[arg(long, default_value_t = 20)]
    pub(crate) search_max_probes: usize,
}

impl SloSearchArgs {
    /// The load variable.
    pub(crate) fn variable(&self) -> LoadVariable {
        match self.search_var {
            SearchVar::RequestRate => LoadVariable::RequestRate,
            SearchVar::MaxConcurrency => LoadVariable::MaxConcurrency,
        }
    }

    /// The checked search settings.
    pub(crate) fn settings(&self) -> anyhow::Result<SearchSettings> {
        let search = SearchSettings {
            start: self.search_start.unwrap_or(1.0),
            min: self.search_min,
            max: self.search_max.unwrap_or(1024.0),
            tolerance: self.search_tolerance,
            max_probes: self.search_max_probes,
        };
        search.validate()?;
        Ok(search)
    }

    /// Whether the user gave the search's start or maximum (else a simulated sweep picks them).
    pub(crate) fn bounds_given(&self) -> bool {
        self.search_start.is_some() || self.search_max.is_some()
    }

    /// The SLOs as text, joined by `, `.
    pub(crate) fn describe(&self) -> String {
        self.slos
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
