//! Snapshot files `snapshot.<lower-hex zxid>` in `dataDir/version-2`.
//!
//! ```text
//! file    = header sessions body trailer
//! header  = magic u32 "ZKSN" | version u32 (SNAP_VERSION) | zxid i64
//! sessions= count u32 | count x (session id i64 | timeout ms i32)
//! body    = opaque bytes (the tree's serialization; the store never looks inside)
//! trailer = payload_len u64 | crc32 u32 | end magic u32 "ZKSE"
//! ```
//! Big-endian. `payload_len` is the byte count before the trailer and `crc32` (crc32fast)
//! covers those bytes, so a reader knows where the body ends and that nothing is missing or
//! changed. The zxid is the last txn applied when the (fuzzy) snapshot started: restore it,
//! then replay every logged txn after it.
//!
//! Invariant: a file named `snapshot.<zxid>` is complete and durable. It is only ever
//! produced by [`SnapshotWriter::finish`]: write `snapshot.<zxid>.tmp`, fsync it, rename,
//! fsync the directory. A crash before the rename leaves a `.tmp` that recovery deletes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use jute::{SessionId, Zxid};

use crate::error::{IoContext, Result, StoreError};
use crate::fs::{Fs, FsFile};
use crate::log::parse_hex_zxid;
use crate::record::{be_i64, be_u32, be_u64};

/// "ZKSN", as ZooKeeper's snapshots.
pub const SNAP_MAGIC: u32 = 0x5A4B_534E;
/// Our snapshot format version (not ZooKeeper's 2: the layout is ours).
pub const SNAP_VERSION: u32 = 100;
/// "ZKSE": the last four bytes of every complete snapshot.
pub const SNAP_END_MAGIC: u32 = 0x5A4B_5345;
const HEADER_LEN: usize = 16;
const TRAILER_LEN: usize = 16;
/// Chunks are coalesced into writes of about this size.
const WRITE_BUF_BYTES: usize = 256 << 10;

/// Sessions and their timeouts (ms), as a snapshot carries them.
pub type Sessions = Vec<(SessionId, i32)>;

/// A snapshot that did not verify: its path and why.
pub type Skipped = (PathBuf, StoreError);

/// A loaded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub zxid: Zxid,
    /// Live sessions and their timeouts (ms) when the snapshot started.
    pub sessions: Sessions,
    /// The tree's serialization, untouched.
    pub body: Bytes,
    pub path: PathBuf,
}

/// A snapshot file that has been written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub zxid: Zxid,
    pub path: PathBuf,
    pub bytes: u64,
}

/// The file name of the snapshot at `zxid`.
pub fn snapshot_name(zxid: Zxid) -> String {
    format!("snapshot.{:x}", zxid.0)
}

/// The zxid of a finished snapshot's file name; `None` for other names (including `.tmp`).
pub fn parse_snapshot_name(name: &str) -> Option<Zxid> {
    parse_hex_zxid(name.strip_prefix("snapshot.")?)
}

/// The finished snapshot files in `dir`, newest (highest zxid) first.
pub fn list_snapshots(fs: &dyn Fs, dir: &Path) -> Result<Vec<(Zxid, PathBuf)>> {
    let mut snaps: Vec<(Zxid, PathBuf)> = fs
        .list_dir(dir)
        .ctx("list_dir", dir)?
        .iter()
        .filter_map(|n| parse_snapshot_name(n).map(|z| (z, dir.join(n))))
        .collect();
    snaps.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(snaps)
}

