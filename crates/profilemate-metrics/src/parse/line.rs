//! The lexer for one sample line: name, label set, value, timestamp, exemplar.

use crate::error::ParseErrorKind as K;
use crate::model::{Exemplar, Labels, Sample};
use crate::number::parse_go_float;

type Result<T> = std::result::Result<T, K>;

/// A byte cursor over one line.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.pos += usize::from(hit);
        hit
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn token(&mut self) -> &'a str {
        self.take_while(|b| b != b' ' && b != b'\t')
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(is_name_byte)
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// Parses a sample line. `ts_in_seconds` selects OpenMetrics timestamps (float seconds) over
/// 0.0.4's integer milliseconds.
pub(super) fn parse_sample(line: &str, ts_in_seconds: bool) -> Result<Sample> {
    let mut cur = Cursor { text: line, pos: 0 };
    let name = cur.take_while(is_name_byte);
    if !is_metric_name(name) {
        return Err(K::InvalidMetricName);
    }
    cur.skip_blanks();
    let labels = if cur.eat(b'{') {
        parse_labels(&mut cur)?
    } else {
        Labels::new()
    };
    let (value, timestamp) = parse_value_and_ts(&mut cur, ts_in_seconds)?;
    let exemplar = parse_exemplar(&mut cur)?;
    let mut sample = Sample::new(name, labels, value);
    sample.timestamp = timestamp;
    sample.exemplar = exemplar;
    Ok(sample)
}

fn parse_value_and_ts(cur: &mut Cursor<'_>, ts_in_seconds: bool) -> Result<(f64, Option<f64>)> {
    cur.skip_blanks();
    let token = cur.token();
    let value = parse_go_float(token).ok_or_else(|| K::InvalidValue(token.to_owned()))?;
    cur.skip_blanks();
    if matches!(cur.peek(), None | Some(b'#')) {
        return Ok((value, None));
    }
    let token = cur.token();
    let ts =
        parse_timestamp(token, ts_in_seconds).ok_or_else(|| K::InvalidTimestamp(token.into()))?;
    cur.skip_blanks();
    Ok((value, Some(ts)))
}

fn parse_timestamp(token: &str, in_seconds: bool) -> Option<f64> {
    if in_seconds {
        return parse_go_float(token).filter(|t| t.is_finite());
    }
    token.parse::<i64>().ok().map(|ms| ms as f64 / 1000.0)
}

fn parse_exemplar(cur: &mut Cursor<'_>) -> Result<Option<Exemplar>> {
    if cur.peek().is_none() {
        return Ok(None);
    }
    if !cur.eat(b'#') {
        return Err(K::TrailingGarbage(cur.rest().to_owned()));
    }
    cur.skip_blanks();
    if !cur.eat(b'{') {
        return Err(K::InvalidExemplar);
    }
    let labels = parse_labels(cur)?;
    let (value, timestamp) = parse_value_and_ts(cur, true).map_err(|_| K::InvalidExemplar)?;
    if cur.peek().is_some() {
        return Err(K::TrailingGarbage(cur.rest().to_owned()));
    }
    Ok(Some(Exemplar {
        labels,
        value,
        timestamp,
    }))
}

/// Parses `name="value", …}` after the opening brace; a trailing comma is allowed.
fn parse_labels(cur: &mut Cursor<'_>) -> Result<Labels> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    loop {
        cur.skip_blanks();
        if cur.eat(b'}') {
            break;
        }
        let (name, value) = parse_label_pair(cur)?;
        if pairs.iter().any(|(k, _)| *k == name) {
            return Err(K::DuplicateLabel(name));
        }
        pairs.push((name, value));
        cur.skip_blanks();
        if !cur.eat(b',') && cur.peek() != Some(b'}') {
            return Err(K::UnterminatedLabels);
        }
    }
    Ok(Labels::from_pairs(pairs))
}

fn parse_label_pair(cur: &mut Cursor<'_>) -> Result<(String, String)> {
    let name = cur.take_while(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !is_label_name(name) {
        return Err(K::InvalidLabelName);
    }
    cur.skip_blanks();
    if !cur.eat(b'=') {
        return Err(K::MissingEquals);
    }
    cur.skip_blanks();
    if !cur.eat(b'"') {
        return Err(K::MissingQuote);
    }
    Ok((name.to_owned(), parse_label_value(cur)?))
}

/// Reads a quoted label value after its opening quote, undoing `\\`, `\"` and `\n`.
fn parse_label_value(cur: &mut Cursor<'_>) -> Result<String> {
    let mut value = String::new();
    loop {
        let chunk = cur.take_while(|b| b != b'"' && b != b'\\');
        value.push_str(chunk);
        match cur.peek() {
            Some(b'"') => {
                cur.pos += 1;
                return Ok(value);
            }
            Some(_) => {
                cur.pos += 1;
                value.push(unescape(cur)?);
            }
            None => return Err(K::UnterminatedLabelValue),
        }
    }
}

fn unescape(cur: &mut Cursor<'_>) -> Result<char> {
    let c = cur.rest().chars().next().ok_or(K::UnterminatedLabelValue)?;
    cur.pos += c.len_utf8();
    match c {
        '\\' => Ok('\\'),
        '"' => Ok('"'),
        'n' => Ok('\n'),
        other => Err(K::InvalidEscape(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_with_braces_commas_and_escapes() {
        let line = r#"vllm:x{a="}",b="x,y",c="q\"\\\n",} 1e+06 1700000000123"#;
        let s = parse_sample(line, false).unwrap();
        assert_eq!(s.name, "vllm:x");
        assert_eq!(s.labels.get("a"), Some("}"));
        assert_eq!(s.labels.get("b"), Some("x,y"));
        assert_eq!(s.labels.get("c"), Some("q\"\\\n"));
        assert_eq!(s.value, 1e6);
        assert_eq!(s.timestamp, Some(1_700_000_000.123));
    }

    #[test]
    fn reads_exemplars_and_openmetrics_timestamps() {
        let line = r#"foo_bucket{le="0.5"} 3 1.5 # {trace_id="ab"} 0.25 1.25"#;
        let s = parse_sample(line, true).unwrap();
        assert_eq!(s.timestamp, Some(1.5));
        let ex = s.exemplar.unwrap();
        assert_eq!(ex.labels.get("trace_id"), Some("ab"));
        assert_eq!((ex.value, ex.timestamp), (0.25, Some(1.25)));
    }

    #[test]
    fn rejects_malformed_lines() {
        let cases = [
            ("1abc 1", K::InvalidMetricName),
            ("a{1b=\"x\"} 1", K::InvalidLabelName),
            ("a{b \"x\"} 1", K::MissingEquals),
            ("a{b=x} 1", K::MissingQuote),
            ("a{b=\"x} 1", K::UnterminatedLabelValue),
            ("a{b=\"\\t\"} 1", K::InvalidEscape('t')),
            ("a{b=\"x\" c=\"y\"} 1", K::UnterminatedLabels),
            ("a{b=\"x\",b=\"y\"} 1", K::DuplicateLabel("b".into())),
            ("a one", K::InvalidValue("one".into())),
            ("a", K::InvalidValue(String::new())),
            ("a 1 1.5", K::InvalidTimestamp("1.5".into())),
            ("a 1 2 3", K::TrailingGarbage("3".into())),
            ("a 1 # x", K::InvalidExemplar),
        ];
        for (line, want) in cases {
            assert_eq!(parse_sample(line, false), Err(want), "{line}");
        }
    }
}
