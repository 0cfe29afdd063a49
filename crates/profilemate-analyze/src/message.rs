//! Parses the one-line vLLM 0.32 messages the analysis reads: `Iteration(N)`, the periodic
//! stats line, the MFU line, spec-decode and KV-transfer lines (observability-anchors.md
//! §2.1-2.6). Byte-level and allocation-free: these are the lines a long log is made of.

use crate::cursor::Cursor;

/// Which engine a message speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EngineKey {
    /// `Engine NNN: …`, or a message without the prefix (engine 0).
    Index(u32),
    /// `N Engines Aggregated: …` (`--aggregate-engine-logging`), N engines summed.
    Aggregated(u32),
}

impl std::fmt::Display for EngineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineKey::Index(i) => write!(f, "{i:03}"),
            EngineKey::Aggregated(n) => write!(f, "{n} engines aggregated"),
        }
    }
}

/// Splits the `Engine NNN: ` / `N Engines Aggregated: ` prefix off a message; messages without
/// one belong to engine 0.
///
/// Mirrors `LoggingStatLogger.log_prefix` and `AggregatedLoggingStatLogger`
/// (vllm/v1/metrics/loggers.py, vLLM 0.32).
pub(crate) fn split_engine(message: &[u8]) -> (EngineKey, &[u8]) {
    let mut c = Cursor::new(message);
    if c.eat(b"Engine ")
        && let Some(index) = c.u32()
        && c.eat(b": ")
    {
        return (EngineKey::Index(index), c.rest());
    }
    let mut c = Cursor::new(message);
    if let Some(n) = c.u32()
        && c.eat(b" Engines Aggregated: ")
    {
        return (EngineKey::Aggregated(n), c.rest());
    }
    (EngineKey::Index(0), message)
}

/// One `Iteration(N): …` line (`LoggingStatLogger._log_iteration_details`, loggers.py:199).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationRecord {
    /// `Iteration(N)`.
    pub index: u64,
    /// Requests in their context (prefill) phase.
    pub ctx_requests: u32,
    /// Prompt tokens computed this step.
    pub ctx_tokens: u32,
    /// Requests decoding.
    pub gen_requests: u32,
    /// Tokens generated this step.
    pub gen_tokens: u32,
    /// `iteration elapsed time` in ms (model execution and sampling, not scheduling).
    pub elapsed_ms: f64,
    /// A data-parallel dummy step.
    pub dummy: bool,
    /// KV-cache usage after the step, in percent.
    pub kv_usage_pct: f64,
}

impl IterationRecord {
    /// Parses the message after the engine prefix.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut c = Cursor::new(body);
        c.expect(b"Iteration(")?;
        let index = c.uint()?;
        c.expect(b"): ")?;
        let ctx_requests = c.u32()?;
        c.expect(b" context requests, ")?;
        let ctx_tokens = c.u32()?;
        c.expect(b" context tokens, ")?;
        let gen_requests = c.u32()?;
        c.expect(b" generation requests, ")?;
        let gen_tokens = c.u32()?;
        c.expect(b" generation tokens, iteration elapsed time: ")?;
        let elapsed_ms = c.float()?;
        c.expect(b" ms")?;
        let dummy = c.eat(b" (dummy)");
        c.expect(b", ")?;
        // `{device} KV cache usage: `, the device one word (`GPU`, `CPU`, `XPU`, …).
        c.until(b" ")?;
        c.expect(b"KV cache usage: ")?;
        let kv_usage_pct = c.float()?;
        Some(IterationRecord {
            index,
            ctx_requests,
            ctx_tokens,
            gen_requests,
            gen_tokens,
            elapsed_ms,
            dummy,
            kv_usage_pct,
        })
    }

    /// Tokens scheduled this step.
    pub fn tokens(&self) -> u32 {
        self.ctx_tokens.saturating_add(self.gen_tokens)
    }

    /// Requests scheduled this step.
    pub fn requests(&self) -> u32 {
        self.ctx_requests.saturating_add(self.gen_requests)
    }
}

/// The KV-cache device word as printed (`GPU`, `CPU`, `XPU`, …), up to 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Device([u8; 8], u8);

impl Device {
    fn new(word: &[u8]) -> Self {
        let len = word.len().min(8);
        let mut bytes = [0; 8];
        bytes[..len].copy_from_slice(&word[..len]);
        Device(bytes, len as u8)
    }

    /// The word.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0[..usize::from(self.1)]).unwrap_or("?")
    }
}

/// One periodic stats line (`LoggingStatLogger.log`, loggers.py:286-345), and the V0 form
/// (`Swapped`, `Pending`, a second `CPU KV cache usage`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StatsRecord {
    /// Computed prompt tokens per second over the interval.
    pub prompt_throughput: f64,
    /// Generated tokens per second over the interval.
    pub generation_throughput: f64,
    /// Running requests.
    pub running: u32,
    /// Waiting requests (V0: `Pending`), deferred ones included.
    pub waiting: u32,
    /// Preemptions during the interval (printed only when non-zero).
    pub preemptions: u64,
    /// The KV-cache device word.
    pub device: Device,
    /// KV-cache usage in percent (the first one printed).
    pub kv_usage_pct: Option<f64>,
    /// Prefix-cache hit rate over the last 1000 requests, in percent.
    pub prefix_cache_hit_rate_pct: Option<f64>,
}

