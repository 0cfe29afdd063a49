//! Provides typed reads of config attributes with Python's `hasattr` / pydantic semantics.
//!
//! vLLM's parsers distinguish an attribute that is absent (a default applies) from one that is
//! present but `null` (it reaches pydantic as `None` and fails validation, which skips the
//! component). A [`Field`] keeps that difference until a component validates it.

use std::fmt;

use serde_json::Value;

use crate::error::InvalidComponent;
use crate::hf_config::ConfigMap;

/// An integer config value, or why there is none.
pub type Field = Result<i64, FieldIssue>;

/// Why a config attribute has no usable integer value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldIssue {
    /// The attribute is not in the config and has no default.
    Missing,
    /// The attribute is present with value `null`.
    Null,
    /// The attribute holds something that is not an integer.
    NotAnInteger(String),
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldIssue::Missing => f.write_str("is missing from the config"),
            FieldIssue::Null => f.write_str("is null"),
            FieldIssue::NotAnInteger(v) => write!(f, "is not an integer (got {v})"),
        }
    }
}

/// Coerces a JSON value the way pydantic's lax `int` does: integers, integral floats, booleans
/// and integer strings are accepted.
pub fn coerce_int(value: &Value) -> Field {
    match value {
        Value::Null => Err(FieldIssue::Null),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| FieldIssue::NotAnInteger(n.to_string())),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| FieldIssue::NotAnInteger(format!("{s:?}"))),
        other => Err(FieldIssue::NotAnInteger(other.to_string())),
    }
}

/// `getattr(cfg, key)` as a [`Field`]: absent → [`FieldIssue::Missing`].
pub fn required(map: &ConfigMap, key: &str) -> Field {
    map.get(key).map_or(Err(FieldIssue::Missing), coerce_int)
}

/// `getattr(cfg, key, default)`.
pub fn or_default(map: &ConfigMap, key: &str, default: i64) -> Field {
    map.get(key).map_or(Ok(default), coerce_int)
}

/// The first key of `keys` present in `map` (vLLM's `getattr_iter` / `getattr_from_list`).
pub fn first_present<'a>(map: &'a ConfigMap, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| map.get(*k))
}

/// Python truthiness of a JSON value.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Validates pydantic's `Field(gt=0)`: the value as `u64`, or the reason naming the field.
pub fn positive(
    component: &'static str,
    name: &str,
    field: &Field,
) -> Result<u64, InvalidComponent> {
    match field {
        Ok(v) if *v > 0 => Ok(*v as u64),
        Ok(v) => Err(invalid(
            component,
            format!("`{name}` must be > 0 (got {v})"),
        )),
        Err(issue) => Err(invalid(component, format!("`{name}` {issue}"))),
    }
}

/// Validates `Field(ge=0)` (and plain counts that only make sense when non-negative).
pub fn non_negative(
    component: &'static str,
    name: &str,
    field: &Field,
) -> Result<u64, InvalidComponent> {
    match field {
        Ok(v) if *v >= 0 => Ok(*v as u64),
        Ok(v) => Err(invalid(
            component,
            format!("`{name}` must be >= 0 (got {v})"),
        )),
        Err(issue) => Err(invalid(component, format!("`{name}` {issue}"))),
    }
}

/// Builds an [`InvalidComponent`].
pub fn invalid(component: &'static str, reason: String) -> InvalidComponent {
    InvalidComponent { component, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lax_int_coercion() {
        assert_eq!(coerce_int(&json!(4096)), Ok(4096));
        assert_eq!(coerce_int(&json!(4096.0)), Ok(4096));
        assert_eq!(coerce_int(&json!("12")), Ok(12));
        assert_eq!(coerce_int(&json!(true)), Ok(1));
        assert_eq!(coerce_int(&json!(null)), Err(FieldIssue::Null));
        assert!(matches!(
            coerce_int(&json!(1.5)),
            Err(FieldIssue::NotAnInteger(_))
        ));
        assert!(matches!(
            coerce_int(&json!([1])),
            Err(FieldIssue::NotAnInteger(_))
        ));
    }

    #[test]
    fn positive_names_the_field() {
        let err = positive("attn", "hidden_size", &Ok(0)).unwrap_err();
        assert_eq!(err.reason, "`hidden_size` must be > 0 (got 0)");
        let err = positive("attn", "num_attention_heads", &Err(FieldIssue::Missing)).unwrap_err();
        assert!(err.reason.contains("num_attention_heads") && err.reason.contains("missing"));
    }
}
