//! Defines [`Breakdown`], an ordered `component.term → value` map like vLLM's breakdown dicts.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// An insertion-ordered list of `(key, value)` pairs with unique keys, as Python's dicts keep
/// them. Keys are `"{component}.{term}"` once prefixed by the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    entries: Vec<(String, u128)>,
}

impl Breakdown {
    /// An empty breakdown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, keeping the key's first position when it is already present
    /// (Python's `dict.__setitem__`).
    pub fn insert(&mut self, key: &str, value: u128) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.to_owned(), value)),
        }
    }

    /// Adds `value` to `key` (0 when absent).
    pub fn add(&mut self, key: &str, value: u128) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 += value,
            None => self.entries.push((key.to_owned(), value)),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<u128> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u128)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Σ of all values.
    pub fn total(&self) -> u128 {
        // Saturating: terms of a batch beyond what `limits` admits must not wrap.
        self.entries
            .iter()
            .fold(0u128, |sum, (_, v)| sum.saturating_add(*v))
    }

    /// Adds every entry of `other` into `self` (the debug logger's `dst[k] = dst.get(k, 0) + v`).
    pub fn accumulate(&mut self, other: &Breakdown) {
        for (k, v) in other.iter() {
            self.add(k, v);
        }
    }
}

impl Serialize for Breakdown {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
