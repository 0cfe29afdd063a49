//! A streamed response body, cut into chunks at arbitrary points, through the bench client's
//! SSE parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profilemate_bench::client::sse::SseParser;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (body, cuts) = input;
    let mut parser = SseParser::new();
    let mut events = 0usize;
    let mut on_data = |data: &[u8]| events += data.len().min(1);
    let mut rest = &body[..];
    for cut in cuts {
        let at = usize::from(cut).min(rest.len());
        let (chunk, tail) = rest.split_at(at);
        parser.feed(chunk, &mut on_data);
        rest = tail;
    }
    parser.feed(rest, &mut on_data);
    parser.finish(&mut on_data);
});
