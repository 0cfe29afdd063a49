//! Parse throughput of `analyze log`'s reader over the real captures repeated to ≥ 50 MB in
//! memory (bytes counter: divan reports MB/s).

use divan::counter::BytesCount;
use profilemate_analyze::LogReader;

fn main() {
    divan::main();
}

/// The two captures, repeated until the log is at least 50 MB.
fn big_log() -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/vllm-0.32-cpu");
    let mut one = std::fs::read(format!("{dir}/run1/server.log")).unwrap();
    one.extend(std::fs::read(format!("{dir}/run2-sched/server.log")).unwrap());
    let mut log = Vec::with_capacity(52 << 20);
    while log.len() < 50 << 20 {
        log.extend_from_slice(&one);
    }
    log
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn read_50mb(bencher: divan::Bencher) {
    let log = big_log();
    bencher.counter(BytesCount::new(log.len())).bench(|| {
        LogReader::new()
            .read_all(divan::black_box(&log[..]))
            .unwrap()
    });
}
