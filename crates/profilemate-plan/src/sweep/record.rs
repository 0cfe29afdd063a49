//! One run's record as vLLM 0.32's sweep holds it: a Python dict read from the bench's result
//! file, with `run_number` and the overrides added. Its key order matters: pandas makes it the
//! column order of `summary.csv` (`DataFrame.from_records` lists keys as first seen), so the
//! record keeps the file's order, and a key added later goes last unless already present (a
//! dict's `update`).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// A run's values with their keys in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRecord {
    order: Vec<String>,
    values: Map<String, Value>,
}

impl RunRecord {
    /// Parses a JSON object, keeping its key order (a repeated key keeps its first place and
    /// its last value, as Python's `json.load` does).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Sets `key` as a dict does: in place when present, else at the end.
    pub fn insert(&mut self, key: String, value: Value) {
        if !self.values.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.values.insert(key, value);
    }

    /// The keys in order.
    pub fn keys_in_order(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// The values, looked up by key.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.values
    }
}

impl From<Map<String, Value>> for RunRecord {
    /// A record in the map's own (sorted) key order.
    fn from(values: Map<String, Value>) -> Self {
        RunRecord {
            order: values.keys().cloned().collect(),
            values,
        }
    }
}

impl Deref for RunRecord {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.values
    }
}

impl Borrow<Map<String, Value>> for RunRecord {
    fn borrow(&self) -> &Map<String, Value> {
        &self.values
    }
}

impl Serialize for RunRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.order.len()))?;
        for key in &self.order {
            map.serialize_entry(key, &self.values[key])?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RunRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = RunRecord;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RunRecord, A::Error> {
                let mut record = RunRecord::default();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    record.insert(key, value);
                }
                Ok(record)
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_files_order_and_updates_like_a_dict() {
        let mut r = RunRecord::from_json(r#"{"z": 1, "a": 2, "m": 3, "a": 4}"#).unwrap();
        assert_eq!(r.keys_in_order().collect::<Vec<_>>(), ["z", "a", "m"]);
        assert_eq!(r["a"], 4);
        r.insert("b".into(), Value::from(5));
        r.insert("z".into(), Value::from(6));
        assert_eq!(r.keys_in_order().collect::<Vec<_>>(), ["z", "a", "m", "b"]);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"z":6,"a":4,"m":3,"b":5}"#
        );
        assert!(RunRecord::from_json("[1]").is_err());
    }
}
