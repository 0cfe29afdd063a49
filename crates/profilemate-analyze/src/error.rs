//! Defines [`AnalyzeError`], why an input could not be analysed.

use std::path::PathBuf;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The input.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading (or gzip-decoding) failed part way.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The input (`-` for stdin).
        path: PathBuf,
        /// The I/O or gzip error.
        source: std::io::Error,
    },
}
