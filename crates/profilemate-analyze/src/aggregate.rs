//! Provides the per-engine aggregates a log pass fills: raw counts and sums, derived figures
//! left to [`crate::summary`].
//!
//! Memory is bounded by the range of the values, not by the length of the log: step times,
//! tokens and requests per step go into [`ValueCounts`] (exact, as the log prints whole
//! hundredths of a millisecond and whole tokens), stats lines into a fixed-size [`Series`].

use crate::counts::ValueCounts;
use crate::group::{CudaGraphTable, MfuDetails};
use crate::message::{Device, IterationRecord, MfuRecord, MfuUnit, SpecDecodeRecord, StatsRecord};

/// Count and summed elapsed time of one kind of step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepKind {
    /// Steps.
    pub count: u64,
    /// Σ elapsed ms.
    pub elapsed_ms: f64,
}

impl StepKind {
    fn add(&mut self, ms: f64) {
        self.count += 1;
        self.elapsed_ms += ms;
    }
}

/// Everything the `Iteration(N)` lines of one engine say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IterationAgg {
    /// Lines.
    pub count: u64,
    /// DP dummy steps among them (not in the per-step counts or the kinds).
    pub dummy: u64,
    /// Σ context requests.
    pub ctx_requests: u64,
    /// Σ context (prompt) tokens.
    pub ctx_tokens: u64,
    /// Σ generation requests.
    pub gen_requests: u64,
    /// Σ generation tokens.
    pub gen_tokens: u64,
    /// Σ elapsed ms (dummy steps included).
    pub elapsed_ms: f64,
    /// Steps with context tokens only.
    pub prefill_only: StepKind,
    /// Steps with generation tokens only.
    pub decode_only: StepKind,
    /// Steps with both.
    pub mixed: StepKind,
    /// Peak KV usage, percent.
    pub kv_usage_max_pct: f64,
    /// Σ KV usage percent (for the mean).
    pub kv_usage_sum_pct: f64,
    /// First and last timestamp (seconds of the year).
    pub span: Option<(u32, u32)>,
    /// Non-dummy steps by `iteration elapsed time` in hundredths of a millisecond.
    pub elapsed_hundredths_ms: ValueCounts,
    /// Non-dummy steps by tokens scheduled.
    pub tokens: ValueCounts,
    /// Non-dummy steps by requests scheduled.
    pub requests: ValueCounts,
}

impl IterationAgg {
    pub(crate) fn add(&mut self, it: &IterationRecord, at: Option<u32>) {
        self.count += 1;
        self.ctx_requests += u64::from(it.ctx_requests);
        self.ctx_tokens += u64::from(it.ctx_tokens);
        self.gen_requests += u64::from(it.gen_requests);
        self.gen_tokens += u64::from(it.gen_tokens);
        self.elapsed_ms += it.elapsed_ms;
        self.kv_usage_max_pct = self.kv_usage_max_pct.max(it.kv_usage_pct);
        self.kv_usage_sum_pct += it.kv_usage_pct;
        extend_span(&mut self.span, at);
        if it.dummy {
            self.dummy += 1;
            return;
        }
        match (it.ctx_tokens > 0, it.gen_tokens > 0) {
            (true, false) => self.prefill_only.add(it.elapsed_ms),
            (false, true) => self.decode_only.add(it.elapsed_ms),
            _ => self.mixed.add(it.elapsed_ms),
        }
        // Printed as `%.2f`: whole hundredths (a negative or NaN time counts as 0).
        self.elapsed_hundredths_ms
            .add((it.elapsed_ms * 100.0).round() as u64);
        self.tokens.add(u64::from(it.tokens()));
        self.requests.add(u64::from(it.requests()));
    }
}

fn extend_span(span: &mut Option<(u32, u32)>, at: Option<u32>) {
    if let Some(t) = at {
        *span = Some(span.map_or((t, t), |(first, _)| (first, t)));
    }
}

/// One point of a [`Series`]: the mean of the stats lines it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SeriesPoint {
    /// Seconds from the first stats line to this point's first line.
    pub t_s: u32,
    /// Lines averaged.
    pub lines: u32,
    /// Σ prompt throughput, tokens/s.
    pub prompt_throughput: f64,
    /// Σ generation throughput.
    pub generation_throughput: f64,
    /// Σ running.
    pub running: f64,
    /// Σ waiting.
    pub waiting: f64,
    /// Σ KV usage %.
    pub kv_usage_pct: f64,
}

impl SeriesPoint {
    fn add(&mut self, other: &SeriesPoint) {
        self.lines += other.lines;
        self.prompt_throughput += other.prompt_throughput;
        self.generation_throughput += other.generation_throughput;
        self.running += other.running;
        self.waiting += other.waiting;
        self.kv_usage_pct += other.kv_usage_pct;
    }

