//! Compressed input and read boundaries give the same report as the plain bytes.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use profilemate_analyze::{LogReader, input};

use crate::util::{capture, read};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn gzip_input_gives_the_same_report() {
    let plain = capture("run2-sched");
    let decoded = input::decode(Box::new(std::io::Cursor::new(gzip(&plain)))).unwrap();
    let report = LogReader::new().read_all(decoded).unwrap();
    assert_eq!(report, read(&plain));
    // `cat a.gz b.gz`: two members read one after the other.
    let mut twice = gzip(&plain);
    twice.extend(gzip(&plain));
    let decoded = input::decode(Box::new(std::io::Cursor::new(twice))).unwrap();
    let report = LogReader::new().read_all(decoded).unwrap();
    assert_eq!(report.engines[0].1.iterations.count, 250);
}

#[test]
fn gzip_file_is_detected_by_its_magic_bytes_not_its_name() {
    let dir = std::env::temp_dir().join(format!("pm-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.log");
    std::fs::write(&path, gzip(&capture("run1"))).unwrap();
    let report = profilemate_analyze::read_log_file(&path).unwrap();
    assert_eq!(report, read(&capture("run1")));
    std::fs::remove_dir_all(&dir).unwrap();
    let err = profilemate_analyze::read_log_file(&dir.join("missing.log")).unwrap_err();
    assert!(err.to_string().contains("missing.log"), "{err}");
}

/// A reader that hands out at most `n` bytes per call, to cut lines at every position.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn lines_cut_across_reads_are_reassembled() {
    let plain = capture("run1");
    let whole = read(&plain);
    for chunk in [1, 7, 4096] {
        let report = LogReader::new().read_all(Trickle(&plain, chunk)).unwrap();
        assert_eq!(report, whole, "chunk {chunk}");
    }
}

#[test]
fn crlf_and_bare_cr_line_ends() {
    let text = String::from_utf8(capture("run2-sched")).unwrap();
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(
        read(crlf.as_bytes()).engines[0].1.iterations,
        read(text.as_bytes()).engines[0].1.iterations
    );
}
