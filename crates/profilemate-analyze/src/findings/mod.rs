//! Provides [`findings`]: a short ranked list of what limits the deployment, in plain words,
//! each with the evidence read from the input and a change to try.
//!
//! The rules and their thresholds are heuristics of ours (not vLLM's); each finding carries a
//! score in 0-1 and the list is sorted by it. Rules that any input can feed (queueing, KV
//! pressure, utilization, prefix cache, speculative decoding) read a small [`Signals`] struct,
//! which a log summary and a scrape window both fill; the rest read the log summary.

mod log_rules;
mod shared;
mod signals;

use serde::Serialize;

pub use signals::{KvSignal, PrefixSignal, QueueSignal, Signals, SpecSignal, UtilSignal};

use crate::summary::LogSummary;

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// A stable identifier (`decode-bound`, `queue`, …).
    pub id: &'static str,
    /// Rank score, 0-1 (higher first).
    pub score: f64,
    /// What it is, in a few words.
    pub title: String,
    /// The figures behind it.
    pub evidence: String,
    /// What to change.
    pub suggestion: String,
}

/// At most this many findings are reported.
const MAX_FINDINGS: usize = 8;

/// The findings for a log summary, most important first.
pub fn findings(summary: &LogSummary) -> Vec<Finding> {
    let mut out: Vec<Finding> = log_rules::RULES
        .iter()
        .filter_map(|rule| rule(summary, &summary.total))
        .collect();
    out.extend(signal_findings(&Signals::from_log(summary)));
    rank(out)
}

/// The findings the shared rules draw from `signals` alone (as for a scrape window), ranked.
pub fn from_signals(signals: &Signals) -> Vec<Finding> {
    rank(signal_findings(signals))
}

fn signal_findings(signals: &Signals) -> Vec<Finding> {
    shared::RULES
        .iter()
        .filter_map(|rule| rule(signals))
        .collect()
}

fn rank(mut out: Vec<Finding>) -> Vec<Finding> {
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(MAX_FINDINGS);
    out
}

fn finding(id: &'static str, score: f64, title: &str, evidence: String, fix: &str) -> Finding {
    Finding {
        id,
        score: score.clamp(0.0, 1.0),
        title: title.to_owned(),
        evidence,
        suggestion: fix.to_owned(),
    }
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}
