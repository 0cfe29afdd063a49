//! Provides the result JSON: vLLM's keys in vLLM's order (only those vLLM writes for the chosen
//! options), then profilemate's extra keys, never renaming a vLLM one.
//!
//! Mirrors the `result` / `result_json` construction in `benchmark()` and `main_async()` of
//! vllm/benchmarks/serve.py, vLLM 0.32, including the `--save-detailed` pruning.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use super::pyjson::{py_float_repr, to_python_json};
use crate::metrics::{ExtraMetrics, Summary, percentile_label};
use crate::report::{Report, TaskMetrics};

/// Arrays vLLM drops without `--save-detailed`.
pub const DETAILED_KEYS: [&str; 7] = [
    "input_lens",
    "output_lens",
    "start_times",
    "ttfts",
    "itls",
    "generated_texts",
    "errors",
];

/// Arrays profilemate adds only with `--save-detailed`.
const EXTRA_DETAILED_KEYS: [&str; 6] = [
    "chunk_tokens",
    "ttfcs",
    "client_lags",
    "error_kinds",
    "session_ids",
    "turn_indices",
];

/// Sets a per-request array only with `--save-detailed` (the others are never built: a large
/// run's arrays cost more than all its statistics).
fn set_detailed(o: &mut Object, detailed: bool, key: &str, value: impl FnOnce() -> Value) {
    debug_assert!(DETAILED_KEYS.contains(&key) || EXTRA_DETAILED_KEYS.contains(&key));
    if detailed {
        o.set(key, value());
    }
}

/// A JSON object that keeps insertion order (Python dict semantics: re-setting keeps the slot).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object(pub Vec<(String, Value)>);

impl Object {
    /// Sets `key`, replacing in place if present.
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The two halves of a saved result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultJson {
    /// Exactly vLLM's keys.
    pub vllm: Object,
    /// profilemate's additions.
    pub extras: Object,
}

impl ResultJson {
    /// Builds the result for a report.
    pub fn new(r: &Report, save_detailed: bool) -> Self {
        let mut vllm = header(r);
        let body = match &r.metrics {
            TaskMetrics::Generation(m) => generation_body(r, m, save_detailed),
            TaskMetrics::Pooling(m) => pooling_body(r, m, save_detailed),
        };
        body.0.into_iter().for_each(|(k, v)| vllm.set(k, v));
        let extras = extras(r, &r.extras, save_detailed);
        Self { vllm, extras }
    }

    /// vLLM's keys followed by the extras, as one object.
    pub fn merged(&self) -> Object {
        let mut all = self.vllm.clone();
        self.extras
            .0
            .iter()
            .for_each(|(k, v)| all.set(k.clone(), v.clone()));
        all
    }

    /// The bytes `json.dump` would write.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_python_json(&self.merged())
    }
}

fn header(r: &Report) -> Object {
    let s = &r.settings;
    let mut o = Object::default();
    o.set("date", json!(r.date));
    o.set("endpoint_type", json!(s.backend.name()));
    o.set("backend", json!(s.backend.name()));
    o.set("label", json!(s.label));
    o.set("model_id", json!(s.model_id));
    o.set("tokenizer_id", json!(s.tokenizer_id));
    o.set("num_prompts", json!(s.num_prompts));
    s.metadata
        .iter()
        .for_each(|(k, v)| o.set(k.clone(), json!(v)));
    o.set(
        "request_rate",
        if s.request_rate.is_finite() {
            json!(s.request_rate)
        } else {
            json!("inf")
        },
    );
    o.set("burstiness", json!(s.burstiness));
    o.set("max_concurrency", json!(s.max_concurrency));
    if let Some(ramp) = s.ramp_up {
        let (start, end) = ramp.bounds();
        o.set("ramp_up_strategy", json!(ramp.name()));
        o.set("ramp_up_start_rps", json!(start));
        o.set("ramp_up_end_rps", json!(end));
    }
    o
}

