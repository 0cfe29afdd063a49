//! Helpers: the captures and an independent, naive count of their lines.

use profilemate_analyze::{LogReader, LogReport};

/// The repository's copy of a real vLLM 0.32 capture.
pub(crate) fn capture(run: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../testdata/vllm-0.32-cpu/{run}/server.log",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One pass over bytes.
pub(crate) fn read(bytes: &[u8]) -> LogReport {
    LogReader::new().read_all(bytes).unwrap()
}

/// What a grep-and-split script finds in a log.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct NaiveCount {
    pub(crate) iterations: u64,
    pub(crate) context_tokens: u64,
    pub(crate) generation_tokens: u64,
    pub(crate) stats_lines: u64,
    pub(crate) mfu_lines: u64,
    pub(crate) preemptions: u64,
}

/// Counts with `str` methods only, independently of the crate's byte-level parser.
pub(crate) fn naive_count(text: &str) -> NaiveCount {
    let mut n = NaiveCount::default();
    for line in text.lines() {
        if line.contains("Iteration(") {
            n.iterations += 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            let tokens_before = |label: &str| -> u64 {
                let w = words
                    .windows(3)
                    .find(|w| w[1] == label && w[2] == "tokens,");
                w.unwrap()[0].parse().unwrap()
            };
            n.context_tokens += tokens_before("context");
            n.generation_tokens += tokens_before("generation");
        }
        if line.contains("Avg prompt throughput:") {
            n.stats_lines += 1;
        }
        if line.contains(" MFU: ") {
            n.mfu_lines += 1;
        }
        if let Some((_, tail)) = line.split_once("Preemptions: ") {
            n.preemptions += tail
                .split(',')
                .next()
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap();
        }
        if line.contains(" is preempted by ") {
            n.preemptions += 1;
        }
    }
    n
}
