//! The payload's JSON form: `{"types": {name: tag}, "data": {name: {label_key: value}}}`.
//!
//! Python keys `data` by label-values tuples, which JSON cannot hold; here a key is the JSON text
//! of the label values as an array of strings: `"[]"` for the unlabelled `()`, `"[\"1:fs\"]"`
//! for `('1:fs',)`. Everything else keeps Python's shape, ints and floats included.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::number::Number;
use super::payload::{LabelValues, OffloadStats, StatKind, StatValue};
use crate::error::PayloadError;

/// The wire shape, before validation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStats {
    #[serde(default)]
    types: BTreeMap<String, String>,
    #[serde(default)]
    data: BTreeMap<String, BTreeMap<String, Value>>,
}

impl OffloadStats {
    /// Reads a payload from JSON, rejecting unknown types, untyped keys and mis-shaped values.
    pub fn from_json(text: &str) -> Result<Self, PayloadError> {
        Self::from_raw(serde_json::from_str::<RawStats>(text)?)
    }

    /// Writes the payload as JSON.
    pub fn to_json(&self) -> Result<String, PayloadError> {
        Ok(serde_json::to_string(&RawStats::from(self.clone()))?)
    }
}

impl Serialize for OffloadStats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawStats::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OffloadStats {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_raw(RawStats::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl OffloadStats {
    fn from_raw(raw: RawStats) -> Result<Self, PayloadError> {
        let mut stats = OffloadStats::new();
        for (name, tag) in &raw.types {
            stats
                .types
                .insert(name.clone(), StatKind::from_tag(name, tag)?);
        }
        for (name, series) in raw.data {
            let kind = stats
                .kind(&name)
                .ok_or_else(|| PayloadError::UnknownKey(name.clone()))?;
            let mut values = BTreeMap::new();
            for (key, value) in series {
                values.insert(label_values(&key)?, stat_value(&name, kind, value)?);
            }
            stats.data.insert(name, values);
        }
        Ok(stats)
    }
}

impl From<OffloadStats> for RawStats {
    fn from(stats: OffloadStats) -> Self {
        let types = stats
            .types
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().to_owned()))
            .collect();
        let data = stats
            .data
            .into_iter()
            .map(|(name, series)| {
                (
                    name,
                    series
                        .into_iter()
                        .map(|(k, v)| (label_key(&k), json_value(v)))
                        .collect(),
                )
            })
            .collect();
        RawStats { types, data }
    }
}

fn label_key(values: &LabelValues) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

fn label_values(key: &str) -> Result<LabelValues, PayloadError> {
    serde_json::from_str(key).map_err(|_| PayloadError::LabelKey(key.into()))
}

fn json_value(value: StatValue) -> Value {
    let number = |n: Number| serde_json::to_value(n).unwrap_or(Value::Null);
    match value {
        StatValue::Number(n) => number(n),
        StatValue::Observations(list) => Value::Array(list.into_iter().map(number).collect()),
    }
}

fn stat_value(name: &str, kind: StatKind, value: Value) -> Result<StatValue, PayloadError> {
    let shape_error = |expected| PayloadError::ValueShape {
        name: name.into(),
        kind: kind.as_str(),
        expected,
    };
    match kind {
        StatKind::Histogram => serde_json::from_value::<Vec<Number>>(value)
            .map(StatValue::Observations)
            .map_err(|_| shape_error("a list of numbers")),
        _ => serde_json::from_value::<Number>(value)
            .map(StatValue::Number)
            .map_err(|_| shape_error("a number")),
    }
}
