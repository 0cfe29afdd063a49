//! Provides [`ServerMetrics`]: the vLLM metrics the server exports, registered from the metrics
//! crate's catalogue (names, help, buckets and labels of vLLM 0.32's `PrometheusStatLogger`,
//! vllm/v1/metrics/loggers.py) and updated from engine events.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use profilemate_metrics::catalogue::{self, BucketConfig, RegisteredFamily};
use profilemate_metrics::registry::{Counter, Gauge, Histogram};
use profilemate_metrics::{Registry, RegistryError};
use profilemate_sim::{EngineRequestRecord, SpecDecodeStats, StepCounters, StepRecord};

/// Label values every series carries: the served model and the engine index.
struct Labels<'a> {
    model: &'a str,
    engine: String,
    registry: &'a Registry,
    buckets: BucketConfig,
    /// Families registered so far: each is registered once, and every engine adds its series.
    families: &'a RefCell<HashMap<String, RegisteredFamily>>,
}

impl Labels<'_> {
    fn family(&self, name: &str) -> Result<RegisteredFamily, RegistryError> {
        if let Some(f) = self.families.borrow().get(name) {
            return Ok(f.clone());
        }
        let def = catalogue::lookup(name)
            .ok_or_else(|| RegistryError::InvalidMetricName(name.to_owned()))?;
        let family = def.register(self.registry, &self.buckets)?;
        self.families
            .borrow_mut()
            .insert(name.to_owned(), family.clone());
        Ok(family)
    }

    fn values<'b>(&'b self, extra: &[&'b str]) -> Vec<&'b str> {
        let mut values = vec![self.model, self.engine.as_str()];
        values.extend_from_slice(extra);
        values
    }

    fn counters(&self, name: &str, extra: &[&[&str]]) -> Result<Vec<Counter>, RegistryError> {
        let RegisteredFamily::Counter(f) = self.family(name)? else {
            return Err(RegistryError::InvalidMetricName(name.to_owned()));
        };
        extra.iter().map(|e| f.labels(&self.values(e))).collect()
    }

    fn counter(&self, name: &str) -> Result<Counter, RegistryError> {
        let mut all = self.counters(name, &[&[]])?;
        all.pop()
            .ok_or_else(|| RegistryError::InvalidMetricName(name.to_owned()))
    }

    fn gauge(&self, name: &str) -> Result<Gauge, RegistryError> {
        let RegisteredFamily::Gauge(f) = self.family(name)? else {
            return Err(RegistryError::InvalidMetricName(name.to_owned()));
        };
        f.labels(&self.values(&[]))
    }

    fn histogram(&self, name: &str) -> Result<Histogram, RegistryError> {
        let RegisteredFamily::Histogram(f) = self.family(name)? else {
            return Err(RegistryError::InvalidMetricName(name.to_owned()));
        };
        f.labels(&self.values(&[]))
    }
}

/// vLLM's `finished_reason` label values, bound up front as vLLM does.
const FINISHED_REASONS: [&[&str]; 5] = [
    &["stop"],
    &["length"],
    &["abort"],
    &["error"],
    &["repetition"],
];

/// Handles on every series the server updates.
#[derive(Debug)]
pub(crate) struct ServerMetrics {
    running: Gauge,
    waiting: Gauge,
    kv_usage: Gauge,
    preemptions: Counter,
    prompt_tokens: Counter,
    generation_tokens: Counter,
    prefix_queries: Counter,
    prefix_hits: Counter,
    success: Vec<Counter>,
    iteration_tokens: Histogram,
    ttft: Histogram,
    itl: Histogram,
    latency: RequestLatency,
    spec: Option<SpecMetrics>,
}

/// The per-request histograms observed when a request finishes.
#[derive(Debug)]
struct RequestLatency {
    e2e: Histogram,
    queue: Histogram,
    prefill: Histogram,
    decode: Histogram,
    inference: Histogram,
    tpot: Histogram,
    prompt_tokens: Histogram,
    generation_tokens: Histogram,
    max_tokens: Histogram,
    max_generation: Histogram,
    params_n: Histogram,
}

#[derive(Debug)]
struct SpecMetrics {
    drafts: Counter,
    draft_tokens: Counter,
    accepted: Counter,
    per_pos: Vec<Counter>,
}

