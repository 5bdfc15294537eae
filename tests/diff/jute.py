"""Minimal raw-socket ZooKeeper jute client (stdlib only) for the differential test.

Byte-level control is the point: every frame is built by hand, nothing is
retried, and every frame received is kept (notifications are queued on the
connection, replies are returned to the caller).
"""

import socket
import struct
import time

# ---------------------------------------------------------------- encoding

def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def buf(b):
    return i32(-1) if b is None else i32(len(b)) + b


def ustr(s):
    if s is None:
        return i32(-1)
    e = s.encode("utf-8", "surrogatepass")
    return i32(len(e)) + e


def vec(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def acl_enc(a):
    perms, scheme, ident = a
    return i32(perms) + ustr(scheme) + ustr(ident)


OPEN_ACL = [(31, "world", "anyone")]
READ_ACL = [(1, "world", "anyone")]

# opcodes
OP = dict(notification=0, create=1, delete=2, exists=3, getData=4, setData=5,
          getACL=6, setACL=7, getChildren=8, sync=9, ping=11, getChildren2=12,
          check=13, multi=14, create2=15, reconfig=16, checkWatches=17,
          removeWatches=18, createContainer=19, deleteContainer=20, createTTL=21,
          multiRead=22, auth=100, setWatches=101, sasl=102, getEphemerals=103,
          getAllChildrenNumber=104, setWatches2=105, addWatch=106, whoAmI=107,
          createSession=-10, closeSession=-11, error=-1)
OPNAME = {v: k for k, v in OP.items()}

ERR = {0: "OK", -1: "SystemError", -2: "RuntimeInconsistency", -3: "DataInconsistency",
       -4: "ConnectionLoss", -5: "MarshallingError", -6: "Unimplemented",
       -7: "OperationTimeout", -8: "BadArguments", -12: "UnknownSession",
       -13: "NewConfigNoQuorum", -14: "ReconfigInProgress", -100: "APIError",
       -101: "NoNode", -102: "NoAuth", -103: "BadVersion", -108: "NoChildrenForEphemerals",
       -110: "NodeExists", -111: "NotEmpty", -112: "SessionExpired", -113: "InvalidCallback",
       -114: "InvalidACL", -115: "AuthFailed", -118: "SessionMoved", -119: "NotReadOnly",
       -120: "EphemeralOnLocalSession", -121: "NoWatcher", -122: "RequestTimeout",
       -123: "ReconfigDisabled", -124: "SessionClosedRequireSaslAuth", -125: "QuotaExceeded",
       -127: "ThrottledOp"}

EVENT = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
         4: "NodeChildrenChanged", 5: "DataWatchRemoved", 6: "ChildWatchRemoved",
         7: "PersistentWatchRemoved"}


def errname(code):
    return ERR.get(code, "err%d" % code)


# ---------------------------------------------------------------- decoding

class DecodeError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if n < 0 or self.p + n > len(self.d):
            raise DecodeError("short read: need %d at %d of %d" % (n, self.p, len(self.d)))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def boolean(self):
        return self.take(1) != b"\x00"

    def buf(self):
        n = self.i32()
        return None if n == -1 else self.take(n)

    def ustr(self):
        b = self.buf()
        return None if b is None else b.decode("utf-8", "replace")

    def vec(self, dec):
        n = self.i32()
        if n == -1:
            return None
        return [dec(self) for _ in range(n)]

    def stat(self):
        names = ["czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
                 "ephemeralOwner", "dataLength", "numChildren", "pzxid"]
        fmt = ">qqqqiiiqiiq"
        raw = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return dict(zip(names, raw))

    def acl(self):
        return (self.i32(), self.ustr(), self.ustr())

    def remaining(self):
        return len(self.d) - self.p


# ---------------------------------------------------------------- connection

CLOSED = "CLOSED"
TIMEOUT = "TIMEOUT"


class Reply:
    def __init__(self, xid, zxid, err, body, before):
        self.xid, self.zxid, self.err, self.body = xid, zxid, err, body
        self.before = before  # notifications received on this conn before this reply


