//! KV offloading to CPU (vLLM 0.32's `OffloadingConnector` with the CPU spec): stores,
//! loads, LRU eviction, their effect on TTFT, and the stats payload the connector reports,
//! exported through profilemate-metrics into vLLM's metric names.
//!
//! Every scenario uses 10 ms steps, 16-token blocks of 1 MB, a 1 GB/s host link and 100 µs
//! per transfer: a job of N blocks takes N ms + 0.1 ms.

use std::time::Duration;

use profilemate_metrics::offload::{Number, OffloadExporter, OffloadSpec, OffloadStats};
use profilemate_metrics::registry::EngineLabels;
use profilemate_metrics::{Registry, parse};
use profilemate_sim::offload_metrics as m;
use profilemate_sim::{
    EngineConfig, EngineRequestRecord, EngineSink, KvOffloadConfig, KvTransferLogger, Request,
    StepRecord,
};

mod common;

use common::{counts, ms, preemption_config, preemption_counts, run_in_slices, sim_with};

const MB: u64 = 1_000_000;
/// One 1 MB block, page-aligned, is one CPU chunk of 1_003_520 bytes.
const CHUNK: u64 = 1_003_520;

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn offload(num_chunks: u64) -> KvOffloadConfig {
    KvOffloadConfig {
        host_link_bandwidth: 1e9,
        transfer_latency: us(100),
        ..KvOffloadConfig::new(num_chunks * CHUNK, MB)
    }
}

fn config(num_gpu_blocks: u32, max_model_len: u32) -> EngineConfig {
    EngineConfig {
        num_gpu_blocks,
        max_model_len,
        async_scheduling: false,
        kv_offload: Some(offload(100)),
        ..Default::default()
    }
}

/// A prompt of `len` tokens shared by every request naming `id`.
fn prompt(at: u64, id: u64, len: u32) -> Request {
    Request::synthetic(ms(at), len, 1).with_shared_prefix(id, len)
}

/// Keeps the steps and every connector payload with its time.
#[derive(Default)]
struct Recorder {
    steps: Vec<StepRecord>,
    payloads: Vec<(Duration, OffloadStats)>,
}

impl EngineSink for Recorder {
    fn on_step(&mut self, step: &StepRecord) {
        self.steps.push(step.clone());
    }

    fn on_kv_connector_stats(&mut self, stats: &OffloadStats, at: Duration) {
        self.payloads.push((at, stats.clone()));
    }
}

impl Recorder {
    /// Every payload aggregated, then reduced as vLLM's log line does.
    fn total(&self) -> std::collections::BTreeMap<String, Number> {
        let mut all = OffloadStats::new();
        for (_, p) in &self.payloads {
            all.aggregate(p).unwrap();
        }
        all.reduce()
    }

    /// `(time, value)` of each payload that holds `key` after reduction.
    fn series(&self, key: &str) -> Vec<(Duration, Number)> {
        let with = |(at, p): &(Duration, OffloadStats)| p.reduce().get(key).map(|v| (*at, *v));
        self.payloads.iter().filter_map(with).collect()
    }
}

fn run(config: EngineConfig, requests: &[Request]) -> (Recorder, Vec<EngineRequestRecord>) {
    let mut sim = sim_with(config, requests);
    let mut rec = Recorder::default();
    sim.run(&mut rec);
    assert_eq!(sim.num_block_holders(), 0);
    (rec, sim.into_records())
}

fn ttfts(records: &[EngineRequestRecord]) -> Vec<Duration> {
    records.iter().map(|r| r.ttft().unwrap()).collect()
}

/// A (64 tokens) is stored; B (255 unique tokens) evicts it from the 16-block GPU cache;
/// C repeats A's prompt after both stores landed.
fn evicted_then_reused() -> Vec<Request> {
    let b = Request::synthetic(ms(20), 255, 1);
    vec![prompt(0, 1, 64), b, prompt(50, 1, 64)]
}

