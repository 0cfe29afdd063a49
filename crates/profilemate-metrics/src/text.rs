//! The Prometheus 0.0.4 text writer, byte-compatible with Python `prometheus_client`.
//!
//! Rules (exposition formats spec, "Text format details", and client_python's `generate_latest`):
//! `# HELP` then `# TYPE` per family, one line per sample with labels sorted by name, values in
//! `floatToGoString` form, and a trailing `<name>_created` gauge family for counters and
//! histograms.

use crate::model::{Labels, MetricFamily, MetricType, Sample, Scrape};
use crate::number::write_go_float;

/// The content type to serve [`render`]'s output with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every family of `scrape` in the 0.0.4 text format.
pub fn render(scrape: &Scrape) -> String {
    let mut out = String::with_capacity(scrape.families.len() * 256);
    for family in &scrape.families {
        write_family(&mut out, family);
    }
    out
}

/// Appends one family, then its `_created` samples as their own gauge family.
pub fn write_family(out: &mut String, family: &MetricFamily) {
    let created = family.created_name();
    let help = family.help.as_deref();
    write_header(out, &family.name, help, family.kind);
    let (late, main): (Vec<&Sample>, Vec<&Sample>) = family
        .samples
        .iter()
        .partition(|s| s.name == created && has_created(family.kind));
    main.into_iter().for_each(|s| write_sample(out, s));
    if !late.is_empty() {
        write_header(out, &created, help, MetricType::Gauge);
        late.into_iter().for_each(|s| write_sample(out, s));
    }
}

fn has_created(kind: MetricType) -> bool {
    matches!(
        kind,
        MetricType::Counter | MetricType::Histogram | MetricType::Summary
    )
}

/// Appends the `# HELP` (when there is help text) and `# TYPE` lines of a family.
pub fn write_header(out: &mut String, name: &str, help: Option<&str>, kind: MetricType) {
    if let Some(help) = help {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        escape_into(out, help, false);
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.keyword());
    out.push('\n');
}

/// Appends one sample line: `name{a="1",b="2"} value [timestamp_ms]`.
pub fn write_sample(out: &mut String, sample: &Sample) {
    out.push_str(&sample.name);
    write_labels(out, &sample.labels);
    out.push(' ');
    write_go_float(out, sample.value);
    if let Some(ts) = sample.timestamp {
        out.push(' ');
        out.push_str(&format!("{}", (ts * 1000.0).round() as i64));
    }
    out.push('\n');
}

/// Appends `{a="1",b="2"}`, or nothing for an empty label set.
pub fn write_labels(out: &mut String, labels: &Labels) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_into(out, value, true);
        out.push('"');
    }
    out.push('}');
}

/// Escapes `\` and newline, and `"` too inside label values.
pub fn escape_into(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter_family() -> MetricFamily {
        let labels = Labels::from_pairs([("model_name", "m"), ("engine", "0")]);
        let mut f = MetricFamily::new("vllm:x_total", MetricType::Counter, Some("Doc.".into()));
        f.samples
            .push(Sample::new("vllm:x_total", labels.clone(), 5.0));
        f.samples
            .push(Sample::new("vllm:x_created", labels, 1.7953681873424616e9));
        f
    }

    #[test]
    fn counter_renders_total_and_created_families() {
        let want = "# HELP vllm:x_total Doc.\n# TYPE vllm:x_total counter\n\
                    vllm:x_total{engine=\"0\",model_name=\"m\"} 5.0\n\
                    # HELP vllm:x_created Doc.\n# TYPE vllm:x_created gauge\n\
                    vllm:x_created{engine=\"0\",model_name=\"m\"} 1.7953681873424616e+09\n";
        let scrape = Scrape {
            families: vec![counter_family()],
        };
        assert_eq!(render(&scrape), want);
    }

    #[test]
    fn escapes_help_and_label_values() {
        let mut out = String::new();
        escape_into(&mut out, "a\\b\n\"c\"", true);
        assert_eq!(out, r#"a\\b\n\"c\""#);
        out.clear();
        escape_into(&mut out, "a\\b\n\"c\"", false);
        assert_eq!(out, r#"a\\b\n"c""#);
    }

    #[test]
    fn timestamps_are_written_in_milliseconds() {
        let mut s = Sample::new("up", Labels::new(), 1.0);
        s.timestamp = Some(1.5);
        let mut out = String::new();
        write_sample(&mut out, &s);
        assert_eq!(out, "up 1.0 1500\n");
    }
}
