//! Float rendering as `prometheus_client`'s `floatToGoString` does it and as Python's
//! `repr(float)` does, and Go-style float parsing.

use std::fmt::Write as _;

/// Appends `value` to `out` exactly as Python's `prometheus_client` renders sample values and `le`
/// bounds: Python's shortest `repr`, except that positive numbers of 10^6 or more switch to Go's
/// exponent form (`1e+06`, `3.4803556352e+10`), and `+Inf`, `-Inf`, `NaN` for the specials.
pub fn write_go_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value > 0.0 && value.abs() >= 1e6 && value < 1e16 {
        write_go_exponent(out, value);
    } else {
        write_python_repr(out, value);
    }
}

/// Renders `value` with [`write_go_float`] into a new string.
pub fn go_float(value: f64) -> String {
    let mut out = String::new();
    write_go_float(&mut out, value);
    out
}

/// Parses a sample value or `le` bound the way Prometheus' Go parser does: decimal and exponent
/// forms (`1e+06`, `.5`, `-3`), `NaN`, `+Inf`, `-Inf` and `Inf` in any letter case.
pub fn parse_go_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let first = unsigned.bytes().next()?;
    let special = unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("nan");
    if !(first.is_ascii_digit() || first == b'.' || special) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// The shortest round-trip digits of a finite, non-zero `value` and its decimal exponent
/// (`value = d.ddd × 10^exp`).
fn shortest_digits(value: f64) -> (String, i32) {
    let sci = format!("{:e}", value.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Python's `repr(float)` (and `str`): shortest round-trip digits, fixed notation for decimal
/// exponents in `-4..16`, otherwise `1e-05` style; `nan`, `inf`, `-inf` for the specials. The
/// one implementation behind the exposition text, the bench's result JSON and the engine's
/// log lines.
pub fn python_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    let mut out = String::new();
    write_python_repr(&mut out, value);
    out
}

/// Python's `repr(float)` of a finite `value`.
fn write_python_repr(out: &mut String, value: f64) {
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        });
        return;
    }
    if value < 0.0 {
        out.push('-');
    }
    let (digits, exp) = shortest_digits(value);
    if (-4..16).contains(&exp) {
        write_fixed(out, &digits, exp);
    } else {
        write_scientific(out, &digits, exp);
    }
}

fn write_fixed(out: &mut String, digits: &str, exp: i32) {
    if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(digits);
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

fn write_scientific(out: &mut String, digits: &str, exp: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
}

/// Go's form for positive values with seven or more integer digits: `d.ddde+NN`, trailing zeros
/// dropped.
fn write_go_exponent(out: &mut String, value: f64) {
    let (digits, exp) = shortest_digits(value);
    let mantissa = digits.trim_end_matches('0');
    out.push_str(&mantissa[..1]);
    if mantissa.len() > 1 {
        out.push('.');
        out.push_str(&mantissa[1..]);
    }
    let _ = write!(out, "e+{exp:02}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_is_pythons_without_the_go_exponent() {
        let cases = [
            (1_234_567.0, "1234567.0"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (value, want) in cases {
            assert_eq!(python_repr(value), want);
        }
    }

    #[test]
    fn renders_like_prometheus_client() {
        let cases = [
            (1.0, "1.0"),
            (0.3, "0.3"),
            (7680.0, "7680.0"),
            (1e6, "1e+06"),
            (1.5e8, "1.5e+08"),
            (2e8, "2e+08"),
            (3.4803556352e10, "3.4803556352e+10"),
            (1.7953681873424616e9, "1.7953681873424616e+09"),
            (999999.0, "999999.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (5e-5, "5e-05"),
            (1e16, "1e+16"),
            (1e15, "1e+15"),
            (-1e7, "-10000000.0"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (16.87, "16.87"),
            (1e100, "1e+100"),
        ];
        for (value, want) in cases {
            assert_eq!(go_float(value), want, "rendering {value:e}");
        }
    }

    #[test]
    fn parses_go_style_floats() {
        assert_eq!(parse_go_float("1e+06"), Some(1e6));
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_go_float(".5"), Some(0.5));
        assert!(parse_go_float("Nan").is_some_and(f64::is_nan));
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
        for bad in ["", "+", "1,0", "infinity", "0x10", "1_0", " 1", "e5"] {
            assert_eq!(parse_go_float(bad), None, "{bad:?} must not parse");
        }
    }
}
