//! Provides [`LogReader`]: one streaming pass over a vLLM log, line by line, into a
//! [`LogReport`]. No line is kept; multi-line records are regrouped as they arrive.

use std::io::{self, Read};

use crate::aggregate::EngineAgg;
use crate::config::EngineConfig;
use crate::envelope::{Envelope, Level};
use crate::group::{CudaGraphTable, GroupBody, MfuDetails, OpenGroup};
use crate::message::{
    EngineKey, IterationRecord, MfuRecord, SpecDecodeRecord, StatsRecord, kv_transfer_pairs,
    split_engine,
};

/// What one pass over a log found: line counts, the startup config and per-engine aggregates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogReport {
    /// Bytes read (after gzip decoding).
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Lines with a vLLM envelope (`(Proc pid=N) LEVEL MM-DD HH:MM:SS [file:line] …`).
    pub envelope_lines: u64,
    /// Lines the analysis used (every line of a regrouped record included).
    pub recognised_lines: u64,
    /// Lines longer than [`LogReader::MAX_LINE`] (read up to it, the rest skipped).
    pub overlong_lines: u64,
    /// Warnings and errors (`WARNING`, `ERROR`, `CRITICAL` envelopes).
    pub warnings: u64,
    /// Preemption warnings (vLLM V0's `… is preempted by …`; V1 reports them in the stats line).
    pub preemption_warnings: u64,
    /// The deployment as the startup lines state it.
    pub config: EngineConfig,
    /// A GPU named in the log (`NVIDIA H100 …`), if any.
    pub device_name: Option<String>,
    /// Per engine, in first-seen order.
    pub engines: Vec<(EngineKey, EngineAgg)>,
}

impl LogReport {
    /// Lines the analysis did not use.
    pub fn unknown_lines(&self) -> u64 {
        self.lines - self.recognised_lines
    }

    /// Whether any vLLM log line was found.
    pub fn is_vllm_log(&self) -> bool {
        self.envelope_lines > 0 || self.recognised_lines > 0
    }

    fn engine(&mut self, key: EngineKey) -> &mut EngineAgg {
        let at = match self.engines.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.engines.push((key, EngineAgg::default()));
                self.engines.len() - 1
            }
        };
        &mut self.engines[at].1
    }
}

/// The streaming state: the report so far, the open multi-line records and a scratch line.
#[derive(Debug, Default)]
pub struct LogReader {
    report: LogReport,
    open: Vec<OpenGroup>,
    scratch: Vec<u8>,
    last_stats_engine: Option<EngineKey>,
    device_probe_left: u32,
}

/// At most this many processes may have a multi-line record open at once.
const MAX_OPEN_GROUPS: usize = 16;

impl LogReader {
    /// Lines longer than this are cut (1 MiB; vLLM's longest, the engine config, is ~6 KB).
    pub const MAX_LINE: usize = 1 << 20;

    /// A reader at the start of a log.
    pub fn new() -> Self {
        LogReader {
            device_probe_left: 10_000,
            ..LogReader::default()
        }
    }