    /// The mean of a field over the covered lines.
    pub fn mean(&self, field: fn(&SeriesPoint) -> f64) -> f64 {
        field(self) / f64::from(self.lines.max(1))
    }
}

/// Stats lines over time in at most [`Series::CAPACITY`] points: when full, neighbours merge
/// pairwise and each point covers twice as many lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    points: Vec<SeriesPoint>,
    lines_per_point: u32,
    start: Option<u32>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            points: Vec::new(),
            lines_per_point: 1,
            start: None,
        }
    }
}

impl Series {
    /// The most points kept.
    pub const CAPACITY: usize = 64;

    fn push(&mut self, s: &StatsRecord, at: Option<u32>) {
        let start = *self.start.get_or_insert(at.unwrap_or(0));
        let point = SeriesPoint {
            t_s: at.map_or(0, |t| t.saturating_sub(start)),
            lines: 1,
            prompt_throughput: s.prompt_throughput,
            generation_throughput: s.generation_throughput,
            running: f64::from(s.running),
            waiting: f64::from(s.waiting),
            kv_usage_pct: s.kv_usage_pct.unwrap_or(0.0),
        };
        match self.points.last_mut() {
            Some(last) if last.lines < self.lines_per_point => last.add(&point),
            _ => {
                if self.points.len() == Self::CAPACITY {
                    self.halve();
                }
                self.points.push(point);
            }
        }
    }

    fn halve(&mut self) {
        let merged = self
            .points
            .chunks(2)
            .map(|pair| {
                let mut p = pair[0];
                if let Some(second) = pair.get(1) {
                    p.add(second);
                }
                p
            })
            .collect();
        self.points = merged;
        self.lines_per_point *= 2;
    }

    /// The points, oldest first.
    pub fn points(&self) -> &[SeriesPoint] {
        &self.points
    }
}

/// Everything the periodic stats lines of one engine say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsAgg {
    /// Lines.
    pub count: u64,
    /// Lines with zero prompt and generation throughput.
    pub idle: u64,
    /// Σ prompt throughput.
    pub prompt_throughput_sum: f64,
    /// Σ generation throughput.
    pub generation_throughput_sum: f64,
    /// Peak generation throughput.
    pub generation_throughput_max: f64,
    /// Peak prompt throughput.
    pub prompt_throughput_max: f64,
    /// Peak running.
    pub running_max: u32,
    /// Σ running.
    pub running_sum: u64,
    /// Peak waiting.
    pub waiting_max: u32,
    /// Σ waiting.
    pub waiting_sum: u64,
    /// Lines with waiting > 0.
    pub waiting_lines: u64,
    /// Σ `Preemptions: N`.
    pub preemptions: u64,
    /// Peak KV usage %.
    pub kv_usage_max_pct: f64,
    /// Σ KV usage % (lines that print it).
    pub kv_usage_sum_pct: f64,
    /// The last prefix-cache hit rate printed.
    pub prefix_cache_hit_rate_pct: Option<f64>,
    /// The KV-cache device word.
    pub device: Device,
    /// First and last timestamp.
    pub span: Option<(u32, u32)>,
    /// Throughput and queue over time.
    pub series: Series,
}

impl StatsAgg {
    pub(crate) fn add(&mut self, s: &StatsRecord, at: Option<u32>) {
        self.count += 1;
        if s.prompt_throughput == 0.0 && s.generation_throughput == 0.0 {
            self.idle += 1;
        }
        self.prompt_throughput_sum += s.prompt_throughput;
        self.generation_throughput_sum += s.generation_throughput;
        self.prompt_throughput_max = self.prompt_throughput_max.max(s.prompt_throughput);
        self.generation_throughput_max =
            self.generation_throughput_max.max(s.generation_throughput);
        self.running_max = self.running_max.max(s.running);
        self.running_sum += u64::from(s.running);
        self.waiting_max = self.waiting_max.max(s.waiting);
        self.waiting_sum += u64::from(s.waiting);
        self.waiting_lines += u64::from(s.waiting > 0);
        self.preemptions += s.preemptions;
        if let Some(kv) = s.kv_usage_pct {
            self.kv_usage_max_pct = self.kv_usage_max_pct.max(kv);
            self.kv_usage_sum_pct += kv;
            self.device = s.device;
        }
        if s.prefix_cache_hit_rate_pct.is_some() {
            self.prefix_cache_hit_rate_pct = s.prefix_cache_hit_rate_pct;
        }
        extend_span(&mut self.span, at);
        self.series.push(s, at);
    }
}

