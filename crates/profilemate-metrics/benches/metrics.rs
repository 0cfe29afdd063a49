//! Benchmarks: parsing a real ~57 KB vLLM scrape and rendering a 200-series registry.

use profilemate_metrics::registry::{EngineLabels, Registry};

/// Counts allocations per iteration, to show that the counter increment allocates nothing.
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

const SCRAPE: &str = include_str!("../../../testdata/vllm-0.32-cpu/run1/metrics-after-2.txt");

#[divan::bench]
fn parse_vllm_scrape(bencher: divan::Bencher) {
    bencher
        .counter(divan::counter::BytesCount::of_str(SCRAPE))
        .bench(|| profilemate_metrics::parse::parse(divan::black_box(SCRAPE)));
}

/// 100 counter series and 100 gauge series, 50 engines each with two label values.
fn registry_of_200_series() -> Registry {
    let reg = Registry::new();
    let names = EngineLabels::names_with(&["source"]);
    let counters = reg.counter("vllm:prompt_tokens_by_source", "Prompt tokens.", &names);
    let gauges = reg.gauge("vllm:num_requests_waiting_by_reason", "Waiting.", &names);
    let (counters, gauges) = (counters.unwrap(), gauges.unwrap());
    for engine in 0..50 {
        let e = engine.to_string();
        for (i, source) in ["local_compute", "local_cache_hit"].iter().enumerate() {
            let c = counters.labels(&["tiny-llama", &e, source]).unwrap();
            c.inc_by(1234.0 * (engine + i) as f64);
            gauges
                .labels(&["tiny-llama", &e, source])
                .unwrap()
                .set(engine as f64);
        }
    }
    reg
}

#[divan::bench]
fn render_200_series(bencher: divan::Bencher) {
    let reg = registry_of_200_series();
    bencher.bench(|| divan::black_box(&reg).render());
}

#[divan::bench]
fn increment_labelled_counter(bencher: divan::Bencher) {
    let reg = Registry::new();
    let fam = reg.counter("c", "C.", &EngineLabels::NAMES).unwrap();
    let counter = fam.labels(&["m", "0"]).unwrap();
    bencher.bench(|| counter.inc_by(divan::black_box(2.0)));
}

#[divan::bench]
fn observe_labelled_histogram(bencher: divan::Bencher) {
    let reg = Registry::new();
    let buckets = profilemate_metrics::catalogue::buckets::TIME_TO_FIRST_TOKEN;
    let fam = reg
        .histogram("h", "H.", &EngineLabels::NAMES, buckets)
        .unwrap();
    let histogram = fam.labels(&["m", "0"]).unwrap();
    bencher.bench(|| histogram.observe(divan::black_box(0.3)));
}
