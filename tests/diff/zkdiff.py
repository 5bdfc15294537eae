#!/usr/bin/python3
"""Differential test: one scripted raw-protocol session against two servers.

A raw-socket jute client (tests/diff/jute.py) runs a fixed script of a few
hundred requests over several concurrent sessions, records every reply (error
code, reply zxid, decoded body, Stat fields, trailing bytes) and every watch
notification each session receives, and produces a transcript.  The same
script runs against server A and server B; the transcripts are compared.

Normalisation (only what naturally differs between two runs/servers):
  * zxids -> labels Z1, Z2, ... in first-seen order (0 and -1 stay literal);
    a final line lists the labels sorted by numeric value, so the relative
    order must match too;
  * session ids -> S1, S2, ... in first-seen order;
  * ctime/mtime -> only the relation mtime ? ctime and "0"/"T" (plausible now);
  * children lists -> sorted;
  * session passwords -> length only.

Known 3.8 vs 3.9.3+ differences (zk-protocol.md section 13) are listed in
KNOWN_DIFFERENCES below.  Server A is taken to be Apache ZooKeeper 3.8 and
server B may show the 3.9.3+ answer for exactly those points (or the same
answer as A); any other difference is a failure.

Usage:
  zkdiff.py                                   # A = B = Apache ZooKeeper (two instances)
  zkdiff.py --b-server zkserver --b-bin target/debug/zkserver
  zkdiff.py --a-hosts 127.0.0.1:2181 --b-hosts 127.0.0.1:2182   # already running
  zkdiff.py --print [--a-server zookeeper|zkserver --a-bin P | --a-hosts H]  # one transcript
  zkdiff.py --list-differences
Servers started here get extendedTypesEnabled=true (TTL nodes).
Exit code: 0 = equivalent, 1 = mismatch, 2 = setup error.
"""

import argparse
import difflib
import os
import re
import sys
import time
import traceback
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))

import zkharness  # noqa: E402
from jute import (OP, OPEN_ACL, READ_ACL, CLOSED, TIMEOUT, Conn, Reader, DecodeError,  # noqa: E402
                  errname, EVENT, i32, i64, boolean, buf, ustr, vec, acl_enc)

# --------------------------------------------------------------------------
# Accepted 3.8 vs 3.9.3+ differences.  Each marked point in the transcript is
# written as {DIFF:<name>:<rendered answer>}; A's answer must fullmatch the
# "3.8" regex and B's the "3.9.3+" regex (or the two answers are identical).
# --------------------------------------------------------------------------
KNOWN_DIFFERENCES = [
    # (name, description, 3.8 answer (regex), 3.9.3+ answer (regex))
    ("notif_zxid",
     "ReplyHeader.zxid of a watch notification caused by a txn",
     r"-1",                       # 3.8: always -1
     r"=step"),                   # 3.9+: the triggering txn's zxid (= the step's reply zxid)
    ("create2_in_multi",
     "result record of a create2 sub-op inside multi",
     r"type=1",                   # 3.8.0: create result, path only
     r"type=15 stat=\(.*\)"),     # 3.9+: create2 result, path + Stat
    ("exists_read_acl",
     "exists on a node whose ACL denies READ to the caller",
     r"err=OK zxid=\S+ stat=\(.*\)",
     r"err=NoAuth zxid=\S+"),
    ("watch_read_filter",
     "NodeDataChanged for a watcher that lost READ on the node",
     # upstream 3.8.0 delivers the event; Debian's 3.8.0-11+deb12u2 (CVE-2024-23944
     # patch) and 3.8.4+ already filter it, so the installed 3.8 answers "[]" too
     r"\[NodeDataChanged /acl-w/n zxid=-1\]|\[\]",
     r"\[\]"),
    ("standalone_check",
     "bare check (op 13) outside multi on a standalone server",
     r"NO_REPLY; conn=OPEN",                          # 3.8.0: server NPE, no reply
     r"err=Unimplemented zxid=-1; conn=CLOSED"),      # 3.9.3+: Unimplemented + close
    ("watcher_type_4_5",
     "checkWatches/removeWatches with WatcherType 4 (Persistent) / 5 (PersistentRecursive)",
     r"err=MarshallingError zxid=\S+",
     r"err=(OK|NoWatcher) zxid=\S+"),
    ("mixed_watch_modes",
     "persistent + persistent-recursive watch on the same path by one connection",
     r"\[NodeCreated /pw/c zxid=-1\]",                 # 3.8: recursive replaced persistent
     r"\[NodeCreated /pw/c zxid=\S+, NodeChildrenChanged /pw zxid=\S+\]"
     r"|\[NodeChildrenChanged /pw zxid=\S+, NodeCreated /pw/c zxid=\S+\]"),
    ("check_watches_standard",
     "checkWatches Children/Data on a path where the connection has only a persistent watch",
     r"err=OK zxid=\S+",                             # 3.8: any watch in that table counts
     r"err=NoWatcher zxid=\S+"),                     # 3.9: DataTree asks for WatcherMode.STANDARD
    ("mixed_watch_modes_check",
     "checkWatches Persistent after persistent + recursive were added on one path",
     r"err=MarshallingError zxid=\S+",                # 3.8: type 4 unknown
     r"err=OK zxid=\S+"),
    # Not a version difference: B may be an ensemble (tests/ensemble.rs) while A is a
    # standalone ZooKeeper. A quorum member (either kind, see tests/mixed_ensemble.rs) keeps
    # its QuorumMaj text in /zookeeper/config, set with version -1 at startup.
    ("quorum_config_node",
     "/zookeeper/config read from a standalone server (A) or a quorum member (B)",
     r"err=OK zxid=\S+ (data=b'' |acl=\[1:world:anyone\] )stat=\(.* ver=0 .* len=0 .*\)",
     r"err=OK zxid=\S+ (data=bytes\(len=[0-9]+ crc32=[0-9a-f]+\) |acl=\[1:world:anyone\] )"
     r"stat=\(.* ver=-1 .* len=[1-9][0-9]* .*\)"),
]
KD = {d[0]: d for d in KNOWN_DIFFERENCES}

MARK_RE = re.compile(r"\{DIFF:([a-z0-9_]+):((?:[^{}]|\{[^{}]*\})*)\}")

ACL_W = 1 | 2 | 4 | 8 | 16


class Labeler:
    """First-seen labels for zxids and session ids."""

    def __init__(self):
        self.z = {}
        self.s = {}
        self.frozen = False   # inside a DIFF marker: never allocate new labels

    def zx(self, v):
        if v in (0, -1):
            return str(v)
        if v not in self.z:
            if self.frozen:
                return "Z?"
            self.z[v] = "Z%d" % (len(self.z) + 1)
        return self.z[v]

    def sid(self, v):
        if v == 0:
            return "0"
        if v not in self.s:
            if self.frozen:
                return "S?"
            self.s[v] = "S%d" % (len(self.s) + 1)
        return self.s[v]

    def order_line(self):
        return "ZXID-ORDER " + " < ".join(lbl for _, lbl in sorted(self.z.items()))


# Session names that must use the same ensemble member as another one (see Runner.conn).
SAME_MEMBER = {"s5b": "s5", "s5c": "s5"}


