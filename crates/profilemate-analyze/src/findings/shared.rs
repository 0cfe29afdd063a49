//! The rules any input can feed, reading [`Signals`]: queueing, KV pressure, utilization and
//! roofline bound, prefix-cache hits, speculative decoding.

use super::{Signals, finding, pct};
use crate::Finding;

/// The shared rules.
pub(super) const RULES: [fn(&Signals) -> Option<Finding>; 6] = [
    queue_pressure,
    kv_pressure,
    low_utilization,
    roofline_bound,
    low_prefix_hits,
    spec_decode,
];

/// Below this hit rate the prefix cache is said to rarely hit.
const LOW_PREFIX_HIT_RATE: f64 = 0.1;

fn queue_pressure(s: &Signals) -> Option<Finding> {
    let q = s.queue.as_ref().filter(|q| q.share >= 0.2)?;
    let evidence = match q.running_peak {
        Some(peak) => format!("{} with Running peaking at {peak:.0}", q.measured),
        None => q.measured.clone(),
    };
    let seq_full = s
        .max_num_seqs
        .zip(q.running_peak)
        .is_some_and(|(n, peak)| peak >= n as f64);
    let fix = if seq_full {
        "the max_num_seqs limit is reached: raise max_num_seqs if the KV cache allows, or add replicas"
    } else if s.kv_usage.as_ref().is_some_and(|kv| kv.pct >= 90.0) {
        "the KV cache is full: fp8 KV cache, higher --gpu-memory-utilization, or more GPUs"
    } else {
        "the server cannot keep up with the arrival rate: add capacity (replicas) or lower the rate"
    };
    Some(finding(
        "queue",
        0.5 + 0.45 * q.share,
        "requests queue",
        evidence,
        fix,
    ))
}

fn kv_pressure(s: &Signals) -> Option<Finding> {
    let (pct_used, how) = s
        .kv_usage
        .as_ref()
        .map_or((0.0, "peaked at"), |k| (k.pct, k.how));
    let preemptions = s.preemptions;
    if preemptions == 0 && pct_used < 90.0 {
        return None;
    }
    let mut evidence = format!("KV cache usage {how} {pct_used:.1}%");
    if preemptions > 0 {
        evidence += &format!(", {preemptions} preemptions");
        if let Some((rate, per)) = s.preemption_rate {
            evidence += &format!(" ({rate:.1} per 1000 {per})");
        }
    }
    Some(finding(
        "kv-pressure",
        if preemptions > 0 { 0.95 } else { 0.55 },
        if preemptions > 0 {
            "preemptions: the KV cache runs out"
        } else {
            "KV cache nearly full"
        },
        evidence,
        "use --kv-cache-dtype fp8, raise --gpu-memory-utilization, lower max_num_seqs or \
         max_model_len, or add tensor parallelism for more KV memory",
    ))
}

/// MFU under 5% and MBU under 20%: the hardware mostly waits.
fn is_low(mfu: f64, mbu: f64) -> bool {
    mfu < 5.0 && mbu < 20.0
}

fn low_utilization(s: &Signals) -> Option<Finding> {
    let u = s.utilization.as_ref()?;
    let (mfu, mbu) = (u.mfu_pct?, u.mbu_pct?);
    if !is_low(mfu, mbu) {
        return None;
    }
    Some(finding(
        "low-utilization",
        0.45,
        "hardware underused",
        format!(
            "MFU {mfu:.1}%, MBU {mbu:.1}% ({:.1} TF/s, {:.0} GB/s per GPU){}",
            u.tflops_per_gpu.unwrap_or(0.0),
            u.gbps_per_gpu.unwrap_or(0.0),
            u.bound.map(|b| format!(", {b}-bound")).unwrap_or_default()
        ),
        "batch more: more concurrent requests or a higher max_num_seqs; fewer GPUs per replica \
         if the model fits",
    ))
}

/// What bounds a loaded GPU: the work's FLOP/byte against the ridge point, with MBU (decode,
/// memory-bound) or MFU (prefill, compute-bound) saying how close to the roof it runs.
fn roofline_bound(s: &Signals) -> Option<Finding> {
    let u = s.utilization.as_ref()?;
    let (mfu, mbu) = (u.mfu_pct?, u.mbu_pct?);
    let (intensity, ridge, bound) = (u.intensity?, u.ridge_point?, u.bound?);
    if is_low(mfu, mbu) {
        return None;
    }
    let evidence = format!(
        "{intensity:.0} FLOP/byte against the GPU's ridge point of {ridge:.0}: MBU {mbu:.0}%, MFU {mfu:.0}%"
    );
    Some(if bound == "memory" {
        finding(
            "memory-bound",
            0.3 + 0.4 * (mbu / 100.0).min(1.0),
            "decode-bound: steps read weights and KV (memory-bound)",
            evidence,
            "larger decode batches amortize each weight read: more concurrent requests, a higher \
             max_num_seqs, an fp8 KV cache; speculative decoding trades spare FLOPs for fewer steps",
        )
    } else {
        finding(
            "compute-bound",
            0.3 + 0.4 * (mfu / 100.0).min(1.0),
            "prefill-bound: steps are matmuls (compute-bound)",
            evidence,
            "cut computed prompt tokens (prefix caching, shorter prompts) or add GPUs; \
             prefill/decode disaggregation keeps decodes off these steps",
        )
    })
}

