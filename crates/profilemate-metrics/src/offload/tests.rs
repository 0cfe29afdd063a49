//! Payload and exporter behaviour, checked against vLLM's `OffloadingConnectorStats` semantics.

use super::*;
use crate::error::{ExportError, PayloadError};
use crate::parse::parse;
use crate::query::Matcher;
use crate::registry::{EngineLabels, Registry};

const LOAD_BYTES: &str = "vllm:kv_offload_load_bytes";
const LOAD_SIZE: &str = "vllm:kv_offload_load_size";
const HITS: &str = "vllm:kv_offload_tiering_chunk_hits";

fn sample_payload() -> OffloadStats {
    let mut s = OffloadStats::new();
    s.increase_counter(LOAD_BYTES, 1000_i64, &[]).unwrap();
    s.increase_counter(LOAD_BYTES, 24_i64, &[]).unwrap();
    s.increase_counter(HITS, 3_i64, &["1:fs"]).unwrap();
    s.set_gauge("vllm:kv_offload_cpu_cache_usage_perc", 0.25, &[])
        .unwrap();
    s.observe_histogram(LOAD_SIZE, 2e6, &[]).unwrap();
    s.observe_histogram(LOAD_SIZE, 30_000_000_i64, &[]).unwrap();
    s
}

#[test]
fn payload_serialises_to_the_python_shape_and_back() {
    let s = sample_payload();
    let json = s.to_json().unwrap();
    let want = r#"{"types":{"vllm:kv_offload_cpu_cache_usage_perc":"gauge","vllm:kv_offload_load_bytes":"counter","vllm:kv_offload_load_size":"histogram","vllm:kv_offload_tiering_chunk_hits":"counter"},"data":{"vllm:kv_offload_cpu_cache_usage_perc":{"[]":0.25},"vllm:kv_offload_load_bytes":{"[]":1024},"vllm:kv_offload_load_size":{"[]":[2000000.0,30000000]},"vllm:kv_offload_tiering_chunk_hits":{"[\"1:fs\"]":3}}}"#;
    assert_eq!(json, want);
    assert_eq!(OffloadStats::from_json(&json).unwrap(), s);
    let via_serde: OffloadStats =
        serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(via_serde, s);
}

#[test]
fn aggregate_sums_counters_keeps_latest_gauges_and_extends_histograms() {
    let mut a = sample_payload();
    let mut b = OffloadStats::new();
    b.increase_counter(LOAD_BYTES, 0.5, &[]).unwrap();
    b.set_gauge("vllm:kv_offload_cpu_cache_usage_perc", 0.75, &[])
        .unwrap();
    b.observe_histogram(LOAD_SIZE, 1_i64, &[]).unwrap();
    b.increase_counter(HITS, 1_i64, &["0:primary"]).unwrap();
    a.aggregate(&b).unwrap();
    let r = a.reduce();
    assert_eq!(r[LOAD_BYTES], Number::Float(1024.5));
    assert_eq!(
        r["vllm:kv_offload_cpu_cache_usage_perc"],
        Number::Float(0.75)
    );
    assert_eq!(r["vllm:kv_offload_load_size_count"], Number::Int(3));
    assert_eq!(
        r["vllm:kv_offload_load_size_sum"],
        Number::Float(32_000_001.0)
    );
    assert_eq!(
        r["vllm:kv_offload_tiering_chunk_hits:('1:fs',)"],
        Number::Int(3)
    );
    assert_eq!(
        r["vllm:kv_offload_tiering_chunk_hits:('0:primary',)"],
        Number::Int(1)
    );
    assert_eq!(r.len(), 6);
}

#[test]
fn conflicting_types_are_errors_and_change_nothing() {
    let mut a = sample_payload();
    let before = a.clone();
    let err = a.set_gauge(LOAD_BYTES, 1.0, &[]).unwrap_err();
    assert!(matches!(
        err,
        PayloadError::TypeConflict {
            existing: "counter",
            requested: "gauge",
            ..
        }
    ));
    let mut b = OffloadStats::new();
    b.increase_counter("vllm:kv_offload_store_bytes", 5_i64, &[])
        .unwrap();
    b.observe_histogram(LOAD_BYTES, 1.0, &[]).unwrap();
    assert!(a.aggregate(&b).is_err());
    assert_eq!(a, before);
}

#[test]
fn empty_reset_and_python_tuple_keys() {
    let mut s = sample_payload();
    assert!(!s.is_empty());
    s.reset();
    assert!(s.is_empty());
    assert!(s.reduce().is_empty());
    s.increase_counter("m", 1_i64, &["it's", "b"]).unwrap();
    assert_eq!(s.reduce().keys().next().unwrap(), r#"m:("it's", 'b')"#);
}

#[test]
fn malformed_payloads_are_typed_errors() {
    type IsExpected = fn(&PayloadError) -> bool;
    let cases: [(&str, IsExpected); 7] = [
        (r#"{"types":{"a":"summary"},"data":{}}"#, |e| {
            matches!(e, PayloadError::UnknownType { .. })
        }),
        (
            r#"{"types":{},"data":{"a":{"[]":1}}}"#,
            |e| matches!(e, PayloadError::UnknownKey(k) if k == "a"),
        ),
        (
            r#"{"types":{"a":"histogram"},"data":{"a":{"[]":1}}}"#,
            |e| matches!(e, PayloadError::ValueShape { .. }),
        ),
        (
            r#"{"types":{"a":"counter"},"data":{"a":{"[]":[1]}}}"#,
            |e| matches!(e, PayloadError::ValueShape { .. }),
        ),
        (r#"{"types":{"a":"counter"},"data":{"a":{"()":1}}}"#, |e| {
            matches!(e, PayloadError::LabelKey(_))
        }),
        (r#"{"types":{},"data":{},"extra":1}"#, |e| {
            matches!(e, PayloadError::Json(_))
        }),
        ("not json", |e| matches!(e, PayloadError::Json(_))),
    ];
    for (text, is_expected) in cases {
        let err = OffloadStats::from_json(text).unwrap_err();
        assert!(is_expected(&err), "{text}: {err}");
    }
    assert!(OffloadStats::from_json("{}").unwrap().is_empty());
}