class Runner:
    def __init__(self, host, port, verbose=False, budget=120.0, more=()):
        self.host, self.port = host, port
        # An ensemble (--X-hosts h1:p1,h2:p2,...): each session name is pinned to one
        # member, round-robin in order of first use, so sessions talk to different members.
        self.addrs = [(host, port)] + list(more)
        self.last_step = 0.0
        self.member_of = {}
        self.deadline = time.monotonic() + budget
        self.L = Labeler()
        self.lines = []
        self.sess = {}
        self.step_no = 0
        self.step_zxid = None
        self.t0_ms = int(time.time() * 1000)
        self.verbose = verbose
        self.ops = 0

    def tick(self):
        """Bound the whole run: a hung server must not stall the test for hours."""
        if time.monotonic() > self.deadline:
            raise RuntimeError("time budget exceeded at step %d" % self.step_no)

    # ------------------------------------------------------------ rendering
    def out(self, line):
        self.lines.append(line)
        if self.verbose:
            print(line, flush=True)

    def mark(self, name, fn):
        """Render fn() inside a DIFF marker (no new labels allocated there)."""
        assert name in KD, name
        self.L.frozen = True
        try:
            text = fn()
        finally:
            self.L.frozen = False
        return "{DIFF:%s:%s}" % (name, text)

    def t(self, v):
        if v == 0:
            return "0"
        now = int(time.time() * 1000)
        return "T" if self.t0_ms - 86400000 < v <= now + 86400000 else "T!BAD(%d)" % v

    def stat(self, s):
        rel = "==" if s["mtime"] == s["ctime"] else (">" if s["mtime"] > s["ctime"] else "<")
        return ("(czxid=%s mzxid=%s pzxid=%s ctime=%s mtime%sctime ver=%d cver=%d aver=%d "
                "owner=%s len=%d nchild=%d)" % (
                    self.L.zx(s["czxid"]), self.L.zx(s["mzxid"]), self.L.zx(s["pzxid"]),
                    self.t(s["ctime"]), rel, s["version"], s["cversion"], s["aversion"],
                    self.L.sid(s["ephemeralOwner"]), s["dataLength"], s["numChildren"]))

    @staticmethod
    def data(d):
        if d is None:
            return "null"
        if len(d) > 48:
            return "bytes(len=%d crc32=%08x)" % (len(d), zlib.crc32(d))
        return repr(bytes(d))

    @staticmethod
    def acls(lst):
        if lst is None:
            return "null"
        return "[" + ", ".join("%d:%s:%s" % a for a in lst) + "]"

    def evtxt(self, ev, raw_zxid=False):
        zxid, typ, state, path, trailing = ev
        if raw_zxid or zxid == -1:
            z = str(zxid) if zxid in (0, -1) or not raw_zxid else self.L.zx(zxid)
        else:
            z = "=step" if zxid == self.step_zxid else self.L.zx(zxid)
        s = "%s %s zxid=%s" % (EVENT.get(typ, "ev%d" % typ), path, z)
        if state != 3:
            s += " state=%d" % state
        if trailing:
            s += " +%dB" % trailing
        return s

    def evlist(self, evs, marked=True):
        parts = []
        for e in evs:
            zxid = e[0]
            txt = self.evtxt(e, raw_zxid=not marked)
            if zxid != 0 and marked:
                # notification zxid: 3.8 sends -1, 3.9+ the txn zxid
                head, z = txt.rsplit(" zxid=", 1)
                z, _, tail = z.partition(" ")
                txt = head + " zxid=" + self.mark("notif_zxid", lambda z=z: z) + \
                    ((" " + tail) if tail else "")
            parts.append(txt)
        return "[" + ", ".join(parts) + "]"

    def body(self, op, r, sub=None):
        """Decode a success body of opcode `op`."""
        L = self.L
        if op == OP["create"]:
            return "path=%s" % r.ustr()
        if op in (OP["create2"], OP["createContainer"], OP["createTTL"]):
            return "path=%s stat=%s" % (r.ustr(), self.stat(r.stat()))
        if op in (OP["exists"], OP["setData"], OP["setACL"]):
            return "stat=%s" % self.stat(r.stat())
        if op in (OP["getData"], OP["reconfig"]):
            return "data=%s stat=%s" % (self.data(r.buf()), self.stat(r.stat()))
        if op == OP["getACL"]:
            return "acl=%s stat=%s" % (self.acls(r.vec(Reader.acl)), self.stat(r.stat()))
        if op == OP["getChildren"]:
            return "children=%s" % sorted(r.vec(Reader.ustr) or [])
        if op == OP["getChildren2"]:
            return "children=%s stat=%s" % (sorted(r.vec(Reader.ustr) or []), self.stat(r.stat()))
        if op == OP["sync"]:
            return "path=%s" % r.ustr()
        if op == OP["sasl"]:
            return "token=%s" % self.data(r.buf())
        if op == OP["getEphemerals"]:
            return "paths=%s" % sorted(r.vec(Reader.ustr) or [])
        if op == OP["getAllChildrenNumber"]:
            return "n=%d" % r.i32()
        if op == OP["addWatch"]:
            return "errbody=%d" % r.i32()
        if op == OP["whoAmI"]:
            return "ids=%s" % sorted(r.vec(lambda rr: (rr.ustr(), rr.ustr())) or [])
        if op in (OP["multi"], OP["multiRead"]):
            return self.multi_body(r, sub or [])
        return ""

    def multi_body(self, r, sub):
        items = []
        i = 0
        while True:
            typ, done, err = r.i32(), r.boolean(), r.i32()
            if done:
                items.append("end(%d,%d)" % (typ, err))
                break
            req = sub[i] if i < len(sub) else None
            i += 1
            if typ == -1:
                items.append("error(%s/%s)" % (errname(err), errname(r.i32())))
            elif typ == OP["create"] and req == OP["create2"]:
                path = r.ustr()
                items.append("path=%s %s" % (path, self.mark("create2_in_multi", lambda: "type=1")))
            elif typ == OP["create2"] and req == OP["create2"]:
                path = r.ustr()
                st = r.stat()
                items.append("path=%s %s" % (path, self.mark(
                    "create2_in_multi", lambda: "type=15 stat=%s" % self.stat(st))))
            elif typ in (OP["delete"], OP["check"]):
                items.append("%s(err=%s)" % (OP_NAMES.get(typ, typ), errname(err)))
            else:
                items.append("%s(err=%s %s)" % (OP_NAMES.get(typ, typ), errname(err),
                                                self.body(typ, r)))
        return "results=[" + "; ".join(items) + "]"

    # ------------------------------------------------------------ sessions
    def conn(self, name, io_timeout=5.0):
        # Reconnects with s5's session id must reach s5's member: ZooKeeper closes the old
        # connection of a session that reconnects (even with a wrong password) only on the
        # server that gets the new connection.
        key = SAME_MEMBER.get(name, name)
        i = self.member_of.setdefault(key, len(self.member_of) % len(self.addrs))
        host, port = self.addrs[i]
        c = Conn(host, port, io_timeout)
        self.sess[name] = c
        return c

    def connect(self, name, label=None, expect_close=False, **kw):
        """Open a new TCP connection under `name` and send a ConnectRequest."""
        old = self.sess.get(name)
        c = self.conn(name)
        if old is not None and not old.closed:
            old.close()
        self.tick()
        self.step_no += 1
        self.ops += 1
        resp = c.connect(wait=3.0, **kw)
        if isinstance(resp, str):
            txt = resp
        else:
            txt = "proto=%d timeout=%d sid=%s pwlen=%d ro=%s bodylen=%d" % (
                resp["proto"], resp["timeout"], self.L.sid(resp["session_id"]),
                len(resp["passwd"] or b""), resp["readOnly"], resp["bodylen"])
            if resp["trailing"]:
                txt += " +%dB" % resp["trailing"]
            if resp["session_id"] == 0 and resp["passwd"] != b"\0" * 16:
                txt += " passwd-not-zero"
            if expect_close:
                txt += "; conn=" + c.wait_closed(2.0)
        self.out("#%d %s connect(%s) -> %s" % (self.step_no, name, label or "", txt))
        self.barrier()
        return resp

    # ------------------------------------------------------------ requests
    def req(self, name, op, body=b"", desc="", sub=None, xid=None, expect_close=False,
            wrap=None, timeout=None, no_barrier=False):
        """Send one request on session `name`, record the reply, then barrier."""
        c = self.sess[name]
        self.tick()
        self.step_no += 1
        self.ops += 1
        opname = OP_NAMES.get(op, "op%d" % op)
        # Two steps never share a millisecond: a write right after another would otherwise
        # sometimes get the same mtime as its ctime on a fast server (mtime==ctime vs >).
        while time.time() - self.last_step < 0.002:
            time.sleep(0.0005)
        self.last_step = time.time()
        r = c.call(op, body, xid=xid, timeout=timeout)
        self.step_zxid = None
        # notifications generated by setWatches carry zxid -1 in every version
        marked = op not in (OP["setWatches"], OP["setWatches2"])
        if r in (TIMEOUT, CLOSED):
            def render():
                if r == TIMEOUT:
                    return "NO_REPLY; conn=" + c.wait_closed(0.3)
                return "CLOSED"
            txt = self.mark(wrap, render) if wrap else render()
        else:
            self.step_zxid = r.zxid
            for ev in r.before:          # recorded here, not again by the barrier
                c.events.remove(ev)
            txt = ""
            if r.before:
                txt += "notifs-before-reply=%s; " % self.evlist(r.before, marked)
            if op == OP["ping"]:
                txt += "xid=%d " % r.xid
            elif r.xid != (xid if xid is not None else c.xid):
                txt += "XID-MISMATCH(%d) " % r.xid
            zl = self.L.zx(r.zxid)

            def render():
                out = "err=%s zxid=%s" % (errname(r.err), zl)
                rd = Reader(r.body)
                extra = ""
                try:
                    if r.err == 0 and r.body:
                        extra = self.body(op, rd, sub)
                    elif r.body:
                        extra = "errbody=%s" % r.body.hex()
                        rd.p = len(r.body)
                    if rd.remaining():
                        extra += " +%dB-trailing" % rd.remaining()
                except DecodeError as e:
                    extra = "DECODE-ERROR(%s) body=%s" % (e, r.body.hex())
                if extra:
                    out += " " + extra
                if expect_close:
                    out += "; conn=" + c.wait_closed(1.0)
                return out
            txt += self.mark(wrap, render) if wrap else render()
        self.out("#%d %s %s(%s) -> %s" % (self.step_no, name, opname, desc, txt))
        if not no_barrier:
            self.barrier()
        return r

    def barrier(self, marks=None, unordered=False):
        """Ping every open session; record the notifications each one got.

        unordered: the step deleted several nodes in an order neither server promises
        (a session's ephemerals at closeSession/expiry: ZooKeeper walks a HashSet), so
        each session's events are compared as a sorted list."""
        marks = marks or {}
        for name in sorted(self.sess):
            c = self.sess[name]
            if c.closed:
                if c.events:
                    evs = c.take_events()
                    if unordered:
                        evs = sorted(evs, key=lambda e: repr(e[1:]))
                    self.out("   events %s: %s" % (name, self.evlist(evs)))
                continue
            if len(self.addrs) > 1:
                # Ensemble: this session's member may not have applied the step's commit
                # yet (its notifications would come later than on one server). A sync
                # returns once the member applied everything committed before it.
                c.call(OP["sync"], ustr("/"), timeout=5.0)
            p = c.ping(timeout=5.0)
            evs = c.take_events()
            if unordered:
                evs = sorted(evs, key=lambda e: repr(e[1:]))
            if p in (CLOSED, TIMEOUT):
                self.out("   %s ping -> %s" % (name, p))
                c.close()      # don't wait on this connection again
            if name in marks:
                self.out("   events %s: %s" % (name, self.mark(marks[name],
                                                               lambda: self.evlist(evs, False))))
            elif evs:
                self.out("   events %s: %s" % (name, self.evlist(evs)))

    # convenience wrappers -------------------------------------------------
    def create(self, s, path, data=b"", acl=OPEN_ACL, flags=0, op=OP["create"], ttl=None, **kw):
        body = ustr(path) + buf(data) + vec(acl, acl_enc) + i32(flags)
        if op == OP["createTTL"]:
            body += i64(ttl if ttl is not None else -1)
        desc = "%s flags=%d%s%s" % (path if path is None else repr(path), flags,
                                     "" if acl == OPEN_ACL else " acl=%s" % self.acls(acl),
                                     "" if ttl is None else " ttl=%d" % ttl)
        return self.req(s, op, body, desc, **kw)

    def delete(self, s, path, version=-1, **kw):
        return self.req(s, OP["delete"], ustr(path) + i32(version), "%r v=%d" % (path, version), **kw)

    def exists(self, s, path, watch=False, **kw):
        return self.req(s, OP["exists"], ustr(path) + boolean(watch), "%r w=%d" % (path, watch), **kw)

    def get(self, s, path, watch=False, **kw):
        return self.req(s, OP["getData"], ustr(path) + boolean(watch), "%r w=%d" % (path, watch), **kw)

    def set(self, s, path, data, version=-1, **kw):
        return self.req(s, OP["setData"], ustr(path) + buf(data) + i32(version),
                        "%r %r v=%d" % (path, data, version), **kw)

    def children(self, s, path, watch=False, two=False, **kw):
        op = OP["getChildren2"] if two else OP["getChildren"]
        return self.req(s, op, ustr(path) + boolean(watch), "%r w=%d" % (path, watch), **kw)

    def get_acl(self, s, path, **kw):
        return self.req(s, OP["getACL"], ustr(path), repr(path), **kw)

    def set_acl(self, s, path, acl, version=-1, **kw):
        return self.req(s, OP["setACL"], ustr(path) + vec(acl, acl_enc) + i32(version),
                        "%r %s v=%d" % (path, self.acls(acl), version), **kw)

    def auth(self, s, scheme, cred, **kw):
        return self.req(s, OP["auth"], i32(0) + ustr(scheme) + buf(cred),
                        "%s %r" % (scheme, cred), xid=-4, **kw)

    def multi(self, s, ops, read=False, desc="", **kw):
        body = b""
        for typ, rec in ops:
            body += i32(typ) + boolean(False) + i32(-1) + rec
        body += i32(-1) + boolean(True) + i32(-1)
        return self.req(s, OP["multiRead"] if read else OP["multi"], body,
                        desc or ",".join(OP_NAMES.get(t, str(t)) for t, _ in ops),
                        sub=[t for t, _ in ops], **kw)

    def watch_op(self, s, op, path, typ, **kw):
        return self.req(s, op, ustr(path) + i32(typ), "%r type=%d" % (path, typ), **kw)

    def add_watch(self, s, path, mode, **kw):
        return self.req(s, OP["addWatch"], ustr(path) + i32(mode), "%r mode=%d" % (path, mode), **kw)

    def close_session(self, s, **kw):
        r = self.req(s, OP["closeSession"], b"", "", expect_close=True, no_barrier=True, **kw)
        self.barrier(unordered=True)
        return r

    def raw(self, name, data, desc, read_timeout=2.0):
        """Send raw bytes on an existing connection and see what comes back."""
        c = self.sess[name]
        self.step_no += 1
        self.ops += 1
        c.send_raw(data)
        res = c.wait_closed(read_timeout)
        self.out("#%d %s raw(%s) -> conn=%s" % (self.step_no, name, desc, res))
        self.barrier()


