//! The byte layout of a txn log segment, and a parser that never panics on any input.
//!
//! ```text
//! segment  = header record* end
//! header   = magic u32 "ZKLG" | version u32 (LOG_VERSION) | dbid i64 | crc32(previous 16 bytes) u32
//! record   = crc32 u32 | len u32 | zxid i64 | txn [len - 8 bytes]
//!            crc32 (crc32fast, IEEE) covers len, zxid and txn: everything after the crc field
//! end      = zero bytes (preallocated space) or end of file
//! ```
//! All integers are big-endian. `len` counts the zxid and the txn, so a real record always
//! has `len >= 8` and a zero `crc, len` pair can only be unwritten, preallocated space: that
//! is the end-of-data marker. The version differs from Apache ZooKeeper's (2) on purpose:
//! the record layout is ours (crc32 instead of Adler32, no 'B' trailer), so a ZooKeeper
//! tool refuses these files instead of misreading them.
//!
//! This module only parses; what a bad record *means* (torn tail or corruption) is decided
//! in `recovery`.

use bytes::Bytes;
use jute::Zxid;

/// "ZKLG", as ZooKeeper's log files.
pub const LOG_MAGIC: u32 = 0x5A4B_4C47;
/// Our segment format version (not ZooKeeper's 2: see the module doc).
pub const LOG_VERSION: u32 = 100;
/// Bytes in a segment header.
pub const SEGMENT_HEADER_LEN: usize = 20;
/// Bytes before a record's txn: crc, len, zxid.
pub const RECORD_HEADER_LEN: usize = 16;
/// The smallest valid `len` field (a zxid and an empty txn).
const LEN_MIN: u32 = 8;

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub version: u32,
    pub dbid: i64,
}

/// Encodes a segment header for `dbid`.
pub fn encode_segment_header(dbid: i64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..4].copy_from_slice(&LOG_MAGIC.to_be_bytes());
    h[4..8].copy_from_slice(&LOG_VERSION.to_be_bytes());
    h[8..16].copy_from_slice(&dbid.to_be_bytes());
    let crc = crc32fast::hash(&h[0..16]);
    h[16..20].copy_from_slice(&crc.to_be_bytes());
    h
}

/// Why a segment header is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than a header, or a header that is a prefix of what we would have written
    /// followed by zeros: the file was created but its header never fully reached the disk.
    Incomplete,
    /// Something else: a foreign file, a wrong version, or damage.
    Bad(String),
}

/// Decodes and checks a segment header.
pub fn decode_segment_header(buf: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let Some(h) = buf.get(..SEGMENT_HEADER_LEN) else {
        return Err(HeaderError::Incomplete);
    };
    let magic = be_u32(h, 0);
    let version = be_u32(h, 4);
    let dbid = be_i64(h, 8);
    let stored = be_u32(h, 16);
    if crc32fast::hash(&h[0..16]) == stored && magic == LOG_MAGIC && version == LOG_VERSION {
        return Ok(SegmentHeader { version, dbid });
    }
    // A torn header write leaves a prefix of the real header and zeros after it. We only
    // know the dbid from the bytes themselves, so test the fixed part and zeros after.
    let expect = encode_segment_header(dbid);
    let written = h.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    if written < SEGMENT_HEADER_LEN && h[..written.min(8)] == expect[..written.min(8)] {
        return Err(HeaderError::Incomplete);
    }
    if magic != LOG_MAGIC {
        return Err(HeaderError::Bad(format!("bad magic {magic:#010x}")));
    }
    if version != LOG_VERSION {
        return Err(HeaderError::Bad(format!(
            "unsupported log version {version}"
        )));
    }
    Err(HeaderError::Bad("header checksum mismatch".into()))
}

/// The encoded size of a record carrying `txn_len` bytes.
pub fn record_len(txn_len: usize) -> usize {
    RECORD_HEADER_LEN + txn_len
}