impl ServerMetrics {
    /// Registers one engine's metrics in `registry` for `model`
    /// ([`register_engines`](Self::register_engines) with one engine).
    #[cfg(test)]
    pub(crate) fn register(
        registry: &Registry,
        model: &str,
        max_model_len: u32,
        num_spec: Option<u32>,
    ) -> Result<Self, RegistryError> {
        let mut all = Self::register_engines(registry, model, 1, max_model_len, num_spec)?;
        all.pop()
            .ok_or_else(|| RegistryError::InvalidMetricName("vllm:".to_owned()))
    }

    /// Registers the metrics of `engines` engines (at least one) in `registry` for `model`,
    /// each family once with one series per engine (`engine="0"`, `"1"`, … as vLLM's
    /// `PrometheusStatLogger` labels them with `--data-parallel-size`); spec-decode ones when
    /// `num_spec` is some (`vllm:spec_decode_*`, vllm/v1/spec_decode/metrics.py).
    pub(crate) fn register_engines(
        registry: &Registry,
        model: &str,
        engines: usize,
        max_model_len: u32,
        num_spec: Option<u32>,
    ) -> Result<Vec<Self>, RegistryError> {
        let families = RefCell::new(HashMap::new());
        (0..engines.max(1))
            .map(|engine| {
                let l = Labels {
                    model,
                    engine: engine.to_string(),
                    registry,
                    buckets: BucketConfig::new(u64::from(max_model_len)),
                    families: &families,
                };
                Self::register_labelled(&l, num_spec)
            })
            .collect()
    }

    fn register_labelled(l: &Labels<'_>, num_spec: Option<u32>) -> Result<Self, RegistryError> {
        Ok(ServerMetrics {
            running: l.gauge("vllm:num_requests_running")?,
            waiting: l.gauge("vllm:num_requests_waiting")?,
            kv_usage: l.gauge("vllm:kv_cache_usage_perc")?,
            prefix_queries: l.counter("vllm:prefix_cache_queries")?,
            prefix_hits: l.counter("vllm:prefix_cache_hits")?,
            preemptions: l.counter("vllm:num_preemptions")?,
            prompt_tokens: l.counter("vllm:prompt_tokens")?,
            generation_tokens: l.counter("vllm:generation_tokens")?,
            success: l.counters("vllm:request_success", &FINISHED_REASONS)?,
            iteration_tokens: l.histogram("vllm:iteration_tokens_total")?,
            ttft: l.histogram("vllm:time_to_first_token_seconds")?,
            itl: l.histogram("vllm:inter_token_latency_seconds")?,
            latency: RequestLatency::register(l)?,
            spec: num_spec.map(|n| SpecMetrics::register(l, n)).transpose()?,
        })
    }

    /// One engine step: gauges, counters and the iteration-tokens histogram.
    pub(crate) fn on_step(&self, step: &StepRecord) {
        self.running.set(f64::from(step.num_running));
        self.waiting.set(f64::from(step.num_waiting));
        self.kv_usage.set(step.kv_cache_usage);
        let counters = StepCounters::of(step);
        self.preemptions.inc_by(counters.preemptions as f64);
        self.prefix_queries
            .inc_by(counters.prefix_cache_queries as f64);
        self.prefix_hits.inc_by(counters.prefix_cache_hits as f64);
        self.iteration_tokens
            .observe(counters.iteration_tokens as f64);
        if let (Some(spec), Some(stats)) = (&self.spec, &step.spec_decode) {
            spec.observe(stats);
        }
    }

    /// Live requests, when no engine step reports them (fixed-timing mode).
    pub(crate) fn set_running(&self, running: usize) {
        self.running.set(running as f64);
    }

    /// The first token of a request: its prompt counts and its TTFT is observed.
    pub(crate) fn on_first_token(&self, prompt_tokens: u32, ttft: Duration) {
        self.prompt_tokens.inc_by(f64::from(prompt_tokens));
        self.ttft.observe(ttft.as_secs_f64());
    }

    /// `n` more output tokens.
    pub(crate) fn add_generation_tokens(&self, n: u64) {
        self.generation_tokens.inc_by(n as f64);
    }

