//! Provides [`Cursor`]: a byte-level reader over one log message with allocation-free number
//! parsing, so the hot lines (`Iteration(N)`, stats, MFU) never go through a regex or `str`.

/// A position in a byte string, advanced by the `expect_*`/`parse_*` calls; each returns
/// `None` (leaving the cursor where it failed) when the text does not match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        Cursor { rest: text }
    }

    /// What is left.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Consumes `literal` if the text starts with it.
    pub(crate) fn eat(&mut self, literal: &[u8]) -> bool {
        match self.rest.strip_prefix(literal) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Consumes `literal` or fails.
    pub(crate) fn expect(&mut self, literal: &[u8]) -> Option<()> {
        self.eat(literal).then_some(())
    }

    /// Consumes bytes up to (not including) `literal`, returning them; fails when absent.
    pub(crate) fn until(&mut self, literal: &[u8]) -> Option<&'a [u8]> {
        let at = match literal {
            [byte] => memchr::memchr(*byte, self.rest)?,
            _ => memchr::memmem::find(self.rest, literal)?,
        };
        let (head, tail) = self.rest.split_at(at);
        self.rest = &tail[literal.len()..];
        Some(head)
    }

    /// An unsigned decimal integer (at least one digit; saturates instead of overflowing).
    pub(crate) fn uint(&mut self) -> Option<u64> {
        let digits = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let value = self.rest[..digits].iter().fold(0u64, |acc, &b| {
            acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        });
        self.rest = &self.rest[digits..];
        Some(value)
    }

    /// A `u32` (saturating).
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.uint().map(|v| u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// A decimal number as Python's `%.Nf` prints it (`-12.50`, `3`), or `nan`/`inf`. Exact:
    /// the digits form an integer below 2^53 divided by a power of ten, one correctly
    /// rounded division, the same value `str::parse` gives; longer numbers fall back to it.
    pub(crate) fn float(&mut self) -> Option<f64> {
        if let Some((value, len)) = fast_decimal(self.rest) {
            self.rest = &self.rest[len..];
            return Some(value);
        }
        let len = self
            .rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
            .count();
        let value = slow_float(&self.rest[..len]).or_else(|| {
            let word = self
                .rest
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            let v = slow_float(&self.rest[..word])?;
            self.rest = &self.rest[word..];
            Some(v)
        })?;
        if len > 0 {
            self.rest = &self.rest[len..];
        }
        Some(value)
    }
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A leading `[-]digits[.digits]` with at most 15 digits in all, and its length, in one pass;
/// `None` when the number goes on in a form this does not read (an exponent, a sign, more
/// digits) or has no digit, for the slow path to take.
fn fast_decimal(text: &[u8]) -> Option<(f64, usize)> {
    let negative = text.first() == Some(&b'-');
    let mut at = usize::from(negative);
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    let mut fraction: Option<usize> = None;
    while let Some(&b) = text.get(at) {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if let Some(f) = fraction.as_mut() {
                    *f += 1;
                }
                if digits > 15 {
                    return None;
                }
            }
            b'.' if fraction.is_none() => fraction = Some(0),
            // An exponent: the slow path reads it. An `e` that starts a word ends the number.
            b'e' | b'E' if matches!(text.get(at + 1), Some(b'0'..=b'9' | b'-' | b'+')) => {
                return None;
            }
            b'.' | b'-' | b'+' => return None,
            _ => break,
        }
        at += 1;
    }
    if digits == 0 {
        return None;
    }
    let value = mantissa as f64 / POW10[fraction.unwrap_or(0)];
    Some((if negative { -value } else { value }, at))
}

fn slow_float(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_like_str_parse() {
        for text in [
            "265.42",
            "0.35",
            "-1.5",
            "12",
            "1843.2",
            "0.0",
            "123456789.123456",
        ] {
            let mut c = Cursor::new(text.as_bytes());
            assert_eq!(c.float(), text.parse().ok(), "{text}");
            assert!(c.rest().is_empty());
        }
        let mut c = Cursor::new(b"nan%");
        assert!(c.float().unwrap().is_nan());
        assert_eq!(c.rest(), b"%");
        assert_eq!(Cursor::new(b"x").float(), None);
        assert_eq!(Cursor::new(b".").float(), None);
    }

    proptest::proptest! {
        #[test]
        fn printed_floats_read_back_exactly(
            value in -1e9f64..1e9, places in 0usize..7, tail in "[ ,%a-z]{0,3}"
        ) {
            let text = format!("{value:.places$}");
            let line = format!("{text}{tail}");
            let mut c = Cursor::new(line.as_bytes());
            proptest::prop_assert_eq!(c.float(), Some(text.parse::<f64>().unwrap()));
            proptest::prop_assert_eq!(c.rest(), tail.as_bytes());
        }
    }

    #[test]
    fn literals_and_integers() {
        let mut c = Cursor::new(b"Iteration(12): 3 context");
        assert!(c.eat(b"Iteration("));
        assert_eq!(c.uint(), Some(12));
        assert_eq!(c.expect(b"): "), Some(()));
        assert_eq!(c.u32(), Some(3));
        assert_eq!(c.until(b"ext"), Some(&b" cont"[..]));
        assert_eq!(
            Cursor::new(b"99999999999999999999999").uint(),
            Some(u64::MAX)
        );
    }
}