/// Decodes a whole snapshot file: `(zxid, sessions, body)`, or where and why it is bad.
/// Never panics, whatever the bytes.
pub fn decode_snapshot(
    data: &Bytes,
) -> std::result::Result<(Zxid, Sessions, Bytes), (u64, String)> {
    if data.len() < HEADER_LEN + 4 + TRAILER_LEN {
        return Err((
            0,
            format!("too short for a snapshot ({} bytes)", data.len()),
        ));
    }
    let t = data.len() - TRAILER_LEN;
    let payload_len = be_u64(data, t);
    let stored_crc = be_u32(data, t + 8);
    let end_magic = be_u32(data, t + 12);
    if end_magic != SNAP_END_MAGIC || payload_len != t as u64 {
        return Err((
            t as u64,
            "missing or bad trailer (incomplete snapshot)".into(),
        ));
    }
    let computed = crc32fast::hash(&data[..t]);
    if computed != stored_crc {
        return Err((
            t as u64,
            format!("crc mismatch (stored {stored_crc:#010x}, computed {computed:#010x})"),
        ));
    }
    let magic = be_u32(data, 0);
    let version = be_u32(data, 4);
    if magic != SNAP_MAGIC {
        return Err((0, format!("bad magic {magic:#010x}")));
    }
    if version != SNAP_VERSION {
        return Err((4, format!("unsupported snapshot version {version}")));
    }
    let zxid = Zxid(be_i64(data, 8));
    let count = be_u32(data, HEADER_LEN) as usize;
    let sessions_start = HEADER_LEN + 4;
    // Checked before allocating: the count must fit in the payload.
    let sessions_end = count
        .checked_mul(12)
        .and_then(|n| n.checked_add(sessions_start))
        .filter(|end| *end <= t)
        .ok_or((
            HEADER_LEN as u64,
            format!("session count {count} overruns the file"),
        ))?;
    let sessions = (0..count)
        .map(|i| {
            let at = sessions_start + i * 12;
            (SessionId(be_i64(data, at)), be_u32(data, at + 8) as i32)
        })
        .collect();
    Ok((zxid, sessions, data.slice(sessions_end..t)))
}

/// Reads and verifies one snapshot file.
pub fn read_snapshot(fs: &dyn Fs, path: &Path) -> Result<Snapshot> {
    let data = Bytes::from(fs.read(path).ctx("read", path)?);
    let (zxid, sessions, body) =
        decode_snapshot(&data).map_err(|(offset, why)| StoreError::corrupt(path, offset, why))?;
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_snapshot_name);
    if named.is_some_and(|n| n != zxid) {
        return Err(StoreError::corrupt(
            path,
            8,
            format!("header zxid {zxid} does not match the file name"),
        ));
    }
    Ok(Snapshot {
        zxid,
        sessions,
        body,
        path: path.to_path_buf(),
    })
}

/// The newest snapshot that verifies, plus the newer ones that did not (each with why).
/// `Ok(None)`: there are no snapshots at all. A directory whose every snapshot is bad is an
/// error naming the newest one: starting from an empty tree would silently drop history.
pub fn newest_valid(fs: &dyn Fs, dir: &Path) -> Result<Option<(Snapshot, Vec<Skipped>)>> {
    let mut skipped = Vec::new();
    for (_, path) in list_snapshots(fs, dir)? {
        match read_snapshot(fs, &path) {
            Ok(snap) => return Ok(Some((snap, skipped))),
            Err(err @ StoreError::Corrupt { .. }) => {
                tracing::warn!("bad snapshot {}: {err}", path.display());
                skipped.push((path, err));
            }
            Err(err) => return Err(err),
        }
    }
    match skipped.into_iter().next() {
        None => Ok(None),
        Some((_, StoreError::Corrupt { file, offset, why })) => Err(StoreError::Corrupt {
            file,
            offset,
            why: format!("{why}; no older valid snapshot to fall back on"),
        }),
        Some((_, other)) => Err(other),
    }
}