fn generation_body(r: &Report, m: &crate::metrics::BenchmarkMetrics, detailed: bool) -> Object {
    let recs = &r.records;
    let mut o = Object::default();
    o.set("duration", json!(r.duration));
    o.set("completed", json!(m.completed));
    o.set("failed", json!(m.failed));
    o.set("total_input_tokens", json!(m.total_input));
    o.set("total_output_tokens", json!(m.total_output));
    o.set("request_throughput", json!(m.request_throughput));
    o.set(
        "request_goodput",
        if r.settings.goodput.is_set() {
            json!(m.request_goodput)
        } else {
            Value::Null
        },
    );
    o.set("output_throughput", json!(m.output_throughput));
    o.set("total_token_throughput", json!(m.total_token_throughput));
    set_detailed(&mut o, detailed, "input_lens", || {
        recs.iter().map(|x| x.prompt_len).collect()
    });
    set_detailed(&mut o, detailed, "output_lens", || {
        json!(m.actual_output_lens)
    });
    set_detailed(&mut o, detailed, "ttfts", || {
        recs.iter().map(|x| x.ttft).collect()
    });
    set_detailed(&mut o, detailed, "itls", || {
        recs.iter().map(|x| json!(x.itl)).collect()
    });
    o.set("latencies", recs.iter().map(|x| x.latency).collect());
    set_detailed(&mut o, detailed, "start_times", || {
        recs.iter().map(|x| x.start_time).collect()
    });
    o.set(
        "queue_times",
        recs.iter().map(|x| x.client_queue_time).collect(),
    );
    set_detailed(&mut o, detailed, "generated_texts", || {
        recs.iter().map(|x| x.generated_text.as_str()).collect()
    });
    set_detailed(&mut o, detailed, "errors", || {
        recs.iter().map(|x| x.error.as_str()).collect()
    });
    o.set("max_output_tokens_per_s", json!(m.max_output_tokens_per_s));
    o.set("max_concurrent_requests", json!(m.max_concurrent_requests));
    o.set("rtfx", json!(m.rtfx));
    tail(r, &mut o);
    o
}

fn pooling_body(r: &Report, m: &crate::metrics::EmbedBenchmarkMetrics, detailed: bool) -> Object {
    let recs = &r.records;
    let mut o = Object::default();
    o.set("duration", json!(r.duration));
    o.set("completed", json!(m.completed));
    o.set("total_input_tokens", json!(m.total_input));
    o.set("total_input_sequences", json!(m.total_input_sequences));
    o.set("request_throughput", json!(m.request_throughput));
    o.set(
        "input_sequence_throughput",
        json!(m.input_sequence_throughput),
    );
    o.set("total_token_throughput", json!(m.total_token_throughput));
    set_detailed(&mut o, detailed, "input_lens", || {
        recs.iter().map(|x| x.prompt_len).collect()
    });
    o.set("latencies", recs.iter().map(|x| x.latency).collect());
    o.set(
        "queue_times",
        recs.iter().map(|x| x.client_queue_time).collect(),
    );
    set_detailed(&mut o, detailed, "errors", || {
        recs.iter().map(|x| x.error.as_str()).collect()
    });
    tail(r, &mut o);
    o
}

/// Probe figures, ramp-up events, spec decode, then the statistics blocks.
fn tail(r: &Report, o: &mut Object) {
    if let Some(p) = &r.probe {
        o.set("probe_completed", json!(p.completed));
        o.set("probe_failed", json!(p.failed));
        o.set("probe_median_e2el_ms", json!(p.median_e2el_ms));
        o.set("probe_p99_e2el_ms", json!(p.p99_e2el_ms));
        o.set("probe_max_e2el_ms", json!(p.max_e2el_ms));
    }
    if !r.rps_change_events.is_empty() {
        o.set(
            "rps_change_events",
            r.rps_change_events
                .iter()
                .map(|e| json!({"rps": e.rps, "timestamp": e.timestamp}))
                .collect(),
        );
    }
    if let Some(s) = &r.spec_decode {
        o.set("spec_decode_acceptance_rate", json!(s.acceptance_rate));
        o.set("spec_decode_acceptance_length", json!(s.acceptance_length));
        o.set("spec_decode_num_drafts", json!(s.num_drafts));
        o.set("spec_decode_draft_tokens", json!(s.draft_tokens));
        o.set("spec_decode_accepted_tokens", json!(s.accepted_tokens));
        o.set(
            "spec_decode_per_position_acceptance_rates",
            json!(s.per_position_acceptance_rates),
        );
    }
    for block in r.metric_blocks() {
        summary_keys(o, block.metric.key(), &block.summary);
    }
}

