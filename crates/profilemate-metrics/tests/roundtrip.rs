//! What the writer renders, the parser reads back identically.

use profilemate_metrics::catalogue::{self, RegisteredFamily};
use profilemate_metrics::model::MetricType;
use profilemate_metrics::parse::{Format, parse, parse_with};
use profilemate_metrics::registry::{EngineLabels, Registry};
use profilemate_metrics::text::render;

/// Label values that need escaping or confuse naive parsers.
const AWKWARD: [&str; 6] = [
    "}",
    "a,b",
    "say \"hi\"",
    "back\\slash",
    "two\nlines",
    "ünïcode ✓",
];

fn filled_catalogue_registry() -> Registry {
    let reg = Registry::new();
    for (i, def) in catalogue::all().enumerate() {
        let family = def
            .register(&reg, &catalogue::BucketConfig::new(8192))
            .unwrap();
        for engine in 0..2 {
            let e = engine.to_string();
            let mut values: Vec<&str> = def
                .labels
                .iter()
                .map(|_| AWKWARD[(i + engine) % AWKWARD.len()])
                .collect();
            if let Some(pos) = def.labels.iter().position(|l| *l == "engine") {
                values[pos] = &e;
            }
            let x = (i * 7 + engine) as f64;
            match &family {
                RegisteredFamily::Counter(f) => f.labels(&values).unwrap().inc_by(x * 1e9 + 0.25),
                RegisteredFamily::Gauge(f) => f.labels(&values).unwrap().set(-x / 3.0),
                RegisteredFamily::Histogram(f) => {
                    let h = f.labels(&values).unwrap();
                    [x, x * 1e3, x * 1e7, f64::INFINITY]
                        .into_iter()
                        .for_each(|v| h.observe(v));
                }
            }
        }
    }
    reg
}

#[test]
fn the_whole_catalogue_round_trips_through_text() {
    let reg = filled_catalogue_registry();
    let collected = reg.collect();
    let text = render(&collected);
    let parsed = parse(&text).unwrap();
    assert_eq!(parsed, collected);
    assert_eq!(render(&parsed), text);
    let histograms = parsed
        .families
        .iter()
        .filter(|f| f.kind == MetricType::Histogram)
        .count();
    assert!(histograms > 30, "{histograms} histogram families");
}

#[test]
fn awkward_label_values_survive() {
    let reg = Registry::without_created_series();
    let gauges = reg
        .gauge("vllm:g", "Help with \\ and\nnewline.", &["v"])
        .unwrap();
    for (i, v) in AWKWARD.iter().enumerate() {
        gauges.labels(&[v]).unwrap().set(i as f64);
    }
    let parsed = parse(&reg.render()).unwrap();
    assert_eq!(
        parsed.families[0].help.as_deref(),
        Some("Help with \\ and\nnewline.")
    );
    for (i, v) in AWKWARD.iter().enumerate() {
        let m = [profilemate_metrics::query::Matcher::eq("v", v)];
        assert_eq!(parsed.value("vllm:g", &m), Some(i as f64), "{v:?}");
    }
}

#[test]
fn specials_round_trip() {
    let reg = Registry::without_created_series();
    let g = reg.gauge("g", "", &["k"]).unwrap();
    for (k, v) in [
        ("inf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
        ("nan", f64::NAN),
        ("tiny", 5e-324),
    ] {
        g.labels(&[k]).unwrap().set(v);
    }
    let text = reg.render();
    assert!(
        text.contains("g{k=\"inf\"} +Inf\n") && text.contains("g{k=\"nan\"} NaN\n"),
        "{text}"
    );
    let parsed = parse(&text).unwrap();
    assert!(
        parsed
            .value("g", &[profilemate_metrics::query::Matcher::eq("k", "nan")])
            .unwrap()
            .is_nan()
    );
    assert_eq!(
        parsed.value("g", &[profilemate_metrics::query::Matcher::eq("k", "tiny")]),
        Some(5e-324)
    );
    assert_eq!(render(&parsed), text);
}

#[test]
fn openmetrics_text_reads_like_its_0_0_4_twin() {
    let om = "# TYPE vllm:x counter\n# HELP vllm:x Doc.\nvllm:x_total{engine=\"0\"} 5.0\n\
              vllm:x_created{engine=\"0\"} 1.5e+09\n# TYPE vllm:h histogram\n\
              vllm:h_bucket{le=\"1.0\"} 1 # {trace_id=\"t\"} 0.5 1.0\nvllm:h_bucket{le=\"+Inf\"} 2\n\
              vllm:h_count 2\nvllm:h_sum 3.5\n# EOF\n";
    let classic = "# HELP vllm:x_total Doc.\n# TYPE vllm:x_total counter\nvllm:x_total{engine=\"0\"} 5.0\n\
                   # HELP vllm:x_created Doc.\n# TYPE vllm:x_created gauge\nvllm:x_created{engine=\"0\"} 1.5e+09\n\
                   # TYPE vllm:h histogram\nvllm:h_bucket{le=\"1.0\"} 1.0\nvllm:h_bucket{le=\"+Inf\"} 2.0\n\
                   vllm:h_count 2.0\nvllm:h_sum 3.5\n";
    let from_om = parse_with(om, Format::OpenMetrics).unwrap();
    assert_eq!(render(&from_om), classic);
    let exemplar = from_om.families[1].samples[0].exemplar.as_ref().unwrap();
    assert_eq!(exemplar.labels.get("trace_id"), Some("t"));
    let mut from_classic = parse(classic).unwrap();
    from_classic.families[1].samples[0].exemplar = Some(exemplar.clone());
    assert_eq!(from_om, from_classic);
}

#[test]
fn per_engine_handles_bind_model_and_engine_labels() {
    let reg = Registry::without_created_series();
    let fam = reg
        .counter("vllm:prompt_tokens", "P.", &EngineLabels::NAMES)
        .unwrap();
    let handles =
        profilemate_metrics::registry::per_engine(&fam, &EngineLabels::new("m", [0, 3]), &[])
            .unwrap();
    handles.get(3).unwrap().inc_by(7.0);
    assert!(handles.get(1).is_none());
    let text = reg.render();
    assert!(
        text.contains("vllm:prompt_tokens_total{engine=\"3\",model_name=\"m\"} 7.0\n"),
        "{text}"
    );
    assert!(
        text.contains("vllm:prompt_tokens_total{engine=\"0\",model_name=\"m\"} 0.0\n"),
        "{text}"
    );
}
