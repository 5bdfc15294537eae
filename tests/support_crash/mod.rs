//! Helpers for `tests/crash_recovery.rs`: a guarded `zkserver` process (killed and waited
//! for on drop), temp directories, a seeded PRNG, the on-disk layout of log segments and
//! snapshots (parsed independently of `crates/store`, from its documented format), and a
//! small pipelining ZooKeeper client over tokio + jute.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use jute::proto::{
    ConnectRequest, ConnectResponse, Create2Response, CreateRequest, DeleteRequest,
    GetChildren2Response, GetDataResponse, PathWatchRequest, ReplyHeader, RequestHeader,
    SetDataRequest, StatResponse,
};
use jute::{op, Acl, Record, Stat};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// The binary and a free loopback port, as every integration test finds them.
pub use crate::support::{free_port, zkserver_bin};

// ---------------------------------------------------------------------------------------
// PRNG

/// splitmix64: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next_u64() % 100 < pct
    }
}

// ---------------------------------------------------------------------------------------
// Temp dirs

static DIR_SEQ: AtomicU64 = AtomicU64::new(0);

/// A temp directory removed on drop, unless the thread is panicking (then it is kept and
/// its path printed, for post-mortem).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "zkcrash-{tag}-{}-{}",
            std::process::id(),
            DIR_SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Copies a directory tree (regular files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        let ty = e.file_type().expect("file type");
        let dst = to.join(e.file_name());
        if ty.is_dir() {
            copy_dir(&e.path(), &dst);
        } else if ty.is_file() {
            std::fs::copy(e.path(), &dst).expect("copy file");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server process

/// One node's files and settings; `start` writes `zoo.cfg` (with a fresh port) and runs it.
#[derive(Clone)]
pub struct Node {
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub data_log_dir: Option<PathBuf>,
    /// Extra zoo.cfg lines.
    pub extra: String,
    /// A shell prefix wrapping the server command (e.g. `prlimit ...`), run by `sh -c`.
    pub wrap: Option<String>,
    pub tick_ms: u32,
}

impl Node {
    pub fn new(dir: &Path, extra: &str) -> Node {
        Node {
            dir: dir.to_path_buf(),
            data_dir: dir.join("data"),
            data_log_dir: None,
            extra: extra.to_string(),
            wrap: None,
            tick_ms: 2000,
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("version-2")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir
            .as_ref()
            .unwrap_or(&self.data_dir)
            .join("version-2")
    }

    fn write_cfg(&self, port: u16) -> PathBuf {
        let cfg = self.dir.join("zoo.cfg");
        let mut text = format!(
            "tickTime={}\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist=*\n",
            self.tick_ms,
            self.data_dir.display()
        );
        if let Some(l) = &self.data_log_dir {
            text.push_str(&format!("dataLogDir={}\n", l.display()));
        }
        text.push_str(&self.extra);
        text.push('\n');
        std::fs::write(&cfg, text).expect("write zoo.cfg");
        cfg
    }

    /// Starts the server and waits until it serves (`srvr` reports a zxid). `Err` carries the exit status
    /// (or `None` on timeout) and the server's stderr of this start.
    pub fn try_start(&self) -> Result<Server, (Option<ExitStatus>, String)> {
        let mut server = self.spawn();
        let port = server.port;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = server.try_wait() {
                let text = server.stderr_of_this_start();
                server.child = None;
                return Err((Some(status), text));
            }
            // `ruok` answers before the node serves (as ZooKeeper's does); `srvr` says
            // "not currently serving" until then.
            if four_letter(port, "srvr").is_some_and(|t| parse_srvr_zxid(&t).is_some()) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = server.stderr_of_this_start();
        server.kill9();
        Err((None, text))
    }

    /// Starts the server without waiting for it (e.g. to kill it during recovery).
    pub fn spawn(&self) -> Server {
        let port = free_port();
        let cfg = self.write_cfg(port);
        let log_path = self.log_path();
        let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open server log");
        let bin = zkserver_bin();
        let mut cmd = match &self.wrap {
            None => Command::new(&bin),
            Some(prefix) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("{prefix} \"$0\" \"$@\"")).arg(&bin);
                c
            }
        };
        cmd.arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let child = cmd.spawn().expect("spawn zkserver");
        Server {
            child: Some(child),
            port,
            log_path,
            log_start,
        }
    }

    pub fn start(&self) -> Server {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_start() {
                Ok(s) => return s,
                // The free port was taken between our probe and the server's bind.
                Err((Some(_), text)) if text.contains("cannot listen") && attempt < 3 => continue,
                Err((status, text)) => panic!(
                    "zkserver in {} did not start (exit {status:?}); its stderr:\n{text}",
                    self.dir.display()
                ),
            }
        }
    }

    /// Runs the server expecting it to refuse to start: returns its exit status and stderr.
    /// Panics if it comes up.
    pub fn expect_refusal(&self) -> (ExitStatus, String) {
        match self.try_start() {
            Ok(s) => panic!(
                "zkserver in {} started but should have refused; its stderr:\n{}",
                self.dir.display(),
                s.stderr_of_this_start()
            ),
            Err((Some(status), text)) => (status, text),
            Err((None, text)) => panic!("zkserver neither started nor exited:\n{text}"),
        }
    }
}