OP_NAMES = {v: k for k, v in OP.items()}


# ----------------------------------------------------------------------------
# The script.
# ----------------------------------------------------------------------------

def cr(path, data=b"", acl=OPEN_ACL, flags=0):
    return ustr(path) + buf(data) + vec(acl, acl_enc) + i32(flags)


def scenario(R):
    C, D = OP, "digest"
    alice = (31, D, "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")  # alice:secret

    # --- sessions -----------------------------------------------------------
    R.connect("s1", "new, readOnly byte")
    R.connect("s2", "new, no readOnly byte (old client)", read_only=None)
    R.connect("s3", "new")
    R.connect("t1", "timeout 1 ms -> min", timeout_ms=1)
    R.close_session("t1")
    R.connect("t2", "timeout 1e9 -> max", timeout_ms=10 ** 9)
    R.close_session("t2")

    # --- basics on the built-in tree ---------------------------------------
    R.children("s1", "/", two=True)
    R.get("s1", "/")
    R.get("s1", "/zookeeper")
    R.get("s1", "/zookeeper/config", wrap="quorum_config_node")
    R.get_acl("s1", "/zookeeper/config", wrap="quorum_config_node")
    R.children("s1", "/zookeeper")
    R.req("s1", C["getAllChildrenNumber"], ustr("/"), "'/'")
    R.req("s1", C["whoAmI"], b"", "")
    R.req("s1", C["ping"], b"", "xid=77", xid=77)
    R.req("s1", C["sync"], ustr("/"), "'/'")
    R.req("s1", C["sync"], ustr("/nonexistent"), "'/nonexistent'")

    # --- create / read / write with watches --------------------------------
    R.exists("s2", "/d", watch=True)                       # NoNode + exist watch
    R.create("s1", "/d", b"hello")                         # s2: NodeCreated
    R.create("s1", "/d", b"again")                         # NodeExists
    R.get("s2", "/d", watch=True)
    R.exists("s2", "/d", watch=True)
    R.children("s3", "/d", watch=True)
    R.children("s2", "/d", watch=True, two=True)
    R.set("s1", "/d", b"v1", 0)                            # s2 NodeDataChanged (once)
    R.set("s1", "/d", b"v2", 0)                            # BadVersion
    R.set("s1", "/d", b"v2", -1)
    R.set("s1", "/d", b"v3", 2)
    R.req("s1", C["create2"], cr("/d/a", b"A"), "'/d/a'")  # s2,s3 NodeChildrenChanged
    R.create("s1", "/d/b", None)                           # null data
    R.create("s1", "/d/c", b"")                            # empty data
    R.get("s1", "/d/b")
    R.get("s1", "/d/c")
    R.children("s1", "/d", two=True)
    R.delete("s1", "/d", 5)                                # BadVersion wins over NotEmpty
    R.delete("s1", "/d")                                   # NotEmpty
    R.delete("s1", "/d/zz")                                # NoNode
    R.delete("s1", "/d/c", 1)                              # BadVersion
    R.get("s3", "/d/c", watch=True)
    R.delete("s1", "/d/c", 0)                              # s3 NodeDeleted
    R.create("s1", "/nope/x")                              # NoNode (parent)
    R.get("s1", "/nope")
    R.get("s1", "/nope", watch=True)                       # NoNode, no watch set
    R.children("s1", "/nope")
    R.children("s1", "/nope", two=True)
    R.exists("s1", "/nope")
    R.get_acl("s1", "/nope")
    R.set("s1", "/nope", b"x")
    R.set_acl("s1", "/nope", OPEN_ACL)
    R.req("s1", C["getAllChildrenNumber"], ustr("/nope"), "'/nope'")
    R.req("s1", C["getAllChildrenNumber"], ustr("/d"), "'/d'")
    R.set("s1", "/d/a", b"x" * 300)
    R.get("s1", "/d/a")

    # --- cversion / sequential naming --------------------------------------
    R.create("s1", "/seq")
    R.create("s1", "/seq/a")
    R.create("s1", "/seq/s-", flags=2)
    R.create("s1", "/seq/s-", flags=2)
    R.delete("s1", "/seq/a")
    R.create("s1", "/seq/", flags=2)                       # name = /seq/ + digits
    R.exists("s1", "/seq")
    R.children("s1", "/seq")

    # --- path validation ----------------------------------------------------
    for p in ["t", "", "/d/", "/d//b", "/d/.", "/d/..", "/..", "/d/..a", "/d/a...",
              "/d/x\x00y", "/d/x\x7fy", "/d/x\x1fy", "/d/\ue000", "/d/\ufffd",
              "/d/\U0001f600", "/nope/../d", None]:
        R.create("s1", p)
    R.set("s1", "/d/", b"x")
    R.get("s1", "/d/")
    R.exists("s1", "d")
    R.exists("s1", "/d/x\x00")
    R.delete("s1", "/")
    R.delete("s1", "/zookeeper")
    R.delete("s1", "/zookeeper/quota")
    R.delete("s1", "/zookeeper/config")
    R.delete("s1", "d")
    R.create("s1", "/zookeeper/mine")
    R.delete("s1", "/zookeeper/mine")

    # --- create flags / modes ----------------------------------------------
    for fl in [7, -1, 100]:
        R.create("s1", "/badflag", flags=fl)
    R.create("s1", "/eph", b"e", flags=1)
    R.exists("s1", "/eph")
    R.create("s1", "/eph/child")                           # NoChildrenForEphemerals
    R.create("s1", "/eph/child", flags=1)
    R.create("s2", "/es-", flags=3)
    R.create("s2", "/es-", flags=3)
    R.req("s1", C["getEphemerals"], ustr("/"), "'/'")
    R.req("s2", C["getEphemerals"], ustr("/"), "'/'")
    R.req("s2", C["getEphemerals"], ustr("/es"), "'/es'")
    R.req("s2", C["getEphemerals"], ustr("/x"), "'/x'")
    R.req("s2", C["getEphemerals"], ustr(""), "''")
    R.req("s3", C["getEphemerals"], ustr("/"), "'/'")
    # containers
    R.create("s1", "/cont", flags=4, op=C["createContainer"])
    R.exists("s1", "/cont")
    R.create("s1", "/cont/a", flags=0)
    R.create("s1", "/cont2", flags=0, op=C["createContainer"])
    R.create("s1", "/cont/e", flags=1)
    # TTL (extendedTypesEnabled=true)
    R.create("s1", "/ttl", b"t", flags=5, op=C["createTTL"], ttl=60000)
    R.exists("s1", "/ttl")
    R.create("s1", "/ttls-", flags=6, op=C["createTTL"], ttl=60000)
    R.create("s1", "/ttl0", flags=5, op=C["createTTL"], ttl=0)
    R.create("s1", "/ttlneg", flags=5, op=C["createTTL"], ttl=-5)
    R.create("s1", "/ttlmax", flags=5, op=C["createTTL"], ttl=0xffffffffff)
    R.create("s1", "/ttlmax1", flags=5, op=C["createTTL"], ttl=0xffffffffff + 1)
    R.create("s1", "/ttlp", flags=0, op=C["createTTL"], ttl=1000)
    R.create("s1", "/ttlp", flags=1, op=C["createTTL"], ttl=1000)
    R.create("s1", "/ttlc", flags=5, op=C["create"])
    R.create("s1", "/ttlc", flags=5, op=C["create2"])
    R.create("s1", "/ttlc", flags=6, op=C["create"])
    R.create("s1", "/c2", flags=2, op=C["create2"])

    # --- ACLs -----------------------------------------------------------------
    for acl in [[(31, "world", "bob")], [(31, D, "nocolon")], [(31, D, "a:b:c")], [],
                [(31, "ip", "999.1.1.1")], [(31, "ip", "10.0.0.0/99")], [(31, "auth", "")],
                [(31, "super", "x:y")], [(31, "foo", "bar")], None,
                [(31, "world", "anyone"), (31, "world", "anyone")], [(0, "world", "anyone")],
                [(31, "ip", "127.0.0.1"), (1, "ip", "::1"), (3, "ip", "10.0.0.0/8")]]:
        R.create("s1", "/acl-c", acl=acl)
        R.get_acl("s1", "/acl-c")
        R.delete("s1", "/acl-c")
    R.auth("s2", D, b"alice:secret")
    R.req("s2", C["whoAmI"], b"", "")
    R.create("s2", "/acl", b"secret", acl=[alice])
    R.create("s2", "/acl-auth", acl=[(31, "auth", "")])
    R.get_acl("s2", "/acl-auth")
    R.get_acl("s2", "/acl")
    R.get("s3", "/acl")
    R.set("s3", "/acl", b"x")
    R.get_acl("s3", "/acl")
    R.children("s3", "/acl")
    R.create("s3", "/acl/child")
    R.set_acl("s3", "/acl", OPEN_ACL)
    R.delete("s3", "/acl")                                  # parent "/" is open: allowed? no (NotEmpty? no children) -> OK
    R.create("s2", "/acl", b"secret", acl=[alice])
    R.exists("s3", "/acl", wrap="exists_read_acl")
    R.req("s3", C["getAllChildrenNumber"], ustr("/acl"), "'/acl'")
    R.create("s2", "/acl-ro", acl=[(1, "world", "anyone"), (16, D, "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")])
    R.get_acl("s3", "/acl-ro")                              # masked id
    R.get_acl("s2", "/acl-ro")
    R.set("s3", "/acl-ro", b"no")
    R.create("s2", "/acl-ip", acl=[(31, "ip", "127.0.0.1")])
    R.get("s3", "/acl-ip")
    R.create("s2", "/acl-ip8", acl=[(31, "ip", "10.0.0.0/8")])
    R.get("s3", "/acl-ip8")
    R.create("s2", "/acl-ip24", acl=[(31, "ip", "127.0.0.0/24")])
    R.get("s3", "/acl-ip24")
    R.set_acl("s2", "/acl-ro", OPEN_ACL, 5)                  # BadVersion
    R.set_acl("s2", "/acl-ro", OPEN_ACL, 0)
    R.get_acl("s3", "/acl-ro")
    R.set_acl("s1", "/d", [(31, "world", "bob")])            # InvalidACL
    R.set_acl("s1", "/d/", OPEN_ACL)                         # BadArguments
    R.auth("s3", "ip", b"127.0.0.1")
    R.req("s3", C["whoAmI"], b"", "")
    R.connect("s4", "new")
    R.auth("s4", "foo", b"bar", expect_close=True)           # AuthFailed + close
    R.connect("s4", "reconnect after AuthFailed", session_id=R.sess["s4"].session_id,
              passwd=R.sess["s4"].passwd)
    R.close_session("s4")
    # watch delivery vs READ (3.9.2+: filtered)
    R.create("s2", "/acl-w")
    R.create("s2", "/acl-w/n", b"0")
    R.get("s3", "/acl-w/n", watch=True)
    R.set_acl("s2", "/acl-w/n", [alice])
    # s3's events for this step are checked with a marker
    R.set("s2", "/acl-w/n", b"1", no_barrier=True)
    R.barrier(marks={"s3": "watch_read_filter"})

    # --- multi ---------------------------------------------------------------
    R.create("s1", "/m")
    R.children("s3", "/m", watch=True)
    R.multi("s1", [(C["create"], cr("/m/a", b"1")), (C["create2"], cr("/m/b")),
                   (C["create"], cr("/m/s-", flags=2)), (C["setData"], ustr("/m/a") + buf(b"2") + i32(0)),
                   (C["check"], ustr("/m/a") + i32(1)), (C["delete"], ustr("/m/b") + i32(0)),
                   (C["createContainer"], cr("/m/cont", flags=4))])
    R.children("s1", "/m", two=True)
    R.children("s3", "/m", watch=True)
    R.get("s3", "/m/a", watch=True)
    R.multi("s1", [(C["create"], cr("/m/x")), (C["check"], ustr("/m/a") + i32(99)),
                   (C["delete"], ustr("/m/a") + i32(-1)), (C["setData"], ustr("/m/a") + buf(b"z") + i32(-1))])
    R.children("s1", "/m", two=True)
    R.multi("s1", [(C["create"], cr("/m/y")), (C["create"], cr("/m/y"))])
    R.multi("s1", [(C["delete"], ustr("/m/nope") + i32(-1))])
    R.multi("s1", [(C["create"], cr("/m/z", flags=9))])
    R.multi("s1", [(C["create"], cr("/m/q/r"))])
    R.multi("s1", [(C["create"], cr("/m/eph", flags=1)), (C["create"], cr("/m/eph/x"))])
    R.multi("s1", [(C["check"], ustr("/m/nope") + i32(-1))])
    R.multi("s1", [(C["createTTL"], cr("/m/ttl", flags=5) + i64(5000))])
    R.multi("s1", [])
    R.multi("s1", [(C["create"], cr("/m/r")), (C["getData"], ustr("/m/a") + boolean(False))])
    R.multi("s3", [(C["setData"], ustr("/acl") + buf(b"x") + i32(-1))])  # NoAuth inside multi
    R.multi("s1", [(C["setData"], ustr("/m/a") + buf(b"3") + i32(-1)), (C["delete"], ustr("/m/a") + i32(-1)),
                   (C["create"], cr("/m/a", b"4"))])
    R.get("s1", "/m/a")
    # multiRead
    R.multi("s3", [(C["getData"], ustr("/m/a") + boolean(True)), (C["getChildren"], ustr("/m") + boolean(True)),
                   (C["getData"], ustr("/m/none") + boolean(False)), (C["getData"], ustr("/acl") + boolean(False)),
                   (C["getChildren"], ustr("/none") + boolean(False))], read=True)
    R.set("s1", "/m/a", b"5")                                   # multiRead watch flags ignored
    R.multi("s1", [], read=True)
    R.multi("s1", [(C["create"], cr("/m/rr"))], read=True)

    # --- persistent / recursive watches ---------------------------------------
    R.create("s1", "/pw")
    R.add_watch("s3", "/pw", 0)
    R.add_watch("s2", "/pw", 1)
    R.add_watch("s2", "/pw-missing", 1)
    R.add_watch("s2", "/pw", 2)                                  # MarshallingError
    R.create("s1", "/pw/a")
    R.create("s1", "/pw/a/b")
    R.set("s1", "/pw/a/b", b"x")
    R.set("s1", "/pw", b"x")
    R.delete("s1", "/pw/a/b")
    R.create("s1", "/pw-missing")
    R.watch_op("s3", C["checkWatches"], "/pw", 3)
    R.watch_op("s3", C["checkWatches"], "/pw", 1, wrap="check_watches_standard")
    R.watch_op("s3", C["checkWatches"], "/pw", 2, wrap="check_watches_standard")
    R.watch_op("s2", C["checkWatches"], "/pw", 3)
    R.watch_op("s2", C["checkWatches"], "/pw/a", 3)
    R.watch_op("s3", C["removeWatches"], "/pw", 3)
    R.watch_op("s3", C["removeWatches"], "/pw", 3)               # NoWatcher
    R.watch_op("s2", C["removeWatches"], "/pw-missing", 3)
    R.set("s1", "/pw", b"y")                                     # only s2 (recursive) left
    R.watch_op("s2", C["removeWatches"], "/pw", 3)
    R.set("s1", "/pw", b"z")                                     # nobody watching
    R.watch_op("s1", C["checkWatches"], "/pw", 9)                # MarshallingError
    R.watch_op("s1", C["removeWatches"], "/pw", 0)               # MarshallingError
    # standard watches and checkWatches/removeWatches on a fresh path
    R.create("s1", "/cw")
    R.get("s3", "/cw", watch=True)
    R.children("s3", "/cw", watch=True)
    R.watch_op("s3", C["checkWatches"], "/cw", 1)
    R.watch_op("s3", C["checkWatches"], "/cw", 2)
    R.watch_op("s3", C["removeWatches"], "/cw", 2)
    R.watch_op("s3", C["checkWatches"], "/cw", 2)
    R.watch_op("s3", C["checkWatches"], "/cw", 3)
    R.create("s1", "/cw/c0")                                     # child watch fires
    R.watch_op("s3", C["checkWatches"], "/cw", 3)
    R.watch_op("s3", C["removeWatches"], "/nope", 1)
    R.exists("s3", "/cw/none", watch=True)
    R.watch_op("s3", C["checkWatches"], "/cw/none", 2)
    R.watch_op("s3", C["removeWatches"], "/cw/none", 3)
    R.create("s1", "/cw/none")                                   # removed: no event
    # WatcherType 4/5 and mixed modes: a throwaway session so that the
    # version-dependent outcome cannot leak into later steps
    R.connect("s7", "new (watch types)")
    R.add_watch("s7", "/pw", 0)
    R.add_watch("s7", "/cw", 1)
    R.watch_op("s7", C["checkWatches"], "/pw", 4, wrap="watcher_type_4_5")
    R.watch_op("s7", C["checkWatches"], "/cw", 5, wrap="watcher_type_4_5")
    R.watch_op("s7", C["checkWatches"], "/pw", 5, wrap="watcher_type_4_5")
    R.watch_op("s7", C["removeWatches"], "/cw", 5, wrap="watcher_type_4_5")
    R.watch_op("s7", C["removeWatches"], "/pw", 4, wrap="watcher_type_4_5")
    R.close_session("s7")
    R.sess.pop("s7")
    R.connect("s7", "new (mixed modes)")
    R.add_watch("s7", "/pw", 0)
    R.add_watch("s7", "/pw", 1)
    R.create("s1", "/pw/c", no_barrier=True)
    R.barrier(marks={"s7": "mixed_watch_modes"})
    R.watch_op("s7", C["checkWatches"], "/pw", 4, wrap="mixed_watch_modes_check")
    R.close_session("s7")
    R.sess.pop("s7")
    # watches set on one path by several sessions, deletion fires data+child
    R.create("s1", "/w")
    R.create("s1", "/w/k")
    R.exists("s2", "/w/k", watch=True)
    R.get("s3", "/w/k", watch=True)
    R.children("s3", "/w/k", watch=True)
    R.children("s2", "/w", watch=True)
    R.delete("s1", "/w/k")
    R.get("s2", "/w", watch=True)
    R.create("s2", "/w/own", b"o")                               # own watch: event before reply
    R.set("s2", "/w", b"o")

    # --- setWatches on reconnect (relativeZxid) -----------------------------
    R.create("s1", "/sw")
    R.create("s1", "/sw/keep", b"k")
    R.create("s1", "/sw/chg", b"c")
    R.create("s1", "/sw/del", b"d")
    R.create("s1", "/sw/kids")
    R.get("s2", "/sw/keep", watch=True)
    R.get("s2", "/sw/chg", watch=True)
    R.get("s2", "/sw/del", watch=True)
    R.exists("s2", "/sw/new", watch=True)
    R.exists("s2", "/sw/never", watch=True)
    R.children("s2", "/sw/kids", watch=True)
    R.children("s2", "/sw", watch=True)
    s2 = R.sess["s2"]
    rel = s2.last_zxid
    s2.close()                                                    # drop the TCP connection only
    R.out("   (s2 TCP connection dropped)")
    R.set("s1", "/sw/chg", b"c2")
    R.delete("s1", "/sw/del")
    R.create("s1", "/sw/new")
    R.create("s1", "/sw/kids/k1")
    R.connect("s2", "reconnect same session", session_id=s2.session_id, passwd=s2.passwd,
              last_zxid=s2.last_zxid)
    R.auth("s2", D, b"alice:secret")
    R.req("s2", C["setWatches"], i64(rel) + vec(["/sw/keep", "/sw/chg", "/sw/del"], ustr) +
          vec(["/sw/new", "/sw/never"], ustr) + vec(["/sw/kids", "/sw"], ustr),
          "rel=last data=[keep,chg,del] exist=[new,never] child=[kids,sw]", xid=-8)
    R.set("s1", "/sw/keep", b"k2")                                # registered -> fires
    R.create("s1", "/sw/never")
    R.create("s1", "/sw/x")                                       # child watch on /sw
    R.req("s2", C["setWatches2"], i64(0) + vec(["/sw/keep"], ustr) + vec([], ustr) + vec([], ustr) +
          vec(["/sw/p"], ustr) + vec(["/sw/r"], ustr), "rel=0 data=[keep] persistent=[p] recursive=[r]",
          xid=-8)
    R.create("s1", "/sw/p")
    R.create("s1", "/sw/r")
    R.create("s1", "/sw/r/x")
    R.watch_op("s2", C["checkWatches"], "/sw/p", 3)
    R.req("s2", C["setWatches"], i64(rel) + vec([], ustr) + vec([], ustr) + vec([], ustr), "empty", xid=-8)

    # --- sessions: reconnect, wrong password, closeSession, ephemerals --------
    R.connect("s5", "new")
    R.create("s5", "/e5", flags=1)
    R.create("s5", "/e5s-", flags=3)
    R.create("s5", "/cont/e5", flags=1)
    R.exists("s3", "/e5", watch=True)
    R.children("s3", "/", watch=True)
    s5 = R.sess["s5"]
    sid5, pw5 = s5.session_id, s5.passwd
    R.conn("s5b")
    R.sess["s5b"].session_id = sid5
    R.connect("s5b", "same session, wrong password", session_id=sid5,
              passwd=bytes(16), expect_close=True)
    R.sess.pop("s5b").close()
    R.connect("s5", "same session, right password", session_id=sid5, passwd=pw5)
    R.connect("s5c", "lastZxidSeen far ahead", session_id=sid5, passwd=pw5,
              last_zxid=0x7fff00000000)
    R.sess.pop("s5c").close()
    R.connect("s5", "same session again", session_id=sid5, passwd=pw5)
    R.req("s5", 999, b"", "unknown opcode 999", expect_close=True)
    R.connect("s5", "after unknown opcode", session_id=sid5, passwd=pw5)
    R.req("s5", 10, b"", "unused opcode 10", expect_close=True)
    R.connect("s5", "after opcode 10", session_id=sid5, passwd=pw5)
    R.req("s5", 0, b"", "opcode 0 (notification)", expect_close=True)
    R.connect("s5", "after opcode 0", session_id=sid5, passwd=pw5)
    R.req("s5", C["getEphemerals"], ustr("/"), "'/'")
    R.close_session("s5")                                          # s3: NodeDeleted /e5, children /
    R.sess.pop("s5")
    R.connect("s5", "closed session", session_id=sid5, passwd=pw5, expect_close=True)
    R.sess.pop("s5").close()
    R.exists("s1", "/e5")
    R.children("s1", "/cont")

    # --- misc ops -------------------------------------------------------------
    R.req("s1", C["reconfig"], ustr(None) + ustr(None) + ustr(None) + i64(-1), "all null")
    R.req("s1", C["sasl"], buf(b"token"), "token")
    R.req("s1", C["getData"], i32(100) + b"/ab", "truncated path")          # MarshallingError
    R.req("s1", C["exists"], ustr("/d"), "missing watch byte")
    R.req("s1", C["getData"], ustr("/d") + boolean(False) + b"junk", "trailing junk")
    R.req("s1", C["setData"], ustr("/d") + i32(2000000) + b"xx", "data len too big")
    R.req("s1", C["create"], ustr("/big") + buf(b"b" * 500000) + vec(OPEN_ACL, acl_enc) + i32(0), "500 kB")
    R.req("s1", C["getAllChildrenNumber"], ustr("/"), "'/'")
    R.children("s1", "/", two=True)
    R.req("s1", C["whoAmI"], b"", "")
    R.req("s2", C["whoAmI"], b"", "")
    R.req("s1", C["ping"], b"", "")

    # --- standalone check (version-dependent) ---------------------------------
    R.connect("s6", "new")
    R.req("s6", C["check"], ustr("/d") + i32(-1), "'/d' -1", wrap="standalone_check", timeout=1.5,
          expect_close=True, no_barrier=True)
    R.sess.pop("s6").close()
    R.barrier()

    # --- framing errors ---------------------------------------------------------
    R.connect("f1", "new")
    R.raw("f1", i32(0x100000) + b"\0" * 16, "frame length 0x100000 (> jute.maxbuffer)")
    R.sess.pop("f1")
    R.connect("f2", "new")
    R.raw("f2", i32(-5), "negative frame length")
    R.sess.pop("f2")
    R.connect("f3", "new")
    R.raw("f3", b"ruok", "4lw after handshake")
    R.sess.pop("f3")
    R.conn("f4")
    R.raw("f4", i32(0x100000), "oversized first frame")
    R.sess.pop("f4")
    R.conn("f5")
    R.raw("f5", i32(8) + i32(-2) + i32(11), "ping before handshake")
    R.sess.pop("f5")
    R.conn("f6")
    R.raw("f6", i32(12) + i32(1) + i32(4) + ustr("/"), "getData before handshake")
    R.sess.pop("f6")
    R.conn("f7")
    R.raw("f7", i32(2) + b"\0\0", "short ConnectRequest")
    R.sess.pop("f7")

    # --- cleanup: close remaining sessions (ephemerals of s1/s2 go away) ------
    R.close_session("s1")
    R.sess.pop("s1")
    R.children("s3", "/", two=True)
    R.close_session("s2")
    R.sess.pop("s2")
    R.req("s3", C["getAllChildrenNumber"], ustr("/"), "'/'")
    R.close_session("s3")
    R.sess.pop("s3")
    for c in R.sess.values():
        c.close()


