//! One line of an `estimate --cases` file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profilemate_model::cases::CaseRunner;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let configs = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/goldens/perf/configs"
    );
    let mut runner = CaseRunner::new(std::path::Path::new(configs));
    let _ = runner.answer_line(line);
});