    /// Reads `input` to the end, line by line, in 256 KiB chunks.
    pub fn read_all(mut self, mut input: impl Read) -> io::Result<LogReport> {
        let mut buf = vec![0u8; 1 << 18];
        let (mut start, mut end, mut skipping) = (0usize, 0usize, false);
        loop {
            if end == buf.len() {
                if start > 0 {
                    buf.copy_within(start..end, 0);
                    (end, start) = (end - start, 0);
                } else if buf.len() < Self::MAX_LINE {
                    buf.resize(buf.len() * 2, 0);
                } else {
                    // One line fills the buffer: use its head, drop the rest up to `\n`.
                    if !skipping {
                        self.report.overlong_lines += 1;
                        self.line(&buf[..end]);
                    }
                    (start, end, skipping) = (0, 0, true);
                }
            }
            let n = match input.read(&mut buf[end..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.report.bytes += n as u64;
            let chunk = end..end + n;
            for nl in memchr::memchr_iter(b'\n', &buf[chunk.clone()]) {
                let at = chunk.start + nl;
                if skipping {
                    skipping = false;
                } else {
                    self.line(&buf[start..at]);
                }
                start = at + 1;
            }
            end = chunk.end;
        }
        if start < end && !skipping {
            self.line(&buf[start..end]);
        }
        Ok(self.finish())
    }

    /// Feeds one line (without its `\n`).
    pub fn line(&mut self, raw: &[u8]) {
        self.report.lines += 1;
        let (raw, ended_in_cr) = match raw.strip_suffix(b"\r") {
            Some(rest) => (rest, true),
            None => (raw, false),
        };
        // Most lines hold neither a `\r` nor an escape: one scan tells.
        if memchr::memchr2(b'\r', 0x1b, raw).is_none() {
            self.clean_line(raw, ended_in_cr);
            return;
        }
        // A `\r` inside the line (a progress bar redrawn in place): keep what a terminal shows.
        let raw = match memchr::memrchr(b'\r', raw) {
            Some(at) => &raw[at + 1..],
            None => raw,
        };
        if memchr::memchr(0x1b, raw).is_some() {
            let mut scratch = std::mem::take(&mut self.scratch);
            strip_ansi(raw, &mut scratch);
            self.clean_line(&scratch, ended_in_cr);
            self.scratch = scratch;
        } else {
            self.clean_line(raw, ended_in_cr);
        }
    }

    fn clean_line(&mut self, line: &[u8], ended_in_cr: bool) {
        let Some(env) = Envelope::parse(line) else {
            if self.bare_message(line) {
                self.report.recognised_lines += 1;
            }
            return;
        };
        self.report.envelope_lines += 1;
        if let Some(at) = self.open.iter().position(|g| g.pid == env.pid) {
            let group = &mut self.open[at];
            if group.continues(env.pid, env.timestamp, env.origin) {
                self.report.recognised_lines += 1;
                if group.feed(env.message, ended_in_cr) {
                    let group = self.open.swap_remove(at);
                    self.close(group);
                }
                return;
            }
            let group = self.open.swap_remove(at);
            self.close(group);
        }
        if self.message(&env) {
            self.report.recognised_lines += 1;
        }
    }

    /// A line without an envelope that still is a known message (our own engine's bare lines,
    /// or a log whose prefix was cut by a collector).
    fn bare_message(&mut self, line: &[u8]) -> bool {
        let (engine, body) = split_engine(line);
        self.body(engine, body, None)
    }

    /// Handles an enveloped message; whether it was used.
    fn message(&mut self, env: &Envelope<'_>) -> bool {
        let (engine, body) = split_engine(env.message);
        if self.body(engine, body, Some(env)) {
            return true;
        }
        if env.level != Level::Info && env.level != Level::Debug {
            self.report.warnings += 1;
            if memchr::memmem::find(env.message, b" is preempted by ").is_some() {
                self.report.preemption_warnings += 1;
                return true;
            }
        }
        if self.report.config.observe(env.message) {
            return true;
        }
        self.probe_device(env.message);
        false
    }

    /// Dispatches a message body on its first byte; whether it was used.
    fn body(&mut self, engine: EngineKey, body: &[u8], env: Option<&Envelope<'_>>) -> bool {
        let at = || env.and_then(Envelope::seconds_of_year);
        match body.first() {
            Some(b'I') => IterationRecord::parse(body)
                .map(|it| self.report.engine(engine).iterations.add(&it, at()))
                .is_some(),
            Some(b'A') => StatsRecord::parse(body)
                .map(|s| {
                    self.last_stats_engine = Some(engine);
                    self.report.engine(engine).stats.add(&s, at());
                })
                .is_some(),
            Some(b'M') => {
                if let Some(json) = body.strip_prefix(b"MFU details: ") {
                    return self.open_group(env, engine, json, |_| GroupBody::MfuDetails {
                        json: String::new(),
                        depth: 0,
                    });
                }
                MfuRecord::parse(body)
                    .map(|m| self.report.engine(engine).mfu.add(&m))
                    .is_some()
            }
            Some(b'S') => SpecDecodeRecord::parse(body)
                .map(|s| self.report.engine(engine).spec_decode.add(&s))
                .is_some(),
            Some(b'K') => kv_transfer_pairs(body)
                .map(|pairs| self.report.engine(engine).kv_transfer.add(&pairs))
                .is_some(),
            Some(b'*') if body.starts_with(b"**CUDAGraph Config Settings:**") => {
                let engine = self.last_stats_engine.unwrap_or(engine);
                self.open_group(env, engine, b"", |_| {
                    GroupBody::CudaGraph(CudaGraphTable::default())
                })
            }
            _ => false,
        }
    }

    /// Starts a multi-line record whose first line carried `first`.
    fn open_group(
        &mut self,
        env: Option<&Envelope<'_>>,
        engine: EngineKey,
        first: &[u8],
        body: impl FnOnce(()) -> GroupBody,
    ) -> bool {
        let Some(env) = env else { return false };
        if self.open.len() == MAX_OPEN_GROUPS {
            let oldest = self.open.remove(0);
            self.close(oldest);
        }
        let mut group = OpenGroup::new(env.pid, env.timestamp, env.origin, engine, body(()));
        if group.feed(first, false) && !first.is_empty() {
            self.close(group);
        } else {
            self.open.push(group);
        }
        true
    }

    fn close(&mut self, group: OpenGroup) {
        let engine = self.report.engine(group.engine);
        match group.body {
            GroupBody::CudaGraph(table) => engine.cudagraph.add(&table),
            GroupBody::MfuDetails { json, .. } => {
                if let Some(details) = MfuDetails::parse(&json) {
                    engine.mfu.add_details(&details);
                }
            }
        }
    }

    /// Looks for a GPU's marketing name in the first unknown lines (torch's device names).
    fn probe_device(&mut self, message: &[u8]) {
        if self.device_probe_left == 0 || self.report.device_name.is_some() {
            return;
        }
        self.device_probe_left -= 1;
        for needle in [&b"NVIDIA "[..], b"AMD Instinct "] {
            if let Some(at) = memchr::memmem::find(message, needle) {
                let name: Vec<u8> = message[at..]
                    .iter()
                    .copied()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'-'))
                    .take(48)
                    .collect();
                self.report.device_name = Some(String::from_utf8_lossy(name.trim_ascii()).into());
                return;
            }
        }
    }

