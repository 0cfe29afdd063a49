//! Provides JSON serialization in Python's `json.dump` style: `", "` / `": "` separators and
//! floats as Python's `repr` writes them (`4.0`, `2.1e-05`, `1e+16`), so saved results read the
//! same as vLLM's byte for byte where the values agree.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

use profilemate_metrics::number::python_repr;

/// serde_json formatter producing Python `json.dump` output.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// `ensure_ascii=True`: DEL and non-ASCII characters become `\uXXXX` (surrogate pairs above U+FFFF).
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let plain = |c: char| c.is_ascii() && c != '\x7f';
        if fragment.chars().all(plain) {
            return w.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if plain(c) {
                w.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(py_float_repr(value).as_bytes())
    }
}

/// Serializes `value` as Python's `json.dumps` would.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = Serializer::with_formatter(&mut out, PythonFormatter);
    // Serializing serde_json values into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    out
}

/// Python's `repr(float)` ([`python_repr`]), with `json.dumps`'s `NaN` and `Infinity` for
/// the specials.
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    python_repr(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (4.0, "4.0"),
            (0.0, "0.0"),
            (10.47583749499995, "10.47583749499995"),
            (2.1018999859734322e-05, "2.1018999859734322e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (123456789012345.6, "123456789012345.6"),
            (-0.5, "-0.5"),
            (1852.585418185, "1852.585418185"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float_repr(x), want);
        }
    }

    #[test]
    fn non_ascii_is_escaped_like_ensure_ascii() {
        let v = serde_json::json!(["a\u{fffd}b", "\u{1F600}\n"]);
        assert_eq!(
            String::from_utf8(to_python_json(&v)).unwrap(),
            r#"["a\ufffdb", "\ud83d\ude00\n"]"#
        );
    }

    #[test]
    fn separators_match_json_dump() {
        let v = serde_json::json!({"a": [1, 2.5], "b": null});
        assert_eq!(
            String::from_utf8(to_python_json(&v)).unwrap(),
            r#"{"a": [1, 2.5], "b": null}"#
        );
    }
}
