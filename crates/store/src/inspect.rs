//! Inspection for operators and tests (ZooKeeper's LogFormatter / SnapshotFormatter): list,
//! verify and dump segments and snapshots as text. The server exposes these as
//! `zkserver log dump DIR` and friends. Dumps never fail on bad *content*: they print what
//! they can and say where it stops. Only IO errors are errors.
//!
//! Also the fuzz entry points [`fuzz_read_segment`] and [`fuzz_read_snapshot`]: pure
//! functions of bytes that must never panic (run under proptest here, libFuzzer in `fuzz/`).

use std::fmt::Write as _;
use std::path::Path;

use bytes::Bytes;
use jute::txn::{Txn, TxnBody};
use jute::Zxid;

use crate::error::{IoContext, Result, StoreError};
use crate::fs::Fs;
use crate::log::{list_segments, LogConfig};
use crate::record::{self, Stop, SEGMENT_HEADER_LEN};
use crate::snapshot::{decode_snapshot, list_snapshots, read_snapshot};
use crate::DataDirs;

/// What `verify_segment` found in a sound segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSummary {
    pub records: u64,
    pub first: Option<Zxid>,
    pub last: Option<Zxid>,
    /// Offset of the end of data (the rest is preallocated zeros).
    pub data_end: u64,
    pub file_len: u64,
}

/// Checks a whole segment: header, every record's crc, strictly increasing zxids. Any
/// flaw is `Corrupt` with its offset (a torn tail included: this is a checker, not recovery).
pub fn verify_segment(fs: &dyn Fs, path: &Path) -> Result<SegmentSummary> {
    let buf = Bytes::from(fs.read(path).ctx("read", path)?);
    record::decode_segment_header(&buf)
        .map_err(|e| StoreError::corrupt(path, 0, format!("segment header: {e:?}")))?;
    let (records, stop) = record::parse_records(
        &buf,
        SEGMENT_HEADER_LEN,
        LogConfig::default().record_bytes_max,
    );
    for pair in records.windows(2) {
        if pair[1].zxid <= pair[0].zxid {
            return Err(StoreError::corrupt(
                path,
                pair[1].offset,
                format!("zxid {} is not after {}", pair[1].zxid, pair[0].zxid),
            ));
        }
    }
    let data_end = match stop {
        Stop::End { offset } => offset,
        Stop::Bad { offset, why } => return Err(StoreError::corrupt(path, offset, why)),
    };
    Ok(SegmentSummary {
        records: records.len() as u64,
        first: records.first().map(|r| r.zxid),
        last: records.last().map(|r| r.zxid),
        data_end,
        file_len: buf.len() as u64,
    })
}

/// A text dump of a segment: the header, then one line per record with its offset, zxid,
/// size and decoded txn; a final line says how the data ends.
pub fn dump_segment(fs: &dyn Fs, path: &Path) -> Result<String> {
    let buf = Bytes::from(fs.read(path).ctx("read", path)?);
    Ok(format_segment(&buf, &path.display().to_string()))
}

fn format_segment(buf: &Bytes, name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "segment {name} ({} bytes)", buf.len());
    match record::decode_segment_header(buf) {
        Ok(h) => {
            let _ = writeln!(out, "header: version {} dbid {}", h.version, h.dbid);
        }
        Err(e) => {
            let _ = writeln!(out, "header: unusable ({e:?})");
            return out;
        }
    }
    let (records, stop) = record::parse_records(
        buf,
        SEGMENT_HEADER_LEN,
        LogConfig::default().record_bytes_max,
    );
    for r in &records {
        let _ = writeln!(
            out,
            "@{} zxid {} len {} {}",
            r.offset,
            r.zxid,
            r.txn.len(),
            describe_txn(&r.txn)
        );
    }
    match stop {
        Stop::End { offset } => {
            let _ = writeln!(
                out,
                "end of data at offset {offset}: {} records",
                records.len()
            );
        }
        Stop::Bad { offset, why } => {
            let after = record::valid_record_after(
                buf,
                offset as usize,
                LogConfig::default().record_bytes_max,
            );
            let _ = writeln!(
                out,
                "BAD record at offset {offset}: {why}{}",
                match after {
                    Some(q) => format!(" (a valid record follows at offset {q}: corruption)"),
                    None => " (nothing valid follows: a torn tail)".to_string(),
                }
            );
        }
    }
    out
}

