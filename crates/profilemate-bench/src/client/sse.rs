//! Provides [`SseParser`], an incremental Server-Sent Events parser over raw body chunks.
//!
//! It finds line ends with `memchr`, accepts `\n` and `\r\n`, joins multi-line `data:` fields with
//! `\n`, skips `:` comments and other fields, and dispatches an event at each blank line. A line
//! split across chunks is buffered; a line wholly inside one chunk is read in place. Buffers are
//! reused, so steady-state parsing allocates nothing. Lone `\r` line ends are not supported
//! (vLLM's client does not support them either). The line carried between chunks and the event's
//! data are bounded ([`MAX_PENDING`]): a server that never ends a line cannot grow the client
//! without bound (a 200 MB line once took 474 MB of RSS); the request fails instead.

use memchr::memchr;

/// The most bytes an unfinished line, or one event's data, may hold: 16 MiB, far beyond any
/// completion chunk (a chunk with logprobs of a long prompt is tens of KB).
pub const MAX_PENDING: usize = 16 << 20;

/// A line or an event grew past the parser's bound without ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "an SSE line or event grew past {} MiB without ending; the stream was cut (is the server sending SSE?)",
    .limit >> 20
)]
pub struct TooLong {
    /// The bound, in bytes.
    pub limit: usize,
}

/// Incremental SSE parser; feed it body chunks in order.
#[derive(Debug)]
pub struct SseParser {
    /// The unfinished line carried over from the previous chunk.
    partial: Vec<u8>,
    /// The current event's data, lines joined by `\n`.
    data: Vec<u8>,
    /// Whether the current event has a `data` field (possibly empty).
    has_data: bool,
    /// The most bytes `partial` or `data` may hold.
    limit: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(MAX_PENDING)
    }
}

impl SseParser {
    /// A parser with empty buffers, bounded by [`MAX_PENDING`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser whose pending line and event data may hold at most `limit` bytes each.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            partial: Vec::new(),
            data: Vec::new(),
            has_data: false,
            limit,
        }
    }

    /// Feeds one chunk; calls `on_data` with the data of every event it completes. Fails, and
    /// the stream should be dropped, once a line or an event's data would pass the bound.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        on_data: &mut impl FnMut(&[u8]),
    ) -> Result<(), TooLong> {
        let too_long = TooLong { limit: self.limit };
        while let Some(pos) = memchr(b'\n', bytes) {
            if self.partial.is_empty() {
                self.line(&bytes[..pos], on_data);
            } else {
                if self.partial.len() + pos > self.limit {
                    return Err(too_long);
                }
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&bytes[..pos]);
                self.line(&line, on_data);
                line.clear();
                self.partial = line;
            }
            if self.data.len() > self.limit {
                return Err(too_long);
            }
            bytes = &bytes[pos + 1..];
        }
        if self.partial.len() + bytes.len() > self.limit {
            return Err(too_long);
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
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
            p.feed(c, &mut |d| out.push(d.to_vec())).unwrap();
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

    #[test]
    fn a_line_that_never_ends_fails_at_the_bound_and_holds_no_more() {
        let mut p = SseParser::with_limit(1000);
        let mut events = 0;
        p.feed(b"data: {}\n\ndata: ", &mut |_| events += 1).unwrap();
        let mut fed = 6;
        let result = loop {
            match p.feed(&[b'x'; 100], &mut |_| events += 1) {
                Ok(()) => fed += 100,
                Err(e) => break e,
            }
            assert!(fed < 10_000, "never refused");
        };
        assert_eq!(result, TooLong { limit: 1000 });
        assert_eq!(events, 1);
        assert!(fed <= 1000 && fed > 900, "refused after {fed} bytes");
        assert!(p.partial.capacity() <= 2000, "{}", p.partial.capacity());
        assert!(
            result
                .to_string()
                .starts_with("an SSE line or event grew past 0 MiB"),
            "{result}"
        );
        assert!(
            TooLong { limit: MAX_PENDING }
                .to_string()
                .contains("past 16 MiB")
        );
    }

    #[test]
    fn an_event_whose_data_lines_never_end_fails_at_the_bound() {
        let mut p = SseParser::with_limit(100);
        let line = b"data: 0123456789012345678901234567890123456789\n";
        assert!(p.feed(line, &mut |_| {}).is_ok());
        assert!(p.feed(line, &mut |_| {}).is_ok());
        assert_eq!(p.feed(line, &mut |_| {}), Err(TooLong { limit: 100 }));
    }

    #[test]
    fn a_split_line_that_ends_past_the_bound_fails() {
        let mut p = SseParser::with_limit(10);
        p.feed(b"data: 12", &mut |_| {}).unwrap();
        assert_eq!(p.feed(b"3456\n\n", &mut |_| {}), Err(TooLong { limit: 10 }));
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
