//! Defines [`AnalyzeError`], why an input could not be analysed.
//!
//! The OS error is part of the message and deliberately not a `source()`, so a caller that
//! prints the whole chain (`{err:#}`) does not repeat it.

use std::path::PathBuf;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The file could not be opened.
    #[error("cannot open {}: {io}", path.display())]
    Open {
        /// The input.
        path: PathBuf,
        /// The OS error.
        io: std::io::Error,
    },
    /// Reading (or gzip-decoding) failed part way.
    #[error("cannot read {}: {io}", path.display())]
    Read {
        /// The input (`-` for stdin).
        path: PathBuf,
        /// The I/O or gzip error.
        io: std::io::Error,
    },
    /// A file that holds no Prometheus sample line.
    #[error("{} is not Prometheus text ({detail}): pass a /metrics scrape", path.display())]
    NotPrometheus {
        /// The input.
        path: PathBuf,
        /// Why its first line failed, or that it is empty.
        detail: String,
    },
    /// Every counter went down from the first scrape to the second.
    #[error(
        "AFTER ({after}) looks older than BEFORE ({before}): every counter went down; swap them"
    )]
    Reversed {
        /// The first scrape's name.
        before: String,
        /// The second scrape's name.
        after: String,
    },
    /// A live scrape failed.
    #[error("cannot scrape {url}: {why}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// A file that is not a `bench serve` result JSON.
    #[error("{} is not a bench serve result ({detail}): pass the JSON that --save-result wrote", path.display())]
    NotBenchResult {
        /// The input.
        path: PathBuf,
        /// What is missing or malformed.
        detail: String,
    },
}
