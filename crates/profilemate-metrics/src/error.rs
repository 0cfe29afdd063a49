//! The crate's error types, one per concern.

/// A scrape that could not be parsed: where, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// Why a scrape line was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A metric name must match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name")]
    InvalidMetricName,
    /// A label name must match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name")]
    InvalidLabelName,
    /// A label name was not followed by `=`.
    #[error("expected `=` after label name")]
    MissingEquals,
    /// A label value did not start with `"`.
    #[error("expected `\"` to open a label value")]
    MissingQuote,
    /// The line ended inside a label value.
    #[error("unterminated label value")]
    UnterminatedLabelValue,
    /// A backslash was followed by something other than `\`, `"` or `n`.
    #[error("invalid escape sequence `\\{0}`")]
    InvalidEscape(char),
    /// A label pair was followed by something other than `,` or `}`.
    #[error("expected `,` or `}}` in label set")]
    UnterminatedLabels,
    /// The same label name appeared twice on one sample.
    #[error("duplicate label `{0}`")]
    DuplicateLabel(String),
    /// The sample value is not a Go-style float.
    #[error("invalid sample value `{0}`")]
    InvalidValue(String),
    /// The timestamp is not an integer (0.0.4, milliseconds) or float (OpenMetrics, seconds).
    #[error("invalid timestamp `{0}`")]
    InvalidTimestamp(String),
    /// An exemplar (`# {…} value [ts]`) was malformed.
    #[error("invalid exemplar")]
    InvalidExemplar,
    /// Unexpected text after the value and timestamp.
    #[error("unexpected text `{0}`")]
    TrailingGarbage(String),
    /// A `# TYPE` line named an unknown type.
    #[error("unknown metric type `{0}`")]
    UnknownType(String),
    /// A second `# TYPE` line for one family.
    #[error("second TYPE line for `{0}`")]
    DuplicateType(String),
    /// A `# TYPE` line after the family's first sample.
    #[error("TYPE line for `{0}` after its samples")]
    TypeAfterSamples(String),
    /// A `# HELP`, `# TYPE` or `# UNIT` line without a metric name.
    #[error("metadata line without a metric name")]
    MissingMetadataName,
    /// OpenMetrics text must end with `# EOF`.
    #[error("OpenMetrics exposition does not end with `# EOF`")]
    MissingEof,
    /// Text after OpenMetrics' `# EOF`.
    #[error("content after `# EOF`")]
    ContentAfterEof,
    /// OpenMetrics forbids carriage returns.
    #[error("carriage return in OpenMetrics exposition")]
    CarriageReturn,
}

impl ParseErrorKind {
    /// Attaches a line number.
    pub(crate) fn at(self, line: usize) -> ParseError {
        ParseError { line, kind: self }
    }
}

/// A registration or lookup the registry refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Names must match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name `{0}`")]
    InvalidMetricName(String),
    /// Label names must match `[a-zA-Z_][a-zA-Z0-9_]*` and not start with `__`.
    #[error("invalid label name `{0}`")]
    InvalidLabelName(String),
    /// `le` is reserved for histogram buckets.
    #[error("label `le` is reserved for histogram buckets")]
    ReservedLabel,
    /// Two families would expose the same sample name.
    #[error("metric `{0}` is already registered")]
    Duplicate(String),
    /// Bucket bounds must be non-empty, free of NaN and strictly increasing.
    #[error("histogram buckets must be non-empty, not NaN and strictly increasing")]
    InvalidBuckets,
    /// `labels()` got the wrong number of values.
    #[error("`{name}` takes {expected} label values, got {got}")]
    LabelCount {
        /// The family.
        name: String,
        /// Its number of label names.
        expected: usize,
        /// The number of values passed.
        got: usize,
    },
}

/// A KV-offload stats payload that is malformed or inconsistent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// A `types` entry is not `counter`, `gauge` or `histogram`.
    #[error("unknown metric type `{kind}` for `{name}`")]
    UnknownType {
        /// The metric.
        name: String,
        /// The type string found.
        kind: String,
    },
    /// A `data` key has no `types` entry.
    #[error("unknown offloading stats key `{0}` (no entry in `types`)")]
    UnknownKey(String),
    /// A value has the wrong shape for its type (a list for a histogram, a number otherwise).
    #[error("`{name}` is a {kind} but its value is not {expected}")]
    ValueShape {
        /// The metric.
        name: String,
        /// Its declared type.
        kind: &'static str,
        /// What the value should have been.
        expected: &'static str,
    },
    /// A metric was used as two different types.
    #[error("`{name}` is a {existing}, not a {requested}")]
    TypeConflict {
        /// The metric.
        name: String,
        /// The type it already has.
        existing: &'static str,
        /// The type the caller used.
        requested: &'static str,
    },
    /// A label-values key is not a JSON array of strings (`"[]"`, `"[\"1:fs\"]"`).
    #[error("label-values key `{0}` is not a JSON array of strings")]
    LabelKey(String),
    /// The top level is missing `types`/`data`, or is not JSON at all.
    #[error("malformed stats payload: {0}")]
    Json(#[from] serde_json::Error),
}

/// An exporter could not apply an observation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The engine index has no label values.
    #[error("engine {0} is not known to this exporter")]
    UnknownEngine(usize),
    /// The payload names a metric the exporter does not define.
    #[error("metric `{0}` is not defined for this offloading spec")]
    UnknownMetric(String),
    /// The payload's type for a metric differs from its definition.
    #[error("metric `{name}` is defined as a {defined}, payload says {found}")]
    TypeMismatch {
        /// The metric.
        name: String,
        /// Its defined type.
        defined: &'static str,
        /// The payload's type.
        found: &'static str,
    },
    /// Registration or label lookup failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}