/// The MFU lines and debug JSONs of one engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MfuAgg {
    /// MFU lines.
    pub count: u64,
    /// Of which in the older `TF/s/GPU` spelling.
    pub gpu_unit_lines: u64,
    /// Σ TF/s.
    pub tflops_sum: f64,
    /// Σ GB/s.
    pub gbps_sum: f64,
    /// Peak TF/s.
    pub tflops_max: f64,
    /// Peak GB/s.
    pub gbps_max: f64,
    /// `MFU details` JSONs read.
    pub details: u64,
    /// Their figures summed.
    pub details_sum: MfuDetails,
}

impl MfuAgg {
    pub(crate) fn add(&mut self, m: &MfuRecord) {
        self.count += 1;
        self.gpu_unit_lines += u64::from(m.unit == MfuUnit::Gpu);
        self.tflops_sum += m.tflops;
        self.gbps_sum += m.gbps;
        self.tflops_max = self.tflops_max.max(m.tflops);
        self.gbps_max = self.gbps_max.max(m.gbps);
    }

    pub(crate) fn add_details(&mut self, d: &MfuDetails) {
        self.details += 1;
        let sum = &mut self.details_sum;
        sum.prefill_reqs += d.prefill_reqs;
        sum.decode_reqs += d.decode_reqs;
        sum.num_batches += d.num_batches;
        sum.duration_s += d.duration_s;
        merge(&mut sum.tflops_by_component, &d.tflops_by_component);
        merge(&mut sum.gb_by_component, &d.gb_by_component);
    }
}

fn merge(into: &mut Vec<(String, f64)>, from: &[(String, f64)]) {
    for (key, value) in from {
        if let Some((_, total)) = into.iter_mut().find(|(k, _)| k == key) {
            *total += value;
        } else if into.len() < 64 {
            into.push((key.clone(), *value));
        }
    }
}

/// The CUDA-graph tables of one engine, summed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CudaGraphAgg {
    /// Tables read.
    pub tables: u64,
    /// Their rows summed (mode and capture sizes from the last table).
    pub sum: CudaGraphTable,
}

impl CudaGraphAgg {
    pub(crate) fn add(&mut self, t: &CudaGraphTable) {
        self.tables += 1;
        let sum = &mut self.sum;
        if t.mode.is_some() {
            sum.mode.clone_from(&t.mode);
        }
        if t.capture_sizes.is_some() {
            sum.capture_sizes = t.capture_sizes;
            sum.max_capture_size = t.max_capture_size;
        }
        sum.unpadded_tokens += t.unpadded_tokens;
        sum.padded_tokens += t.padded_tokens;
        sum.rows += t.rows;
        for (total, n) in sum.steps_by_mode.iter_mut().zip(t.steps_by_mode) {
            *total += n;
        }
    }
}

/// Spec-decode lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecDecodeAgg {
    /// Lines.
    pub count: u64,
    /// Σ accepted draft tokens.
    pub accepted: u64,
    /// Σ drafted tokens.
    pub drafted: u64,
    /// Σ mean acceptance length (for the mean over lines).
    pub mean_acceptance_length_sum: f64,
}

impl SpecDecodeAgg {
    pub(crate) fn add(&mut self, s: &SpecDecodeRecord) {
        self.count += 1;
        self.accepted += s.accepted;
        self.drafted += s.drafted;
        self.mean_acceptance_length_sum += s.mean_acceptance_length;
    }
}

/// KV-transfer lines: each numeric key summed (at most 64 keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KvTransferAgg {
    /// Lines.
    pub count: u64,
    /// Key → Σ value, in first-seen order.
    pub sums: Vec<(String, f64)>,
}

impl KvTransferAgg {
    pub(crate) fn add(&mut self, pairs: &[(&[u8], f64)]) {
        self.count += 1;
        for (key, value) in pairs {
            if let Some((_, total)) = self.sums.iter_mut().find(|(k, _)| k.as_bytes() == *key) {
                *total += value;
            } else if self.sums.len() < 64 {
                self.sums
                    .push((String::from_utf8_lossy(key).into_owned(), *value));
            }
        }
    }
}

/// All that one engine's lines say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineAgg {
    /// `Iteration(N)` lines.
    pub iterations: IterationAgg,
    /// Periodic stats lines.
    pub stats: StatsAgg,
    /// MFU lines and details.
    pub mfu: MfuAgg,
    /// CUDA-graph tables.
    pub cudagraph: CudaGraphAgg,
    /// Spec-decode lines.
    pub spec_decode: SpecDecodeAgg,
    /// KV-transfer lines.
    pub kv_transfer: KvTransferAgg,
}

