//! `config.json` text as a user points `--config` at it: parsed, derived and priced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profilemate_fuzz::{FuzzRequest, exercise_config};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let batch = [
        FuzzRequest {
            num_tokens: 2048,
            context_len: 2048,
            is_prefill: true,
        },
        FuzzRequest {
            num_tokens: 1,
            context_len: 8192,
            is_prefill: false,
        },
    ];
    exercise_config(text, &batch, false);
});