/// `mean_/median_/std_/p<p>_<key>_ms`.
fn summary_keys(o: &mut Object, key: &str, s: &Summary) {
    o.set(format!("mean_{key}_ms"), json!(s.mean_ms));
    o.set(format!("median_{key}_ms"), json!(s.median_ms));
    o.set(format!("std_{key}_ms"), json!(s.std_ms));
    for (p, v) in &s.percentiles_ms {
        o.set(format!("p{}_{key}_ms", percentile_label(*p)), json!(v));
    }
}

fn extras(r: &Report, x: &ExtraMetrics, detailed: bool) -> Object {
    let mut o = Object::default();
    summary_keys(&mut o, "per_token_itl", &x.per_token_itl);
    o.set("mean_tokens_per_chunk", json!(x.mean_tokens_per_chunk));
    summary_keys(&mut o, "ttfc", &x.ttfc);
    summary_keys(&mut o, "client_lag", &x.client_lag);
    o.set("max_client_lag_ms", json!(x.max_client_lag_ms));
    o.set("client_fell_behind", json!(x.client_fell_behind()));
    o.set("error_counts", json!(x.error_counts));
    o.set("not_sent", json!(r.not_sent));
    o.set("interrupted", json!(r.interrupted));
    o.set("interrupted_requests", json!(r.interrupted_requests));
    if let Some(v) = &r.server {
        let mut server = json!({
            "tflops_per_gpu": v.tflops_per_gpu, "gbps_per_gpu": v.gbps_per_gpu,
            "mfu_pct": v.mfu_pct, "mbu_pct": v.mbu_pct,
            "prefix_cache_hit_rate": v.prefix_cache_hit_rate, "preemptions": v.preemptions,
            "prompt_tokens": v.prompt_tokens, "generation_tokens": v.generation_tokens,
        });
        if let (Some(reading), Value::Object(map)) = (v.reading(), &mut server) {
            map.insert("bound".into(), json!(reading.bound.name()));
            map.insert("arithmetic_intensity".into(), json!(reading.intensity));
            map.insert("ridge_point".into(), json!(reading.ridge));
            map.insert("reading".into(), json!(reading.to_string()));
        }
        o.set("server_metrics", server);
    }
    if let Some(t) = &r.virtual_timing {
        o.set("virtual_timing", t.clone());
    }
    if let Some(sc) = &r.server_scrapes {
        o.set(
            "server_scrapes",
            json!({
                "before": sc.before, "after": sc.after,
                "before_unix_s": sc.before_unix_s, "after_unix_s": sc.after_unix_s,
                "elapsed_s": sc.elapsed_s,
            }),
        );
    }
    if let Some(c) = &r.connections {
        o.set(
            "connections",
            json!({
                "warm": c.warm, "opened_before_run": c.opened_before_run,
                "opened_during_run": c.opened_during_run,
                "mean_connect_ms": c.mean_connect_ms, "p99_connect_ms": c.p99_connect_ms,
                "mean_connect_during_run_ms": c.mean_connect_during_run_ms,
            }),
        );
    }
    let recs = &r.records;
    set_detailed(&mut o, detailed, "chunk_tokens", || {
        recs.iter().map(|x| json!(x.chunk_tokens)).collect()
    });
    set_detailed(&mut o, detailed, "ttfcs", || {
        recs.iter().map(|x| json!(x.ttfc)).collect()
    });
    set_detailed(&mut o, detailed, "client_lags", || {
        recs.iter().map(|x| x.client_lag).collect()
    });
    set_detailed(&mut o, detailed, "error_kinds", || {
        recs.iter()
            .map(|x| json!(x.error_kind.map(|k| k.to_string())))
            .collect()
    });
    if let Some(s) = &r.sessions {
        o.set(
            "multi_turn",
            json!({
                "sessions": s.planned, "turns_per_session": s.turns_per_session,
                "started": s.started, "completed": s.completed,
                "ended_by_failure": s.ended_by_failure,
                "turns_skipped_after_failure": s.turns_skipped_after_failure,
            }),
        );
        let tag = |f: fn(&crate::workload::SessionTurn) -> usize| -> Value {
            recs.iter()
                .map(|x| json!(x.session.as_ref().map(f)))
                .collect()
        };
        set_detailed(&mut o, detailed, "session_ids", || tag(|t| t.session));
        set_detailed(&mut o, detailed, "turn_indices", || tag(|t| t.turn));
    }
    o
}

/// Python's `str(float)`, used in result file names (`inf`, `10.0`).
pub fn py_str_float(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else if x.is_nan() {
        "nan".into()
    } else {
        py_float_repr(x)
    }
}
