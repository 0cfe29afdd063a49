//! A vLLM server log through `analyze log`'s reader and summary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profilemate_analyze::LogReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = LogReader::new().read_all(data) {
        let _ = report.summarize(None);
    }
});