/// Appends one encoded record to `dst`.
pub fn encode_record(dst: &mut Vec<u8>, zxid: Zxid, txn: &[u8]) {
    let start = dst.len();
    let len = (LEN_MIN as usize + txn.len()) as u32;
    dst.extend_from_slice(&[0; 4]);
    dst.extend_from_slice(&len.to_be_bytes());
    dst.extend_from_slice(&zxid.0.to_be_bytes());
    dst.extend_from_slice(txn);
    let crc = crc32fast::hash(&dst[start + 4..]);
    dst[start..start + 4].copy_from_slice(&crc.to_be_bytes());
}

/// One record found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAt {
    /// Byte offset of the record's crc field in the file.
    pub offset: u64,
    pub zxid: Zxid,
    /// The txn bytes (a slice of the file buffer).
    pub txn: Bytes,
}

impl RecordAt {
    /// Offset just past this record.
    pub fn end(&self) -> u64 {
        self.offset + record_len(self.txn.len()) as u64
    }
}

/// Where and why parsing of a segment's records stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The end-of-data marker (zeros up to the end of the file) or the end of the file.
    End { offset: u64 },
    /// A record that does not check out, or non-zero bytes after the end-of-data marker.
    Bad { offset: u64, why: String },
}

/// Parses the records of `buf` from `start` (normally `SEGMENT_HEADER_LEN`) until the end
/// of data or the first bad record. Zxid order is not checked here.
pub fn parse_records(buf: &Bytes, start: usize, record_bytes_max: u32) -> (Vec<RecordAt>, Stop) {
    let mut records = Vec::new();
    let mut p = start;
    loop {
        match check_record(buf, p, record_bytes_max) {
            Ok(Some((zxid, len))) => {
                let txn = buf.slice(p + RECORD_HEADER_LEN..p + 8 + len as usize);
                records.push(RecordAt {
                    offset: p as u64,
                    zxid,
                    txn,
                });
                p += 8 + len as usize;
            }
            Ok(None) => {
                let stop = if is_zero(&buf[p.min(buf.len())..]) {
                    Stop::End { offset: p as u64 }
                } else {
                    Stop::Bad {
                        offset: p as u64,
                        why: "non-zero bytes after the end-of-data marker".into(),
                    }
                };
                return (records, stop);
            }
            Err(why) => {
                return (
                    records,
                    Stop::Bad {
                        offset: p as u64,
                        why,
                    },
                )
            }
        }
    }
}

/// Whether every byte is zero. The tail of a preallocated segment is tens of MiB of zeros, so
/// this ORs whole chunks (which the compiler vectorises) instead of testing byte by byte with
/// an early exit.
fn is_zero(bytes: &[u8]) -> bool {
    bytes
        .chunks(4096)
        .all(|c| c.iter().fold(0u8, |acc, b| acc | b) == 0)
}

/// Checks the record at `p`: `Ok(Some((zxid, len)))` if valid, `Ok(None)` at the end of
/// data (end of file, or a zero crc and len), `Err(why)` otherwise.
fn check_record(
    buf: &[u8],
    p: usize,
    record_bytes_max: u32,
) -> Result<Option<(Zxid, u32)>, String> {
    let rest = buf.get(p..).unwrap_or(&[]);
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < 8 {
        return if rest.iter().all(|b| *b == 0) {
            Ok(None)
        } else {
            Err(format!("short record header ({} bytes left)", rest.len()))
        };
    }
    let crc = be_u32(rest, 0);
    let len = be_u32(rest, 4);
    if crc == 0 && len == 0 {
        return Ok(None);
    }
    if len < LEN_MIN {
        return Err(format!("record length {len} below the minimum {LEN_MIN}"));
    }
    if len > record_bytes_max.saturating_add(LEN_MIN) {
        return Err(format!(
            "record length {len} exceeds the limit {record_bytes_max}"
        ));
    }
    let Some(body) = rest.get(4..8 + len as usize) else {
        return Err(format!(
            "record length {len} runs past the end of the file ({} bytes left)",
            rest.len()
        ));
    };
    let computed = crc32fast::hash(body);
    if computed != crc {
        return Err(format!(
            "crc mismatch (stored {crc:#010x}, computed {computed:#010x})"
        ));
    }
    Ok(Some((Zxid(be_i64(rest, 8)), len)))
}