def run_transcript(host, port, verbose=False, budget=120.0, more=()):
    R = Runner(host, port, verbose, budget, more)
    try:
        scenario(R)
    except Exception:
        R.out("SCRIPT-EXCEPTION " + traceback.format_exc().strip().splitlines()[-1])
        sys.stderr.write(traceback.format_exc())
    finally:
        for c in R.sess.values():
            c.close()
    R.out(R.L.order_line())
    return R


# ----------------------------------------------------------------------------
# comparison
# ----------------------------------------------------------------------------

def strip_marks(line):
    return MARK_RE.sub(lambda m: "{DIFF:%s}" % m.group(1), line)


def marks(line):
    return MARK_RE.findall(line)


def compare(a_lines, b_lines):
    """-> (ok, report_lines, accepted_counts)"""
    ka = [strip_marks(x) for x in a_lines]
    kb = [strip_marks(x) for x in b_lines]
    sm = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
    report, accepted = [], {}
    ok = True
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for la, lb in zip(a_lines[i1:i2], b_lines[j1:j2]):
                if la == lb:
                    continue
                bad = False
                for (na, ta), (nb, tb) in zip(marks(la), marks(lb)):
                    if ta == tb:
                        continue
                    _, _, r38, r39 = KD[na]
                    if re.fullmatch(r38, ta) and re.fullmatch(r39, tb):
                        accepted[na] = accepted.get(na, 0) + 1
                    else:
                        bad = True
                if bad:
                    ok = False
                    report += ["- A: " + la, "+ B: " + lb]
        else:
            ok = False
            ctx = a_lines[max(0, i1 - 2):i1]
            report += ["@@ A lines %d-%d / B lines %d-%d" % (i1 + 1, i2, j1 + 1, j2)]
            report += ["  " + x for x in ctx]
            report += ["- A: " + x for x in a_lines[i1:i2]]
            report += ["+ B: " + x for x in b_lines[j1:j2]]
    return ok, report, accepted


