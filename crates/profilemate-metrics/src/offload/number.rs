//! Python `int | float` values for the stats payload: ints stay ints until a float joins in.

use serde::{Deserialize, Serialize};

/// A payload number, keeping Python's int/float distinction so JSON round-trips unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Number {
    /// A Python `int`.
    Int(i64),
    /// A Python `float`.
    Float(f64),
}

impl Number {
    /// The value as `f64`.
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }
}

impl std::ops::Add for Number {
    type Output = Self;

    /// Python's `a + b`: int + int stays int (falling back to float on overflow).
    fn add(self, other: Self) -> Self {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a
                .checked_add(b)
                .map_or(Self::Float(a as f64 + b as f64), Self::Int),
            (a, b) => Self::Float(a.as_f64() + b.as_f64()),
        }
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Self::Float(v as f64), Self::Int)
    }
}

impl From<f64> for Number {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_like_python() {
        assert_eq!(Number::Int(2) + Number::Int(3), Number::Int(5));
        assert_eq!(Number::Int(2) + Number::Float(0.5), Number::Float(2.5));
        assert_eq!(
            Number::Int(i64::MAX) + Number::Int(1),
            Number::Float(i64::MAX as f64 + 1.0)
        );
        assert_eq!(Number::from(u64::MAX), Number::Float(u64::MAX as f64));
    }
}
