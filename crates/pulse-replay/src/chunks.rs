//! Big-chunk NDJSON reading: a reader is cut into buffers of whole lines, each
//! knowing the number of its first line, so parsing can go wide without losing
//! line numbers for error reports; or, for a regular file, cut into parts read by
//! position ([`read_part`]) by the workers themselves.

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

/// Positional reads (no shared cursor), so that parts of one input can be read by
/// several threads at once: a file (`pread`), or bytes in memory (tests).
pub trait ReadAt: Sync {
    /// Reads into `buf` from `offset`; 0 at end of input.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

#[cfg(unix)]
impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// Reads from `offset` into `buf[at..]` until it is full or the input ends; returns
/// the bytes read.
fn read_full<S: ReadAt + ?Sized>(src: &S, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Bytes read at a time while looking for the end of a line past a part's nominal end.
const PROBE_BYTES: usize = 4 << 10;

/// The position just after the first `\n` at or after `from`, or `None` if the input
/// has none from there on.
fn line_end_from<S: ReadAt + ?Sized>(src: &S, from: u64, scratch: &mut Vec<u8>) -> io::Result<Option<u64>> {
    let mut at = from;
    let mut step = PROBE_BYTES;
    loop {
        scratch.resize(step, 0);
        let n = read_full(src, scratch, at)?;
        if let Some(i) = memchr::memchr(b'\n', &scratch[..n]) {
            return Ok(Some(at + i as u64 + 1));
        }
        if n < step {
            return Ok(None);
        }
        at += n as u64;
        step = step.saturating_mul(2);
    }
}

/// Reads part `k` of an input cut into parts of nominally `part_bytes` into `buf`
/// (its old contents overwritten; a buffer of about the same size is reused without
/// zeroing it again). Nominal part `k` is `[k * part_bytes, (k + 1) * part_bytes)`;
/// the cut at a nominal boundary `b > 0` is moved to just after the first `\n` at or
/// after `b` (or to the end of input), so part 0 starts at 0 and every cut falls on
/// a line end: the parts `0, 1, ..` up to the last nominal one are the input
/// exactly, end to end, and a line belongs to exactly one part. A part may be empty
/// (a line longer than a part); only the input's last part may end without `\n`.
pub fn read_part<S: ReadAt + ?Sized>(src: &S, k: u64, part_bytes: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    let part = part_bytes.max(1) as u64;
    let nominal_start = k.saturating_mul(part);
    let nominal_end = nominal_start.saturating_add(part);
    let mut scratch = Vec::new();
    let start = if k == 0 {
        0
    } else {
        match line_end_from(src, nominal_start, &mut scratch)? {
            Some(s) => s,
            None => {
                buf.clear();
                return Ok(());
            }
        }
    };
    // The newline just before `start` is the first at or after `nominal_start`: if it
    // is at or past `nominal_end`, it is also this part's end, and the part is empty.
    if start > nominal_end {
        buf.clear();
        return Ok(());
    }
    let want = (nominal_end - start) as usize;
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let n = read_full(src, &mut buf[..want], start)?;
    if n < want {
        buf.truncate(n);
        return Ok(());
    }
    buf.truncate(want);
    // Past the nominal end: up to and including the first `\n` at or after it (or
    // to the end of input).
    let mut at = nominal_end;
    let mut step = PROBE_BYTES;
    loop {
        let old = buf.len();
        buf.resize(old + step, 0);
        let n = read_full(src, &mut buf[old..], at)?;
        buf.truncate(old + n);
        if let Some(i) = memchr::memchr(b'\n', &buf[old..]) {
            buf.truncate(old + i + 1);
            break;
        }
        if n < step {
            break;
        }
        at += n as u64;
        step = step.saturating_mul(2);
    }
    Ok(())
}

/// Number of nominal parts of `len` bytes cut into parts of `part_bytes` ([`read_part`]).
pub fn part_count(len: u64, part_bytes: usize) -> u64 {
    len.div_ceil(part_bytes.max(1) as u64)
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

    /// Every part of `input` cut at `part` bytes, read through [`read_part`], reusing one buffer.
    fn parts_of(input: &[u8], part: usize) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        (0..part_count(input.len() as u64, part))
            .map(|k| {
                read_part(input, k, part, &mut buf).expect("read");
                buf.clone()
            })
            .collect()
    }

    /// The parts are the input end to end, each a run of whole lines; numbering their
    /// lines in order gives the input's line numbers.
    fn check_parts(input: &[u8], part: usize) {
        let parts = parts_of(input, part);
        assert_eq!(parts.concat(), input, "part size {part}");
        let last = parts.iter().rposition(|p| !p.is_empty());
        for (k, p) in parts.iter().enumerate() {
            if !p.is_empty() && Some(k) != last {
                assert_eq!(p.last(), Some(&b'\n'), "part {k} of size {part} ends inside a line");
            }
        }
        let mut numbered = Vec::new();
        let mut line = 1u64;
        for p in &parts {
            for (i, l) in split_lines(p).into_iter().enumerate() {
                numbered.push((line + i as u64, l.to_vec()));
            }
            line += memchr::memchr_iter(b'\n', p).count() as u64 + u64::from(!p.is_empty() && p.last() != Some(&b'\n'));
        }
        let expect: Vec<(u64, Vec<u8>)> =
            split_lines(input).into_iter().enumerate().map(|(i, l)| (i as u64 + 1, l.to_vec())).collect();
        assert_eq!(numbered, expect, "part size {part}");
    }

    #[test]
    fn parts_split_on_line_ends_at_any_size() {
        let long = "x".repeat(10_000);
        let inputs = [
            String::new(),
            "\n".into(),
            "\n\n\n".into(),
            "a".into(),
            "a\nbb\n\nccc\r\ndddd\nlast".into(),
            "a\r\nb\r\n".into(),
            format!("short\n{long}\nmid\n{long}{long}\n\nend"),
            long.clone(),
            format!("{long}\n"),
        ];
        for input in &inputs {
            for part in 1..40 {
                check_parts(input.as_bytes(), part);
            }
            for part in [100, 4095, 4096, 4097, 9_999, 10_000, 10_001, 20_002, 1 << 20] {
                check_parts(input.as_bytes(), part);
            }
        }
    }

    /// A line straddles every nominal boundary: with lines of length `part + 1`, a
    /// newline lands at every offset modulo `part` in turn.
    #[test]
    fn parts_with_a_line_across_every_boundary() {
        for part in 1..24 {
            let line = "y".repeat(part);
            let input = format!("{line}\n").repeat(3 * part + 2);
            check_parts(input.as_bytes(), part);
            check_parts(input.trim_end().as_bytes(), part);
        }
    }

    proptest::proptest! {
        #[test]
        fn parts_equal_the_input_lines(
            lines in proptest::collection::vec("[a-z\r]{0,40}", 0..60),
            trailing in proptest::bool::ANY,
            part in 1usize..64,
        ) {
            let mut input = lines.join("\n");
            if trailing {
                input.push('\n');
            }
            check_parts(input.as_bytes(), part);
        }
    }

    #[cfg(unix)]
    #[test]
    fn parts_of_a_file_read_by_position() {
        use std::io::Write as _;
        let mut file = tempfile::tempfile().expect("tempfile");
        let input: String =
            (0..5_000).map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "p".repeat(i % 300))).collect();
        file.write_all(input.as_bytes()).expect("write");
        for part in [1, 7, 4096, 65_536, 1 << 20] {
            let mut buf = Vec::new();
            let mut all = Vec::new();
            for k in 0..part_count(input.len() as u64, part) {
                read_part(&file, k, part, &mut buf).expect("read");
                all.extend_from_slice(&buf);
            }
            assert_eq!(all, input.as_bytes(), "part size {part}");
        }
    }
}