#[test]
fn a_prefix_evicted_from_the_gpu_loads_from_the_cpu_and_ttft_grows_by_the_transfer() {
    let (rec, records) = run(config(17, 256), &evicted_then_reused());
    // C: GPU miss, CPU hit of all 4 chunks; the 4 MB load runs 50 → 54.1 ms, then one step
    // recomputes the last prompt token.
    assert_eq!(ttfts(&records), [ms(10), ms(10), ms(10) + us(4100)]);
    // vLLM counts all 64 as cached (local 0 + external 64), though the last is recomputed:
    // no prompt token counts as computed in the stats line.
    let c = &records[2];
    assert_eq!(
        (c.num_cached_tokens, c.num_external_cached_tokens),
        (64, 64)
    );
    assert_eq!(records[2].first_scheduled, Some(ms(54) + us(100)));
    let last = rec.steps.last().unwrap();
    assert_eq!(
        (last.counts.num_ctx_tokens, last.start),
        (1, ms(54) + us(100))
    );
    assert_eq!(last.num_prompt_tokens, 0);
    assert_eq!(
        rec.series(m::LOAD_BYTES),
        [(ms(54) + us(100), Number::Int(4_000_000))]
    );
    assert_eq!(
        rec.series(m::LOAD_TIME),
        [(ms(54) + us(100), Number::Float(0.0041))]
    );
    // The lookups count C at its admission, reported with the next step: the GPU found
    // nothing of its 64 tokens, the connector all of them.
    assert_eq!((last.prefix_cache.queries, last.prefix_cache.hits), (64, 0));
    let external = last.connector_prefix_cache.unwrap();
    assert_eq!(
        (external.requests, external.queries, external.hits),
        (1, 64, 64)
    );
    let first = rec.steps[0].connector_prefix_cache.unwrap();
    assert_eq!((first.queries, first.hits), (64, 0), "A: a miss");

    let mut no_offload = config(17, 256);
    no_offload.kv_offload = None;
    let mut plain_steps = Vec::new();
    let mut sim = sim_with(no_offload, &evicted_then_reused());
    sim.run(&mut plain_steps);
    assert_eq!(
        ttfts(sim.records()),
        [ms(10); 3],
        "without offload C recomputes"
    );
    assert!(
        plain_steps
            .iter()
            .all(|s| s.connector_prefix_cache.is_none())
    );
}

#[test]
fn stores_follow_each_prefill_chunk_and_are_reported_when_they_land() {
    let mut cfg = config(64, 256);
    cfg.max_num_batched_tokens = 48;
    cfg.max_num_seqs = 8;
    cfg.kv_offload.as_mut().unwrap().block_size = Some(32);
    let (rec, records) = run(cfg, &[Request::synthetic(ms(0), 100, 3)]);
    assert_eq!(records[0].first_token, Some(ms(30)));
    // Step 0 computes 48 tokens: one 32-token chunk (2 blocks) is offered, stored from
    // 10 ms, and seen finished at the end of step 1; step 1 (96 tokens) adds 2 chunks.
    // The last 4 prompt tokens and the decodes fill no chunk: nothing more is stored.
    assert_eq!(
        rec.series(&format!("{}_sum", m::STORE_SIZE)),
        [
            (ms(20), Number::Int(2_000_000)),
            (ms(30), Number::Int(4_000_000))
        ]
    );
    assert_eq!(
        rec.series(&format!("{}_sum", m::CPU_ALLOCATION_SIZE)),
        [(ms(10), Number::Int(1)), (ms(20), Number::Int(2))]
    );
    let usage = rec.series(m::CPU_CACHE_WRITE_USAGE_PERC);
    // 100 × 1_003_520 bytes hold 50 page-aligned 2 MB chunks; 1 is being written.
    assert_eq!(usage[0], (ms(10), Number::Float(0.02)));
    assert_eq!(rec.payloads.len(), 5, "one payload per step");
}

#[test]
fn the_cpu_tier_evicts_the_least_recently_used_request() {
    // 4 CPU chunks, no GPU prefix cache: every reuse must come from the CPU.
    let mut cfg = config(17, 256);
    cfg.enable_prefix_caching = false;
    cfg.kv_offload = Some(offload(4));
    let (x, y, z) = (1, 2, 3);
    let order = [
        (0, x),
        (100, y),
        (200, z),
        (300, y),
        (400, x),
        (500, z),
        (600, x),
    ];
    let requests: Vec<Request> = order.iter().map(|&(t, id)| prompt(t, id, 32)).collect();
    let (rec, records) = run(cfg, &requests);
    // Z evicts X (the oldest); Y's reload makes Y recent, so X's store evicts Z, and Z's
    // evicts Y: the last X hits again.
    let (hit, miss) = (ms(10) + us(2100), ms(10));
    assert_eq!(ttfts(&records), [miss, miss, miss, hit, miss, miss, hit]);
    let total = rec.total();
    assert_eq!(total[m::LOAD_BYTES], Number::Int(4_000_000));
    assert_eq!(total[m::STORE_BYTES], Number::Int(10_000_000));
    assert_eq!(total[&format!("{}_count", m::STORE_SIZE)], Number::Int(5));
    assert!(!total.contains_key(m::ALLOCATION_FAILURE));
}

