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
}