impl EngineAgg {
    /// Adds another engine's figures (for the all-engines view): sums add, peaks take the
    /// larger, per-step counts merge; the time series stays this engine's.
    pub fn merge(&mut self, o: &EngineAgg) {
        let (it, oi) = (&mut self.iterations, &o.iterations);
        it.count += oi.count;
        it.dummy += oi.dummy;
        it.ctx_requests += oi.ctx_requests;
        it.ctx_tokens += oi.ctx_tokens;
        it.gen_requests += oi.gen_requests;
        it.gen_tokens += oi.gen_tokens;
        it.elapsed_ms += oi.elapsed_ms;
        for (kind, other) in [
            (&mut it.prefill_only, &oi.prefill_only),
            (&mut it.decode_only, &oi.decode_only),
            (&mut it.mixed, &oi.mixed),
        ] {
            kind.count += other.count;
            kind.elapsed_ms += other.elapsed_ms;
        }
        it.kv_usage_max_pct = it.kv_usage_max_pct.max(oi.kv_usage_max_pct);
        it.kv_usage_sum_pct += oi.kv_usage_sum_pct;
        it.span = match (it.span, oi.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
        it.elapsed_hundredths_ms.merge(&oi.elapsed_hundredths_ms);
        it.tokens.merge(&oi.tokens);
        it.requests.merge(&oi.requests);
        let (st, os) = (&mut self.stats, &o.stats);
        if st.count == 0 {
            st.series = os.series.clone();
            st.device = os.device;
        }
        st.count += os.count;
        st.idle += os.idle;
        st.prompt_throughput_sum += os.prompt_throughput_sum;
        st.generation_throughput_sum += os.generation_throughput_sum;
        st.prompt_throughput_max = st.prompt_throughput_max.max(os.prompt_throughput_max);
        st.generation_throughput_max = st
            .generation_throughput_max
            .max(os.generation_throughput_max);
        st.running_max = st.running_max.max(os.running_max);
        st.running_sum += os.running_sum;
        st.waiting_max = st.waiting_max.max(os.waiting_max);
        st.waiting_sum += os.waiting_sum;
        st.waiting_lines += os.waiting_lines;
        st.preemptions += os.preemptions;
        st.kv_usage_max_pct = st.kv_usage_max_pct.max(os.kv_usage_max_pct);
        st.kv_usage_sum_pct += os.kv_usage_sum_pct;
        st.prefix_cache_hit_rate_pct = st
            .prefix_cache_hit_rate_pct
            .or(os.prefix_cache_hit_rate_pct);
        let (m, om) = (&mut self.mfu, &o.mfu);
        m.count += om.count;
        m.gpu_unit_lines += om.gpu_unit_lines;
        m.tflops_sum += om.tflops_sum;
        m.gbps_sum += om.gbps_sum;
        m.tflops_max = m.tflops_max.max(om.tflops_max);
        m.gbps_max = m.gbps_max.max(om.gbps_max);
        if om.details > 0 {
            m.add_details(&om.details_sum);
            m.details += om.details - 1;
        }
        if o.cudagraph.tables > 0 {
            self.cudagraph.add(&o.cudagraph.sum);
            self.cudagraph.tables += o.cudagraph.tables - 1;
        }
        self.spec_decode.count += o.spec_decode.count;
        self.spec_decode.accepted += o.spec_decode.accepted;
        self.spec_decode.drafted += o.spec_decode.drafted;
        self.spec_decode.mean_acceptance_length_sum += o.spec_decode.mean_acceptance_length_sum;
        self.kv_transfer.count += o.kv_transfer.count;
        for (key, value) in &o.kv_transfer.sums {
            match self.kv_transfer.sums.iter_mut().find(|(k, _)| k == key) {
                Some((_, total)) => *total += value,
                None => self.kv_transfer.sums.push((key.clone(), *value)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_stays_bounded_and_keeps_means() {
        let mut series = Series::default();
        for i in 0..1000u32 {
            let s = StatsRecord {
                generation_throughput: 10.0,
                running: i % 2,
                ..StatsRecord::default()
            };
            series.push(&s, Some(i * 10));
        }
        let points = series.points();
        assert!(points.len() <= Series::CAPACITY && points.len() > Series::CAPACITY / 2);
        assert_eq!(points.iter().map(|p| p.lines).sum::<u32>(), 1000);
        assert!(
            points
                .iter()
                .all(|p| p.mean(|p| p.generation_throughput) == 10.0)
        );
        assert_eq!(points[1].t_s, 10 * points[0].lines);
    }
}
