#!/usr/bin/python3
"""Client side of tests/readonly.rs: what kazoo (and a raw socket) observe of a member
in read-only mode. Run by the test, not by hand.

    readonly_kazoo.py write HOSTS
        writes /ro/data and /ro/n0../ro/n9 (each acknowledged); prints RESULT ok
    readonly_kazoo.py ro HOSTS LONE_PORT MARKER ABORT
        with read_only=True against HOSTS (only LONE_PORT's member is up, read-only):
        reads, tries writes, probes handshakes with raw sockets, then creates MARKER and
        waits (bounded; gives up if ABORT appears) until the client is connected
        read-write and can write. Prints RESULT <json of what it observed>.
"""

import json
import os
import socket
import struct
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.retry import KazooRetry

NODES = ["n%d" % i for i in range(10)]


def write(hosts):
    zk = KazooClient(hosts=hosts, timeout=6)
    zk.start(timeout=20)
    zk.create("/ro/data", b"payload", makepath=True)
    for n in NODES:
        zk.create("/ro/" + n, n.encode())
    zk.stop()
    zk.close()
    print("RESULT ok")


def raw_handshake(port, read_only_byte):
    """A ConnectRequest with readOnly = read_only_byte (None: the byte omitted, as old
    clients and go-zookeeper send it). Returns "closed" or "readOnly=<bool>"."""
    body = struct.pack(">iqiq", 0, 0, 10000, 0) + struct.pack(">i", 16) + b"\0" * 16
    if read_only_byte is not None:
        body += bytes([1 if read_only_byte else 0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        s.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
                if len(data) >= 4 and len(data) >= 4 + struct.unpack(">i", data[:4])[0]:
                    break
        except (ConnectionResetError, socket.timeout):
            pass
    if len(data) < 4:
        return "closed"
    (n,) = struct.unpack(">i", data[:4])
    frame = data[4:4 + n]
    # protocolVersion, timeOut, sessionId, passwd (len + bytes), readOnly
    if len(frame) < 4 + 4 + 8 + 4 + 16 + 1:
        return "answered without readOnly byte"
    return "readOnly=%s" % bool(frame[-1])


def outcome(f):
    try:
        f()
        return "ok"
    except KazooException as e:
        return type(e).__name__


def read_only(hosts, lone_port, marker, abort):
    obs = {}
    states = []
    zk = KazooClient(hosts=hosts, read_only=True, timeout=6,
                     connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5))
    zk.add_listener(lambda s: states.append("%s/%s" % (s, zk.client_state)))
    zk.start(timeout=25)
    obs["state_at_start"] = str(zk.client_state)
    obs["read"] = zk.get("/ro/data")[0].decode()
    obs["children"] = sorted(zk.get_children("/ro"))
    obs["exists_missing"] = zk.exists("/ro/missing") is None
    obs["create"] = outcome(lambda: zk.create("/ro/new", b"x"))
    obs["set"] = outcome(lambda: zk.set("/ro/data", b"x"))
    obs["delete"] = outcome(lambda: zk.delete("/ro/n0"))

    def txn():
        t = zk.transaction()
        t.create("/ro/t", b"")
        t.set_data("/ro/data", b"y")
        t.commit()
    obs["multi"] = outcome(txn)
    obs["sync"] = outcome(lambda: zk.sync("/ro"))
    obs["read_after_writes"] = zk.get("/ro/data")[0].decode()
    obs["handshake_rw_client"] = raw_handshake(lone_port, False)
    obs["handshake_old_client"] = raw_handshake(lone_port, None)
    obs["handshake_ro_client"] = raw_handshake(lone_port, True)
    obs["state_before_quorum"] = str(zk.client_state)

    open(marker, "w").close()
    # The test restarts the other members now; the client must end up read-write.
    deadline = time.time() + 60
    wrote = False
    while time.time() < deadline and not os.path.exists(abort):
        if str(zk.client_state) == "CONNECTED":
            try:
                zk.create("/ro/after", b"rw")
                wrote = True
                break
            except KazooException:
                pass
        time.sleep(0.1)
    obs["wrote_read_write"] = wrote
    obs["state_at_end"] = str(zk.client_state)
    obs["children_at_end"] = sorted(zk.get_children("/ro")) if wrote else []
    obs["data_at_end"] = zk.get("/ro/data")[0].decode() if wrote else ""
    # Consecutive repeats say nothing about the server; keep the shape.
    shape = []
    for s in states:
        if not shape or shape[-1] != s:
            shape.append(s)
    obs["states"] = shape
    zk.stop()
    zk.close()
    print("RESULT " + json.dumps(obs, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        read_only(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
