//! Opens a log for reading: a file or `-` (stdin), gzip-compressed or not (told by the
//! `1f 8b` magic bytes, not the name).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::AnalyzeError;

/// The gzip magic bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` (`-` is stdin), decompressing gzip input.
pub fn open(path: &Path) -> Result<Box<dyn Read>, AnalyzeError> {
    let read_err = |io| AnalyzeError::Read {
        path: path.to_owned(),
        io,
    };
    if path.as_os_str() == "-" {
        return decode(Box::new(io::stdin().lock())).map_err(read_err);
    }
    let file = File::open(path).map_err(|io| AnalyzeError::Open {
        path: path.to_owned(),
        io,
    })?;
    decode(Box::new(file)).map_err(read_err)
}

/// Wraps `input` in a gzip decoder when it starts with the gzip magic bytes (several gzip
/// members, as `cat a.gz b.gz` makes, are read one after the other).
pub fn decode(input: Box<dyn Read>) -> io::Result<Box<dyn Read>> {
    let mut buffered = BufReader::with_capacity(1 << 16, input);
    let head = loop {
        match buffered.fill_buf() {
            Ok(head) => break head,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}