def self_test():
    """Check that compare() accepts exactly the listed differences."""
    cases = [
        (["e {DIFF:notif_zxid:-1}"], ["e {DIFF:notif_zxid:=step}"], True),
        (["e {DIFF:notif_zxid:-1}"], ["e {DIFF:notif_zxid:-1}"], True),
        (["e {DIFF:notif_zxid:=step}"], ["e {DIFF:notif_zxid:-1}"], False),   # wrong direction
        (["e {DIFF:notif_zxid:-1}"], ["e {DIFF:notif_zxid:Z7}"], False),
        (["x {DIFF:notif_zxid:-1} y"], ["x {DIFF:notif_zxid:=step} z"], False),
        (["a", "b"], ["a", "c"], False),
        (["a", "b"], ["a"], False),
        (["#1 check -> {DIFF:standalone_check:NO_REPLY; conn=OPEN}"],
         ["#1 check -> {DIFF:standalone_check:err=Unimplemented zxid=-1; conn=CLOSED}"], True),
        (["#1 check -> {DIFF:standalone_check:NO_REPLY; conn=OPEN}"],
         ["#1 check -> {DIFF:standalone_check:err=Unimplemented zxid=-1; conn=OPEN}"], False),
        (["r path=/m/b {DIFF:create2_in_multi:type=1}"],
         ["r path=/m/b {DIFF:create2_in_multi:type=15 stat=(czxid=Z3 nchild=0)}"], True),
        (["r path=/m/b {DIFF:create2_in_multi:type=1}"],
         ["r path=/m/c {DIFF:create2_in_multi:type=15 stat=(czxid=Z3 nchild=0)}"], False),
    ]
    bad = 0
    for a, b, want in cases:
        got = compare(a, b)[0]
        if got != want:
            bad += 1
            print("self-test FAIL: %r vs %r -> %s, want %s" % (a, b, got, want))
    print("self-test: %d/%d cases ok" % (len(cases) - bad, len(cases)))
    return 1 if bad else 0