    /// Closes what is open and returns the report.
    pub fn finish(mut self) -> LogReport {
        for group in std::mem::take(&mut self.open) {
            self.close(group);
        }
        self.report
    }
}

/// Copies `line` into `out` without `ESC [ … m` colour codes.
fn strip_ansi(line: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < line.len() {
        if line[i] == 0x1b && line.get(i + 1) == Some(&b'[') {
            let code = line[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b';')
                .count();
            if line.get(i + 2 + code) == Some(&b'm') {
                i += code + 3;
                continue;
            }
        }
        out.push(line[i]);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> LogReport {
        LogReader::new().read_all(text.as_bytes()).unwrap()
    }

    #[test]
    fn colours_are_stripped() {
        let line = "\x1b[0;36m(APIServer pid=4242)\x1b[0;0m \x1b[32mINFO\x1b[0m \x1b[90m10-20 08:41:11\x1b[0m \
            \x1b[90m[loggers.py:199]\x1b[0m Engine 000: Iteration(1): 2 context requests, 4096 context tokens, \
            30 generation requests, 30 generation tokens, iteration elapsed time: 41.27 ms, GPU KV cache usage: 37.5%\n";
        let report = read(line);
        assert_eq!(report.recognised_lines, 1);
        assert_eq!(report.engines[0].1.iterations.ctx_tokens, 4096);
    }

    #[test]
    fn cudagraph_records_regroup_per_process_across_interleaving() {
        let p = "(APIServer pid=1) INFO 10-20 08:41:10 [cuda_graph.py:123] ";
        let other = "(EngineCore pid=2) INFO 10-20 08:41:10 [core.py:1] something else\n";
        let text = format!(
            "{p}**CUDAGraph Config Settings:**\r\n{p}\r\n{p}- Mode: FULL_AND_PIECEWISE\r\n{other}\
             {p}- Capture sizes: [1, 2, 4, 8]\r\n{p}\r\n{p}**CUDAGraph Stats:**\r\n{p}\r\n\
             {p}| Unpadded Tokens | Padded Tokens | Num Paddings | Runtime Mode | Count |\r\n\
             {p}|-----------------|---------------|--------------|--------------|-------|\r\n\
             {p}| 5               | 8             | 3            | FULL         | 120   |\r\n{p}\n\
             (APIServer pid=1) INFO 10-20 08:41:10 [perf.py:1725] Engine 000: MFU: 1.0 TF/s/device 2.0 GB/s/device\n"
        );
        let report = read(&text);
        let cg = &report.engines[0].1.cudagraph;
        assert_eq!(cg.tables, 1);
        assert_eq!(cg.sum.steps_by_mode, [120, 0, 0]);
        assert_eq!(cg.sum.max_capture_size, 8);
        assert_eq!(report.engines[0].1.mfu.count, 1);
        assert_eq!(report.lines, 13);
        assert_eq!(report.unknown_lines(), 1);
    }

    #[test]
    fn mfu_details_json_is_regrouped() {
        let p = "(APIServer pid=9) DEBUG 10-20 08:41:20 [perf.py:1651] ";
        let text = format!(
            "{p}Engine 000: MFU details: {{\r\n{p}  \"prefill_reqs\": 41,\r\n{p}  \"decode_reqs\": 2380,\r\n\
             {p}  \"num_batches\": 97,\r\n{p}  \"flops_breakdown\": {{\r\n{p}    \"ffn.dense_ffn\": \"1.5TF\"\r\n\
             {p}  }},\r\n{p}  \"duration\": \"10.0s\"\r\n{p}}}\n"
        );
        let report = read(&text);
        let mfu = &report.engines[0].1.mfu;
        assert_eq!(mfu.details, 1);
        assert_eq!(mfu.details_sum.decode_reqs, 2380);
        assert_eq!(
            mfu.details_sum.tflops_by_component,
            [("ffn".to_owned(), 1.5)]
        );
        assert_eq!(report.unknown_lines(), 0);
    }

    #[test]
    fn long_lines_are_cut_not_buffered() {
        let mut text = vec![b'x'; LogReader::MAX_LINE * 2 + 10];
        text.extend_from_slice(
            b"\nIteration(0): 1 context requests, 5 context tokens, 0 generation requests, \
            0 generation tokens, iteration elapsed time: 1.00 ms, GPU KV cache usage: 0.0%\n",
        );
        let report = LogReader::new().read_all(&text[..]).unwrap();
        assert_eq!((report.lines, report.overlong_lines), (2, 1));
        assert_eq!(report.engines[0].1.iterations.count, 1);
    }
}