#[test]
fn offloading_without_reuse_changes_no_timing() {
    let requests: Vec<Request> = (0..12)
        .map(|i| Request::synthetic(ms(3 * i), 40 + 37 * i as u32, 5 + i as u32))
        .collect();
    let with = EngineConfig {
        num_gpu_blocks: 40,
        max_model_len: 512,
        kv_offload: Some(offload(8)),
        ..Default::default()
    };
    let without = EngineConfig {
        kv_offload: None,
        ..with.clone()
    };
    let (rec, a) = run(with, &requests);
    let (_, b) = run(without, &requests);
    assert_eq!(a, b);
    assert!(
        rec.total().contains_key(m::ALLOCATION_FAILURE),
        "8 chunks fill up"
    );
}

#[test]
fn a_lookup_that_hits_a_store_in_flight_waits_for_it() {
    // B repeats A's prompt at 11 ms. The GPU still holds A's first 3 blocks (the last token
    // is always recomputed); the 4th chunk is on its way to the CPU (10 → 14.1 ms), so the
    // lookup is deferred, then loads that chunk (14.1 → 15.2 ms) instead of recomputing it.
    let requests = [prompt(0, 1, 64), prompt(11, 1, 64)];
    let (rec, records) = run(config(17, 256), &requests);
    assert_eq!(records[1].ttft(), Some(ms(14) + us(200)));
    let b = &records[1];
    assert_eq!(
        (b.num_cached_tokens, b.num_external_cached_tokens),
        (64, 16)
    );
    // The lookup resolves at 14.1 ms, after that instant's payload: the next one has it.
    assert_eq!(
        rec.series(&format!("{}_sum", m::LOOKUP_ASYNC_DELAY)),
        [(ms(15) + us(200), Number::Float(0.0031))]
    );
    let loads = rec.series(&format!("{}_sum", m::LOAD_SIZE));
    assert_eq!(loads, [(ms(15) + us(200), Number::Int(1_000_000))]);
    let lookups = format!("{}_count", m::LOOKUP_SYNC_DELAY);
    assert_eq!(rec.total()[&lookups], Number::Int(3));
    let last = rec.steps.last().unwrap();
    assert_eq!(
        (last.prefix_cache.queries, last.prefix_cache.hits),
        (64, 48),
        "B's GPU lookup counts once, at its admission for the load"
    );
    let external = last.connector_prefix_cache.unwrap();
    assert_eq!((external.queries, external.hits), (16, 16));

    let mut no_offload = config(17, 256);
    no_offload.kv_offload = None;
    let (_, plain) = run(no_offload, &requests);
    assert_eq!(
        plain[1].ttft(),
        Some(ms(10)),
        "without offload B recomputes 16 tokens"
    );
}

#[test]
fn an_abort_during_a_load_frees_the_blocks_and_the_load_still_lands() {
    let mut requests = evicted_then_reused();
    requests[2].max_tokens = 5;
    let mut sim = sim_with(config(17, 256), &requests);
    sim.abort(profilemate_sim::RequestId(2), ms(52));
    let mut rec = Recorder::default();
    sim.run(&mut rec);
    assert_eq!(sim.num_block_holders(), 0);
    assert_eq!(sim.num_free_blocks(), 16);
    let c = &sim.records()[2];
    assert_eq!((c.num_output_tokens, c.finished), (0, Some(ms(52))));
    let loads = rec.series(m::LOAD_BYTES);
    assert_eq!(loads, [(ms(54) + us(100), Number::Int(4_000_000))]);
    let read = rec.series(m::CPU_CACHE_READ_USAGE_PERC);
    assert_eq!(read.last(), Some(&(ms(54) + us(100), Number::Float(0.0))));
}

#[test]
fn a_preempted_request_reloads_its_prompt_instead_of_recomputing_it() {
    // The preemption scenario of tests/scheduling.rs (6 blocks of 4 tokens, two requests
    // of 8 + 8): B, preempted at 50 ms with 5 tokens, comes back at 80 ms. Its 8 prompt
    // tokens are on the CPU: it loads 2 blocks (80 → 82.1 ms) and recomputes only its 5
    // output tokens.
    let cfg = EngineConfig {
        kv_offload: Some(offload(100)),
        ..preemption_config()
    };
    let requests = [
        Request::synthetic(ms(0), 8, 8),
        Request::synthetic(ms(0), 8, 8),
    ];
    let (rec, records) = run(cfg, &requests);
    let mut expected = preemption_counts();
    expected[8] = (0, 0, 1, 5);
    assert_eq!(counts(&rec.steps), expected);
    assert_eq!(rec.steps[8].start, ms(82) + us(100));
    let resumed = ms(92) + us(100);
    let later = [resumed, resumed + ms(10), resumed + ms(20)];
    assert_eq!(
        records[1].token_times[4..],
        [&[ms(50)][..], &later[..]].concat()
    );
    assert_eq!(rec.total()[m::LOAD_BYTES], Number::Int(2_000_000));
    assert_eq!(records[1].num_preemptions, 1);
}

