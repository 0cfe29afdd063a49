//! The scrape parser for Prometheus text 0.0.4 and OpenMetrics 1.0.

mod assemble;
mod lenient;
mod line;

pub use lenient::{Lenient, parse_lenient};
pub use line::{is_label_name, is_metric_name};

use crate::error::{ParseError, ParseErrorKind as K};
use crate::model::Scrape;
use assemble::Assembler;

/// Which exposition format a scrape is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`): what vLLM serves by default.
    Prometheus,
    /// OpenMetrics 1.0 (`application/openmetrics-text`): ends in `# EOF`, seconds timestamps.
    OpenMetrics,
}

impl Format {
    /// Guesses the format: OpenMetrics exactly when the last non-blank line is `# EOF`.
    pub fn detect(text: &str) -> Self {
        match text.trim_end().rsplit('\n').next() {
            Some("# EOF") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }
}

/// Parses a scrape, detecting the format with [`Format::detect`].
pub fn parse(text: &str) -> Result<Scrape, ParseError> {
    parse_with(text, Format::detect(text))
}

/// Parses a scrape in the given format.
pub fn parse_with(text: &str, format: Format) -> Result<Scrape, ParseError> {
    let om = format == Format::OpenMetrics;
    let mut asm = Assembler::new(om);
    let mut eof_line = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        if let Some(eof) = eof_line {
            if !raw.is_empty() || line_no > eof + 1 {
                return Err(K::ContentAfterEof.at(line_no));
            }
            continue;
        }
        if om && raw.contains('\r') {
            return Err(K::CarriageReturn.at(line_no));
        }
        // Trailing blanks are kept: they can belong to HELP text.
        let line = raw.trim_start_matches([' ', '\t']).trim_end_matches('\r');
        if om && line == "# EOF" {
            eof_line = Some(line_no);
            continue;
        }
        asm.line(line).map_err(|kind| kind.at(line_no))?;
    }
    if om && eof_line.is_none() {
        return Err(K::MissingEof.at(text.split('\n').count()));
    }
    Ok(asm.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricType;

    #[test]
    fn detects_openmetrics_by_eof() {
        assert_eq!(Format::detect("a 1\n# EOF\n"), Format::OpenMetrics);
        assert_eq!(Format::detect("a 1\n"), Format::Prometheus);
    }

    #[test]
    fn openmetrics_counter_families_take_the_total_name() {
        let text = "# TYPE foo counter\n# UNIT foo seconds\n# HELP foo Doc.\n\
                    foo_total 17.0 1520879607.789\nfoo_created 1520430000.123\n# EOF\n";
        let scrape = parse(text).unwrap();
        let fam = &scrape.families[0];
        assert_eq!(
            (fam.name.as_str(), fam.kind),
            ("foo_total", MetricType::Counter)
        );
        assert_eq!(fam.unit.as_deref(), Some("seconds"));
        assert_eq!(fam.samples.len(), 2);
        assert_eq!(fam.samples[0].timestamp, Some(1520879607.789));
    }

    #[test]
    fn openmetrics_structure_is_enforced() {
        assert_eq!(
            parse_with("a 1\n", Format::OpenMetrics).unwrap_err().kind,
            K::MissingEof
        );
        let err = parse("a 1\r\n# EOF\n").unwrap_err();
        assert_eq!(err, K::CarriageReturn.at(1));
        let err = parse_with("a 1\n# EOF\nb 2\n", Format::OpenMetrics).unwrap_err();
        assert_eq!(err, K::ContentAfterEof.at(3));
    }

    #[test]
    fn errors_carry_line_numbers() {
        let err = parse("# TYPE a gauge\na 1\nb{x=\"1} 2\n").unwrap_err();
        assert_eq!(err, K::UnterminatedLabelValue.at(3));
    }
}
