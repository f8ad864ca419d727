//! Big-chunk NDJSON reading: a reader is cut into buffers of whole lines, each
//! knowing the number of its first line, so parsing can go wide without losing
//! line numbers for error reports.

use std::io::{self, Read};

/// Default chunk size: large enough that per-chunk work (thread hand-off, bucket
/// allocation) is noise, small enough that parsed events of one chunk stay a few MiB.
pub const DEFAULT_CHUNK_BYTES: usize = 2 << 20;

/// A buffer of whole lines (the last line may lack its `\n` only at end of input).
#[derive(Debug)]
pub struct Chunk {
    /// The bytes; every line inside ends with `\n` except possibly the last one of the input.
    pub buf: Vec<u8>,
    /// 1-based number of the first line in `buf`.
    pub first_line: u64,
}

impl Chunk {
    /// Splits the chunk into lines (without the `\n`, and without a trailing `\r`).
    pub fn lines(&self) -> Vec<&[u8]> {
        split_lines(&self.buf)
    }
}

/// Splits `buf` on `\n`; a trailing `\r` is removed from each line. A final line
/// without `\n` is kept; an empty tail after the last `\n` is not a line.
pub fn split_lines(buf: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::with_capacity(buf.len() / 128 + 1);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', buf) {
        lines.push(trim_cr(&buf[start..nl]));
        start = nl + 1;
    }
    if start < buf.len() {
        lines.push(trim_cr(&buf[start..]));
    }
    lines
}

fn trim_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// Reads `inner` in chunks of about `chunk_bytes`, each ending on a line boundary.
pub struct ChunkReader<R> {
    inner: R,
    chunk_bytes: usize,
    /// Bytes read past the last complete line of the previous chunk.
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(inner: R, chunk_bytes: usize) -> Self {
        ChunkReader { inner, chunk_bytes: chunk_bytes.max(1), carry: Vec::new(), next_line: 1, eof: false }
    }

    /// The next chunk of whole lines, or `None` at end of input.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        self.next_chunk_in(Vec::new())
    }

    /// Like [`Self::next_chunk`], filling `buf` (cleared first): a buffer of an
    /// earlier chunk handed back, so that reading does not fault in fresh pages for
    /// every chunk.
    pub fn next_chunk_in(&mut self, mut buf: Vec<u8>) -> io::Result<Option<Chunk>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut target = self.chunk_bytes.max(buf.len() + 1);
        loop {
            if !self.eof {
                self.fill(&mut buf, target)?;
            }
            if self.eof {
                break;
            }
            // Cut after the last newline; a chunk without one (a line longer than
            // the chunk) grows until the line ends.
            match memchr::memrchr(b'\n', &buf) {
                Some(nl) => {
                    self.carry.extend_from_slice(&buf[nl + 1..]);
                    buf.truncate(nl + 1);
                    break;
                }
                None => target = target.saturating_mul(2),
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let first_line = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &buf).count() as u64;
        if self.eof && buf.last() != Some(&b'\n') {
            self.next_line += 1;
        }
        Ok(Some(Chunk { buf, first_line }))
    }

    /// Reads until `buf` holds `target` bytes or the input ends. `read_to_end` reads
    /// into the spare capacity without zeroing it first (for files).
    fn fill(&mut self, buf: &mut Vec<u8>, target: usize) -> io::Result<()> {
        let want = target.saturating_sub(buf.len());
        if want == 0 {
            return Ok(());
        }
        buf.reserve_exact(want);
        let got = (&mut self.inner).take(want as u64).read_to_end(buf)?;
        if got < want {
            self.eof = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &str, chunk: usize) -> Vec<(u64, String)> {
        let mut reader = ChunkReader::new(input.as_bytes(), chunk);
        let mut out = Vec::new();
        while let Some(c) = reader.next_chunk().expect("read") {
            for (i, line) in c.lines().into_iter().enumerate() {
                out.push((c.first_line + i as u64, String::from_utf8_lossy(line).into_owned()));
            }
        }
        out
    }

    #[test]
    fn line_numbers_survive_any_chunk_size() {
        let input = "a\nbb\n\nccc\r\ndddd\nlast";
        let expect: Vec<(u64, String)> = ["a", "bb", "", "ccc", "dddd", "last"]
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u64 + 1, s.to_string()))
            .collect();
        for chunk in 1..30 {
            assert_eq!(collect(input, chunk), expect, "chunk size {chunk}");
        }
    }

    #[test]
    fn trailing_newline_is_not_an_extra_line() {
        assert_eq!(collect("a\nb\n", 3), vec![(1, "a".into()), (2, "b".into())]);
        assert_eq!(collect("", 3), vec![]);
        assert_eq!(collect("\n\n", 1), vec![(1, "".into()), (2, "".into())]);
    }
}