/// The offset of the first valid record that starts after `p`, if any. Used to tell a torn
/// tail (nothing valid after the bad spot) from damage in the middle (valid records after).
/// Zero runs are skipped cheaply; other offsets cost one crc over the claimed length.
pub fn valid_record_after(buf: &[u8], p: usize, record_bytes_max: u32) -> Option<usize> {
    let mut q = p + 1;
    while q + RECORD_HEADER_LEN <= buf.len() {
        // A record's len field (bytes 4..8) is never all zero. So when the bytes from q+4
        // on are zero up to `nz`, no record can start before nz - 7: jump over zero runs
        // (preallocated space) instead of testing each offset.
        let nz = match buf[q + 4..].iter().position(|b| *b != 0) {
            Some(i) => q + 4 + i,
            None => return None,
        };
        if nz > q + 7 {
            q = nz - 7;
            continue;
        }
        if let Ok(Some(_)) = check_record(buf, q, record_bytes_max) {
            return Some(q);
        }
        q += 1;
    }
    None
}

pub(crate) fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

pub(crate) fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[(i64, &[u8])]) -> Vec<u8> {
        let mut v = encode_segment_header(0).to_vec();
        for (z, t) in records {
            encode_record(&mut v, Zxid(*z), t);
        }
        v
    }

    #[test]
    fn round_trip_and_end_marker() {
        let mut v = segment(&[(1, b"a"), (2, b""), (3, b"ccc")]);
        v.extend_from_slice(&[0; 100]);
        let buf = Bytes::from(v);
        assert!(decode_segment_header(&buf).is_ok());
        let (recs, stop) = parse_records(&buf, SEGMENT_HEADER_LEN, 1024);
        let got: Vec<_> = recs.iter().map(|r| (r.zxid.0, r.txn.to_vec())).collect();
        assert_eq!(
            got,
            vec![(1, b"a".to_vec()), (2, vec![]), (3, b"ccc".to_vec())]
        );
        assert_eq!(
            stop,
            Stop::End {
                offset: recs[2].end()
            }
        );
    }

    #[test]
    fn torn_header_is_incomplete_foreign_is_bad() {
        let h = encode_segment_header(7);
        for cut in 0..SEGMENT_HEADER_LEN {
            let mut v = h[..cut].to_vec();
            v.resize(SEGMENT_HEADER_LEN, 0);
            assert_eq!(
                decode_segment_header(&v),
                Err(HeaderError::Incomplete),
                "cut {cut}"
            );
        }
        assert!(matches!(
            decode_segment_header(b"ZKSN0000000000000000000"),
            Err(HeaderError::Bad(_))
        ));
    }

    #[test]
    fn bad_record_then_valid_one_is_found() {
        let v = segment(&[(1, b"aaaa"), (2, b"bbbb")]);
        let mut w = v.clone();
        w[SEGMENT_HEADER_LEN + 17] ^= 1;
        let buf = Bytes::from(w);
        let (recs, stop) = parse_records(&buf, SEGMENT_HEADER_LEN, 1024);
        assert!(recs.is_empty());
        let Stop::Bad { offset, .. } = stop else {
            panic!("{stop:?}")
        };
        assert_eq!(offset, SEGMENT_HEADER_LEN as u64);
        assert_eq!(
            valid_record_after(&buf, offset as usize, 1024),
            Some(SEGMENT_HEADER_LEN + 20)
        );
    }
}
