//! Request bodies: read with a bound on the bytes on the wire, then decoded
//! (`Content-Encoding: gzip` or `deflate`, else as they are) with a bound on the decoded
//! bytes, so a small compressed body cannot expand without limit (SPEC §9: limits apply
//! to the decoded bytes).

use std::io::Read as _;

/// Why a body was refused (each is a 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    #[error("unsupported content encoding `{0}` (gzip, deflate or none)")]
    Encoding(String),
    #[error("request body is not valid {0} data")]
    Corrupt(&'static str),
}

/// Wire bytes a compressed body may take beyond the decoded limit (headers, and data
/// that does not compress).
const WIRE_SLACK: usize = 64 * 1024;

/// The most bytes read from the wire for a decoded limit of `max`.
pub fn wire_limit(max: usize) -> usize {
    max + WIRE_SLACK
}

/// Decodes `raw` by its `Content-Encoding` (`None`: not encoded), refusing more than
/// `max` decoded bytes.
pub fn decode(encoding: Option<&str>, raw: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    match enc.as_str() {
        "" | "identity" => {
            if raw.len() > max {
                return Err(BodyError::TooLarge(max));
            }
            Ok(raw.to_vec())
        }
        "gzip" | "x-gzip" => read_bounded(flate2::read::MultiGzDecoder::new(raw), max, "gzip"),
        // HTTP's `deflate` is zlib-wrapped, but some clients send raw deflate: the
        // zlib header tells them apart.
        "deflate" if looks_like_zlib(raw) => read_bounded(flate2::read::ZlibDecoder::new(raw), max, "deflate"),
        "deflate" => read_bounded(flate2::read::DeflateDecoder::new(raw), max, "deflate"),
        other => Err(BodyError::Encoding(other.chars().take(40).collect())),
    }
}

fn looks_like_zlib(raw: &[u8]) -> bool {
    matches!(raw, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0)
}

fn read_bounded(reader: impl std::io::Read, max: usize, what: &'static str) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    // One byte more than allowed tells "exactly max" from "over max".
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).map_err(|_| BodyError::Corrupt(what))?;
    if out.len() > max {
        return Err(BodyError::TooLarge(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn decodes_each_encoding_within_the_limit() {
        let data = br#"{"batch":[]}"#.repeat(100);
        assert_eq!(decode(None, &data, 10_000).expect("plain"), data);
        assert_eq!(decode(Some("GZIP"), &gzip(&data), 10_000).expect("gzip"), data);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).expect("write");
        assert_eq!(decode(Some("deflate"), &z.finish().expect("zlib"), 10_000).expect("zlib"), data);
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(&data).expect("write");
        assert_eq!(decode(Some("deflate"), &d.finish().expect("raw"), 10_000).expect("raw deflate"), data);
    }

    #[test]
    fn the_limit_is_on_decoded_bytes() {
        let bomb = gzip(&vec![b' '; 1_000_000]);
        assert!(bomb.len() < 10_000);
        assert_eq!(decode(Some("gzip"), &bomb, 999_999), Err(BodyError::TooLarge(999_999)));
        assert_eq!(decode(Some("gzip"), &bomb, 1_000_000).expect("exactly at the limit").len(), 1_000_000);
        assert_eq!(decode(None, &[b' '; 11], 10), Err(BodyError::TooLarge(10)));
    }

    #[test]
    fn bad_data_and_unknown_encodings_are_refused() {
        assert_eq!(decode(Some("gzip"), b"not gzip", 100), Err(BodyError::Corrupt("gzip")));
        assert!(matches!(decode(Some("br"), b"x", 100), Err(BodyError::Encoding(_))));
    }
}
