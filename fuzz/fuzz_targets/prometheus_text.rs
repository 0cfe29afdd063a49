//! A `/metrics` body: Prometheus 0.0.4 or OpenMetrics text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(scrape) = profilemate_metrics::parse(text) {
        // What a reader does next: look a counter up.
        let _ = scrape.value("vllm:prompt_tokens_total", &[]);
    }
});
