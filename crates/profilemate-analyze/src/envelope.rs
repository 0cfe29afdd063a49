//! Provides [`Envelope`]: the parts of vLLM's log line prefix,
//! `[PREFIX](Proc pid=N) LEVEL MM-DD HH:MM:SS [file:line] message`.
//!
//! Mirrors `_FORMAT` / `_DATE_FORMAT` of vllm/logger.py (vLLM 0.32; observability-anchors.md
//! §2.0): the process tag is optional (lines of a process that never called `decorate_logs`),
//! `VLLM_LOGGING_PREFIX` may put any text in front, and the level is one of Python's names.

use crate::cursor::Cursor;

/// One parsed line envelope; every field borrows the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// The process tag's pid; 0 when the line has no `(Proc pid=N)` tag.
    pub(crate) pid: u32,
    /// `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.
    pub(crate) level: Level,
    /// `MM-DD HH:MM:SS`, as printed.
    pub(crate) timestamp: &'a [u8],
    /// `file:line` inside the brackets.
    pub(crate) origin: &'a [u8],
    /// The message after `] `.
    pub(crate) message: &'a [u8],
}

/// A Python logging level name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

const TIMESTAMP_LEN: usize = "MM-DD HH:MM:SS".len();

impl<'a> Envelope<'a> {
    /// Parses `line` (ANSI codes and the trailing `\r` already removed). The process tag is
    /// looked for at the start, and else after a `VLLM_LOGGING_PREFIX` (the first `(`).
    pub(crate) fn parse(line: &'a [u8]) -> Option<Self> {
        match line.first() {
            Some(b'(') => Self::after_tag(line),
            Some(b'D' | b'I' | b'W' | b'E' | b'C') => {
                Self::after_tag(line).or_else(|| Self::untagged(0, line))
            }
            Some(_) => {
                let open = memchr::memchr(b'(', line)?;
                Self::after_tag(&line[open..])
            }
            None => None,
        }
    }

    fn after_tag(line: &'a [u8]) -> Option<Self> {
        let mut c = Cursor::new(line);
        c.expect(b"(")?;
        let close = memchr::memchr(b')', c.rest())?;
        let tag = &c.rest()[..close];
        let equals = memchr::memrchr(b'=', tag)?;
        if !tag[..equals].ends_with(b" pid") {
            return None;
        }
        let pid = Cursor::new(&tag[equals + 1..]).u32()?;
        Self::untagged(pid, c.rest().get(close + 2..)?)
    }

    fn untagged(pid: u32, text: &'a [u8]) -> Option<Self> {
        let mut c = Cursor::new(text);
        let level = if c.eat(b"INFO ") {
            Level::Info
        } else if c.eat(b"DEBUG ") {
            Level::Debug
        } else if c.eat(b"WARNING ") {
            Level::Warning
        } else if c.eat(b"ERROR ") {
            Level::Error
        } else if c.eat(b"CRITICAL ") {
            Level::Critical
        } else {
            return None;
        };
        let rest = c.rest();
        let timestamp = rest.get(..TIMESTAMP_LEN)?;
        if !is_timestamp(timestamp) {
            return None;
        }
        let mut c = Cursor::new(&rest[TIMESTAMP_LEN..]);
        c.expect(b" [")?;
        let origin = c.until(b"]")?;
        // The message follows `] `; a bare prefix (the last line of a multi-line record) has
        // nothing after the space.
        let message = c.rest().strip_prefix(b" ").unwrap_or(c.rest());
        Some(Envelope {
            pid,
            level,
            timestamp,
            origin,
            message,
        })
    }

    /// Seconds since the start of the year (non-leap), for intervals; `None` when out of
    /// range. The log has no year, so a log spanning New Year goes backwards.
    pub(crate) fn seconds_of_year(&self) -> Option<u32> {
        seconds_of_year(self.timestamp)
    }
}

fn is_timestamp(t: &[u8]) -> bool {
    t.iter().enumerate().all(|(i, b)| match i {
        2 => *b == b'-',
        5 => *b == b' ',
        8 | 11 => *b == b':',
        _ => b.is_ascii_digit(),
    })
}

/// `MM-DD HH:MM:SS` → seconds since Jan 1 00:00:00 of a non-leap year.
pub(crate) fn seconds_of_year(t: &[u8]) -> Option<u32> {
    const DAYS_BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let two = |i: usize| u32::from(t[i] - b'0') * 10 + u32::from(t[i + 1] - b'0');
    if t.len() != TIMESTAMP_LEN || !is_timestamp(t) {
        return None;
    }
    let (month, day) = (two(0), two(3));
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = DAYS_BEFORE[month as usize - 1] + day - 1;
    Some(days * 86_400 + two(6) * 3600 + two(9) * 60 + two(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fixture_envelope() {
        let line =
            b"(APIServer pid=22508) INFO 11-22 17:54:41 [loggers.py:199] Engine 000: Iteration(0)";
        let e = Envelope::parse(line).unwrap();
        assert_eq!(e.pid, 22508);
        assert_eq!(e.level, Level::Info);
        assert_eq!(e.timestamp, b"11-22 17:54:41");
        assert_eq!(e.origin, b"loggers.py:199");
        assert_eq!(e.message, b"Engine 000: Iteration(0)");
        assert_eq!(
            e.seconds_of_year(),
            Some((304 + 21) * 86_400 + 17 * 3600 + 54 * 60 + 41)
        );
    }

    #[test]
    fn tagless_prefixed_and_bare_lines() {
        let e = Envelope::parse(b"WARNING 10-20 08:41:10 [x.py:1] hi").unwrap();
        assert_eq!((e.pid, e.level, e.message), (0, Level::Warning, &b"hi"[..]));
        let e =
            Envelope::parse(b"myprefix (EngineCore_DP1 pid=7) DEBUG 10-20 08:41:10 [a/b.py:9] m")
                .unwrap();
        assert_eq!((e.pid, e.origin), (7, &b"a/b.py:9"[..]));
        let bare =
            Envelope::parse(b"(APIServer pid=1) INFO 11-22 17:23:38 [cuda_graph.py:123] ").unwrap();
        assert!(bare.message.is_empty());
        assert!(
            Envelope::parse(b"INFO:     127.0.0.1:41484 - \"GET /v1/models\" 200 OK").is_none()
        );
        assert!(Envelope::parse(b"(x pid=1) INFO 11-22 1").is_none());
    }
}