#[test]
fn the_payloads_export_to_vllm_metric_names() {
    let (rec, _) = run(config(17, 256), &evicted_then_reused());
    let registry = Registry::new();
    let labels = EngineLabels::new("m", [0]);
    let exporter = OffloadExporter::new(&registry, labels, OffloadSpec::Cpu).unwrap();
    for (_, payload) in &rec.payloads {
        exporter.observe(payload, 0).unwrap();
    }
    let text = registry.render();
    // prometheus_client's text: labels sorted, floats in Python's repr.
    let lines = [
        r#"vllm:kv_offload_load_bytes_total{engine="0",model_name="m"} 4e+06"#,
        r#"vllm:kv_offload_load_time_total{engine="0",model_name="m"} 0.0041"#,
        r#"vllm:kv_offload_load_size_bucket{engine="0",le="5e+06",model_name="m"} 1.0"#,
        r#"vllm:kv_offload_store_bytes_total{engine="0",model_name="m"} 1.9e+07"#,
        r#"vllm:kv_offload_store_time_total{engine="0",model_name="m"} 0.019200000000000002"#,
        r#"vllm:kv_offload_store_size_count{engine="0",model_name="m"} 2.0"#,
        r#"vllm:kv_offload_total_bytes_total{engine="0",model_name="m",transfer_type="CPU_to_GPU"} 4e+06"#,
        r#"vllm:kv_offload_total_bytes_total{engine="0",model_name="m",transfer_type="GPU_to_CPU"} 1.9e+07"#,
        r#"vllm:kv_offload_size_bucket{engine="0",le="5e+06",model_name="m",transfer_type="GPU_to_CPU"} 1.0"#,
        r#"vllm:kv_offload_lookup_sync_delay_seconds_count{engine="0",model_name="m"} 3.0"#,
        r#"vllm:kv_offload_cpu_allocation_size_sum{engine="0",model_name="m"} 19.0"#,
        r#"vllm:kv_offload_cpu_cache_usage_perc{engine="0",model_name="m"} 0.0"#,
    ];
    for line in lines {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    let scrape = parse(&text).unwrap();
    let time = scrape.value("vllm:kv_offload_store_time_total", &[]);
    assert_eq!(time, Some(0.0041 + 0.0151));
}

#[test]
fn the_log_line_sums_an_interval() {
    let (rec, _) = run(config(17, 256), &evicted_then_reused());
    let mut logger = KvTransferLogger::new();
    for (_, p) in &rec.payloads {
        logger.on_kv_connector_stats(p, Duration::ZERO);
    }
    let line = logger.log().unwrap();
    assert!(line.starts_with("KV Transfer metrics: vllm:kv_offload_cpu_allocation_size_count=2,"));
    assert!(
        line.contains(", vllm:kv_offload_load_bytes=4000000, vllm:kv_offload_load_size_count=1,")
    );
    assert!(line.contains(", vllm:kv_offload_load_time=0.0041,"));
    assert!(line.contains(", vllm:kv_offload_lookup_sync_delay_seconds_sum=0.0,"));
    assert_eq!(logger.log(), None);
}

#[test]
fn a_server_sleeps_until_the_load_lands() {
    let mut sim = sim_with(config(17, 256), &evicted_then_reused());
    sim.run_until(ms(51), &mut ());
    // C was admitted at 50 ms and waits for its 4 MB load; nothing else is left to do.
    assert_eq!(sim.next_event(), Some(ms(54) + us(100)));
    sim.run_until(ms(54) + us(100), &mut ());
    assert_eq!(
        sim.next_event(),
        Some(ms(54) + us(100)),
        "C can be scheduled now"
    );
}

#[test]
fn driving_in_slices_gives_the_same_offload_run() {
    let requests = evicted_then_reused();
    let (whole, records) = run(config(17, 256), &requests);
    let mut sim = sim_with(config(17, 256), &requests);
    let mut sliced = Recorder::default();
    run_in_slices(&mut sim, us(700), &mut sliced);
    assert_eq!(sim.records(), &records[..]);
    assert_eq!(sliced.steps, whole.steps);
    assert_eq!(sliced.payloads, whole.payloads);
}