impl StatsRecord {
    /// Parses the message after the engine prefix; fragments it does not know are skipped.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut c = Cursor::new(body);
        c.expect(b"Avg prompt throughput: ")?;
        let prompt_throughput = c.float()?;
        c.expect(b" tokens/s, Avg generation throughput: ")?;
        let generation_throughput = c.float()?;
        c.expect(b" tokens/s")?;
        let mut record = StatsRecord {
            prompt_throughput,
            generation_throughput,
            ..StatsRecord::default()
        };
        while c.eat(b", ") {
            record.fragment(&mut c);
        }
        Some(record)
    }

    /// Reads one `, `-separated fragment (if known) and moves to the next `, `.
    fn fragment(&mut self, c: &mut Cursor<'_>) {
        let _known = if c.eat(b"Running: ") {
            c.u32().map(|v| self.running = v)
        } else if c.eat(b"Waiting: ") || c.eat(b"Pending: ") {
            c.u32().map(|v| self.waiting = v)
        } else if c.eat(b"Preemptions: ") {
            c.uint().map(|v| self.preemptions = v)
        } else if c.eat(b"Prefix cache hit rate: ") {
            c.float().map(|v| self.prefix_cache_hit_rate_pct = Some(v))
        } else if c.eat(b"KV fetch: ") {
            // `%d waiting to start, %d in progress, %d completed waiting`: holds `, `.
            c.until(b" completed waiting").map(|_| ())
        } else {
            self.kv_usage(c)
        };
        skip_fragment(c);
    }

    fn kv_usage(&mut self, c: &mut Cursor<'_>) -> Option<()> {
        let rest = c.rest();
        let word = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let mut after = Cursor::new(&rest[word..]);
        after.expect(b" KV cache usage: ")?;
        let pct = after.float()?;
        if self.kv_usage_pct.is_none() {
            self.kv_usage_pct = Some(pct);
            self.device = Device::new(&rest[..word]);
        }
        *c = after;
        Some(())
    }
}

fn skip_fragment(c: &mut Cursor<'_>) {
    let rest = c.rest();
    let next = memchr::memmem::find(rest, b", ").unwrap_or(rest.len());
    *c = Cursor::new(&rest[next..]);
}

/// Which spelling of the MFU line: vLLM 0.32's `TF/s/device` or the older `TF/s/GPU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfuUnit {
    /// `TF/s/device … GB/s/device` (vLLM 0.32, vllm/v1/metrics/perf.py:1725).
    Device,
    /// `TF/s/GPU … GB/s/GPU` (older perf.py).
    Gpu,
}

/// One `MFU: %.1f TF/s/device %.1f GB/s/device` line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MfuRecord {
    /// Achieved TFLOP/s per device over the interval.
    pub tflops: f64,
    /// Achieved GB/s (read + write) per device over the interval.
    pub gbps: f64,
    /// The spelling.
    pub unit: MfuUnit,
}

impl MfuRecord {
    /// Parses the message after the engine prefix.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut c = Cursor::new(body);
        c.expect(b"MFU: ")?;
        let tflops = c.float()?;
        let unit = if c.eat(b" TF/s/device ") {
            MfuUnit::Device
        } else if c.eat(b" TF/s/GPU ") {
            MfuUnit::Gpu
        } else {
            return None;
        };
        let gbps = c.float()?;
        c.expect(b" GB/s/")?;
        Some(MfuRecord { tflops, gbps, unit })
    }
}

/// One `SpecDecoding metrics: …` line (vllm/v1/spec_decode/metrics.py:120, vLLM 0.32).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecDecodeRecord {
    /// `Mean acceptance length` (1 + accepted / drafts).
    pub mean_acceptance_length: f64,
    /// Accepted draft tokens in the interval.
    pub accepted: u64,
    /// Drafted tokens in the interval.
    pub drafted: u64,
}

impl SpecDecodeRecord {
    /// Parses the message (these lines carry no engine prefix).
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut c = Cursor::new(body);
        c.expect(b"SpecDecoding metrics: Mean acceptance length: ")?;
        let mean_acceptance_length = c.float()?;
        c.until(b"Accepted: ")?;
        let accepted = c.uint()?;
        c.expect(b" tokens, Drafted: ")?;
        let drafted = c.uint()?;
        Some(SpecDecodeRecord {
            mean_acceptance_length,
            accepted,
            drafted,
        })
    }
}

