//! Property tests: the parser never panics, rendered registries always parse back, floats
//! round-trip through their text form, payload JSON never panics.

use profilemate_metrics::number::{go_float, parse_go_float};
use profilemate_metrics::offload::OffloadStats;
use profilemate_metrics::parse::{Format, parse, parse_lenient, parse_with};
use profilemate_metrics::query::{histogram_increase, total_increase};
use profilemate_metrics::registry::Registry;
use profilemate_metrics::spec_decode::spec_decode_stats;
use profilemate_metrics::text::render;
use proptest::prelude::*;

/// Fragments that exercise every branch of the lexer when glued together at random.
fn scrape_like() -> impl Strategy<Value = String> {
    const FIXED: &[&str] = &[
        "vllm:x",
        "_total",
        "_bucket",
        "_created",
        "_sum",
        "{",
        "}",
        "\"",
        "\\",
        "=",
        ",",
        " ",
        "\t",
        "\n",
        "\r",
        "#",
        "# TYPE ",
        "# HELP ",
        "# UNIT ",
        "# EOF\n",
        "counter",
        "gauge",
        "histogram",
        "le",
        "1e+06",
        "NaN",
        "+Inf",
        "-1.5",
        "17",
        "é",
    ];
    let fragment = prop_oneof![
        prop::sample::select(FIXED).prop_map(str::to_owned),
        "[a-z_:]{1,4}",
        "[0-9.e+-]{1,5}",
    ];
    prop::collection::vec(fragment, 0..80).prop_map(|parts| parts.concat())
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,8}", "[\"\\\\\n},= a]{0,6}"]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC*|(?s).{0,200}") {
        let _ = parse_with(&text, Format::Prometheus);
        let _ = parse_with(&text, Format::OpenMetrics);
    }

    #[test]
    fn parser_never_panics_on_scrape_like_text(text in scrape_like()) {
        let _ = parse_with(&text, Format::OpenMetrics);
        if let Ok(scrape) = parse_with(&text, Format::Prometheus) {
            // Whatever parses re-renders into text that parses again.
            let again = parse(&render(&scrape));
            prop_assert!(again.is_ok(), "{:?} re-rendered badly: {:?}", text, again);
            prop_assert_eq!(again.unwrap().samples().count(), scrape.samples().count());
        }
    }

    #[test]
    fn lenient_reader_and_window_queries_never_panic(
        a in prop_oneof!["\\PC*|(?s).{0,200}", scrape_like()],
        b in scrape_like(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let lossy = String::from_utf8_lossy(&bytes);
        for text in [a.as_str(), b.as_str(), &lossy] {
            let l = parse_lenient(text);
            // Whatever the strict parser accepts, the lenient one reads the same, skipping nothing.
            if let Ok(strict) = parse(text) {
                prop_assert_eq!(l.skipped, 0);
                // Compared as rendered text: NaN samples are not equal to themselves.
                prop_assert_eq!(render(&l.scrape), render(&strict));
            }
            prop_assert_eq!(l.skipped == 0, l.first_error.is_none());
        }
        let (before, after) = (parse_lenient(&a).scrape, parse_lenient(&b).scrape);
        let _ = total_increase(&before, &after, "vllm:x_total", &[]);
        for h in histogram_increase(&before, &after, "vllm:x", &[], &[]) {
            let _ = (h.mean(), h.quantile(0.99));
        }
        let _ = spec_decode_stats(&before, &after);
    }

    #[test]
    fn rendered_registries_parse_back_identically(
        series in prop::collection::vec((label_value(), label_value(), any::<f64>(), -1e12..1e12f64), 1..12),
        help in "[^\\s\\\\][^\\r]{0,20}",
    ) {
        let reg = Registry::new();
        let counters = reg.counter("vllm:c", &help, &["a", "b"]).unwrap();
        let gauges = reg.gauge("vllm:g", &help, &["a", "b"]).unwrap();
        let histograms = reg.histogram("vllm:h", &help, &["a"], &[-1.0, 0.5, 1e6]).unwrap();
        for (a, b, g, obs) in &series {
            counters.labels(&[a, b]).unwrap().inc_by(obs.abs());
            gauges.labels(&[a, b]).unwrap().set(if g.is_nan() { 0.0 } else { *g });
            histograms.labels(&[a]).unwrap().observe(*obs);
        }
        let collected = reg.collect();
        prop_assert_eq!(parse(&render(&collected)).unwrap(), collected);
    }

    #[test]
    fn finite_floats_round_trip_through_text(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let text = go_float(x);
        prop_assert_eq!(parse_go_float(&text), Some(x), "{}", text);
    }

    #[test]
    fn payload_json_never_panics(text in "\\PC{0,120}") {
        let _ = OffloadStats::from_json(&text);
    }

    #[test]
    fn payloads_round_trip_through_json(
        ops in prop::collection::vec((0..3u8, "[a-c]", "[x-z]{0,2}", -1e6..1e6f64, any::<i32>()), 0..20),
    ) {
        let mut stats = OffloadStats::new();
        for (op, name, label, f, i) in &ops {
            let labels: Vec<&str> = if label.is_empty() { vec![] } else { vec![label.as_str()] };
            let name = format!("{name}{op}");
            let _ = match op {
                0 => stats.increase_counter(&name, i64::from(*i), &labels),
                1 => stats.set_gauge(&name, *f, &labels),
                _ => stats.observe_histogram(&name, *f, &labels),
            };
        }
        let json = stats.to_json().unwrap();
        prop_assert_eq!(OffloadStats::from_json(&json).unwrap(), stats);
    }
}
