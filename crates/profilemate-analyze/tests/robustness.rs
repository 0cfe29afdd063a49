//! Arbitrary bytes never panic the reader, and every line is counted.

use proptest::prelude::*;

use crate::util::{capture, read};

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let report = read(&bytes);
        let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        let last = u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
        prop_assert_eq!(report.lines, newlines + last);
        let _ = report.summarize(None);
    }

    #[test]
    fn mutated_captures_never_panic(
        cut in 0usize..49_000,
        len in 0usize..2000,
        byte in any::<u8>(),
    ) {
        let mut bytes = capture("run2-sched");
        let end = (cut + len).min(bytes.len());
        for b in &mut bytes[cut.min(end)..end] {
            *b = b.wrapping_add(byte);
        }
        let _ = read(&bytes).summarize(None);
    }

    #[test]
    fn fragments_of_known_lines_never_panic(
        prefix in "(\\(APIServer pid=[0-9]{1,6}\\) )?(INFO|DEBUG|WARNING) 1[0-2]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9] \\[[a-z_]+\\.py:[0-9]+\\] ",
        body in "(Engine [0-9]{3}: |[0-9] Engines Aggregated: )?(Iteration\\(|Avg prompt throughput: |MFU: |MFU details: |SpecDecoding metrics: |KV Transfer metrics: |\\*\\*CUDAGraph Config Settings:\\*\\*|- Capture sizes: \\[|\\| )[ -~]{0,80}",
    ) {
        let line = format!("{prefix}{body}\r\n{prefix}| 1 | 2 | 1 | FULL | 3 |\n");
        let _ = read(line.as_bytes()).summarize(None);
    }
}