/// One line describing a txn's bytes: header fields, the type's name and the body's key
/// fields, or why it does not decode.
pub fn describe_txn(txn: &Bytes) -> String {
    let t = match Txn::decode(txn.clone()) {
        Ok(t) => t,
        Err(e) => return format!("undecodable txn: {e:?}"),
    };
    let h = &t.header;
    let mut s = format!(
        "session 0x{:x} cxid {} zxid 0x{:x} time {} {}",
        h.client_id,
        h.cxid,
        h.zxid,
        h.time,
        txn_type_name(h.txn_type)
    );
    describe_body(&mut s, &t.body);
    if let Some(d) = &t.digest {
        let _ = write!(s, " digest v{} 0x{:x}", d.version, d.tree_digest);
    }
    s
}

fn describe_body(s: &mut String, body: &TxnBody) {
    let dlen = |d: &Option<Bytes>| d.as_ref().map_or(-1, |d| d.len() as i64);
    let _ = match body {
        TxnBody::Create(t) | TxnBody::Create2(t) => write!(
            s,
            " {} data {}B acl {} ephemeral {} parentCVersion {}",
            t.path,
            dlen(&t.data),
            t.acl.len(),
            t.ephemeral,
            t.parent_cversion
        ),
        TxnBody::CreateContainer(t) => write!(
            s,
            " {} data {}B parentCVersion {}",
            t.path,
            dlen(&t.data),
            t.parent_cversion
        ),
        TxnBody::CreateTtl(t) => write!(
            s,
            " {} data {}B parentCVersion {} ttl {}",
            t.path,
            dlen(&t.data),
            t.parent_cversion,
            t.ttl
        ),
        TxnBody::Delete(t) | TxnBody::DeleteContainer(t) => write!(s, " {}", t.path),
        TxnBody::SetData(t) => write!(
            s,
            " {} data {}B version {}",
            t.path,
            dlen(&t.data),
            t.version
        ),
        TxnBody::SetAcl(t) => write!(s, " {} acl {} version {}", t.path, t.acl.len(), t.version),
        TxnBody::Check(t) => write!(s, " {} version {}", t.path, t.version),
        TxnBody::Multi(subs) => {
            let _ = write!(s, " [{} ops:", subs.len());
            for sub in subs {
                let _ = write!(s, " {}", txn_type_name(sub.txn_type()));
                describe_body(s, sub);
                s.push(';');
            }
            write!(s, "]")
        }
        TxnBody::CreateSession(t) => write!(s, " timeout {}ms", t.time_out),
        TxnBody::CloseSession(t) => write!(s, " ephemerals {:?}", t.paths_to_delete),
        TxnBody::Error(t) => write!(s, " err {}", t.err),
    };
}

/// ZooKeeper's name for a txn type (`OpCode`).
pub fn txn_type_name(t: i32) -> &'static str {
    use jute::op;
    match t {
        op::CREATE => "create",
        op::DELETE => "delete",
        op::SET_DATA => "setData",
        op::SET_ACL => "setACL",
        op::CHECK => "check",
        op::MULTI => "multi",
        op::CREATE2 => "create2",
        op::RECONFIG => "reconfig",
        op::CREATE_CONTAINER => "createContainer",
        op::DELETE_CONTAINER => "deleteContainer",
        op::CREATE_TTL => "createTTL",
        op::CREATE_SESSION => "createSession",
        op::CLOSE_SESSION => "closeSession",
        op::ERROR => "error",
        _ => "unknown",
    }
}

/// What `verify_snapshot` found in a sound snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub zxid: Zxid,
    pub sessions: usize,
    pub body_bytes: usize,
}