def parse_hosts(h):
    host, _, port = h.rpartition(":")
    return host or "127.0.0.1", int(port)


def get_server(args, side):
    """(server or None, (host, port) of the first member, [(host, port)] of the others)."""
    hosts = getattr(args, "%s_hosts" % side)
    if hosts:
        addrs = [parse_hosts(h) for h in hosts.split(",") if h]
        return None, addrs[0], addrs[1:]
    kind = getattr(args, "%s_server" % side)
    binp = getattr(args, "%s_bin" % side)
    srv = zkharness.start_server(kind, binp, extra={"extendedTypesEnabled": "true"})
    return srv, ("127.0.0.1", srv.port), []


def main():
    p = argparse.ArgumentParser(description="ZooKeeper differential test (raw jute)")
    for side in ("a", "b"):
        p.add_argument("--%s-server" % side, choices=["zookeeper", "zkserver"], default="zookeeper")
        p.add_argument("--%s-bin" % side, default=None)
        p.add_argument("--%s-hosts" % side, default=None, help="use a running server host:port")
    p.add_argument("--print", action="store_true", help="only print A's transcript")
    p.add_argument("--list-differences", action="store_true")
    p.add_argument("--self-test", action="store_true", help="test the comparator only")
    p.add_argument("--save", default=None, help="write transcripts to PREFIX.a.txt / PREFIX.b.txt")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--budget", type=float, default=120.0,
                   help="max seconds for one transcript (a hung server fails fast)")
    args = p.parse_args()

    if args.self_test:
        return self_test()
    if args.list_differences:
        print("%-24s | %-40s | %s" % ("name", "3.8 answer", "3.9.3+ answer"))
        for name, desc, a, b in KNOWN_DIFFERENCES:
            print("%-24s | %-40s | %s    (%s)" % (name, a, b, desc))
        return 0

    sides = ["a"] if args.print else ["a", "b"]
    results = {}
    for side in sides:
        srv = None
        try:
            srv, (host, port), more = get_server(args, side)
            t0 = time.monotonic()
            R = run_transcript(host, port, verbose=args.verbose and not args.print,
                               budget=args.budget, more=more)
            results[side] = R
            if srv is not None and not srv.alive():
                R.out("SERVER-DIED rc=%s" % srv.proc.returncode)
            sys.stderr.write("zkdiff: %s (%s): %d steps, %d lines, %.1fs\n" % (
                side.upper(), srv.kind if srv else "%s:%d" % (host, port), R.ops, len(R.lines),
                time.monotonic() - t0))
        except zkharness.HarnessError as e:
            print("zkdiff: FAIL: cannot start server %s: %s" % (side.upper(), e))
            return 2
        finally:
            if srv is not None:
                if side in results and any(l.startswith(("SCRIPT-EXCEPTION", "SERVER-DIED"))
                                           for l in results[side].lines):
                    sys.stderr.write("server %s log tail:\n%s\n" % (side.upper(), srv.log_tail(30)))
                srv.stop()

    if args.save:
        for side, R in results.items():
            with open("%s.%s.txt" % (args.save, side), "w") as f:
                f.write("\n".join(R.lines) + "\n")

    if args.print:
        print("\n".join(results["a"].lines))
        return 0

    a, b = results["a"].lines, results["b"].lines
    ok, report, accepted = compare(a, b)
    for side in "ab":
        for l in results[side].lines:
            if l.startswith(("SCRIPT-EXCEPTION", "SERVER-DIED")):
                ok = False
                report.append("%s: %s" % (side.upper(), l))
    print("zkdiff: %d steps, %d transcript lines (A) / %d (B)" % (results["a"].ops, len(a), len(b)))
    if accepted:
        print("zkdiff: accepted known 3.8 vs 3.9.3+ differences: " +
              ", ".join("%s x%d" % kv for kv in sorted(accepted.items())))
    if ok:
        print("zkdiff: OK - transcripts equivalent")
        return 0
    print("zkdiff: MISMATCH (A = reference 3.8, B = server under test)")
    limit = 200
    print("\n".join(report[:limit]))
    if len(report) > limit:
        print("... %d more report lines" % (len(report) - limit))
    if not args.save:
        import tempfile
        d = tempfile.mkdtemp(prefix="zkdiff-")
        for side, R in results.items():
            with open(os.path.join(d, "%s.txt" % side), "w") as f:
                f.write("\n".join(R.lines) + "\n")
        print("zkdiff: full transcripts in %s/a.txt and %s/b.txt" % (d, d))
    return 1


if __name__ == "__main__":
    sys.exit(main())