/// Deletes `snapshot.*.tmp` leftovers of an interrupted write; returns their paths.
pub fn remove_tmp_files(fs: &dyn Fs, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for name in fs.list_dir(dir).ctx("list_dir", dir)? {
        if name.starts_with("snapshot.") && name.ends_with(".tmp") {
            let path = dir.join(&name);
            fs.remove(&path).ctx("remove", &path)?;
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        fs.sync_dir(dir).ctx("sync_dir", dir)?;
    }
    Ok(removed)
}

/// Removes snapshots newer than `zxid` (after a TRUNC below them they describe txns that
/// no longer exist), durably. Returns what was removed.
pub fn remove_newer_than(fs: &dyn Fs, dir: &Path, zxid: Zxid) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for (z, path) in list_snapshots(fs, dir)? {
        if z > zxid {
            fs.remove(&path).ctx("remove", &path)?;
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        fs.sync_dir(dir).ctx("sync_dir", dir)?;
    }
    Ok(removed)
}

/// Writes one snapshot in pieces, so the server can serialize the tree on another thread
/// while it keeps applying. Usage: `create` → `write_chunk`* → `finish` (or `abort`).
/// Dropping it without `finish` leaves a `.tmp` that recovery removes.
#[derive(Debug)]
pub struct SnapshotWriter {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    zxid: Zxid,
    tmp_path: PathBuf,
    file: Box<dyn FsFile>,
    hasher: crc32fast::Hasher,
    /// Bytes handed to the file so far.
    written: u64,
    buf: Vec<u8>,
}

impl SnapshotWriter {
    /// Starts `snapshot.<zxid>.tmp` in `dir` with the header and the sessions.
    pub fn create(
        fs: Arc<dyn Fs>,
        dir: &Path,
        zxid: Zxid,
        sessions: &[(SessionId, i32)],
    ) -> Result<SnapshotWriter> {
        let tmp_path = dir.join(format!("{}.tmp", snapshot_name(zxid)));
        let file = fs.create(&tmp_path).ctx("create", &tmp_path)?;
        let mut w = SnapshotWriter {
            fs,
            dir: dir.to_path_buf(),
            zxid,
            tmp_path,
            file,
            hasher: crc32fast::Hasher::new(),
            written: 0,
            buf: Vec::with_capacity(WRITE_BUF_BYTES),
        };
        let mut head = Vec::with_capacity(HEADER_LEN + 4 + sessions.len() * 12);
        head.extend_from_slice(&SNAP_MAGIC.to_be_bytes());
        head.extend_from_slice(&SNAP_VERSION.to_be_bytes());
        head.extend_from_slice(&zxid.0.to_be_bytes());
        head.extend_from_slice(&(sessions.len() as u32).to_be_bytes());
        for (id, timeout) in sessions {
            head.extend_from_slice(&id.0.to_be_bytes());
            head.extend_from_slice(&timeout.to_be_bytes());
        }
        w.write_chunk(&head)?;
        Ok(w)
    }

    /// Appends body bytes.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        self.hasher.update(chunk);
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= WRITE_BUF_BYTES {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file
                .write_at(self.written, &self.buf)
                .ctx("write", &self.tmp_path)?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Seals the snapshot: trailer, fsync the file, rename to `snapshot.<zxid>`, fsync the
    /// directory. Only after this returns may anything rely on the snapshot (e.g. purge).
    pub fn finish(mut self) -> Result<SnapshotMeta> {
        self.flush_buf()?;
        let payload_len = self.written;
        let crc = self.hasher.clone().finalize();
        let mut trailer = Vec::with_capacity(TRAILER_LEN);
        trailer.extend_from_slice(&payload_len.to_be_bytes());
        trailer.extend_from_slice(&crc.to_be_bytes());
        trailer.extend_from_slice(&SNAP_END_MAGIC.to_be_bytes());
        self.buf = trailer;
        self.flush_buf()?;
        self.file.sync_data().ctx("sync_data", &self.tmp_path)?;
        let path = self.dir.join(snapshot_name(self.zxid));
        self.fs.rename(&self.tmp_path, &path).ctx("rename", &path)?;
        self.fs.sync_dir(&self.dir).ctx("sync_dir", &self.dir)?;
        Ok(SnapshotMeta {
            zxid: self.zxid,
            path,
            bytes: self.written,
        })
    }

    /// Gives up and removes the `.tmp` file.
    pub fn abort(self) -> Result<()> {
        self.fs.remove(&self.tmp_path).ctx("remove", &self.tmp_path)
    }
}

/// Writes a whole snapshot at once (tests, small trees).
pub fn write_snapshot(
    fs: Arc<dyn Fs>,
    dir: &Path,
    zxid: Zxid,
    sessions: &[(SessionId, i32)],
    body: &[u8],
) -> Result<SnapshotMeta> {
    let mut w = SnapshotWriter::create(fs, dir, zxid, sessions)?;
    w.write_chunk(body)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::SimFs;
    use crate::testutil::*;

    fn setup() -> (SimFs, Arc<dyn Fs>, PathBuf) {
        let (sim, fs) = sim();
        let dir = dirs().snap_dir;
        fs.create_dir_all(&dir).unwrap();
        (sim, fs, dir)
    }

    #[test]
    fn chunked_round_trip() {
        let (_sim, fs, dir) = setup();
        let sessions = vec![(SessionId(1), 4000), (SessionId(-7), 30000)];
        let body: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = SnapshotWriter::create(fs.clone(), &dir, Zxid::new(3, 9), &sessions).unwrap();
        for chunk in body.chunks(10_000) {
            w.write_chunk(chunk).unwrap();
        }
        let meta = w.finish().unwrap();
        assert_eq!(meta.path, dir.join("snapshot.300000009"));
        let snap = read_snapshot(fs.as_ref(), &meta.path).unwrap();
        assert_eq!(snap.zxid, Zxid::new(3, 9));
        assert_eq!(snap.sessions, sessions);
        assert_eq!(&snap.body[..], &body[..]);
        assert_eq!(fs.list_dir(&dir).unwrap(), vec!["snapshot.300000009"]);
    }

    #[test]
    fn corrupt_newest_falls_back_to_older() {
        let (sim, fs, dir) = setup();
        write_snapshot(fs.clone(), &dir, Zxid::new(1, 5), &[], b"old").unwrap();
        let newest = write_snapshot(fs.clone(), &dir, Zxid::new(1, 9), &[], b"new").unwrap();
        sim.corrupt(&newest.path, 21, b"X").unwrap();
        let (snap, skipped) = newest_valid(fs.as_ref(), &dir).unwrap().unwrap();
        assert_eq!(&snap.body[..], b"old");
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].0, newest.path);
    }

    #[test]
    fn corrupt_only_snapshot_is_an_error_naming_it() {
        for damage in ["flip", "cut", "empty"] {
            let (sim, fs, dir) = setup();
            let only = write_snapshot(fs.clone(), &dir, Zxid::new(1, 5), &[], b"body").unwrap();
            match damage {
                "flip" => sim.corrupt(&only.path, 2, b"?").unwrap(),
                "cut" => sim.cut(&only.path, only.bytes - 1).unwrap(),
                _ => sim.cut(&only.path, 0).unwrap(),
            }
            let err = newest_valid(fs.as_ref(), &dir).unwrap_err();
            assert!(
                matches!(&err, StoreError::Corrupt { file, .. } if *file == only.path),
                "{damage}: {err}"
            );
        }
    }

    #[test]
    fn crash_while_writing_keeps_the_older_snapshot() {
        for seed in 0..50 {
            let (sim, fs, dir) = setup();
            write_snapshot(fs.clone(), &dir, Zxid::new(1, 5), &[], b"old").unwrap();
            let mut w = SnapshotWriter::create(fs.clone(), &dir, Zxid::new(1, 9), &[]).unwrap();
            w.write_chunk(b"new body").unwrap();
            if seed % 2 == 0 {
                w.finish().unwrap();
            } else {
                drop(w);
            }
            sim.crash(seed);
            remove_tmp_files(fs.as_ref(), &dir).unwrap();
            let (snap, skipped) = newest_valid(fs.as_ref(), &dir).unwrap().unwrap();
            assert!(skipped.is_empty());
            if seed % 2 == 0 {
                assert_eq!(
                    &snap.body[..],
                    b"new body",
                    "finished snapshots are durable"
                );
            } else {
                assert_eq!(&snap.body[..], b"old");
            }
            assert!(fs
                .list_dir(&dir)
                .unwrap()
                .iter()
                .all(|n| !n.ends_with(".tmp")));
        }
    }

    #[test]
    fn names_and_remove_newer_than() {
        assert_eq!(parse_snapshot_name("snapshot.1a"), Some(Zxid(0x1a)));
        assert_eq!(parse_snapshot_name("snapshot.1a.tmp"), None);
        assert_eq!(parse_snapshot_name("snapshot."), None);
        let (_sim, fs, dir) = setup();
        for c in [1, 5, 9] {
            write_snapshot(fs.clone(), &dir, Zxid::new(1, c), &[], b"").unwrap();
        }
        let removed = remove_newer_than(fs.as_ref(), &dir, Zxid::new(1, 5)).unwrap();
        assert_eq!(removed, vec![dir.join("snapshot.100000009")]);
        let left: Vec<_> = list_snapshots(fs.as_ref(), &dir)
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(left, vec![Zxid::new(1, 5), Zxid::new(1, 1)]);
    }

    #[test]
    fn session_count_overrun_is_refused_before_allocating() {
        let (_sim, fs, dir) = setup();
        let meta = write_snapshot(fs.clone(), &dir, Zxid(1), &[], b"").unwrap();
        let mut data = fs.read(&meta.path).unwrap();
        data[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        // Re-seal so that only the count is wrong.
        let t = data.len() - TRAILER_LEN;
        let crc = crc32fast::hash(&data[..t]);
        data[t + 8..t + 12].copy_from_slice(&crc.to_be_bytes());
        let err = decode_snapshot(&Bytes::from(data)).unwrap_err();
        assert!(err.1.contains("session count"), "{err:?}");
    }
}