/// A running zkserver; killed (SIGKILL) and waited for on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    log_path: PathBuf,
    log_start: u64,
}

impl Server {
    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The server's stderr since this start.
    pub fn stderr_of_this_start(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(self.log_start));
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// The last zxid the server reports (`srvr`'s `Zxid:` line).
    pub fn zxid(&self) -> i64 {
        let mut last = String::new();
        for _ in 0..5 {
            match four_letter_io(self.port, "srvr") {
                Ok(text) => match parse_srvr_zxid(&text) {
                    Some(z) => return z,
                    None => last = format!("no Zxid in srvr output: {text:?}"),
                },
                Err(e) => last = e.to_string(),
            }
            eprintln!("srvr on port {} failed ({last}); retrying", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("srvr on port {} failed: {last}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn parse_srvr_zxid(text: &str) -> Option<i64> {
    let line = text.lines().find(|l| l.starts_with("Zxid: 0x"))?;
    u64::from_str_radix(line.trim_start_matches("Zxid: 0x").trim(), 16)
        .ok()
        .map(|v| v as i64)
}

pub fn four_letter(port: u16, cmd: &str) -> Option<String> {
    four_letter_io(port, cmd).ok()
}

pub fn four_letter_io(port: u16, cmd: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(cmd.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Runs `zkserver ARGS...` (an inspection subcommand) to completion.
pub fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(zkserver_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run zkserver subcommand");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------
// On-disk layout (from crates/store's documented format: record = crc u32 | len u32 |
// zxid i64 | txn[len - 8]; segment header 20 bytes; end of data = zero crc and len).

pub const SEGMENT_HEADER_LEN: usize = 20;

/// A record found in a segment: offset of its crc field, total length, zxid.
#[derive(Debug, Clone, Copy)]
pub struct RecordPos {
    pub offset: usize,
    pub len: usize,
    pub zxid: i64,
}

/// The records of a (well-formed) segment, in file order.
pub fn segment_records(path: &Path) -> Vec<RecordPos> {
    let buf = std::fs::read(path).expect("read segment");
    let mut out = Vec::new();
    let mut p = SEGMENT_HEADER_LEN;
    while p + 16 <= buf.len() {
        let crc = u32::from_be_bytes(buf[p..p + 4].try_into().unwrap_or_default());
        let len = u32::from_be_bytes(buf[p + 4..p + 8].try_into().unwrap_or_default()) as usize;
        if crc == 0 && len == 0 {
            break;
        }
        if len < 8 || p + 8 + len > buf.len() {
            break;
        }
        let zxid = i64::from_be_bytes(buf[p + 8..p + 16].try_into().unwrap_or_default());
        out.push(RecordPos {
            offset: p,
            len: 8 + len,
            zxid,
        });
        p += 8 + len;
    }
    out
}

/// Files in `dir` whose name starts with `prefix.` followed by a hex zxid, sorted by zxid.
pub fn zxid_files(dir: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let hex = name.strip_prefix(prefix)?.strip_prefix('.')?;
                    let z = u64::from_str_radix(hex, 16).ok()? as i64;
                    Some((z, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn segments(dir: &Path) -> Vec<(i64, PathBuf)> {
    zxid_files(dir, "log")
}

pub fn snapshots(dir: &Path) -> Vec<(i64, PathBuf)> {
    zxid_files(dir, "snapshot")
}

/// XORs one byte of a file with 0xff.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut data = std::fs::read(path).expect("read");
    data[offset as usize] ^= 0xff;
    std::fs::write(path, data).expect("write");
}

pub fn zxid_epoch(z: i64) -> u32 {
    (z as u64 >> 32) as u32
}

pub fn zxid_counter(z: i64) -> u32 {
    z as u64 as u32
}

// ---------------------------------------------------------------------------------------
// A small pipelining client

/// One reply: header zxid and err, and the body after the header.
#[derive(Debug, Clone)]
pub struct Reply {
    pub zxid: i64,
    pub err: i32,
    pub body: Bytes,
}

/// The connection is gone: the outcome of anything outstanding is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

#[derive(Debug)]
pub enum ConnectError {
    Io(String),
    /// The server answered the handshake with timeout 0: session expired or unknown.
    Expired,
}

type Pending = HashMap<i32, oneshot::Sender<Reply>>;

struct Shared {
    wr: tokio::sync::Mutex<Writer>,
    /// `None` once the connection is gone: every waiter's sender was dropped.
    pending: std::sync::Mutex<Option<Pending>>,
}

struct Writer {
    half: OwnedWriteHalf,
    next_xid: i32,
    buf: BytesMut,
}

/// A session's connection. Requests may be pipelined: `submit` returns at once with a
/// receiver for the reply; replies come in request order. Dropping it closes the socket
/// (the session stays until it expires, as with a crashed client).
pub struct ZkConn {
    pub session_id: i64,
    pub passwd: Bytes,
    pub timeout_ms: i32,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ZkConn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn read_frame(rd: &mut OwnedReadHalf) -> std::io::Result<Bytes> {
    let len = rd.read_u32().await? as usize;
    if len > 64 << 20 {
        return Err(std::io::Error::other("frame too large"));
    }
    let mut buf = vec![0u8; len];
    rd.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}

fn encode_frame(buf: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    buf.clear();
    jute::codec::write_frame(buf, body);
    buf.split().freeze()
}

impl ZkConn {
    /// Connects a new session (`session = None`) or re-attaches to one. Sends pings every
    /// third of the negotiated timeout while the connection lives.
    pub async fn connect(
        port: u16,
        timeout_ms: i32,
        session: Option<(i64, Bytes)>,
    ) -> Result<ZkConn, ConnectError> {
        let io = |e: std::io::Error| ConnectError::Io(e.to_string());
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .map_err(|_| ConnectError::Io("connect timed out".into()))?
        .map_err(io)?;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let (sid, pw) = session.unwrap_or((0, Bytes::from(vec![0u8; 16])));
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: sid,
            passwd: pw,
            read_only: Some(false),
        };
        let mut buf = BytesMut::new();
        let frame = encode_frame(&mut buf, |b| req.encode(b));
        wr.write_all(&frame).await.map_err(io)?;
        let resp = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut rd))
            .await
            .map_err(|_| ConnectError::Io("no handshake answer".into()))?
            .map_err(io)?;
        let resp = ConnectResponse::from_bytes(resp)
            .map_err(|e| ConnectError::Io(format!("bad ConnectResponse: {e}")))?;
        if resp.time_out <= 0 {
            return Err(ConnectError::Expired);
        }
        let shared = Arc::new(Shared {
            wr: tokio::sync::Mutex::new(Writer {
                half: wr,
                next_xid: 0,
                buf,
            }),
            pending: std::sync::Mutex::new(Some(HashMap::new())),
        });
        let reader = tokio::spawn(read_loop(rd, shared.clone()));
        let weak = Arc::downgrade(&shared);
        let every = Duration::from_millis((resp.time_out / 3).max(50) as u64);
        let pinger = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(s) = weak.upgrade() else { return };
                if s.pending.lock().map(|p| p.is_none()).unwrap_or(true) {
                    return;
                }
                let mut w = s.wr.lock().await;
                let Writer { half, buf, .. } = &mut *w;
                let frame = encode_frame(buf, |b| {
                    RequestHeader {
                        xid: -2,
                        op_type: op::PING,
                    }
                    .encode(b)
                });
                if half.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
        Ok(ZkConn {
            session_id: resp.session_id,
            passwd: resp.passwd,
            timeout_ms: resp.time_out,
            shared,
            tasks: vec![reader, pinger],
        })
    }

    /// `connect`, retried for a few seconds on IO errors: a server answers `ruok` a little
    /// before it serves sessions (it closes connections until then), and clients retry.
    pub async fn connect_retry(
        port: u16,
        timeout_ms: i32,
        session: Option<(i64, Bytes)>,
    ) -> Result<ZkConn, ConnectError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ZkConn::connect(port, timeout_ms, session.clone()).await {
                Err(ConnectError::Io(e)) if Instant::now() < deadline => {
                    eprintln!("connect to port {port} failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    /// Sends one request; the receiver yields its reply, or an error once the connection
    /// is gone without a reply.
    pub async fn submit(
        &self,
        op_type: i32,
        body: impl FnOnce(&mut BytesMut),
    ) -> Result<oneshot::Receiver<Reply>, Lost> {
        let mut w = self.shared.wr.lock().await;
        w.next_xid += 1;
        let xid = w.next_xid;
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.shared.pending.lock().map_err(|_| Lost)?;
            match p.as_mut() {
                None => return Err(Lost),
                Some(m) => m.insert(xid, tx),
            };
        }
        let Writer { half, buf, .. } = &mut *w;
        let frame = encode_frame(buf, |b| {
            RequestHeader { xid, op_type }.encode(b);
            body(b);
        });
        half.write_all(&frame).await.map_err(|_| Lost)?;
        Ok(rx)
    }

    /// Sends and waits (bounded) for the reply.
    pub async fn call(
        &self,
        op_type: i32,
        body: impl FnOnce(&mut BytesMut),
    ) -> Result<Reply, Lost> {
        let rx = self.submit(op_type, body).await?;
        match tokio::time::timeout(Duration::from_secs(20), rx).await {
            Ok(Ok(r)) => Ok(r),
            _ => Err(Lost),
        }
    }

    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        flags: i32,
    ) -> Result<Result<(String, Stat), i32>, Lost> {
        let req = create_req(path, data, flags);
        let r = self.call(op::CREATE2, |b| req.encode(b)).await?;
        Ok(decode_create2(r))
    }

    pub async fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: i32,
    ) -> Result<Result<Stat, i32>, Lost> {
        let req = set_req(path, data, version);
        let r = self.call(op::SET_DATA, |b| req.encode(b)).await?;
        Ok(decode_stat(r))
    }

    pub async fn delete(&self, path: &str, version: i32) -> Result<Result<(), i32>, Lost> {
        let req = delete_req(path, version);
        let r = self.call(op::DELETE, |b| req.encode(b)).await?;
        Ok(if r.err == 0 { Ok(()) } else { Err(r.err) })
    }

    pub async fn get_data(&self, path: &str) -> Result<Result<(Bytes, Stat), i32>, Lost> {
        let r = self
            .call(op::GET_DATA, |b| watchless(path).encode(b))
            .await?;
        Ok(decode_get_data(r))
    }

    pub async fn children(&self, path: &str) -> Result<Result<(Vec<String>, Stat), i32>, Lost> {
        let r = self
            .call(op::GET_CHILDREN2, |b| watchless(path).encode(b))
            .await?;
        Ok(decode_children(r))
    }

    pub async fn exists(&self, path: &str) -> Result<Option<Stat>, Lost> {
        let r = self.call(op::EXISTS, |b| watchless(path).encode(b)).await?;
        Ok(decode_stat(r).ok())
    }

    /// closeSession, waiting for its reply.
    pub async fn close_session(&self) -> Result<(), Lost> {
        self.call(op::CLOSE_SESSION, |_| {}).await.map(|_| ())
    }
}

async fn read_loop(mut rd: OwnedReadHalf, shared: Arc<Shared>) {
    while let Ok(mut frame) = read_frame(&mut rd).await {
        let Ok(hdr) = ReplyHeader::decode(&mut frame) else {
            break;
        };
        if hdr.xid < 0 {
            continue; // watch notifications and ping replies
        }
        let tx = shared
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.as_mut().and_then(|m| m.remove(&hdr.xid)));
        if let Some(tx) = tx {
            let _ = tx.send(Reply {
                zxid: hdr.zxid,
                err: hdr.err,
                body: frame,
            });
        }
    }
    if let Ok(mut p) = shared.pending.lock() {
        *p = None;
    }
}

pub fn watchless(path: &str) -> PathWatchRequest {
    PathWatchRequest {
        path: path.to_string(),
        watch: false,
    }
}

pub fn create_req(path: &str, data: &[u8], flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.to_string(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Acl::open_unsafe(),
        flags,
    }
}

pub fn set_req(path: &str, data: &[u8], version: i32) -> SetDataRequest {
    SetDataRequest {
        path: path.to_string(),
        data: Some(Bytes::copy_from_slice(data)),
        version,
    }
}

pub fn delete_req(path: &str, version: i32) -> DeleteRequest {
    DeleteRequest {
        path: path.to_string(),
        version,
    }
}

pub fn decode_create2(r: Reply) -> Result<(String, Stat), i32> {
    if r.err != 0 {
        return Err(r.err);
    }
    Create2Response::from_bytes(r.body)
        .map(|c| (c.path, c.stat))
        .map_err(|_| -5)
}

pub fn decode_stat(r: Reply) -> Result<Stat, i32> {
    if r.err != 0 {
        return Err(r.err);
    }
    StatResponse::from_bytes(r.body)
        .map(|s| s.stat)
        .map_err(|_| -5)
}

pub fn decode_get_data(r: Reply) -> Result<(Bytes, Stat), i32> {
    if r.err != 0 {
        return Err(r.err);
    }
    GetDataResponse::from_bytes(r.body)
        .map(|g| (g.data.unwrap_or_default(), g.stat))
        .map_err(|_| -5)
}

pub fn decode_children(r: Reply) -> Result<(Vec<String>, Stat), i32> {
    if r.err != 0 {
        return Err(r.err);
    }
    GetChildren2Response::from_bytes(r.body)
        .map(|g| (g.children, g.stat))
        .map_err(|_| -5)
}

/// `create` flags.
pub const PERSISTENT: i32 = 0;
pub const EPHEMERAL: i32 = 1;
pub const SEQUENTIAL: i32 = 2;

/// Reads `n` bytes as a big-endian u32 from `b` (helper for tests poking at files).
pub fn be_u32_at(b: &[u8], at: usize) -> u32 {
    let mut s = &b[at..at + 4];
    s.get_u32()
}
