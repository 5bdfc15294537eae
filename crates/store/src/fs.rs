//! The IO seam: everything the store does to a disk goes through [`Fs`] and [`FsFile`].
//!
//! [`StdFs`] maps the calls onto `std::fs`. `SimFs` (feature `sim`, and always in this
//! crate's tests) is an in-memory disk that knows which bytes and which directory entries
//! have been made durable, so a test can `SimFs::crash` it and see what a power cut could
//! leave behind, and can inject EIO/ENOSPC on the Nth write or sync.
//!
//! Contract the store relies on (and that `SimFs` models, see `lib.rs` for the media
//! assumptions): `FsFile::sync_data` makes every earlier write and length change of that file
//! durable; `Fs::sync_dir` makes every earlier create, rename and remove in that directory
//! durable. Nothing else implies durability.

use std::fmt;
use std::io;
use std::path::Path;

/// A directory tree of plain files. Paths are full paths; directories are created with
/// [`Fs::create_dir_all`] and are themselves assumed durable once created (the store creates
/// them once, at first start).
pub trait Fs: Send + Sync + fmt::Debug {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates (or truncates to empty) a file, opened for reading and writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Atomically replaces `to` with `from` (POSIX rename).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The names (not paths) of the plain files in `dir`, sorted.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file.
pub trait FsFile: Send + fmt::Debug {
    /// Writes all of `data` at `offset`, growing the file if needed.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Appends all of `data` at the current end of the file.
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let len = self.len()?;
        self.write_at(len, data)
    }
    /// Reads exactly `len` bytes at `offset` (an error if the file is shorter).
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    fn len(&self) -> io::Result<u64>;
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// fdatasync: the file's data and the metadata needed to read it back are durable.
    fn sync_data(&mut self) -> io::Result<()>;
}

/// Real files through `std::fs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile {
    file: std::fs::File,
}

impl Fs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdFile { file }))
    }
    fn open(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(StdFile { file }))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Unix a directory is fsynced through a read-only handle; other platforms have no
        // portable way and their rename durability is the OS's business.
        #[cfg(unix)]
        {
            std::fs::File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
}

impl FsFile for StdFile {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(data)
    }
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        self.file.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0; len];
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(any(test, feature = "sim"))]
pub use sim::{FaultError, FaultOp, SimFs};

#[cfg(any(test, feature = "sim"))]
mod sim {
    //! The simulated disk.
    //!
    //! Model: every file (inode) has its durable bytes plus an ordered list of pending
    //! operations (writes, length changes) since its last `sync_data`; every directory has its
    //! durable entries plus an ordered list of pending entry operations (link, unlink, rename)
    //! since its last `sync_dir`. A crash keeps, per file and per directory, a random prefix of
    //! the pending operations, and may tear the last kept write (only a prefix of its bytes
    //! lands). Files no durable entry points to vanish. Open handles die with the crash.

