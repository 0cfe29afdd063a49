//! The lenient reader: parses what it can and skips the lines it cannot, as vLLM's own scrape
//! readers do (`fetch_spec_decode_metrics()` in vllm/benchmarks/serve.py, vLLM 0.32, suppresses
//! `ValueError` per line).

use super::Format;
use super::assemble::Assembler;
use crate::error::ParseError;
use crate::model::Scrape;

/// A scrape read leniently: the families that parsed, and what was skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lenient {
    /// Every line that parsed, assembled as [`super::parse`] would.
    pub scrape: Scrape,
    /// How many lines were skipped as malformed.
    pub skipped: usize,
    /// The first skipped line's error (its line number and why).
    pub first_error: Option<ParseError>,
}

impl Lenient {
    /// Whether no sample line parsed at all (empty input, or nothing that reads as a sample).
    pub fn is_empty(&self) -> bool {
        self.scrape.samples().next().is_none()
    }
}

/// Parses `text` line by line, skipping malformed lines instead of failing. OpenMetrics
/// structure (`# EOF`, carriage returns) is not enforced; timestamps are read as the detected
/// [`Format`] writes them. A text that [`super::parse`] accepts gives the same scrape here with
/// nothing skipped.
pub fn parse_lenient(text: &str) -> Lenient {
    let om = Format::detect(text) == Format::OpenMetrics;
    let mut asm = Assembler::new(om);
    let mut out = Lenient::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim_start_matches([' ', '\t']).trim_end_matches('\r');
        if om && line == "# EOF" {
            continue;
        }
        if let Err(kind) = asm.line(line) {
            out.skipped += 1;
            out.first_error.get_or_insert(kind.at(i + 1));
        }
    }
    out.scrape = asm.finish();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ParseErrorKind as K;
    use crate::parse::parse;

    #[test]
    fn bad_lines_are_skipped_and_counted() {
        let text = "# TYPE a_total counter\na_total 3\na_total{x=\"1} 2\nnot a sample\nb 4\n";
        let l = parse_lenient(text);
        assert_eq!(l.skipped, 2);
        assert_eq!(l.first_error, Some(K::UnterminatedLabelValue.at(3)));
        assert_eq!(l.scrape.value("a_total", &[]), Some(3.0));
        assert_eq!(l.scrape.value("b", &[]), Some(4.0));
        assert!(parse(text).is_err());
    }

    #[test]
    fn valid_text_reads_as_the_strict_parser_reads_it() {
        let text = "# HELP a_total Doc.\n# TYPE a_total counter\na_total{e=\"0\"} 3.0\n\
                    # TYPE a_created gauge\na_created 1.5e+09\n";
        let l = parse_lenient(text);
        assert_eq!((l.skipped, l.first_error.clone()), (0, None));
        assert_eq!(l.scrape, parse(text).unwrap());
        assert!(!l.is_empty());
    }

    #[test]
    fn text_that_is_not_a_scrape_reads_empty() {
        let l = parse_lenient("{\"date\": \"2026\",\n \"x\": [1, 2]}\n");
        assert!(l.is_empty());
        assert_eq!(l.skipped, 2);
        assert!(parse_lenient("").is_empty());
    }
}