/// Checks a snapshot's checksum, header and name.
pub fn verify_snapshot(fs: &dyn Fs, path: &Path) -> Result<SnapshotSummary> {
    let s = read_snapshot(fs, path)?;
    Ok(SnapshotSummary {
        zxid: s.zxid,
        sessions: s.sessions.len(),
        body_bytes: s.body.len(),
    })
}

/// A text dump of a snapshot: zxid, sessions, and the body's size (the body belongs to the
/// tree crate, which has its own dumper).
pub fn dump_snapshot(fs: &dyn Fs, path: &Path) -> Result<String> {
    let data = Bytes::from(fs.read(path).ctx("read", path)?);
    let mut out = format!("snapshot {} ({} bytes)\n", path.display(), data.len());
    match decode_snapshot(&data) {
        Ok((zxid, sessions, body)) => {
            let _ = writeln!(out, "zxid {zxid}\nsessions {}", sessions.len());
            for (id, timeout) in &sessions {
                let _ = writeln!(out, "  session {id} timeout {timeout}ms");
            }
            let _ = writeln!(out, "body {} bytes\nchecksum ok", body.len());
        }
        Err((offset, why)) => {
            let _ = writeln!(out, "BAD at offset {offset}: {why}");
        }
    }
    Ok(out)
}

/// Lists the snapshots and segments of a node's directories, with a verdict for each.
pub fn list(fs: &dyn Fs, dirs: &DataDirs) -> Result<String> {
    let mut out = format!("snapshots in {}\n", dirs.snap_dir.display());
    for (zxid, path) in list_snapshots(fs, &dirs.snap_dir)? {
        let verdict = match verify_snapshot(fs, &path) {
            Ok(s) => format!("ok, {} sessions, body {} bytes", s.sessions, s.body_bytes),
            Err(e) => format!("BAD: {e}"),
        };
        let _ = writeln!(out, "  {zxid}  {}  {verdict}", name_of(&path));
    }
    let _ = writeln!(out, "log segments in {}", dirs.log_dir.display());
    for seg in list_segments(fs, &dirs.log_dir)? {
        let verdict = match verify_segment(fs, &seg.path) {
            Ok(s) => format!(
                "ok, {} records, last {}, data {} of {} bytes",
                s.records,
                s.last.map_or("-".to_string(), |z| z.to_string()),
                s.data_end,
                s.file_len
            ),
            Err(e) => format!("BAD: {e}"),
        };
        let _ = writeln!(out, "  {}  {}  {verdict}", seg.first, name_of(&seg.path));
    }
    Ok(out)
}

fn name_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Fuzz target: parse arbitrary bytes as a segment and dump it. Must never panic.
pub fn fuzz_read_segment(data: &[u8]) {
    let buf = Bytes::copy_from_slice(data);
    let _ = format_segment(&buf, "fuzz");
}

/// Fuzz target: decode arbitrary bytes as a snapshot. Must never panic.
pub fn fuzz_read_snapshot(data: &[u8]) {
    let _ = decode_snapshot(&Bytes::copy_from_slice(data));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn readers_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
            fuzz_read_segment(&data);
            fuzz_read_snapshot(&data);
            // Also behind a valid header, so the record parser sees the bytes.
            let mut seg = record::encode_segment_header(0).to_vec();
            seg.extend_from_slice(&data);
            fuzz_read_segment(&seg);
        }
    }

    #[test]
    fn dump_names_txn_types() {
        use jute::txn::{CreateSessionTxn, TxnHeader};
        let txn = Txn {
            header: TxnHeader {
                client_id: 0x42,
                cxid: 0,
                zxid: 0x1_0000_0001,
                time: 1000,
                txn_type: jute::op::CREATE_SESSION,
            },
            body: TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
            digest: None,
        };
        let mut seg = record::encode_segment_header(0).to_vec();
        record::encode_record(&mut seg, Zxid(0x1_0000_0001), &txn.to_bytes());
        let text = format_segment(&Bytes::from(seg), "t");
        assert!(text.contains("createSession timeout 30000ms"), "{text}");
        assert!(text.contains("end of data"), "{text}");
    }
}
