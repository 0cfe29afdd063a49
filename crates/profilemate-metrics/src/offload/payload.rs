//! `OffloadingConnectorStats`: the self-describing `{"types": …, "data": …}` payload the KV-offload
//! connector sends from workers to the scheduler and the loggers.

use std::collections::BTreeMap;

use super::number::Number;
use crate::error::PayloadError;

/// The type tag of one payload metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatKind {
    /// Summed on aggregation.
    Counter,
    /// Latest value wins on aggregation.
    Gauge,
    /// Raw observations, concatenated on aggregation.
    Histogram,
}

impl StatKind {
    /// The tag written in `types`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }

    /// Reads a `types` tag.
    pub fn from_tag(name: &str, tag: &str) -> Result<Self, PayloadError> {
        match tag {
            "counter" => Ok(Self::Counter),
            "gauge" => Ok(Self::Gauge),
            "histogram" => Ok(Self::Histogram),
            _ => Err(PayloadError::UnknownType {
                name: name.into(),
                kind: tag.into(),
            }),
        }
    }
}

/// One label-values entry: a number for counters and gauges, observations for histograms.
#[derive(Debug, Clone, PartialEq)]
pub enum StatValue {
    /// A counter total or gauge snapshot.
    Number(Number),
    /// Histogram observations in arrival order.
    Observations(Vec<Number>),
}

/// Label values of one series; empty for an unlabelled metric (Python's `()`).
pub type LabelValues = Vec<String>;

/// The offloading connector's stats payload (`OffloadingConnectorStats`).
///
/// It serialises to vLLM's `{"types": {…}, "data": {…}}` shape (see [`OffloadStats::from_json`];
/// label-value tuples become JSON-array keys such as `"[]"`). Using one name as two types is an
/// error, never a panic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OffloadStats {
    pub(super) types: BTreeMap<String, StatKind>,
    pub(super) data: BTreeMap<String, BTreeMap<LabelValues, StatValue>>,
}

impl OffloadStats {
    /// An empty payload.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no metric has data.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Drops all types and data.
    pub fn reset(&mut self) {
        self.types.clear();
        self.data.clear();
    }

    /// The type of `name`, if it has one.
    pub fn kind(&self, name: &str) -> Option<StatKind> {
        self.types.get(name).copied()
    }

    /// The series of `name`: label values → value.
    pub fn series(&self, name: &str) -> Option<&BTreeMap<LabelValues, StatValue>> {
        self.data.get(name)
    }

    /// The metric names with data, with their types.
    pub fn metrics(&self) -> impl Iterator<Item = (&str, StatKind)> {
        self.data
            .keys()
            .filter_map(|k| Some((k.as_str(), *self.types.get(k)?)))
    }

    /// Adds `value` to counter `name` for `labels`.
    pub fn increase_counter(
        &mut self,
        name: &str,
        value: impl Into<Number>,
        labels: &[&str],
    ) -> Result<(), PayloadError> {
        let entry = self.entry(name, StatKind::Counter, labels)?;
        if let StatValue::Number(n) = entry {
            *n = *n + value.into();
        }
        Ok(())
    }

    /// Sets gauge `name` for `labels` to `value`.
    pub fn set_gauge(
        &mut self,
        name: &str,
        value: impl Into<Number>,
        labels: &[&str],
    ) -> Result<(), PayloadError> {
        *self.entry(name, StatKind::Gauge, labels)? = StatValue::Number(value.into());
        Ok(())
    }

    /// Appends one observation to histogram `name` for `labels`.
    pub fn observe_histogram(
        &mut self,
        name: &str,
        value: impl Into<Number>,
        labels: &[&str],
    ) -> Result<(), PayloadError> {
        if let StatValue::Observations(list) = self.entry(name, StatKind::Histogram, labels)? {
            list.push(value.into());
        }
        Ok(())
    }

    /// The value of `(name, labels)`, typing `name` as `kind` on first use.
    fn entry(
        &mut self,
        name: &str,
        kind: StatKind,
        labels: &[&str],
    ) -> Result<&mut StatValue, PayloadError> {
        self.claim(name, kind)?;
        let series = self.data.entry(name.to_owned()).or_default();
        let key: LabelValues = labels.iter().map(|l| l.to_string()).collect();
        Ok(series.entry(key).or_insert_with(|| empty(kind)))
    }

    fn claim(&mut self, name: &str, kind: StatKind) -> Result<(), PayloadError> {
        match self.types.get(name) {
            Some(&existing) if existing != kind => Err(conflict(name, existing, kind)),
            Some(_) => Ok(()),
            None => {
                self.types.insert(name.to_owned(), kind);
                Ok(())
            }
        }
    }

    /// Merges `other` into `self`: counters sum, gauges take `other`'s value, histograms extend.
    /// Nothing changes when a metric has different types in the two payloads.
    pub fn aggregate(&mut self, other: &OffloadStats) -> Result<(), PayloadError> {
        for (name, kind) in other.metrics() {
            if let Some(&mine) = self.types.get(name).filter(|&&mine| mine != kind) {
                return Err(conflict(name, mine, kind));
            }
        }
        for (name, kind) in other.metrics() {
            self.types.insert(name.to_owned(), kind);
            let mine = self.data.entry(name.to_owned()).or_default();
            for (labels, value) in &other.data[name] {
                merge(
                    kind,
                    mine.entry(labels.clone()).or_insert_with(|| empty(kind)),
                    value,
                );
            }
        }
        Ok(())
    }

    /// Flattens the payload for logging: `<name>[:<tuple>]` for counters and gauges,
    /// `<name>[:<tuple>]_count` and `_sum` for histograms, where `<tuple>` is Python's
    /// `str(tuple)` of the label values (e.g. `('1:fs',)`).
    pub fn reduce(&self) -> BTreeMap<String, Number> {
        let mut out = BTreeMap::new();
        for (name, series) in &self.data {
            for (labels, value) in series {
                let key = match labels.is_empty() {
                    true => name.clone(),
                    false => format!("{name}:{}", python_tuple(labels)),
                };
                match value {
                    StatValue::Number(n) => {
                        out.insert(key, *n);
                    }
                    StatValue::Observations(list) => {
                        let sum = list.iter().fold(Number::Int(0), |acc, n| acc + *n);
                        out.insert(format!("{key}_count"), Number::from(list.len() as u64));
                        out.insert(format!("{key}_sum"), sum);
                    }
                }
            }
        }
        out
    }
}

fn conflict(name: &str, existing: StatKind, requested: StatKind) -> PayloadError {
    PayloadError::TypeConflict {
        name: name.into(),
        existing: existing.as_str(),
        requested: requested.as_str(),
    }
}

fn empty(kind: StatKind) -> StatValue {
    match kind {
        StatKind::Histogram => StatValue::Observations(Vec::new()),
        _ => StatValue::Number(Number::Int(0)),
    }
}

fn merge(kind: StatKind, mine: &mut StatValue, theirs: &StatValue) {
    match (kind, mine, theirs) {
        (StatKind::Counter, StatValue::Number(a), StatValue::Number(b)) => *a = *a + *b,
        (StatKind::Histogram, StatValue::Observations(a), StatValue::Observations(b)) => {
            a.extend_from_slice(b);
        }
        (_, mine, theirs) => *mine = theirs.clone(),
    }
}

/// Python's `str(tuple_of_str)`: `('a',)`, `('a', 'b')`.
pub(super) fn python_tuple(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| python_str_repr(v)).collect();
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`.
fn python_str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