    use super::{Fs, FsFile};
    use std::collections::BTreeMap;
    use std::fmt;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, MutexGuard};

    /// Which operation a fault hits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FaultOp {
        /// `FsFile::write_at`/`append`/`set_len`.
        Write,
        /// `FsFile::sync_data` and `Fs::sync_dir`.
        Sync,
    }

    /// The error an injected fault returns.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FaultError {
        Eio,
        Enospc,
    }

    impl FaultError {
        fn to_io(self) -> io::Error {
            match self {
                FaultError::Eio => io::Error::other("EIO (injected)"),
                FaultError::Enospc => io::Error::other("ENOSPC (injected)"),
            }
        }
    }

    #[derive(Debug, Clone)]
    enum FileOp {
        Write { offset: u64, data: Vec<u8> },
        SetLen(u64),
    }

    #[derive(Debug, Clone)]
    enum DirOp {
        Link { name: String, ino: u64 },
        Unlink { name: String },
    }

    #[derive(Debug, Default, Clone)]
    struct Inode {
        live: Vec<u8>,
        durable: Vec<u8>,
        pending: Vec<FileOp>,
    }

    #[derive(Debug, Default, Clone)]
    struct Dir {
        live: BTreeMap<String, u64>,
        durable: BTreeMap<String, u64>,
        pending: Vec<DirOp>,
    }

    #[derive(Debug, Default)]
    struct State {
        inodes: BTreeMap<u64, Inode>,
        dirs: BTreeMap<PathBuf, Dir>,
        next_ino: u64,
        /// Bumped by a crash so that handles opened before it fail.
        generation: u64,
        writes: u64,
        syncs: u64,
        /// (op, 1-based index of the call that fails, counted from injection, error).
        faults: Vec<(FaultOp, u64, FaultError)>,
    }

    /// An in-memory disk with crash and fault injection. Cloning shares the same disk.
    #[derive(Debug, Clone, Default)]
    pub struct SimFs {
        state: Arc<Mutex<State>>,
    }

    struct SimFile {
        fs: SimFs,
        ino: u64,
        generation: u64,
    }

    impl fmt::Debug for SimFile {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "SimFile(ino {})", self.ino)
        }
    }

    fn not_found(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no such file", path.display()),
        )
    }

    fn split(path: &Path) -> io::Result<(PathBuf, String)> {
        let dir = path.parent().ok_or_else(|| not_found(path))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| not_found(path))?;
        Ok((dir.to_path_buf(), name.to_owned()))
    }

    /// splitmix64: enough randomness for crash choices, and replayable from the seed.
    fn next_rand(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn apply_file_op(data: &mut Vec<u8>, op: &FileOp) {
        match op {
            FileOp::Write {
                offset,
                data: bytes,
            } => {
                let start = *offset as usize;
                let end = start + bytes.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[start..end].copy_from_slice(bytes);
            }
            FileOp::SetLen(len) => data.resize(*len as usize, 0),
        }
    }

    impl State {
        fn check_fault(&mut self, op: FaultOp) -> io::Result<()> {
            let count = match op {
                FaultOp::Write => {
                    self.writes += 1;
                    self.writes
                }
                FaultOp::Sync => {
                    self.syncs += 1;
                    self.syncs
                }
            };
            if let Some(i) = self
                .faults
                .iter()
                .position(|(o, n, _)| *o == op && *n == count)
            {
                let (_, _, err) = self.faults.remove(i);
                return Err(err.to_io());
            }
            Ok(())
        }

        fn lookup(&self, path: &Path) -> io::Result<u64> {
            let (dir, name) = split(path)?;
            self.dirs
                .get(&dir)
                .and_then(|d| d.live.get(&name))
                .copied()
                .ok_or_else(|| not_found(path))
        }

        fn dir_mut(&mut self, dir: &Path) -> io::Result<&mut Dir> {
            self.dirs.get_mut(dir).ok_or_else(|| not_found(dir))
        }

        fn inode(&mut self, ino: u64) -> io::Result<&mut Inode> {
            self.inodes
                .get_mut(&ino)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "inode gone"))
        }
    }

    impl SimFs {
        pub fn new() -> SimFs {
            SimFs::default()
        }

        fn lock(&self) -> MutexGuard<'_, State> {
            // A panic while holding the lock only happens in a failing test; keep going.
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// Makes the `nth` next call of kind `op` (1 = the very next one) fail with `error`.
        /// Nothing of a failed write lands; nothing becomes durable on a failed sync.
        pub fn inject_fault(&self, op: FaultOp, nth: u64, error: FaultError) {
            let mut s = self.lock();
            let base = match op {
                FaultOp::Write => s.writes,
                FaultOp::Sync => s.syncs,
            };
            s.faults.push((op, base + nth.max(1), error));
        }

        /// Simulates a power cut: keeps everything durable plus, per file and per directory,
        /// a random prefix (chosen from `seed`) of what was not yet synced, possibly tearing
        /// the last kept write. Handles opened before the crash stop working.
        pub fn crash(&self, seed: u64) {
            let mut rng = seed ^ 0x005E_ED0F_C8A5_u64;
            let mut s = self.lock();
            let State { inodes, dirs, .. } = &mut *s;
            for inode in inodes.values_mut() {
                let keep = (next_rand(&mut rng) % (inode.pending.len() as u64 + 1)) as usize;
                let mut data = std::mem::take(&mut inode.durable);
                for (i, op) in inode.pending.iter().take(keep).enumerate() {
                    let torn = i + 1 == keep && next_rand(&mut rng) & 1 == 0;
                    match op {
                        FileOp::Write {
                            offset,
                            data: bytes,
                        } if torn => {
                            let cut = (next_rand(&mut rng) % (bytes.len() as u64 + 1)) as usize;
                            let partial = FileOp::Write {
                                offset: *offset,
                                data: bytes[..cut].to_vec(),
                            };
                            apply_file_op(&mut data, &partial);
                        }
                        op => apply_file_op(&mut data, op),
                    }
                }
                inode.live = data.clone();
                inode.durable = data;
                inode.pending.clear();
            }
            for dir in dirs.values_mut() {
                let keep = (next_rand(&mut rng) % (dir.pending.len() as u64 + 1)) as usize;
                let mut entries = std::mem::take(&mut dir.durable);
                for op in dir.pending.iter().take(keep) {
                    match op {
                        DirOp::Link { name, ino } => {
                            entries.insert(name.clone(), *ino);
                        }
                        DirOp::Unlink { name } => {
                            entries.remove(name);
                        }
                    }
                }
                dir.live = entries.clone();
                dir.durable = entries;
                dir.pending.clear();
            }
            let referenced: std::collections::BTreeSet<u64> = dirs
                .values()
                .flat_map(|d| d.durable.values().copied())
                .collect();
            inodes.retain(|ino, _| referenced.contains(ino));
            s.generation += 1;
        }

        /// The current (volatile) content of a file, for tests.
        pub fn contents(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.read(path)
        }

        /// Overwrites bytes of a file and makes them durable at once: a test's way of
        /// corrupting a disk behind the store's back.
        pub fn corrupt(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
            let mut s = self.lock();
            let ino = s.lookup(path)?;
            let inode = s.inode(ino)?;
            let op = FileOp::Write {
                offset,
                data: data.to_vec(),
            };
            apply_file_op(&mut inode.live, &op);
            apply_file_op(&mut inode.durable, &op);
            Ok(())
        }

        /// Truncates a file durably, behind the store's back (tests).
        pub fn cut(&self, path: &Path, len: u64) -> io::Result<()> {
            let mut s = self.lock();
            let ino = s.lookup(path)?;
            let inode = s.inode(ino)?;
            inode.live.truncate(len as usize);
            inode.durable.truncate(len as usize);
            Ok(())
        }
    }

    impl Fs for SimFs {
        fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
            let mut s = self.lock();
            s.dirs.entry(dir.to_path_buf()).or_default();
            Ok(())
        }

        fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
            let mut s = self.lock();
            let (dir, name) = split(path)?;
            if let Ok(ino) = s.lookup(path) {
                // Truncating an existing file is a length change of that inode.
                let inode = s.inode(ino)?;
                inode.live.clear();
                inode.pending.push(FileOp::SetLen(0));
                let generation = s.generation;
                return Ok(Box::new(SimFile {
                    fs: self.clone(),
                    ino,
                    generation,
                }));
            }
            s.next_ino += 1;
            let ino = s.next_ino;
            s.inodes.insert(ino, Inode::default());
            let d = s.dir_mut(&dir)?;
            d.live.insert(name.clone(), ino);
            d.pending.push(DirOp::Link { name, ino });
            let generation = s.generation;
            Ok(Box::new(SimFile {
                fs: self.clone(),
                ino,
                generation,
            }))
        }

        fn open(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
            let s = self.lock();
            let ino = s.lookup(path)?;
            Ok(Box::new(SimFile {
                fs: self.clone(),
                ino,
                generation: s.generation,
            }))
        }

        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            let mut s = self.lock();
            let ino = s.lookup(path)?;
            Ok(s.inode(ino)?.live.clone())
        }

        fn exists(&self, path: &Path) -> io::Result<bool> {
            Ok(self.lock().lookup(path).is_ok())
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            let mut s = self.lock();
            let ino = s.lookup(from)?;
            let (from_dir, from_name) = split(from)?;
            let (to_dir, to_name) = split(to)?;
            if from_dir != to_dir {
                return Err(io::Error::other("SimFs renames only within a directory"));
            }
            let d = s.dir_mut(&from_dir)?;
            d.live.remove(&from_name);
            d.live.insert(to_name.clone(), ino);
            // One pending op per entry, in order: a crash keeps a prefix, so a rename may
            // land as "both names" (link done, unlink not) but never as "neither".
            d.pending.push(DirOp::Link { name: to_name, ino });
            d.pending.push(DirOp::Unlink { name: from_name });
            Ok(())
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            let mut s = self.lock();
            s.lookup(path)?;
            let (dir, name) = split(path)?;
            let d = s.dir_mut(&dir)?;
            d.live.remove(&name);
            d.pending.push(DirOp::Unlink { name });
            Ok(())
        }

        fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
            let s = self.lock();
            let d = s.dirs.get(dir).ok_or_else(|| not_found(dir))?;
            Ok(d.live.keys().cloned().collect())
        }

        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            let mut s = self.lock();
            s.check_fault(FaultOp::Sync)?;
            let d = s.dir_mut(dir)?;
            d.durable = d.live.clone();
            d.pending.clear();
            Ok(())
        }
    }

    impl SimFile {
        fn with<T>(&self, f: impl FnOnce(&mut State, u64) -> io::Result<T>) -> io::Result<T> {
            let mut s = self.fs.lock();
            if s.generation != self.generation {
                return Err(io::Error::other("stale handle: the disk crashed"));
            }
            f(&mut s, self.ino)
        }
    }

    impl FsFile for SimFile {
        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.with(|s, ino| {
                s.check_fault(FaultOp::Write)?;
                let op = FileOp::Write {
                    offset,
                    data: data.to_vec(),
                };
                let inode = s.inode(ino)?;
                apply_file_op(&mut inode.live, &op);
                inode.pending.push(op);
                Ok(())
            })
        }

        fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            self.with(|s, ino| {
                let live = &s.inode(ino)?.live;
                let start = offset as usize;
                live.get(start..start + len)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
            })
        }

        fn len(&self) -> io::Result<u64> {
            self.with(|s, ino| Ok(s.inode(ino)?.live.len() as u64))
        }

        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.with(|s, ino| {
                s.check_fault(FaultOp::Write)?;
                let op = FileOp::SetLen(len);
                let inode = s.inode(ino)?;
                apply_file_op(&mut inode.live, &op);
                inode.pending.push(op);
                Ok(())
            })
        }

        fn sync_data(&mut self) -> io::Result<()> {
            self.with(|s, ino| {
                s.check_fault(FaultOp::Sync)?;
                let inode = s.inode(ino)?;
                inode.durable = inode.live.clone();
                inode.pending.clear();
                Ok(())
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn crash_keeps_synced_and_a_prefix_of_the_rest() {
            let dir = Path::new("/d");
            for seed in 0..200 {
                let fs = SimFs::new();
                fs.create_dir_all(dir).unwrap();
                let mut f = fs.create(&dir.join("a")).unwrap();
                f.append(b"hello ").unwrap();
                f.sync_data().unwrap();
                fs.sync_dir(dir).unwrap();
                f.append(b"world").unwrap();
                fs.create(&dir.join("b")).unwrap();
                fs.crash(seed);
                let got = fs.read(&dir.join("a")).unwrap();
                assert!(got.starts_with(b"hello "));
                assert!(b"hello world".starts_with(&got));
                assert!(f.append(b"x").is_err(), "stale handle must fail");
            }
        }

        #[test]
        fn unsynced_rename_may_be_lost_but_never_loses_synced_data() {
            let dir = Path::new("/d");
            let mut lost = 0;
            for seed in 0..100 {
                let fs = SimFs::new();
                fs.create_dir_all(dir).unwrap();
                let mut f = fs.create(&dir.join("x.tmp")).unwrap();
                f.append(b"1").unwrap();
                f.sync_data().unwrap();
                fs.rename(&dir.join("x.tmp"), &dir.join("x")).unwrap();
                fs.crash(seed);
                let names = fs.list_dir(dir).unwrap();
                if names.contains(&"x".to_string()) {
                    assert_eq!(fs.read(&dir.join("x")).unwrap(), b"1");
                } else {
                    lost += 1;
                }
            }
            assert!(lost > 0, "some crash must lose the unsynced directory ops");
        }

        #[test]
        fn injected_faults_fire_once() {
            let fs = SimFs::new();
            let dir = Path::new("/d");
            fs.create_dir_all(dir).unwrap();
            let mut f = fs.create(&dir.join("a")).unwrap();
            fs.inject_fault(FaultOp::Sync, 2, FaultError::Eio);
            f.sync_data().unwrap();
            assert!(f.sync_data().is_err());
            f.sync_data().unwrap();
            fs.inject_fault(FaultOp::Write, 1, FaultError::Enospc);
            assert!(f.append(b"x").is_err());
            assert_eq!(f.len().unwrap(), 0);
        }
    }
}

#[cfg(test)]
mod std_tests {
    use super::*;
    use crate::log::LogConfig;
    use crate::recovery::recover;
    use crate::snapshot::write_snapshot;
    use crate::testutil::entries;
    use crate::DataDirs;
    use std::sync::Arc;

    /// The whole cycle on real files: recover, append + sync, roll, snapshot, torn tail,
    /// recover again.
    #[test]
    fn real_files_round_trip() {
        let root = std::env::temp_dir().join(format!("zkserver-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dirs = DataDirs::new(&root.join("data"), Some(&root.join("log")));
        let fs: Arc<dyn Fs> = Arc::new(StdFs);
        let config = LogConfig {
            prealloc_bytes: 4096,
            ..LogConfig::default()
        };
        let mut log = recover(fs.clone(), &dirs, config.clone()).unwrap().log;
        log.append(&entries(1, 1, 5)).unwrap();
        log.sync().unwrap();
        log.roll().unwrap();
        write_snapshot(
            fs.clone(),
            &dirs.snap_dir,
            jute::Zxid::new(1, 3),
            &[],
            b"tree",
        )
        .unwrap();
        log.append(&entries(1, 6, 3)).unwrap();
        log.sync().unwrap();
        drop(log);
        // Tear the last record: recovery cuts it.
        let last = dirs.log_dir.join("log.100000006");
        assert_eq!(std::fs::metadata(&last).unwrap().len(), 4096);
        let mut data = std::fs::read(&last).unwrap();
        let end = data.iter().rposition(|b| *b != 0).unwrap();
        data[end] ^= 0xff;
        std::fs::write(&last, &data).unwrap();
        let rec = recover(fs.clone(), &dirs, config).unwrap();
        assert_eq!(rec.snapshot.unwrap().zxid, jute::Zxid::new(1, 3));
        let got: Vec<_> = rec.entries.iter().map(|e| e.zxid.counter()).collect();
        assert_eq!(got, vec![4, 5, 6, 7]);
        assert_eq!(rec.warnings.len(), 1, "{:?}", rec.warnings);
        let listing = crate::inspect::list(fs.as_ref(), &dirs).unwrap();
        assert!(listing.contains("log.100000006"), "{listing}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
