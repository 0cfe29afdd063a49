//! Parses CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF, newlines inside
//! quotes) into records of fields, for the `burstgpt` and `hf` datasets.

/// A CSV syntax error: the 1-based line where it was found and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsvError {
    /// 1-based line of the offending character.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// One record with the 1-based line it starts on.
pub(crate) type Record = (usize, Vec<String>);

/// Splits `text` into records; blank lines are skipped.
pub(crate) fn parse(text: &str) -> Result<Vec<Record>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start_line) = (1, 1);
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut quoted_field = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted_field => {
                in_quotes = true;
                quoted_field = true;
            }
            '"' => {
                return Err(CsvError {
                    line,
                    reason: "a quote inside an unquoted field (quote the whole field and double the inner quotes)",
                });
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                end_record(
                    &mut records,
                    &mut fields,
                    &mut field,
                    start_line,
                    quoted_field,
                );
                quoted_field = false;
                line += 1;
                start_line = line;
            }
            _ if quoted_field => {
                return Err(CsvError {
                    line,
                    reason: "text after a closing quote (a field is either quoted or not)",
                });
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(CsvError {
            line: start_line,
            reason: "a quoted field is never closed",
        });
    }
    end_record(
        &mut records,
        &mut fields,
        &mut field,
        start_line,
        quoted_field,
    );
    Ok(records)
}

fn end_record(
    records: &mut Vec<Record>,
    fields: &mut Vec<String>,
    field: &mut String,
    line: usize,
    quoted: bool,
) {
    if fields.is_empty() && field.is_empty() && !quoted {
        return; // blank line
    }
    fields.push(std::mem::take(field));
    records.push((line, std::mem::take(fields)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        parse(text).unwrap().into_iter().map(|(_, f)| f).collect()
    }

    #[test]
    fn quotes_commas_and_newlines_inside_fields() {
        assert_eq!(
            fields("a,b\r\n\"x, \"\"y\"\"\",\"two\nlines\"\n\n3,\n"),
            vec![
                vec!["a".to_string(), "b".into()],
                vec!["x, \"y\"".into(), "two\nlines".into()],
                vec!["3".into(), String::new()],
            ]
        );
        let lines: Vec<usize> = parse("h\n\"a\nb\"\nc")
            .unwrap()
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(lines, vec![1, 2, 4]);
    }

    #[test]
    fn malformed_quotes_name_the_line() {
        assert_eq!(parse("a\nb\"c\n").unwrap_err().line, 2);
        assert_eq!(parse("a\n\"open\n").unwrap_err().line, 2);
        assert!(parse("\"x\"y").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text);
        }

        #[test]
        fn quoted_fields_round_trip(cells in proptest::collection::vec("[a-z,\"\n ]{0,8}", 1..5)) {
            let line: Vec<String> = cells.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
            let parsed = parse(&line.join(",")).unwrap();
            proptest::prop_assert_eq!(&parsed[0].1, &cells);
        }
    }
}
