//! Reads a scrape file leniently and checks that two scrapes are in order.

use std::io::Read;
use std::path::Path;

use profilemate_metrics::Scrape;
use profilemate_metrics::model::MetricType;
use profilemate_metrics::parse::parse_lenient;

use crate::error::AnalyzeError;

/// A scrape read for analysis: what parsed, and how many malformed lines were skipped.
#[derive(Debug, Clone, Default)]
pub struct ScrapeInput {
    /// The parsed families.
    pub scrape: Scrape,
    /// Lines skipped as malformed (vLLM's readers skip them too).
    pub skipped: usize,
}

impl ScrapeInput {
    /// Reads scrape text leniently; `None` when not one sample line parses, with why.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let l = parse_lenient(text);
        if l.is_empty() {
            return Err(match l.first_error {
                Some(e) => e.to_string(),
                None => "no sample lines".to_owned(),
            });
        }
        Ok(Self {
            scrape: l.scrape,
            skipped: l.skipped,
        })
    }
}

/// Reads the scrape at `path` (gzip accepted): an error when missing, unreadable, or holding
/// no Prometheus sample line.
pub fn read_scrape_file(path: &Path) -> Result<ScrapeInput, AnalyzeError> {
    let mut bytes = Vec::new();
    crate::input::open(path)?
        .read_to_end(&mut bytes)
        .map_err(|io| AnalyzeError::Read {
            path: path.to_owned(),
            io,
        })?;
    ScrapeInput::from_text(&String::from_utf8_lossy(&bytes)).map_err(|detail| {
        AnalyzeError::NotPrometheus {
            path: path.to_owned(),
            detail,
        }
    })
}

/// Refuses a pair whose counters all went down (`after` is the older scrape): at least one
/// counter series present in both must have dropped and none risen.
pub fn check_order(
    before: &Scrape,
    after: &Scrape,
    names: (&str, &str),
) -> Result<(), AnalyzeError> {
    let (mut up, mut down) = (0usize, 0usize);
    for family in after
        .families
        .iter()
        .filter(|f| f.kind == MetricType::Counter)
    {
        for s in family.samples.iter().filter(|s| s.name.ends_with("_total")) {
            let old = before
                .select(&s.name, &[])
                .find(|o| o.labels == s.labels)
                .map(|o| o.value);
            match old {
                Some(old) if s.value > old => up += 1,
                Some(old) if s.value < old => down += 1,
                _ => {}
            }
        }
    }
    if down > 0 && up == 0 {
        return Err(AnalyzeError::Reversed {
            before: names.0.to_owned(),
            after: names.1.to_owned(),
        });
    }
    Ok(())
}