fn low_prefix_hits(s: &Signals) -> Option<Finding> {
    let p = s.prefix_cache.as_ref()?;
    if p.hit_rate >= LOW_PREFIX_HIT_RATE || p.queried_tokens.is_some_and(|q| q <= 0.0) {
        return None;
    }
    let queried = p
        .queried_tokens
        .map(|q| format!(" of {q:.0} prompt tokens looked up"))
        .unwrap_or_default();
    Some(finding(
        "low-prefix-hits",
        0.2,
        "prefix cache rarely hits",
        format!("prefix-cache hit rate {}{queried}", pct(p.hit_rate)),
        "if prompts share a prefix (system prompt, few-shot examples), put it first and keep it \
         byte-identical; with unique prompts the cache cannot help",
    ))
}

fn spec_decode(s: &Signals) -> Option<Finding> {
    let sd = s
        .spec_decode
        .as_ref()
        .filter(|sd| sd.acceptance_rate < 0.5)?;
    Some(finding(
        "spec-decode",
        0.5,
        "speculative drafts mostly rejected",
        format!(
            "{} of {:.0} drafted tokens accepted (mean acceptance length {:.2})",
            pct(sd.acceptance_rate),
            sd.drafted,
            sd.mean_acceptance_length.unwrap_or(0.0)
        ),
        "lower num_speculative_tokens or use a draft model closer to the target",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{PrefixSignal, QueueSignal, UtilSignal, from_signals};

    fn util(mfu: f64, mbu: f64, intensity: f64) -> UtilSignal {
        UtilSignal {
            mfu_pct: Some(mfu),
            mbu_pct: Some(mbu),
            tflops_per_gpu: Some(mfu * 9.89),
            gbps_per_gpu: Some(mbu * 33.5),
            intensity: Some(intensity),
            ridge_point: Some(295.0),
            bound: Some(if intensity < 295.0 {
                "memory"
            } else {
                "compute"
            }),
        }
    }

    #[test]
    fn loaded_gpus_read_decode_or_prefill_bound_and_idle_ones_underused() {
        let mut s = Signals {
            utilization: Some(util(9.0, 72.0, 37.0)),
            ..Signals::default()
        };
        let ids = |s: &Signals| from_signals(s).iter().map(|f| f.id).collect::<Vec<_>>();
        assert_eq!(ids(&s), ["memory-bound"]);
        s.utilization = Some(util(61.0, 30.0, 600.0));
        assert_eq!(ids(&s), ["compute-bound"]);
        s.utilization = Some(util(1.0, 3.0, 20.0));
        assert_eq!(ids(&s), ["low-utilization"]);
    }

    #[test]
    fn queue_fix_names_the_limit_that_is_reached() {
        let s = Signals {
            queue: Some(QueueSignal {
                share: 0.4,
                measured: "40% of request time queued".into(),
                running_peak: Some(8.0),
            }),
            max_num_seqs: Some(8),
            ..Signals::default()
        };
        let f = &from_signals(&s)[0];
        assert_eq!(f.id, "queue");
        assert!((f.score - 0.68).abs() < 1e-12);
        assert!(
            f.suggestion.contains("max_num_seqs limit"),
            "{}",
            f.suggestion
        );
        assert!(
            f.evidence.ends_with("with Running peaking at 8"),
            "{}",
            f.evidence
        );
    }

    #[test]
    fn prefix_hits_matter_only_when_looked_up() {
        let with = |hit_rate, queried| Signals {
            prefix_cache: Some(PrefixSignal {
                hit_rate,
                queried_tokens: queried,
            }),
            ..Signals::default()
        };
        assert_eq!(
            from_signals(&with(0.02, Some(5126.0)))[0].id,
            "low-prefix-hits"
        );
        assert!(from_signals(&with(0.5, Some(5126.0))).is_empty());
        assert!(from_signals(&with(0.0, Some(0.0))).is_empty());
    }
}