fn value(reg: &Registry, name: &str, matchers: &[Matcher<'_>]) -> Option<f64> {
    parse(&reg.render()).unwrap().value(name, matchers)
}

#[test]
fn cpu_exporter_keeps_deprecated_metrics_in_step() {
    let reg = Registry::new();
    let exporter =
        OffloadExporter::new(&reg, EngineLabels::new("m", [0, 1]), OffloadSpec::Cpu).unwrap();
    let mut s = sample_payload();
    s.increase_counter("vllm:kv_offload_store_bytes", 400_i64, &[])
        .unwrap();
    s.observe_histogram("vllm:kv_offload_store_size", 5e6, &[])
        .unwrap();
    s.aggregate(&OffloadStats::new()).unwrap();
    let tiering_free: OffloadStats = {
        let mut t = s.clone();
        t.data.remove(HITS);
        t
    };
    exporter.observe(&tiering_free, 1).unwrap();
    let e1 = Matcher::eq("engine", "1");
    let load = Matcher::eq("transfer_type", "CPU_to_GPU");
    let store = Matcher::eq("transfer_type", "GPU_to_CPU");
    assert_eq!(
        value(&reg, "vllm:kv_offload_load_bytes_total", &[e1]),
        Some(1024.0)
    );
    assert_eq!(
        value(&reg, "vllm:kv_offload_total_bytes_total", &[e1, load]),
        Some(1024.0)
    );
    assert_eq!(
        value(&reg, "vllm:kv_offload_total_bytes_total", &[e1, store]),
        Some(400.0)
    );
    assert_eq!(
        value(&reg, "vllm:kv_offload_size_count", &[e1, load]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &reg,
            "vllm:kv_offload_size_bucket",
            &[e1, load, Matcher::eq("le", "5e+06")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&reg, "vllm:kv_offload_size_sum", &[e1, store]),
        Some(5e6)
    );
    assert_eq!(
        value(&reg, "vllm:kv_offload_cpu_cache_usage_perc", &[e1]),
        Some(0.25)
    );
    let e0 = Matcher::eq("engine", "0");
    assert_eq!(
        value(&reg, "vllm:kv_offload_total_time_total", &[e0, store]),
        Some(0.0),
        "pre-created"
    );
    let err = exporter.observe(&s, 1).unwrap_err();
    assert!(
        matches!(err, ExportError::UnknownMetric(m) if m == HITS),
        "CPU spec has no tiering metrics"
    );
    assert_eq!(
        value(&reg, "vllm:kv_offload_load_bytes_total", &[e1]),
        Some(1024.0),
        "unchanged"
    );
}

#[test]
fn tiering_exporter_labels_by_tier_and_other_specs_skip_deprecated_names() {
    let reg = Registry::new();
    let exporter =
        OffloadExporter::new(&reg, EngineLabels::new("m", [0]), OffloadSpec::Tiering).unwrap();
    exporter.observe(&sample_payload(), 0).unwrap();
    let tier = Matcher::eq("tier", "1:fs");
    assert_eq!(
        value(&reg, "vllm:kv_offload_tiering_chunk_hits_total", &[tier]),
        Some(3.0)
    );
    assert!(matches!(
        exporter.observe(&sample_payload(), 7),
        Err(ExportError::UnknownEngine(7))
    ));
    let mut wrong = OffloadStats::new();
    wrong.set_gauge(LOAD_BYTES, 1.0, &[]).unwrap();
    assert!(matches!(
        exporter.observe(&wrong, 0),
        Err(ExportError::TypeMismatch { .. })
    ));
    let mut unlabelled = OffloadStats::new();
    unlabelled.increase_counter(HITS, 1_i64, &[]).unwrap();
    assert!(matches!(
        exporter.observe(&unlabelled, 0),
        Err(ExportError::Registry(_))
    ));

    let other = Registry::new();
    let plain =
        OffloadExporter::new(&other, EngineLabels::new("m", [0]), OffloadSpec::Other).unwrap();
    let mut flat = OffloadStats::new();
    flat.increase_counter(LOAD_BYTES, 10_i64, &[]).unwrap();
    plain.observe(&flat, 0).unwrap();
    let scrape = parse(&other.render()).unwrap();
    assert_eq!(
        scrape.value("vllm:kv_offload_load_bytes_total", &[]),
        Some(10.0)
    );
    assert!(scrape.family("vllm:kv_offload_total_bytes_total").is_none());
}