class Conn:
    """One TCP connection (and, after connect(), one session)."""

    def __init__(self, host, port, io_timeout=5.0):
        self.host, self.port = host, port
        self.io_timeout = io_timeout
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rbuf = b""
        self.closed = False
        self.events = []      # (zxid, type, state, path) in arrival order
        self.xid = 0
        self.last_zxid = 0
        self.session_id = 0
        self.passwd = b"\0" * 16
        self.timeout = 0

    # -- raw IO
    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send_frame(self, payload):
        self.send_raw(i32(len(payload)) + payload)

    def _fill(self, n, deadline):
        while len(self.rbuf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return TIMEOUT
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return TIMEOUT
            except OSError:
                b = b""
            if not b:
                self.closed = True
                return CLOSED
            self.rbuf += b
        return None

    def recv_frame(self, timeout=None):
        """Next frame payload, or CLOSED / TIMEOUT."""
        if self.closed and not self.rbuf:
            return CLOSED
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        r = self._fill(4, deadline)
        if r:
            return r
        n = struct.unpack(">i", self.rbuf[:4])[0]
        r = self._fill(4 + n, deadline)
        if r:
            return r
        frame = self.rbuf[4:4 + n]
        self.rbuf = self.rbuf[4 + n:]
        return frame

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    # -- handshake
    def connect(self, timeout_ms=30000, session_id=0, passwd=None, last_zxid=0,
                read_only=True, wait=None):
        body = i32(0) + i64(last_zxid) + i32(timeout_ms) + i64(session_id) + \
            buf(passwd if passwd is not None else b"\0" * 16)
        if read_only is not None:
            body += boolean(read_only)
        self.send_frame(body)
        f = self.recv_frame(wait)
        if f in (CLOSED, TIMEOUT):
            return f
        r = Reader(f)
        resp = dict(bodylen=len(f), proto=r.i32(), timeout=r.i32(), session_id=r.i64(),
                    passwd=r.buf())
        resp["readOnly"] = r.boolean() if r.remaining() else None
        resp["trailing"] = r.remaining()
        if resp["session_id"]:
            self.session_id = resp["session_id"]
            self.passwd = resp["passwd"]
            self.timeout = resp["timeout"]
        return resp

    # -- requests
    def next_xid(self):
        self.xid += 1
        return self.xid

    def send_request(self, op, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid()
        self.send_frame(i32(xid) + i32(op) + body)
        return xid

    def read_reply(self, xid, timeout=None):
        """Read until the reply for `xid` (xid -2 for ping) -> Reply, CLOSED or TIMEOUT.

        Notifications (xid -1) are queued on self.events."""
        before = []
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f in (CLOSED, TIMEOUT):
                return f
            r = Reader(f)
            rxid, zxid, err = r.i32(), r.i64(), r.i32()
            if rxid == -1:
                ev = (zxid, r.i32(), r.i32(), r.ustr(), r.remaining())
                self.events.append(ev)
                before.append(ev)
                continue
            if zxid > self.last_zxid:
                self.last_zxid = zxid
            if rxid != xid:
                # Unexpected xid: hand it back; caller renders it as a mismatch.
                return Reply(rxid, zxid, err, f[16:], before)
            return Reply(rxid, zxid, err, f[16:], before)

    def call(self, op, body=b"", xid=None, timeout=None):
        x = self.send_request(op, body, xid)
        if self.closed:
            return CLOSED
        return self.read_reply(-2 if op == OP["ping"] else x, timeout)

    def ping(self, timeout=None):
        """Barrier: ping and wait for its reply; notifications before it are queued."""
        if self.closed:
            return CLOSED
        return self.call(OP["ping"], b"", xid=-2, timeout=timeout)

    def take_events(self):
        ev, self.events = self.events, []
        return ev

    def wait_closed(self, timeout=2.0):
        """CLOSED if the server closes the socket within `timeout` without sending
        anything, else OPEN or DATA(hex)."""
        f = self.recv_frame(timeout)
        if f == CLOSED:
            return "CLOSED"
        if f == TIMEOUT:
            return "OPEN"
        return "DATA(%s)" % f.hex()