    /// `times` inter-token latencies of `gap` each.
    pub(crate) fn observe_itl(&self, gap: Duration, times: u64) {
        self.itl.observe_repeated(gap.as_secs_f64(), times);
    }

    /// A finished or aborted request.
    pub(crate) fn on_finished(&self, record: &EngineRequestRecord, aborted: bool) {
        let reason = if aborted { 2 } else { 1 };
        if let Some(c) = self.success.get(reason) {
            c.inc();
        }
        if !aborted {
            self.latency.observe(record);
        }
    }
}

impl RequestLatency {
    fn register(l: &Labels<'_>) -> Result<Self, RegistryError> {
        Ok(RequestLatency {
            e2e: l.histogram("vllm:e2e_request_latency_seconds")?,
            queue: l.histogram("vllm:request_queue_time_seconds")?,
            prefill: l.histogram("vllm:request_prefill_time_seconds")?,
            decode: l.histogram("vllm:request_decode_time_seconds")?,
            inference: l.histogram("vllm:request_inference_time_seconds")?,
            tpot: l.histogram("vllm:request_time_per_output_token_seconds")?,
            prompt_tokens: l.histogram("vllm:request_prompt_tokens")?,
            generation_tokens: l.histogram("vllm:request_generation_tokens")?,
            max_tokens: l.histogram("vllm:request_params_max_tokens")?,
            max_generation: l.histogram("vllm:request_max_num_generation_tokens")?,
            params_n: l.histogram("vllm:request_params_n")?,
        })
    }

    /// Mirrors `_update_stats_from_finished` (vllm/v1/metrics/loggers.py): e2e, queue,
    /// prefill, decode, inference and per-token times, and the request's token counts.
    fn observe(&self, r: &EngineRequestRecord) {
        let secs = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
            _ => None,
        };
        let observe = |h: &Histogram, v: Option<f64>| v.into_iter().for_each(|v| h.observe(v));
        observe(&self.e2e, r.e2e_latency().map(|d| d.as_secs_f64()));
        observe(&self.queue, r.queue_time().map(|d| d.as_secs_f64()));
        observe(&self.prefill, secs(r.first_scheduled, r.first_token));
        observe(&self.decode, secs(r.first_token, r.last_token));
        observe(&self.inference, secs(r.first_scheduled, r.last_token));
        let decode = secs(r.first_token, r.last_token);
        let steps = r.num_output_tokens.saturating_sub(1);
        observe(
            &self.tpot,
            decode.filter(|_| steps > 0).map(|d| d / f64::from(steps)),
        );
        self.prompt_tokens.observe(f64::from(r.prompt_tokens));
        self.generation_tokens
            .observe(f64::from(r.num_output_tokens));
        self.max_tokens.observe(f64::from(r.max_tokens));
        self.max_generation.observe(f64::from(r.max_tokens));
        self.params_n.observe(1.0);
    }
}

impl SpecMetrics {
    fn register(l: &Labels<'_>, num_spec: u32) -> Result<Self, RegistryError> {
        let positions: Vec<String> = (0..num_spec).map(|p| p.to_string()).collect();
        let extra: Vec<[&str; 1]> = positions.iter().map(|p| [p.as_str()]).collect();
        let extra: Vec<&[&str]> = extra.iter().map(|e| e.as_slice()).collect();
        Ok(SpecMetrics {
            drafts: l.counter("vllm:spec_decode_num_drafts")?,
            draft_tokens: l.counter("vllm:spec_decode_num_draft_tokens")?,
            accepted: l.counter("vllm:spec_decode_num_accepted_tokens")?,
            per_pos: l.counters("vllm:spec_decode_num_accepted_tokens_per_pos", &extra)?,
        })
    }

    fn observe(&self, s: &SpecDecodeStats) {
        self.drafts.inc_by(s.num_drafts as f64);
        self.draft_tokens.inc_by(s.num_draft_tokens as f64);
        self.accepted.inc_by(s.num_accepted_tokens as f64);
        for (c, n) in self.per_pos.iter().zip(&s.num_accepted_tokens_per_pos) {
            c.inc_by(*n as f64);
        }
    }
}
