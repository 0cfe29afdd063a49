//! Defines the crate's error types. A failed *request* is data ([`crate::ClientRequestRecord`]), not
//! an error; these are the failures that stop a run before or around it.

use std::path::PathBuf;

/// An invalid configuration value; each message names the flag and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchConfigError {
    /// `--goodput` entry that is not `ttft|tpot|e2el:<non-negative ms>`.
    #[error(
        "invalid --goodput value {value:?}: use KEY:VALUE pairs with KEY one of ttft, tpot, e2el and VALUE a non-negative number of milliseconds"
    )]
    Goodput {
        /// The offending entry.
        value: String,
    },
    /// `--header` / `--metadata` entry without `=`.
    #[error("invalid {flag} value {value:?}: use KEY=VALUE")]
    KeyValue {
        /// The flag.
        flag: &'static str,
        /// The offending entry.
        value: String,
    },
    /// A flag value out of range or unparsable.
    #[error("invalid {flag} value {value:?}: {reason}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Two flags that cannot be used together (or one that needs another).
    #[error("{0}")]
    Conflict(String),
}

/// Why a dataset could not be loaded or sampled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The dataset file could not be read.
    #[error("cannot read dataset {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dataset file is not in the expected format.
    #[error("{path}:{line}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when the whole file is at fault).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The dataset parameters cannot produce the requested prompts.
    #[error("{0}")]
    Params(String),
}

/// Why an arrival schedule cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A request rate of zero or less (vLLM: "Obtained non-positive request rate").
    #[error("request {index}: non-positive request rate {rate}")]
    NonPositiveRate {
        /// Request index.
        index: usize,
        /// The rate.
        rate: f64,
    },
    /// `--burstiness` must be positive.
    #[error("--burstiness must be positive, got {0}")]
    Burstiness(f64),
    /// No requests to schedule.
    #[error("no requests to schedule")]
    Empty,
}

/// A failure that stops a benchmark run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] BenchConfigError),
    /// Dataset problem.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Schedule problem.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// `/v1/models` could not be read and no `--model` was given.
    #[error(
        "failed to fetch models from server at {url}; check that the server is running and the URL is correct, or pass --model: {reason}"
    )]
    Models {
        /// The URL tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The ready check did not succeed in time.
    #[error(
        "initial test run failed - please make sure benchmark arguments are correctly specified. Error: {0}"
    )]
    NotReady(String),
    /// The warmup requests did not finish within their deadline (a hung server).
    #[error(
        "the {count} warmup requests did not finish within {seconds} s ({deadline}); the server \
         may be hung. Nothing was measured"
    )]
    WarmupTimeout {
        /// `--num-warmups`.
        count: usize,
        /// The deadline in seconds.
        seconds: f64,
        /// Which flag set it.
        deadline: &'static str,
    },
    /// Ctrl-C came before the main run started: nothing was measured.
    #[error("interrupted before the benchmark started; nothing was measured")]
    Interrupted,
    /// Writing results failed.
    #[error("cannot write results to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
