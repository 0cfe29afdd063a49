//! Provides [`SseParser`], an incremental Server-Sent Events parser over raw body chunks.
//!
//! It finds line ends with `memchr`, accepts `\n` and `\r\n`, joins multi-line `data:` fields with
//! `\n`, skips `:` comments and other fields, and dispatches an event at each blank line. A line
//! split across chunks is buffered; a line wholly inside one chunk is read in place. Buffers are
//! reused, so steady-state parsing allocates nothing. Lone `\r` line ends are not supported
//! (vLLM's client does not support them either).

use memchr::memchr;

/// Incremental SSE parser; feed it body chunks in order.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The unfinished line carried over from the previous chunk.
    partial: Vec<u8>,
    /// The current event's data, lines joined by `\n`.
    data: Vec<u8>,
    /// Whether the current event has a `data` field (possibly empty).
    has_data: bool,
}

impl SseParser {
    /// A parser with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; calls `on_data` with the data of every event it completes.
    pub fn feed(&mut self, mut bytes: &[u8], on_data: &mut impl FnMut(&[u8])) {
        while let Some(pos) = memchr(b'\n', bytes) {
            if self.partial.is_empty() {
                self.line(&bytes[..pos], on_data);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&bytes[..pos]);
                self.line(&line, on_data);
                line.clear();
                self.partial = line;
            }
            bytes = &bytes[pos + 1..];
        }
        self.partial.extend_from_slice(bytes);
    }

    /// Ends the stream: a final unterminated line and event are dispatched, as vLLM accepts a
    /// trailing `data: {...}` without its blank line.
    pub fn finish(&mut self, on_data: &mut impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, on_data);
        }
        self.line(b"", on_data);
    }

    fn line(&mut self, line: &[u8], on_data: &mut impl FnMut(&[u8])) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.has_data {
                on_data(&self.data);
                self.data.clear();
                self.has_data = false;
            }
            return;
        }
        let (field, value) = match memchr(b':', line) {
            Some(0) => return, // comment
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data
                .extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn events(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut |d| out.push(d.to_vec()));
        }
        p.finish(&mut |d| out.push(d.to_vec()));
        out
    }

    #[test]
    fn known_cases() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (
                b"data: {\"a\":1}\n\ndata: [DONE]\n\n",
                &[b"{\"a\":1}", b"[DONE]"],
            ),
            (b"data: x\r\n\r\n", &[b"x"]),
            (b": ping\n\ndata:y\n\n", &[b"y"]),
            (b"event: e\nid: 3\ndata: a\ndata: b\n\n", &[b"a\nb"]),
            (
                b"data: tail-without-blank-line",
                &[b"tail-without-blank-line"],
            ),
            (b"\n\n\n", &[]),
            (b"data\n\n", &[b""]),
        ];
        for (input, want) in cases {
            assert_eq!(
                events(&[input]),
                want.iter().map(|w| w.to_vec()).collect::<Vec<_>>(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let event = prop_oneof![
            "[a-z0-9{}\":, ]{0,20}".prop_map(|s| format!("data: {s}\n\n")),
            "[a-z ]{0,10}".prop_map(|s| format!(": {s}\n")),
            "[a-z]{0,8}".prop_map(|s| format!("data: {s}\r\ndata: {s}\r\n\r\n")),
            Just("event: x\n".to_string()),
        ];
        prop::collection::vec(event, 0..12).prop_map(|v| v.concat().into_bytes())
    }

    proptest! {
        #[test]
        fn any_chunk_split_gives_the_same_events(bytes in stream(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let whole = events(&[&bytes]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for p in points {
                chunks.push(&bytes[prev..p]);
                prev = p;
            }
            chunks.push(&bytes[prev..]);
            prop_assert_eq!(events(&chunks), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let _ = events(&refs);
        }
    }
}