/// The `k=v` pairs of a `KV Transfer metrics: k=v, …` line (kv_connector/v1/metrics.py:103);
/// a key may hold `, ` (a label tuple), so a piece without `=` joins the next one; values that
/// are not numbers are skipped. Rare lines: allocating here is fine.
pub(crate) fn kv_transfer_pairs(body: &[u8]) -> Option<Vec<(&[u8], f64)>> {
    let rest = body.strip_prefix(b"KV Transfer metrics: ")?;
    let mut pairs = Vec::new();
    let mut start = 0;
    let pieces = memchr::memmem::find_iter(rest, b", ").chain(std::iter::once(rest.len()));
    for end in pieces {
        let part = &rest[start..end];
        let Some(eq) = memchr::memrchr(b'=', part) else {
            continue;
        };
        if let Some(value) = Cursor::new(&part[eq + 1..]).float() {
            pairs.push((&part[..eq], value));
        }
        start = (end + 2).min(rest.len());
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_lines_of_the_anchors() {
        let (engine, body) = split_engine(
            b"Engine 001: Iteration(1524): 0 context requests, 0 context tokens, 0 generation \
              requests, 0 generation tokens, iteration elapsed time: 0.35 ms (dummy), GPU KV cache usage: 0.0%",
        );
        assert_eq!(engine, EngineKey::Index(1));
        let it = IterationRecord::parse(body).unwrap();
        assert!(it.dummy);
        assert_eq!((it.index, it.elapsed_ms), (1524, 0.35));
        let it = IterationRecord::parse(
            b"Iteration(1525): 1 context requests, 1210 context tokens, 5 generation requests, 5 \
              generation tokens, iteration elapsed time: 58.02 ms, GPU KV cache usage: 40.1%, encoder \
              inputs: 2, encoder output embeddings: 1152",
        )
        .unwrap();
        assert_eq!((it.ctx_tokens, it.gen_tokens, it.tokens()), (1210, 5, 1215));
        assert_eq!((it.requests(), it.kv_usage_pct), (6, 40.1));
        assert!(IterationRecord::parse(b"Iteration(1): 1 context requests").is_none());
    }

    #[test]
    fn stats_lines_current_aggregated_and_v0() {
        let (engine, body) = split_engine(
            b"2 Engines Aggregated: Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: \
              88.1 tokens/s, Running: 7 reqs, Waiting: 0 reqs, GPU KV cache usage: 12.3%",
        );
        assert_eq!(engine, EngineKey::Aggregated(2));
        let s = StatsRecord::parse(body).unwrap();
        assert_eq!(
            (s.generation_throughput, s.running, s.kv_usage_pct),
            (88.1, 7, Some(12.3))
        );
        let s = StatsRecord::parse(
            b"Avg prompt throughput: 1843.2 tokens/s, Avg generation throughput: 612.7 tokens/s, \
              Running: 24 reqs, Waiting: 3 reqs, Deferred: 1 reqs, KV fetch: 1 waiting to start, 2 in \
              progress, 0 completed waiting, Preemptions: 2, XPU KV cache usage: 71.4%, Prefix cache hit \
              rate: 38.9%, Corrupted: 1 reqs, MM cache hit rate: 5.0%",
        )
        .unwrap();
        assert_eq!((s.waiting, s.preemptions, s.device.as_str()), (3, 2, "XPU"));
        assert_eq!(
            (s.kv_usage_pct, s.prefix_cache_hit_rate_pct),
            (Some(71.4), Some(38.9))
        );
        let v0 = StatsRecord::parse(
            b"Avg prompt throughput: 1.0 tokens/s, Avg generation throughput: 2.0 tokens/s, Running: 3 \
              reqs, Swapped: 0 reqs, Pending: 4 reqs, GPU KV cache usage: 9.5%, CPU KV cache usage: 0.0%.",
        )
        .unwrap();
        assert_eq!((v0.running, v0.waiting, v0.kv_usage_pct), (3, 4, Some(9.5)));
    }

    #[test]
    fn mfu_spec_and_kv_transfer() {
        let m = MfuRecord::parse(b"MFU: 312.4 TF/s/device 1875.0 GB/s/device").unwrap();
        assert_eq!((m.tflops, m.gbps, m.unit), (312.4, 1875.0, MfuUnit::Device));
        let m = MfuRecord::parse(b"MFU: 1.5 TF/s/GPU 20.0 GB/s/GPU").unwrap();
        assert_eq!(m.unit, MfuUnit::Gpu);
        let s = SpecDecodeRecord::parse(
            b"SpecDecoding metrics: Mean acceptance length: 2.45, Accepted throughput: 123.40 tokens/s, \
              Drafted throughput: 250.10 tokens/s, Accepted: 1234 tokens, Drafted: 2501 tokens, \
              Per-position acceptance rate: 0.812, 0.421, 0.217, Avg Draft acceptance rate: 49.3%",
        )
        .unwrap();
        assert_eq!(
            (s.mean_acceptance_length, s.accepted, s.drafted),
            (2.45, 1234, 2501)
        );
        let pairs: Vec<_> = kv_transfer_pairs(
            b"KV Transfer metrics: vllm:kv_offload_store_bytes=805306368, vllm:kv_offload_store_time=0.0913, \
              vllm:kv_offload_tiering_read_bytes:('1:fs',)=134217728",
        )
        .unwrap();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1], (&b"vllm:kv_offload_store_time"[..], 0.0913));
        assert_eq!(pairs[2].0, b"vllm:kv_offload_tiering_read_bytes:('1:fs',)");
    }
}
