//! The shared rules' [`Signals`] from a scrape window's figures.

use super::WindowFigures;
use crate::findings::{KvSignal, PrefixSignal, QueueSignal, Signals, SpecSignal, UtilSignal};

/// The signals of a window (its all-engines figures).
pub(super) fn of(f: &WindowFigures) -> Signals {
    Signals {
        queue: queue(f),
        max_num_seqs: None,
        kv_usage: f.at_after.kv_cache_usage_pct.map(|pct| KvSignal {
            pct,
            how: "at the second scrape:",
        }),
        preemptions: f.preemptions.max(0.0) as u64,
        preemption_rate: (f.requests_finished > 0.0).then(|| {
            (
                f.preemptions * 1000.0 / f.requests_finished,
                "finished requests",
            )
        }),
        prefix_cache: f.prefix_cache.as_ref().and_then(|p| {
            Some(PrefixSignal {
                hit_rate: p.hit_rate?,
                queried_tokens: Some(p.queries),
            })
        }),
        utilization: f.utilization.as_ref().map(|u| UtilSignal {
            mfu_pct: u.mfu_pct,
            mbu_pct: u.mbu_pct,
            tflops_per_gpu: u.tflops_per_gpu,
            gbps_per_gpu: u.gbps_per_gpu,
            intensity: u.arithmetic_intensity,
            ridge_point: u.ridge_point,
            bound: u.bound,
        }),
        spec_decode: f.spec_decode.as_ref().map(|s| SpecSignal {
            acceptance_rate: s.acceptance_rate,
            drafted: s.draft_tokens,
            mean_acceptance_length: s.mean_acceptance_length,
        }),
    }
}

/// The share of finished requests' time spent queued: Σqueue time / Σe2e latency.
fn queue(f: &WindowFigures) -> Option<QueueSignal> {
    let (q, e2e) = (f.latency("queue")?, f.latency("e2e")?);
    let (q_mean, e2e_mean) = (q.mean_s?, e2e.mean_s?);
    if e2e_mean <= 0.0 {
        return None;
    }
    let share = (q_mean * q.count) / (e2e_mean * e2e.count);
    Some(QueueSignal {
        share,
        measured: format!(
            "requests spent {:.0}% of their time queued (mean queue {:.1} ms, p99 {:.1} ms; Waiting {:.0}, Running {:.0} at the second scrape)",
            share * 100.0,
            q_mean * 1000.0,
            q.p99_s.unwrap_or(f64::NAN) * 1000.0,
            f.at_after.waiting.unwrap_or(0.0),
            f.at_after.running.unwrap_or(0.0),
        ),
        running_peak: None,
    })
}
