//! Provides [`Num`], Python's int/float arithmetic as vLLM's formulas evaluate it.
//!
//! vLLM's perf model multiplies unbounded Python integers and switches to `float` at the first
//! float operand (a fractional layer count `L / pp`, or a 0.5-byte weight), then truncates
//! with `int()`. Reproducing its integers bit for bit means reproducing that order: the integer
//! prefix of a product is exact, the conversion to `f64` rounds to nearest, and everything
//! after it is `f64` arithmetic.

use std::ops::{Add, Mul};

/// A Python number: an exact integer or an IEEE double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// An exact integer (Python `int`; `u128` holds every value this model produces).
    Int(u128),
    /// A double (Python `float`).
    Float(f64),
}

impl Num {
    /// Python's `int(x)`: truncation toward zero (saturating at the `u128` range).
    pub fn trunc(self) -> u128 {
        match self {
            Num::Int(i) => i,
            Num::Float(f) => f64_to_u128(f),
        }
    }

    /// Whether the value is a Python `float`.
    pub fn is_float(self) -> bool {
        matches!(self, Num::Float(_))
    }

    /// The value as a double (exact for `Int` below 2^53).
    pub fn to_f64(self) -> f64 {
        match self {
            Num::Int(i) => u128_to_f64(i),
            Num::Float(f) => f,
        }
    }

    /// Python's truthiness comparison `x > 0`.
    pub fn is_positive(self) -> bool {
        match self {
            Num::Int(i) => i > 0,
            Num::Float(f) => f > 0.0,
        }
    }
}

/// `i as f64`, through the processor's 64-bit conversion when `i` fits (every count a step
/// produces): the same rounding of the same integer, without the software routine a `u128`
/// conversion calls.
pub fn u128_to_f64(i: u128) -> f64 {
    match u64::try_from(i) {
        Ok(small) => small as f64,
        Err(_) => i as f64,
    }
}

/// `f as u128` (truncation, saturating, NaN to 0), through the 64-bit conversion below 2^64:
/// the same result without the software routine.
pub fn f64_to_u128(f: f64) -> u128 {
    if f < 18_446_744_073_709_551_616.0 {
        u128::from(f as u64)
    } else {
        f as u128
    }
}

impl From<u64> for Num {
    fn from(value: u64) -> Self {
        Num::Int(u128::from(value))
    }
}

impl From<u128> for Num {
    fn from(value: u128) -> Self {
        Num::Int(value)
    }
}

impl Mul for Num {
    type Output = Num;
    fn mul(self, rhs: Num) -> Num {
        match (self, rhs) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a.saturating_mul(b)),
            (a, b) => Num::Float(a.to_f64() * b.to_f64()),
        }
    }
}

impl Mul<u64> for Num {
    type Output = Num;
    fn mul(self, rhs: u64) -> Num {
        self * Num::from(rhs)
    }
}

impl Mul<u128> for Num {
    type Output = Num;
    fn mul(self, rhs: u128) -> Num {
        self * Num::Int(rhs)
    }
}

impl Add for Num {
    type Output = Num;
    fn add(self, rhs: Num) -> Num {
        match (self, rhs) {
            (Num::Int(a), Num::Int(b)) => Num::Int(a.saturating_add(b)),
            (a, b) => Num::Float(a.to_f64() + b.to_f64()),
        }
    }
}

/// Starts a Python product chain from an integer literal or count.
pub fn int(value: u64) -> Num {
    Num::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_prefix_is_exact_then_float_rounds() {
        // 2^53 + 1 is not representable: Python's float(2**53 + 1) == 2**53.
        let big = Num::Int((1u128 << 53) + 1);
        assert_eq!((big * Num::Float(1.0)).trunc(), 1u128 << 53);
        // The integer product stays exact however large.
        assert_eq!((big * 3u64).trunc(), 3 * ((1u128 << 53) + 1));
    }

    #[test]
    fn order_of_operations_matters_like_python() {
        // Python: int(3 * 0.1 * 10) == 3 but int(3 * (0.1 * 10)) == 3 as well; pick a case that
        // differs: int(0.1 * 3 * 10) = int(3.0000000000000004) = 3, int(7 * 0.1 * 10) == 7 vs
        // 7 * 0.1 = 0.7000000000000001.
        let a = (int(7) * Num::Float(0.1) * 10u64).to_f64();
        assert_eq!(a, 7.000000000000001);
        assert_eq!((int(7) * Num::Float(0.1) * 10u64).trunc(), 7);
    }

    proptest::proptest! {
        /// The fast conversions equal Rust's `as` on every value, both sides of 2^64.
        #[test]
        fn fast_conversions_equal_the_plain_ones(
            i in proptest::prop_oneof![0u128..(1u128 << 70), proptest::num::u128::ANY],
            f in proptest::prop_oneof![
                -1e3f64..1e25,
                proptest::num::f64::ANY,
                proptest::sample::select(vec![
                    18_446_744_073_709_551_616.0, 18_446_744_073_709_549_568.0, -0.0, f64::NAN,
                    f64::INFINITY, f64::NEG_INFINITY, 0.99, 1.0,
                ]),
            ],
        ) {
            proptest::prop_assert_eq!(u128_to_f64(i).to_bits(), (i as f64).to_bits());
            proptest::prop_assert_eq!(f64_to_u128(f), f as u128);
        }
    }

    #[test]
    fn truncation_is_toward_zero() {
        assert_eq!(Num::Float(30.999).trunc(), 30);
        assert_eq!(Num::Float(0.5).trunc(), 0);
    }
}
